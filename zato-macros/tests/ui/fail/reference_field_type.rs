use zato::prelude::*;

#[derive(SimpleIo)]
struct In<'a> {
    name: Option<&'a str>,
}

fn main() {}
