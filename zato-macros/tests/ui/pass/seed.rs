// The seed's service, as briefly as the Python original.
use zato::prelude::*;

#[derive(SimpleIo)]
struct Targets {
    target: Vec<String>,
}

#[service(name = "invoice.dispatcher")]
async fn invoice_dispatcher(req: Request<Targets>, ctx: &Context) -> Result<(), ServiceError> {
    for target in &req.input.target {
        let _ = (target, ctx.cid(), req.raw_request.clone());
    }
    Ok(())
}

fn main() {
    Platform::new().services().deploy(invoice_dispatcher).unwrap();
}
