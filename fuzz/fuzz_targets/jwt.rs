//! Fuzz target: see `authgate::__fuzz::jwt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::__fuzz::jwt(data));
