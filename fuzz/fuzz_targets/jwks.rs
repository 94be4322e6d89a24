//! Fuzz target: see `authgate::__fuzz::jwks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::__fuzz::jwks(data));
