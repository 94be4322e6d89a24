//! Fuzz target: DPoP proofs and `htu` normalisation. The input is used as
//! a proof header and as a URI; neither may panic, and a normalised URI
//! normalises to itself.
#![no_main]

use std::sync::OnceLock;

use authgate::dpop::{normalize_htu, Dpop, DpopMode, DpopVerifier};

fn verifier() -> &'static DpopVerifier {
    static VERIFIER: OnceLock<DpopVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        Dpop::new(DpopMode::Allowed)
            .public_origin("https://api.example")
            .build()
            .expect("valid settings")
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(normalized) = normalize_htu(text) {
            assert_eq!(normalize_htu(&normalized).as_deref(), Some(normalized.as_str()));
        }
    }
    let Ok(proof) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let mut request = http::Request::get("https://api.example/orders").body(()).expect("request");
    request.headers_mut().insert("dpop", proof);
    let (parts, ()) = request.into_parts();
    let check = verifier().check_proof(&parts, "token", "jkt");
    let _ = check.into_ready();
});
