use std::collections::HashMap;
use zato::prelude::*;

#[derive(SimpleIo)]
struct In {
    ok: String,
    map: HashMap<String, String>,
}

fn main() {}
