//! [`RateLimitFuture`]: the response future of the rate-limit stage.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Response};
use pin_project_lite::pin_project;

use super::answer;
use super::backend::LimitError;
use super::quota::Decision;
use crate::body::ResponseBody;

/// The `RateLimit-Policy` and `RateLimit` values for a passed request.
pub(crate) type Headers = Option<(HeaderValue, HeaderValue)>;

pub(crate) type PendingCheck = Pin<Box<dyn Future<Output = Result<Decision, LimitError>> + Send>>;
pub(crate) type Then<F> =
    Box<dyn FnOnce(Result<Decision, LimitError>) -> RateLimitFuture<F> + Send>;

pin_project! {
    /// The response future of [`RateLimit`].
    pub struct RateLimitFuture<F> {
        #[pin]
        pub(crate) state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    pub(crate) enum State<F> {
        Checking {
            check: PendingCheck,
            then: Option<Then<F>>,
        },
        Inner {
            #[pin]
            future: F,
            headers: Headers,
        },
        Rejected {
            response: Option<Response<Bytes>>,
        },
    }
}

impl<F> RateLimitFuture<F> {
    #[inline]
    pub(crate) fn inner(future: F, headers: Headers) -> Self {
        Self {
            state: State::Inner { future, headers },
        }
    }

    pub(crate) fn rejected(response: Response<Bytes>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for RateLimitFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Checking { check, then } => {
                    let result = ready!(check.as_mut().poll(cx));
                    let Some(then) = then.take() else {
                        // Polled again after the continuation ran: the
                        // state was replaced below, so this cannot happen.
                        return Poll::Pending;
                    };
                    let next = then(result);
                    self.set(next);
                }
                StateProj::Inner { future, headers } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(values) = headers.take() {
                        answer::add_headers(response.headers_mut(), values);
                    }
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Rejected { response } => {
                    let response = response.take().unwrap_or_default();
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
            }
        }
    }
}

impl<F> fmt::Debug for RateLimitFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitFuture").finish_non_exhaustive()
    }
}
