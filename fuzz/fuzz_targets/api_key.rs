//! Fuzz target: see `authgate::__fuzz::api_key`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::__fuzz::api_key(data));
