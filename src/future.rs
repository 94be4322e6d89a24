//! [`ResponseFuture`]: a small state machine — reading the body (only for
//! schemes that sign it), verifying, inner, rejected.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Response, StatusCode};
use pin_project_lite::pin_project;

use crate::body::ResponseBody;
use crate::error::AuthError;
use crate::principal::Principal;
use crate::request_body::ReadFuture;
use crate::scheme::VerifyFuture;

/// What to do once verification has answered.
pub(crate) type Continuation<F> =
    Box<dyn FnOnce(Result<Principal, AuthError>) -> ResponseFuture<F> + Send>;

/// What to do once the body has been read.
pub(crate) type BodyContinuation<F> =
    Box<dyn FnOnce(Result<Bytes, AuthError>) -> ResponseFuture<F> + Send>;

pin_project! {
    /// The response future of [`Auth`](crate::Auth).
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Reading {
            read: ReadFuture,
            then: Option<BodyContinuation<F>>,
        },
        Verifying {
            verify: VerifyFuture,
            then: Option<Continuation<F>>,
        },
        Inner {
            #[pin]
            future: F,
            // What the granting scheme adds to the response (a DPoP nonce).
            headers: Option<Box<http::HeaderMap>>,
        },
        Rejected {
            response: Option<Response<Bytes>>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            state: State::Inner {
                future,
                headers: None,
            },
        }
    }

    pub(crate) fn rejected(response: Response<Bytes>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn reading(read: ReadFuture, then: BodyContinuation<F>) -> Self {
        Self {
            state: State::Reading {
                read,
                then: Some(then),
            },
        }
    }

    /// Calls the inner service; adds `headers` (what the granting scheme
    /// adds, a DPoP nonce) to its response.
    pub(crate) fn call(future: F, headers: Option<Box<http::HeaderMap>>) -> Self {
        Self {
            state: State::Inner { future, headers },
        }
    }

    pub(crate) fn verifying(verify: VerifyFuture, then: Continuation<F>) -> Self {
        Self {
            state: State::Verifying {
                verify,
                then: Some(then),
            },
        }
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Reading { read, then } => {
                    let result = ready!(read.as_mut().poll(cx));
                    let next = match then.take() {
                        Some(then) => then(result),
                        None => Self::rejected(polled_after_completion()),
                    };
                    this.state.set(next.state);
                }
                StateProj::Verifying { verify, then } => {
                    let result = ready!(verify.as_mut().poll(cx));
                    let next = match then.take() {
                        Some(then) => then(result),
                        None => Self::rejected(polled_after_completion()),
                    };
                    this.state.set(next.state);
                }
                StateProj::Inner { future, headers } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(headers) = headers.take() {
                        response.headers_mut().extend(*headers);
                    }
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Rejected { response } => {
                    let response = response.take().unwrap_or_else(polled_after_completion);
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
            }
        }
    }
}

/// Polling a finished future breaks the `Future` contract; answer with a 500
/// instead of panicking.
fn polled_after_completion() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Reading { .. } => "reading body",
            State::Verifying { .. } => "verifying",
            State::Inner { .. } => "inner",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
