//! One event per decision, with the documented fields, and never a secret:
//! this run goes through every path and then searches the captured log for
//! every key and every secret it used.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod support;

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme};
use authgate::{fingerprint, AuthLayer, Credential, CredentialLocation, Scopes, SecretString};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use support::{echo, fixture, key_id, key_secret, StoreMode, TestStore};
use tower::{service_fn, ServiceBuilder, ServiceExt};

async fn status(layer: &AuthLayer, request: Request<Full<Bytes>>) -> u16 {
    ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(echo))
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_decision_is_logged_and_no_secret_ever_is() {
    let (capture, _guard) = support::capture_logs(tracing::Level::TRACE);

    let (store, keys) = fixture();
    let layer = AuthLayer::builder()
        .scheme(
            ApiKeyScheme::builder(store.clone())
                .prefix("sk_live")
                .query_param("api_key")
                .build()
                .unwrap(),
        )
        .anonymous_path("/health")
        .build()
        .unwrap();
    let admin_only = layer.require_scopes(["admin"]);
    let failing = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(TestStore::new(store, StoreMode::Fail), "sk_live").unwrap())
        .build()
        .unwrap();
    let with_key = |key: &str| {
        Request::get("/orders")
            .header("x-api-key", key)
            .body(Full::default())
            .unwrap()
    };
    let with_auth = |value: String| {
        Request::get("/orders")
            .header("authorization", value)
            .body(Full::default())
            .unwrap()
    };

    let mut typo = keys.admin.clone();
    typo.pop();
    typo.push('!');
    let expected = [
        (
            status(
                &layer,
                Request::get("/orders").body(Full::default()).unwrap(),
            )
            .await,
            401,
        ),
        (
            status(
                &layer,
                Request::get("/health").body(Full::default()).unwrap(),
            )
            .await,
            200,
        ),
        (status(&layer, with_key(&keys.admin)).await, 200),
        (
            status(&layer, with_auth(format!("ApiKey {}", keys.reader))).await,
            200,
        ),
        (
            status(&layer, with_auth(format!("ApiKey {},x", keys.admin))).await,
            400,
        ),
        (
            status(&layer, with_auth(format!("Basic {}", keys.admin))).await,
            401,
        ),
        (status(&layer, with_key(&typo)).await, 401),
        (status(&layer, with_key(&keys.unknown)).await, 401),
        (status(&layer, with_key(&keys.wrong_secret)).await, 401),
        (status(&layer, with_key(&keys.expired)).await, 401),
        (status(&layer, with_key(&keys.revoked)).await, 401),
        (status(&layer, with_key(&keys.test_env)).await, 401),
        (status(&admin_only, with_key(&keys.reader)).await, 403),
        (status(&failing, with_key(&keys.admin)).await, 503),
        (
            status(
                &layer,
                Request::get(format!("/orders?api_key={}", keys.admin))
                    .header("x-api-key", &keys.admin)
                    .body(Full::default())
                    .unwrap(),
            )
            .await,
            400,
        ),
        (
            status(
                &layer,
                Request::get(format!("/orders?api_key={}", keys.reader))
                    .body(Full::default())
                    .unwrap(),
            )
            .await,
            200,
        ),
    ];
    for (i, (got, want)) in expected.iter().enumerate() {
        assert_eq!(got, want, "case {i}");
    }

    let log = capture.text();
    let events: Vec<&str> = log.lines().filter(|l| l.contains(" authgate: ")).collect();
    assert_eq!(
        events.len(),
        expected.len(),
        "one event per decision:\n{log}"
    );
    // And one audit record per decision, grants included, on its own target.
    let audits: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" authgate::audit: "))
        .collect();
    assert_eq!(
        audits.len(),
        expected.len(),
        "one audit record per decision:\n{log}"
    );
    assert!(audits.iter().all(|l| l.contains(" INFO ")), "{log}");
    let granted_audit = audits
        .iter()
        .find(|l| l.contains("acct_admin") && l.contains("outcome=\"granted\""))
        .unwrap();
    assert!(granted_audit.contains("method=\"GET\""), "{granted_audit}");
    assert!(
        granted_audit.contains("route=\"/orders\""),
        "{granted_audit}"
    );
    assert!(
        granted_audit.contains(&format!("credential_id=\"{}\"", key_id(&keys.admin))),
        "{granted_audit}"
    );
    assert!(granted_audit.contains(&format!(
        "fingerprint=\"{}\"",
        fingerprint(keys.admin.as_bytes())
    )));
    let denied_audit = audits
        .iter()
        .find(|l| l.contains("reason=\"revoked\""))
        .unwrap();
    assert!(denied_audit.contains("status=401"), "{denied_audit}");

    for key in keys.all() {
        assert!(!log.contains(key), "a whole key leaked:\n{log}");
        let secret = key_secret(key);
        assert!(!log.contains(secret), "a secret leaked:\n{log}");
        // Not even a long piece of one.
        for window in secret.as_bytes().windows(12) {
            let piece = std::str::from_utf8(window).unwrap();
            assert!(!log.contains(piece), "part of a secret leaked:\n{log}");
        }
    }

    let reasons = [
        "reason=\"missing\"",
        "outcome=\"anonymous\"",
        "outcome=\"granted\"",
        "reason=\"malformed\"",
        "reason=\"unsupported_scheme\"",
        "reason=\"invalid_format\"",
        "reason=\"unknown_key\"",
        "reason=\"bad_signature\"",
        "reason=\"expired\"",
        "reason=\"revoked\"",
        "reason=\"wrong_environment\"",
        "reason=\"insufficient_scope\"",
        "reason=\"unavailable\"",
        "reason=\"ambiguous\"",
    ];
    for reason in reasons {
        assert!(log.contains(reason), "{reason} missing from:\n{log}");
    }

    let granted = events
        .iter()
        .find(|l| l.contains("acct_admin") && l.contains("granted"))
        .unwrap();
    assert!(granted.contains("DEBUG"));
    assert!(granted.contains("scheme=\"api_key\""));
    assert!(granted.contains(&format!("key_id=\"{}\"", key_id(&keys.admin))));
    assert!(granted.contains(&format!(
        "fingerprint=\"{}\"",
        fingerprint(keys.admin.as_bytes())
    )));
    assert!(granted.contains("latency_us="));

    let revoked = events.iter().find(|l| l.contains("\"revoked\"")).unwrap();
    assert!(revoked.contains("INFO"));
    assert!(revoked.contains(&format!("key_id=\"{}\"", key_id(&keys.revoked))));
    assert!(revoked.contains("status=401"));

    let unavailable = events.iter().find(|l| l.contains("unavailable")).unwrap();
    assert!(unavailable.contains("WARN"));

    let forbidden = events
        .iter()
        .find(|l| l.contains("insufficient_scope"))
        .unwrap();
    assert!(forbidden.contains("subject=\"acct_reader\""));
}

#[test]
fn secret_types_redact_their_debug_output() {
    let key = ApiKeyGenerator::new("sk_live")
        .unwrap()
        .generate("acct", Scopes::empty())
        .unwrap();
    let plaintext = key.plaintext().expose().to_owned();
    let secret = key_secret(&plaintext).to_owned();
    let debugs = [
        format!("{key:?}"),
        format!("{:?}", key.plaintext()),
        format!("{:?}", key.record()),
        format!("{:?}", SecretString::new(plaintext.clone())),
        format!(
            "{:?}",
            Credential::new(CredentialLocation::authorization("ApiKey"), &plaintext)
        ),
    ];
    for debug in debugs {
        assert!(!debug.contains(&secret), "{debug}");
        assert!(!debug.contains(&plaintext), "{debug}");
    }
}
