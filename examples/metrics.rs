//! Metrics for an operator: an axum API behind authgate, with the
//! Prometheus exporter serving `GET /metrics`, and audit records on their
//! own tracing target.
//!
//! The example installs the exporter (before building the layer: authgate
//! registers its series when the layer is built), serves the API on
//! 127.0.0.1, sends a mix of good and bad requests, scrapes `/metrics` and
//! prints the authgate series. Exits 0 when every answer and the scraped
//! counts are the expected ones. See docs/observability.md for every series
//! and the PromQL built on them.
//!
//! `cargo run --features metrics --example metrics`

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::{AuthLayer, Principal, Scopes};
use axum::routing::get;
use axum::{Extension, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

async fn orders(Extension(principal): Extension<Principal>) -> String {
    format!("orders of {}\n", principal.subject())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Audit records only, not the debug events of target `authgate`.
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_filter(
                    Targets::new().with_target(authgate::audit::TARGET, tracing::Level::INFO),
                ),
        )
        .init();

    // 1. The exporter, with histogram buckets for the decision latency so
    //    that `histogram_quantile` works on `_bucket` series.
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("authgate_decision_duration_seconds".into()),
            &[
                0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
            ],
        )?
        .install_recorder()?;

    // 2. The API, behind authgate.
    let live = ApiKeyGenerator::new("sk_live")?;
    let store = InMemoryKeyStore::new();
    let good = live.generate("partner_acme", Scopes::parse("orders:read"))?;
    store.insert(good.record().clone());
    let revoked = live.generate("partner_gone", Scopes::empty())?;
    store.insert(revoked.record().clone());
    store.revoke(&revoked.record().id);
    let unknown = live.generate("partner_never_stored", Scopes::empty())?;

    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live")?)
        .anonymous_path("/metrics")
        .build()?;
    let scrape = prometheus.clone();
    let app = Router::new()
        .route("/orders", get(orders))
        .route("/metrics", get(move || async move { scrape.render() }))
        .layer(auth);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("API on {base}, metrics on {base}/metrics\n");

    // 3. Traffic: 5 good requests, and some bad ones.
    let client = reqwest::Client::new();
    let mut requests: Vec<(Option<&str>, u16)> = vec![(Some(good.plaintext().expose()), 200); 5];
    requests.extend([
        (None, 401),
        (Some(revoked.plaintext().expose()), 401),
        (Some(unknown.plaintext().expose()), 401),
        (Some("sk_live_not_a_key"), 401),
    ]);
    let mut failures = 0;
    for (key, expected) in requests {
        let mut request = client.get(format!("{base}/orders"));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let status = request.send().await?.status().as_u16();
        if status != expected {
            failures += 1;
            println!("UNEXPECTED: {status}, wanted {expected}");
        }
    }

    // 4. Scrape, and show the authgate series that moved.
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    println!("\n# authgate series from GET /metrics (zero series left out)");
    for line in text.lines() {
        let moved = !line.ends_with(" 0");
        if line.starts_with("authgate_") && moved && !line.contains("_bucket{") {
            println!("{line}");
        }
    }
    let expect = [
        r#"authgate_decisions_total{scheme="api_key",outcome="granted",reason="none",status="none"} 5"#,
        r#"authgate_decisions_total{scheme="none",outcome="denied",reason="missing",status="401"} 1"#,
        r#"authgate_decisions_total{scheme="api_key",outcome="denied",reason="revoked",status="401"} 1"#,
        r#"authgate_decisions_total{scheme="api_key",outcome="denied",reason="unknown_key",status="401"} 1"#,
        r#"authgate_decisions_total{scheme="api_key",outcome="denied",reason="invalid_format",status="401"} 1"#,
        r#"authgate_revocation_hits_total{scheme="api_key"} 1"#,
    ];
    for line in expect {
        if !text.lines().any(|l| l == line) {
            failures += 1;
            println!("MISSING from the scrape: {line}");
        }
    }
    println!();
    if failures > 0 {
        return Err(format!("{failures} unexpected results").into());
    }
    println!("all answers and series as expected");
    Ok(())
}
