use zato::prelude::*;

#[derive(SimpleIo)]
enum In {
    A,
}

#[derive(SimpleIo)]
struct Tuple(String);

fn main() {}
