//! Every input the fuzzers were seeded with or found (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`) replayed through the same entry points the
//! fuzz targets call, so a finding that was fixed stays fixed without a
//! fuzzer on the machine. `fuzz/run.sh` is the fuzzer itself.
#![cfg(feature = "fuzzing")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

#[path = "../fuzz/harness/layer.rs"]
mod layer_harness;

/// Calls `entry` on every file under `fuzz/{seeds,regressions}/<target>/`;
/// returns how many there were.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        for file in dir {
            let path = file.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            // A panic names the input that caused it.
            let result = std::panic::catch_unwind(|| entry(&input));
            assert!(result.is_ok(), "{} panicked", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn authorization_and_challenge_inputs() {
    assert!(replay("authorization", authgate::__fuzz::authorization) > 0);
}

#[test]
fn api_key_inputs() {
    assert!(replay("api_key", authgate::__fuzz::api_key) > 0);
}

#[test]
fn jwt_inputs() {
    assert!(replay("jwt", authgate::__fuzz::jwt) > 0);
}

#[test]
fn jwks_inputs() {
    assert!(replay("jwks", authgate::__fuzz::jwks) > 0);
}

#[test]
fn hmac_native_inputs() {
    assert!(replay("hmac_native", authgate::__fuzz::hmac_native) > 0);
}

#[test]
fn httpsig_inputs() {
    assert!(replay("httpsig", authgate::__fuzz::httpsig) > 0);
}

#[test]
fn webhook_inputs() {
    assert!(replay("webhooks", authgate::__fuzz::webhooks) > 0);
}

#[test]
fn whole_requests_through_the_layer() {
    assert!(replay("layer", layer_harness::run) > 0);
}
