use zato::prelude::*;

#[derive(SimpleIo)]
struct In {
    #[sio(min_items = 5, max_items = 3)]
    target: Vec<String>,
}

fn main() {}
