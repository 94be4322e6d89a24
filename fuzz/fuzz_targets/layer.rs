//! Fuzz target: a whole request through an `AuthLayer` holding every
//! scheme; see `fuzz/harness/layer.rs`.
#![no_main]

#[path = "../harness/layer.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
