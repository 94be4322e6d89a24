//! A tiny hand-written gRPC service, `pkg.Greeter`, shared by
//! `examples/tonic_grpc.rs` and `tests/tonic.rs`.
//!
//! There is no protoc on CI machines, so this is written by hand in the
//! shape tonic-build generates for
//!
//! ```proto
//! package pkg;
//! service Greeter {
//!   rpc SayHello(HelloRequest) returns (HelloReply);
//!   rpc SayGoodbye(HelloRequest) returns (HelloReply);
//! }
//! ```

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use authgate::Principal;
use http::uri::PathAndQuery;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;
use tower::{service_fn, Service};

/// The path of `SayHello`.
pub const SAY_HELLO: &str = "/pkg.Greeter/SayHello";
/// The path of `SayGoodbye`.
pub const SAY_GOODBYE: &str = "/pkg.Greeter/SayGoodbye";

/// `message HelloRequest { string name = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `message HelloReply { string message = 1; string subject = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
    /// The subject of the principal the handler found in the request.
    #[prost(string, tag = "2")]
    pub subject: String,
}

/// The handler: greets the caller as the principal authgate verified.
async fn greet(request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
    let subject = request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| Status::internal("no principal in the request extensions"))?
        .subject()
        .to_owned();
    let name = &request.get_ref().name;
    Ok(Response::new(HelloReply {
        message: format!("hello {name}"),
        subject,
    }))
}

/// The server half of `pkg.Greeter`, as tonic-build would generate it.
#[derive(Clone, Debug)]
pub struct GreeterServer;

impl NamedService for GreeterServer {
    const NAME: &'static str = "pkg.Greeter";
}

impl Service<http::Request<Body>> for GreeterServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Box::pin(async move {
            if ![SAY_HELLO, SAY_GOODBYE].contains(&request.uri().path()) {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let mut grpc =
                tonic::server::Grpc::new(ProstCodec::<HelloReply, HelloRequest>::default());
            Ok(grpc.unary(service_fn(greet), request).await)
        })
    }
}

/// Calls the method at `path` with the given metadata, as a generated client
/// would.
pub async fn call_method(
    channel: &Channel,
    path: &'static str,
    metadata: &[(&'static str, &str)],
) -> Result<HelloReply, Status> {
    let mut request = Request::new(HelloRequest {
        name: "Ferris".to_owned(),
    });
    for (name, value) in metadata {
        let value = value
            .parse()
            .map_err(|_| Status::invalid_argument("metadata value is not ASCII"))?;
        request.metadata_mut().insert(*name, value);
    }
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let codec = ProstCodec::<HelloRequest, HelloReply>::default();
    grpc.unary(request, PathAndQuery::from_static(path), codec)
        .await
        .map(Response::into_inner)
}
