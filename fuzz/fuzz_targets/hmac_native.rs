//! Fuzz target: see `authgate::__fuzz::hmac_native`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::__fuzz::hmac_native(data));
