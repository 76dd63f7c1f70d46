use std::collections::HashMap;
use zato::prelude::*;

#[derive(SimpleIo)]
struct In<T> {
    items: Vec<T>,
    map: HashMap<String, String>,
}

fn main() {}
