#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = zato_fuzz::json(data);
});
