use zato::prelude::*;

#[service(name = "a.b")]
async fn a_b(input: String, ctx: &Context) -> Result<(), ServiceError> {
    let _ = (input, ctx);
    Ok(())
}

#[service(name = "c.d")]
async fn c_d(_req: Request<()>, ctx: Context) -> Result<(), ServiceError> {
    let _ = ctx;
    Ok(())
}

fn main() {}
