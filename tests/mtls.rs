//! Client certificates over real TLS connections on 127.0.0.1: a rustls
//! server (`authgate::mtls::serve`) with optional client authentication,
//! and a tokio-rustls client presenting certificates made by rcgen here.
#![cfg(feature = "mtls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../examples/support/greeter.rs"]
mod greeter;

#[path = "support/mtls.rs"]
mod pki;

use std::net::SocketAddr;

use authgate::clock::ManualClock;
use authgate::mtls::{self, ClientAuth, ClientCertScheme, SubjectFrom, Workloads};
use authgate::{AuthLayer, Principal};
use axum::routing::get;
use axum::{Extension, Router};
use pki::*;
use rcgen::{IsCa, KeyUsagePurpose, SanType};

#[tokio::test]
async fn a_spiffe_svid_authenticates_and_reaches_the_handler() {
    let pki = Pki::new();
    let addr = start(&pki, spiffe_scheme()).await;
    let client = pki.client(spiffe(API));
    let answer = fetch(&pki, addr, Some(&client), "/me").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["subject"], API);
    assert_eq!(body["spiffe_id"], API);
    let thumbprint = body["thumbprint"].as_str().unwrap();
    assert_eq!(thumbprint.len(), 43, "base64url SHA-256");
    let expected = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            client.chain[0].as_ref(),
        ))
    };
    assert_eq!(thumbprint, expected);
}

#[tokio::test]
async fn workload_rules_allow_only_the_admin_id() {
    let pki = Pki::new();
    let addr = start(&pki, spiffe_scheme()).await;
    let admin = pki.client(spiffe(ADMIN));
    let api = pki.client(spiffe(API));
    assert_eq!(fetch(&pki, addr, Some(&admin), "/admin").await.status, 200);
    let answer = fetch(&pki, addr, Some(&api), "/admin").await;
    assert_eq!(answer.status, 403, "{answer:?}");
}

#[tokio::test]
async fn no_certificate_is_401_with_a_challenge_and_anonymous_paths_pass() {
    let pki = Pki::new();
    let addr = start(&pki, spiffe_scheme()).await;
    let answer = fetch(&pki, addr, None, "/me").await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.challenge.as_deref(), Some("ClientCertificate"));
    assert_eq!(fetch(&pki, addr, None, "/health").await.status, 200);
}

#[tokio::test]
async fn a_certificate_from_another_ca_never_gets_through() {
    let pki = Pki::new();
    let addr = start(&pki, spiffe_scheme()).await;
    let stranger = Pki::new();
    let client = stranger.client(spiffe(ADMIN));
    let result = get_with(&pki, addr, Some(&client), "/admin", None).await;
    assert!(
        result.is_err() || result.as_ref().is_ok_and(|a| a.status != 200),
        "{result:?}"
    );
}

/// Each X.509-SVID rule on its own (spiffe/spiffe X509-SVID.md).
#[tokio::test]
async fn every_svid_rule_is_enforced() {
    let pki = Pki::new();
    let addr = start(&pki, spiffe_scheme()).await;
    let cases: Vec<(&str, ClientCert)> = vec![
        (
            "two URI SANs",
            pki.client(|p| {
                p.subject_alt_names = vec![
                    SanType::URI(API.try_into().unwrap()),
                    SanType::URI(ADMIN.try_into().unwrap()),
                ];
            }),
        ),
        (
            "another trust domain",
            pki.client(spiffe("spiffe://evil.example/ns/ops/sa/admin")),
        ),
        ("no path", pki.client(spiffe("spiffe://prod.example"))),
        (
            "malformed SPIFFE ID",
            pki.client(spiffe("spiffe://prod.example/a//b")),
        ),
        (
            "a non-spiffe URI",
            pki.client(|p| {
                p.subject_alt_names =
                    vec![SanType::URI("https://prod.example/x".try_into().unwrap())];
            }),
        ),
        (
            "a CA leaf",
            pki.client(|p| {
                p.subject_alt_names = vec![SanType::URI(ADMIN.try_into().unwrap())];
                p.is_ca = IsCa::ExplicitNoCa;
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyCertSign,
                ];
            }),
        ),
    ];
    for (case, client) in &cases {
        let answer = get_with(&pki, addr, Some(client), "/me", None).await;
        match answer {
            // webpki may refuse a leaf that can sign certificates at the
            // handshake already; every other case reaches the scheme.
            Err(_) if *case == "a CA leaf" => {}
            Err(error) => panic!("{case}: the handshake failed: {error}"),
            Ok(answer) => {
                assert_eq!(answer.status, 401, "{case}: {answer:?}");
                let challenge = answer.challenge.unwrap_or_default();
                assert!(
                    challenge.contains(r#"error="invalid_token""#),
                    "{case}: {challenge}"
                );
            }
        }
    }
}

/// Validity is checked with the scheme's clock even though TLS checked it.
#[tokio::test]
async fn validity_is_checked_against_the_schemes_clock() {
    let pki = Pki::new();
    let client = pki.client(|p| {
        p.subject_alt_names = vec![SanType::URI(API.try_into().unwrap())];
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2090, 1, 1);
    });
    for (now, description) in [
        (4_000_000_000u64, "the client certificate has expired"), // 2096
        (1_500_000_000, "the client certificate is not valid yet"), // 2017
    ] {
        let scheme = ClientCertScheme::builder()
            .trust_domain(TRUST_DOMAIN)
            .clock(ManualClock::at_unix(now))
            .build()
            .unwrap();
        let addr = start(&pki, scheme).await;
        let answer = fetch(&pki, addr, Some(&client), "/me").await;
        assert_eq!(answer.status, 401, "{description}: {answer:?}");
        assert!(
            answer.challenge.unwrap_or_default().contains(description),
            "{description}"
        );
    }
}

#[tokio::test]
async fn classic_certificates_are_named_as_configured_or_refused() {
    let pki = Pki::new();
    let client = pki.client(|p| {
        p.subject_alt_names = vec![SanType::DnsName("billing.internal".try_into().unwrap())];
    });
    let addr = start(&pki, spiffe_scheme()).await;
    assert_eq!(fetch(&pki, addr, Some(&client), "/me").await.status, 401);

    let scheme = ClientCertScheme::builder()
        .subject_from(SubjectFrom::DnsName)
        .build()
        .unwrap();
    let addr = start(&pki, scheme).await;
    let answer = fetch(&pki, addr, Some(&client), "/me").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.contains(r#""subject":"billing.internal""#));
    // A classic certificate is never a workload.
    assert_eq!(fetch(&pki, addr, Some(&client), "/admin").await.status, 403);
}

#[test]
fn a_certificate_and_a_token_are_not_two_credentials() {
    // With an API key or bearer token on the request, that credential
    // authenticates: covered by the extractor's unit tests; here the
    // location's name as it appears in configuration errors.
    assert_eq!(
        authgate::CredentialLocation::PeerCertificate.to_string(),
        "TLS client certificate"
    );
}

/// RFC 8705 §3: certificate-bound access tokens.
mod bound_tokens {
    use super::*;
    use authgate::jwt::{CertificateBound, Issuer, JwtKey, JwtScheme};

    const SECRET: [u8; 32] = [9; 32];

    fn thumbprint(client: &ClientCert) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            client.chain[0].as_ref(),
        ))
    }

    fn token(cnf: Option<&str>) -> String {
        authgate::jwt::install_default();
        let mut claims = serde_json::json!({
            "iss": "https://login.example", "aud": "api", "sub": "alice",
            "exp": 4_000_000_000u64,
        });
        if let Some(x5t) = cnf {
            claims["cnf"] = serde_json::json!({ "x5t#S256": x5t });
        }
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&SECRET),
        )
        .unwrap()
    }

    async fn start_with_jwt(pki: &Pki) -> SocketAddr {
        let jwt = JwtScheme::builder()
            .issuer(
                Issuer::new("https://login.example")
                    .audience("api")
                    .key(JwtKey::shared_secret(&SECRET).unwrap()),
            )
            .build()
            .unwrap();
        let auth = AuthLayer::builder()
            .scheme(jwt)
            .scheme(spiffe_scheme())
            .build()
            .unwrap();
        let app = Router::new()
            .route("/bound-only", get(|| async { "bound" }))
            .route_layer(auth.with_authorizer(CertificateBound))
            .route("/me", get(me))
            .layer(auth);
        let config = mtls::server_config(
            pki.server_cert.as_bytes(),
            pki.server_key.as_bytes(),
            pki.ca_pem().as_bytes(),
            ClientAuth::Optional,
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(mtls::serve(listener, config, app));
        addr
    }

    async fn status(
        pki: &Pki,
        addr: SocketAddr,
        client: Option<&ClientCert>,
        path: &str,
        token: &str,
    ) -> u16 {
        get_with(pki, addr, client, path, Some(token))
            .await
            .unwrap()
            .status
    }

    #[tokio::test]
    async fn a_bound_token_works_only_with_its_certificate_cached_or_not() {
        let pki = Pki::new();
        let addr = start_with_jwt(&pki).await;
        let mine = pki.client(spiffe(API));
        let other = pki.client(spiffe(ADMIN));
        let bound = token(Some(&thumbprint(&mine)));
        // The token authenticates (the subject is the token's), the
        // certificate binds.
        let answer = get_with(&pki, addr, Some(&mine), "/me", Some(&bound))
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(answer.body.contains(r#""subject":"alice""#));
        // Now cached: another certificate, or none, still fails.
        assert_eq!(status(&pki, addr, Some(&other), "/me", &bound).await, 401);
        assert_eq!(status(&pki, addr, None, "/me", &bound).await, 401);
        assert_eq!(status(&pki, addr, Some(&mine), "/me", &bound).await, 200);
        assert_eq!(
            status(&pki, addr, Some(&mine), "/bound-only", &bound).await,
            200
        );
    }

    #[tokio::test]
    async fn a_route_can_require_bound_tokens() {
        let pki = Pki::new();
        let addr = start_with_jwt(&pki).await;
        let mine = pki.client(spiffe(API));
        let unbound = token(None);
        assert_eq!(status(&pki, addr, Some(&mine), "/me", &unbound).await, 200);
        assert_eq!(
            status(&pki, addr, Some(&mine), "/bound-only", &unbound).await,
            401
        );
        // A certificate alone is not a token.
        assert_eq!(
            fetch(&pki, addr, Some(&mine), "/bound-only").await.status,
            401
        );
    }
}

/// tonic with its own TLS (`tls_config`): the chain it verified reaches the
/// scheme with no user code, and per-method workload rules apply.
#[cfg(feature = "tonic")]
mod tonic_mtls {
    use super::*;
    use authgate::authorize::GrpcMethods;
    use greeter::{call_method, GreeterServer, SAY_GOODBYE, SAY_HELLO};
    use tonic::transport::{
        Certificate, Channel, ClientTlsConfig, Identity, Server, ServerTlsConfig,
    };
    use tonic::Code;

    async fn serve(pki: &Pki) -> SocketAddr {
        let auth = AuthLayer::builder()
            .scheme(spiffe_scheme())
            .build()
            .unwrap();
        let rules = GrpcMethods::new()
            .method(SAY_GOODBYE, Workloads::new().id(ADMIN).unwrap())
            .otherwise(Workloads::new().trust_domain(TRUST_DOMAIN).unwrap());
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(&pki.server_cert, &pki.server_key))
            .client_ca_root(Certificate::from_pem(pki.ca_pem()))
            .client_auth_optional(true);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::builder()
            .tls_config(tls)
            .unwrap()
            .layer(
                tower::ServiceBuilder::new()
                    .layer(auth.clone())
                    .layer(auth.with_authorizer(rules)),
            )
            .add_service(GreeterServer)
            .serve_with_incoming(tokio_stream_from(listener));
        tokio::spawn(server);
        addr
    }

    fn tokio_stream_from(
        listener: tokio::net::TcpListener,
    ) -> tonic::transport::server::TcpIncoming {
        tonic::transport::server::TcpIncoming::from(listener)
    }

    async fn channel(pki: &Pki, addr: SocketAddr, client: Option<&ClientCert>) -> Channel {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(pki.ca_pem()))
            .domain_name("localhost");
        if let Some(client) = client {
            tls = tls.identity(Identity::from_pem(&client.cert_pem, &client.key_pem));
        }
        Channel::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn tonic_over_mtls_with_per_method_spiffe_rules() {
        let pki = Pki::new();
        let addr = serve(&pki).await;
        let api = pki.client(spiffe(API));
        let admin = pki.client(spiffe(ADMIN));

        let as_api = channel(&pki, addr, Some(&api)).await;
        let reply = call_method(&as_api, SAY_HELLO, &[]).await.unwrap();
        assert_eq!(reply.subject, API);
        let status = call_method(&as_api, SAY_GOODBYE, &[]).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

        let as_admin = channel(&pki, addr, Some(&admin)).await;
        assert_eq!(
            call_method(&as_admin, SAY_GOODBYE, &[])
                .await
                .unwrap()
                .subject,
            ADMIN
        );

        let anonymous = channel(&pki, addr, None).await;
        let status = call_method(&anonymous, SAY_HELLO, &[]).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
}

/// Certificates forwarded by a TLS-terminating proxy (RFC 9440 and Envoy's
/// XFCC): believed only from trusted peers, removed from anyone else.
mod forwarded {
    use super::*;
    use authgate::mtls::ForwardedClientCerts;

    async fn start(forwarded: ForwardedClientCerts) -> SocketAddr {
        let auth = AuthLayer::builder()
            .scheme(spiffe_scheme())
            .build()
            .unwrap();
        let app = Router::new()
            .route(
                "/me",
                get(
                    |principal: Extension<Principal>, headers: http::HeaderMap| async move {
                        let leaked = headers.contains_key("client-cert")
                            || headers.contains_key("x-forwarded-client-cert");
                        format!("{} leaked={leaked}", principal.subject())
                    },
                ),
            )
            .layer(auth)
            .layer(forwarded);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap()
        });
        addr
    }

    fn rfc9440(client: &ClientCert) -> String {
        use base64::Engine as _;
        format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(client.chain[0].as_ref())
        )
    }

    fn xfcc(client: &ClientCert) -> String {
        let encoded: String = client
            .cert_pem
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!(
            r#"By=spiffe://prod.example/ns/edge/sa/envoy;Hash=abc;Cert="{encoded}";Subject="/CN=client";URI={API}"#
        )
    }

    async fn send(addr: SocketAddr, header: (&str, &str)) -> (u16, String) {
        let response = reqwest::Client::new()
            .get(format!("http://{addr}/me"))
            .header(header.0, header.1)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    #[tokio::test]
    async fn rfc9440_from_a_trusted_proxy_authenticates() {
        let pki = Pki::new();
        let client = pki.client(spiffe(API));
        let trusted =
            start(ForwardedClientCerts::rfc9440().trusted_peers(["127.0.0.1".parse().unwrap()]))
                .await;
        let (status, body) = send(trusted, ("client-cert", &rfc9440(&client))).await;
        assert_eq!(
            (status, body.as_str()),
            (200, format!("{API} leaked=false").as_str())
        );
        // Malformed from the trusted proxy: ignored, so no credential.
        let (status, _) = send(trusted, ("client-cert", "not-a-byte-sequence")).await;
        assert_eq!(status, 401);
    }

    #[tokio::test]
    async fn a_forged_header_from_an_untrusted_peer_is_never_believed() {
        let pki = Pki::new();
        let client = pki.client(spiffe(ADMIN));
        let elsewhere =
            start(ForwardedClientCerts::rfc9440().trusted_peers(["10.9.9.9".parse().unwrap()]))
                .await;
        let (status, _) = send(elsewhere, ("client-cert", &rfc9440(&client))).await;
        assert_eq!(status, 401);
        let nobody = start(ForwardedClientCerts::xfcc()).await;
        let (status, _) = send(nobody, ("x-forwarded-client-cert", &xfcc(&client))).await;
        assert_eq!(status, 401);
    }

    #[tokio::test]
    async fn xfcc_from_a_trusted_proxy_authenticates_one_element_only() {
        let pki = Pki::new();
        let client = pki.client(spiffe(API));
        let envoy =
            start(ForwardedClientCerts::xfcc().trusted_peers(["127.0.0.1".parse().unwrap()])).await;
        let value = xfcc(&client);
        let (status, body) = send(envoy, ("x-forwarded-client-cert", &value)).await;
        assert_eq!(
            (status, body.as_str()),
            (200, format!("{API} leaked=false").as_str())
        );
        let two_hops = format!("{value},{value}");
        let (status, _) = send(envoy, ("x-forwarded-client-cert", &two_hops)).await;
        assert_eq!(status, 401);
        let (status, _) = send(
            envoy,
            (
                "x-forwarded-client-cert",
                "By=x;URI=spiffe://prod.example/a",
            ),
        )
        .await;
        assert_eq!(status, 401, "no Cert= field: nothing to authenticate by");
    }
}
