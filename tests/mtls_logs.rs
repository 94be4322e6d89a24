//! mTLS decisions in the logs: the certificate's thumbprint, never its
//! bytes. Alone in its binary: tracing caches which events are enabled
//! process-wide, which races with a thread-local capture in parallel tests.
#![cfg(feature = "mtls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "support/mtls.rs"]
mod pki;

use std::sync::Arc;

use pki::*;

/// Every decision is logged with its reason; a certificate appears in logs
/// only as its thumbprint, never its bytes.
#[tokio::test]
async fn logs_carry_the_thumbprint_and_never_the_certificate() {
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let pki = Pki::new();
    let addr = start(&pki, spiffe_scheme()).await;
    let good = pki.client(spiffe(API));
    let foreign = pki.client(spiffe("spiffe://evil.example/ns/x/sa/y"));
    assert_eq!(fetch(&pki, addr, Some(&good), "/me").await.status, 200);
    assert_eq!(fetch(&pki, addr, Some(&foreign), "/me").await.status, 401);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let thumbprint = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            good.chain[0].as_ref(),
        ))
    };
    assert!(logs.contains(&thumbprint), "{logs}");
    assert!(
        logs.contains("outcome=\"denied\"") || logs.contains("outcome=denied"),
        "{logs}"
    );
    // The denial names its reason: a trust domain nobody allowed.
    assert!(
        logs.contains("reason=\"unknown_key\"") || logs.contains("reason=unknown_key"),
        "{logs}"
    );
    assert!(
        logs.contains("scheme=\"mtls\"") || logs.contains("scheme=mtls"),
        "{logs}"
    );
    for client in [&good, &foreign] {
        let der_b64 = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(client.chain[0].as_ref())
        };
        for chunk in der_b64.as_bytes().chunks(24) {
            let chunk = std::str::from_utf8(chunk).unwrap();
            if chunk.len() == 24 {
                assert!(!logs.contains(chunk), "certificate bytes in the logs");
            }
        }
    }
}
