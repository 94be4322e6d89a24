//! Fuzz target: see `authgate::__fuzz::webhooks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::__fuzz::webhooks(data));
