use zato::prelude::*;

#[service(name = "a.b")]
async fn a_b(_req: Request<()>) -> String {
    String::new()
}

fn main() {}
