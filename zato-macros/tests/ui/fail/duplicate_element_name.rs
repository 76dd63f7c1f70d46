use zato::prelude::*;

#[derive(SimpleIo)]
struct In {
    target: Vec<String>,
    #[sio(rename = "target")]
    targets: Vec<String>,
}

fn main() {}
