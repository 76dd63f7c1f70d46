use zato::prelude::*;

#[derive(SimpleIo)]
struct In {
    #[sio(min_items = 0)]
    target: Vec<String>,
}

fn main() {}
