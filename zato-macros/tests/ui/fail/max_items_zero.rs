use zato::prelude::*;

#[derive(SimpleIo)]
struct In {
    #[sio(max_items = 0)]
    target: Vec<String>,
}

fn main() {}
