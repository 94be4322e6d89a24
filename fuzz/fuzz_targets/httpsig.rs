//! Fuzz target: see `authgate::__fuzz::httpsig`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::__fuzz::httpsig(data));
