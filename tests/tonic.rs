//! `AuthLayer` on a tonic gRPC server, over a real loopback connection: the
//! principal reaches the handler, and every rejection arrives at a tonic
//! client as the right `tonic::Code` with a readable message.
//!
//! The `pkg.Greeter` service is hand-written (no protoc in CI) and shared
//! with `examples/tonic_grpc.rs`.

// Panicking is how a test reports failure.
#![allow(clippy::unwrap_used)]

#[path = "../examples/support/greeter.rs"]
mod greeter;
mod support;

use authgate::api_key::{ApiKeyScheme, KeyStore};
use authgate::authorize::GrpcMethods;
use authgate::{AuthLayer, RequireScopes};
use greeter::{call_method, GreeterServer, HelloReply, SAY_GOODBYE, SAY_HELLO};
use support::{fixture, StoreMode, TestStore};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};

/// Serves `GreeterServer` behind `auth` on 127.0.0.1 and returns a channel
/// connected to it. The server lives until the test's runtime shuts down.
async fn serve(auth: AuthLayer) -> Channel {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = Server::builder()
        .layer(auth)
        .add_service(GreeterServer)
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(async move { server.await.unwrap() });
    Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Calls `SayHello` with the given metadata.
async fn call(channel: &Channel, metadata: &[(&'static str, &str)]) -> Result<HelloReply, Status> {
    call_method(channel, SAY_HELLO, metadata).await
}

/// An API-key layer over `store` for `sk_live` keys, realm `greeter`.
fn auth_layer(store: impl KeyStore) -> AuthLayer {
    AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .realm("greeter")
        .build()
        .unwrap()
}

fn assert_status(status: &Status, code: Code, message: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), message, "{status:?}");
}

#[tokio::test]
async fn a_valid_key_in_either_location_reaches_the_handler_as_its_principal() {
    let (store, keys) = fixture();
    let channel = serve(auth_layer(store)).await;
    let authorization = format!("ApiKey {}", keys.reader);
    for metadata in [
        [("x-api-key", keys.reader.as_str())],
        [("authorization", authorization.as_str())],
    ] {
        let reply = call(&channel, &metadata).await.unwrap();
        assert_eq!(reply.message, "hello Ferris");
        assert_eq!(reply.subject, "acct_reader");
    }
}

#[tokio::test]
async fn no_credential_is_unauthenticated_with_a_challenge() {
    let (store, _) = fixture();
    let channel = serve(auth_layer(store)).await;
    let status = call(&channel, &[]).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, "authentication is required");
    let challenge = status.metadata().get("www-authenticate").unwrap();
    assert_eq!(challenge, r#"ApiKey realm="greeter""#);
}

#[tokio::test]
async fn a_wrong_or_unknown_key_is_unauthenticated() {
    let (store, keys) = fixture();
    let channel = serve(auth_layer(store)).await;
    for key in [&keys.wrong_secret, &keys.unknown] {
        let status = call(&channel, &[("x-api-key", key)]).await.unwrap_err();
        assert_status(&status, Code::Unauthenticated, "the credential is invalid");
        let challenge = status.metadata().get("www-authenticate").unwrap();
        assert!(challenge
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#));
    }
}

#[tokio::test]
async fn a_key_without_the_required_scope_is_permission_denied() {
    let (store, keys) = fixture();
    let channel = serve(auth_layer(store).require_scopes(["admin"])).await;

    let status = call(&channel, &[("x-api-key", &keys.reader)])
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::PermissionDenied,
        "the credential lacks a required scope",
    );
    let challenge = status.metadata().get("www-authenticate").unwrap();
    assert!(challenge.to_str().unwrap().contains(r#"scope="admin""#));

    let reply = call(&channel, &[("x-api-key", &keys.admin)]).await.unwrap();
    assert_eq!(reply.subject, "acct_admin");
}

#[tokio::test]
async fn a_failing_key_store_is_unavailable() {
    let (store, keys) = fixture();
    let channel = serve(auth_layer(TestStore::new(store, StoreMode::Fail))).await;
    let status = call(&channel, &[("x-api-key", &keys.reader)])
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::Unavailable,
        "credentials cannot be verified right now",
    );
    assert_eq!(status.metadata().get("retry-after").unwrap(), "5");
}

#[tokio::test]
async fn a_malformed_authorization_header_is_unauthenticated() {
    let (store, _) = fixture();
    let channel = serve(auth_layer(store)).await;
    let status = call(&channel, &[("authorization", "ApiKey a,b")])
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::Unauthenticated,
        "the credentials contain characters outside token68",
    );
}

#[tokio::test]
async fn per_method_scopes_deny_with_permission_denied() {
    let (store, keys) = fixture();
    let rules = GrpcMethods::new()
        .method(SAY_HELLO, RequireScopes::all(["read"]))
        .method(SAY_GOODBYE, RequireScopes::all(["admin"]));
    let channel = serve(auth_layer(store).with_authorizer(rules)).await;

    let reply = call_method(&channel, SAY_HELLO, &[("x-api-key", &keys.reader)])
        .await
        .unwrap();
    assert_eq!(reply.subject, "acct_reader");
    let status = call_method(&channel, SAY_GOODBYE, &[("x-api-key", &keys.reader)])
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::PermissionDenied,
        "the credential lacks a required scope",
    );
    assert!(status
        .metadata()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .contains(r#"scope="admin""#));
    let reply = call_method(&channel, SAY_GOODBYE, &[("x-api-key", &keys.admin)])
        .await
        .unwrap();
    assert_eq!(reply.subject, "acct_admin");
    let status = call_method(&channel, SAY_GOODBYE, &[]).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, "authentication is required");
}

/// Regression (issue 13.1): anonymity is decided once, by the layer that
/// authenticated; a derived layer behind it always runs its authorizer on
/// an authenticated call, and lets an anonymous one through.
#[tokio::test]
async fn a_derived_layer_behind_an_anonymous_method_still_checks_scopes_of_a_caller() {
    let (store, keys) = fixture();
    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .realm("greeter")
        .anonymous_path(SAY_GOODBYE)
        .build()
        .unwrap();
    let both = tower::ServiceBuilder::new()
        .layer(auth.clone())
        .layer(auth.require_scopes(["admin"]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = Server::builder()
        .layer(both)
        .add_service(GreeterServer)
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(async move { server.await.unwrap() });
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    for method in [SAY_HELLO, SAY_GOODBYE] {
        let status = call_method(&channel, method, &[("x-api-key", &keys.reader)])
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{method}");
        let reply = call_method(&channel, method, &[("x-api-key", &keys.admin)])
            .await
            .unwrap();
        assert_eq!(reply.subject, "acct_admin");
    }
    // No credential on the anonymous method: both layers let it through (the
    // handler itself then finds no principal).
    let status = call_method(&channel, SAY_GOODBYE, &[]).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    let status = call_method(&channel, SAY_HELLO, &[]).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}
