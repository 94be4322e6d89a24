//! authgate on a tonic gRPC server, with per-method scopes.
//!
//! `SayHello` needs scope `greet`, `SayGoodbye` needs `admin`. The example
//! serves `pkg.Greeter` on 127.0.0.1, then calls it as a client with a good
//! key (OK), no key (UNAUTHENTICATED) and a key lacking `admin`
//! (PERMISSION_DENIED), printing each status. Exits 0 when every answer is
//! the expected one.
//!
//! `cargo run --example tonic_grpc`

#[path = "support/greeter.rs"]
mod greeter;

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::authorize::GrpcMethods;
use authgate::{AuthLayer, RequireScopes, Scopes};
use greeter::{call_method, GreeterServer, SAY_GOODBYE, SAY_HELLO};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::Code;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = InMemoryKeyStore::new();
    let key = ApiKeyGenerator::new("sk_live")?.generate("acct_greeter", Scopes::parse("greet"))?;
    store.insert(key.record().clone());

    // Authenticate every call; authorize per method. gRPC rejections come
    // back as grpc-status 16 / 7 / 14, which tonic clients read as codes.
    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live")?)
        .authorize(
            GrpcMethods::new()
                .method(SAY_HELLO, RequireScopes::all(["greet"]))
                .method(SAY_GOODBYE, RequireScopes::all(["admin"])),
        )
        .build()?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = Server::builder()
        .layer(auth)
        .add_service(GreeterServer)
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(server);
    println!("pkg.Greeter on http://{address}\n");

    let channel = Channel::from_shared(format!("http://{address}"))?
        .connect()
        .await?;
    let good = key.plaintext().expose();
    let cases: [(&str, &'static str, Option<&str>, Code); 3] = [
        ("SayHello with a good key", SAY_HELLO, Some(good), Code::Ok),
        (
            "SayHello with no key",
            SAY_HELLO,
            None,
            Code::Unauthenticated,
        ),
        (
            "SayGoodbye without scope admin",
            SAY_GOODBYE,
            Some(good),
            Code::PermissionDenied,
        ),
    ];
    let mut failures = 0;
    for (label, method, key, expected) in cases {
        let metadata: Vec<(&'static str, &str)> =
            key.map(|k| ("x-api-key", k)).into_iter().collect();
        let (code, detail) = match call_method(&channel, method, &metadata).await {
            Ok(reply) => (
                Code::Ok,
                format!("{} (as {})", reply.message, reply.subject),
            ),
            Err(status) => (status.code(), status.message().to_owned()),
        };
        let verdict = if code == expected { "ok" } else { "UNEXPECTED" };
        if code != expected {
            failures += 1;
        }
        println!(
            "{label:<32} {:<18} {verdict:<10} {detail}",
            format!("{code:?}")
        );
    }
    println!();
    if failures > 0 {
        return Err(format!("{failures} unexpected answers").into());
    }
    println!("all answers as expected");
    Ok(())
}
