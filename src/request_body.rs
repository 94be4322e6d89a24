//! How an [`AuthLayer`](crate::AuthLayer) treats request bodies.
//!
//! Most schemes read only headers, and a layer never touches the body: the
//! inner service gets the very `Request<B>` the layer received
//! ([`Untouched`], the default). Signature schemes that cover the body
//! (webhooks, [`hmac`](crate::hmac)) need it before they can decide: a layer
//! built [`with_request_bodies`](crate::AuthLayerBuilder::with_request_bodies)
//! ([`Buffered`]) reads the body of exactly the requests whose scheme says
//! [`needs_body`](crate::Scheme::needs_body), up to a limit (1 MiB by
//! default; a larger body is answered 413 before it is read further), hands
//! the bytes to the scheme, and passes the inner service a body built from
//! the same bytes with `B::from(bytes)`. Every other request keeps its body
//! unread.
//!
//! `Buffered` needs a body type with `From<Bytes>`: axum's `Body` and
//! `http_body_util::Full<Bytes>` have it. tonic's body does not; signed
//! webhooks are plain HTTP, so serve them from an axum router.
//!
//! # Example
//!
//! ```
//! use authgate::hmac::{GithubWebhook, WebhookSecrets};
//! use authgate::AuthLayer;
//!
//! let secrets = WebhookSecrets::single("It's a Secret to Everybody");
//! let layer = AuthLayer::builder()
//!     .scheme(GithubWebhook::new(secrets))
//!     .with_request_bodies()
//!     .max_body_size(256 * 1024)
//!     .build()
//!     .unwrap();
//! # let _ = layer;
//! ```

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::request::Parts;
use http_body::Body;

use crate::error::{AuthError, ErrorKind};

/// The body limit of a layer built with request bodies: 1 MiB.
///
/// ```
/// assert_eq!(authgate::request_body::DEFAULT_BODY_LIMIT, 1 << 20);
/// ```
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// How long a [`Buffered`] layer waits for a signed body by default: 10
/// seconds. See
/// [`body_read_timeout`](crate::AuthLayerBuilder::body_read_timeout).
///
/// ```
/// assert_eq!(authgate::request_body::DEFAULT_BODY_TIMEOUT.as_secs(), 10);
/// ```
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

mod sealed {
    pub trait Sealed {}
}

/// How a layer treats request bodies: [`Untouched`] or [`Buffered`].
///
/// Sealed: the two modes are the only ones.
///
/// ```
/// fn mode_of<M: authgate::request_body::BodyMode>(_: &authgate::AuthLayer<M>) {}
/// ```
pub trait BodyMode: sealed::Sealed + Send + Sync + 'static {
    /// Whether schemes can read bodies in this mode.
    #[doc(hidden)]
    const READS_BODIES: bool;
}

/// Request bodies are never read: the default mode.
///
/// ```
/// let layer: authgate::AuthLayer<authgate::request_body::Untouched> =
/// #   authgate::AuthLayer::builder().scheme(
/// #       authgate::api_key::ApiKeyScheme::new(authgate::api_key::InMemoryKeyStore::new(), "sk").unwrap())
///     .build().unwrap();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Untouched;

/// Bodies that a scheme needs are read up to a limit and passed on
/// unchanged. See the [module docs](self).
///
/// ```
/// # use authgate::hmac::{GithubWebhook, WebhookSecrets};
/// let layer: authgate::AuthLayer<authgate::request_body::Buffered> = authgate::AuthLayer::builder()
///     .scheme(GithubWebhook::new(WebhookSecrets::single("s")))
///     .with_request_bodies()
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Buffered;

impl sealed::Sealed for Untouched {}
impl sealed::Sealed for Buffered {}

impl BodyMode for Untouched {
    const READS_BODIES: bool = false;
}

impl BodyMode for Buffered {
    const READS_BODIES: bool = true;
}

/// The boxed future reading one body.
pub(crate) type ReadFuture = Pin<Box<dyn Future<Output = Result<Bytes, AuthError>> + Send>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body could not be read: the client went away, or the connection
/// broke. Kept as the source of the 400.
#[derive(Debug, thiserror::Error)]
#[error("the request body could not be read")]
struct BodyReadError(#[source] BoxError);

/// Whether the body is announced, by `Content-Length` or the body's own
/// size hint, as larger than `limit`: such a request is answered 413 before
/// a byte is read.
pub(crate) fn announced_too_large<B: Body>(parts: &Parts, body: &B, limit: usize) -> bool {
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    declared.is_some_and(|len| len > limit) || body.size_hint().lower() > limit
}

/// Reads the whole body, failing with 413 as soon as it grows past `limit`.
pub(crate) async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, AuthError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = pin!(body);
    // A body of one data frame (`Full`, most small requests) is handed on
    // as that frame's bytes, without a copy.
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    let mut budget = limit;
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            AuthError::new(ErrorKind::Malformed)
                .with_description("the request body could not be read")
                .with_source(BodyReadError(e.into()))
        })?;
        // Every frame costs at least a byte of the limit: a body yielding
        // empty frames (or trailers) forever would otherwise be read forever
        // without growing, and without ever returning to the executor.
        let cost = frame.data_ref().map_or(1, |data| data.remaining().max(1));
        budget = budget.checked_sub(cost).ok_or_else(too_large)?;
        // Trailers are not covered by any signature scheme: skipped.
        if let Ok(mut data) = frame.into_data() {
            if first.is_none() && buf.is_empty() {
                first = Some(data.copy_to_bytes(data.remaining()));
                continue;
            }
            if let Some(mut earlier) = first.take() {
                buf.put(&mut earlier);
            }
            buf.put(&mut data);
        }
    }
    Ok(match first {
        Some(bytes) => bytes,
        None => buf.freeze(),
    })
}

/// The scheme's pre-check, then [`read_limited`], both within `deadline`:
/// a body that has not fully arrived by then is answered 408, and what was
/// read of it is dropped.
pub(crate) async fn read_within<B>(
    body: B,
    limit: usize,
    deadline: std::time::Duration,
    precheck: Option<crate::scheme::PrecheckFuture>,
) -> Result<Bytes, AuthError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let read = async {
        if let Some(check) = precheck {
            check.await?;
        }
        read_limited(body, limit).await
    };
    within(deadline, read).await
}

/// `read`, answered 408 if it has not finished within `deadline`.
pub(crate) async fn within<F>(deadline: std::time::Duration, read: F) -> Result<Bytes, AuthError>
where
    F: Future<Output = Result<Bytes, AuthError>>,
{
    if tokio::runtime::Handle::try_current().is_err() {
        // Outside a Tokio runtime there is no timer to race against.
        return read.await;
    }
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or_else(|_| Err(AuthError::new(ErrorKind::BodyTimeout)))
}

pub(crate) fn too_large() -> AuthError {
    AuthError::new(ErrorKind::PayloadTooLarge)
}

/// Debug for the layer's mode field.
pub(crate) struct ModeName<M>(std::marker::PhantomData<fn() -> M>);

impl<M: BodyMode> ModeName<M> {
    pub(crate) fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<M: BodyMode> fmt::Debug for ModeName<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if M::READS_BODIES {
            "Buffered"
        } else {
            "Untouched"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn reads_up_to_the_limit_and_not_past_it() {
        let body = Full::new(Bytes::from_static(b"0123456789"));
        assert_eq!(read_limited(body.clone(), 10).await.unwrap(), "0123456789");
        let err = read_limited(body, 9).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PayloadTooLarge);
    }

    /// An endless body: reading it must stop at the limit.
    struct Endless;

    impl Body for Endless {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
                b"xxxx",
            )))))
        }
    }

    /// A body of empty frames that never ends: it never grows.
    struct EmptyFrames;

    impl Body for EmptyFrames {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::new()))))
        }
    }

    #[tokio::test]
    async fn stops_reading_endless_empty_frames() {
        let err = read_limited(EmptyFrames, 1 << 20).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PayloadTooLarge);
    }

    #[tokio::test]
    async fn stops_reading_a_stream_that_grows_past_the_limit() {
        let err = read_limited(Endless, 10).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PayloadTooLarge);
    }

    #[test]
    fn announced_length_is_checked() {
        let parts = http::Request::post("/")
            .header("content-length", "11")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let body = Full::new(Bytes::new());
        assert!(announced_too_large(&parts, &body, 10));
        assert!(!announced_too_large(&parts, &body, 11));
    }
}
