//! Fuzz target: see `authgate::__fuzz::authorization`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::__fuzz::authorization(data));
