//! The response futures of the rate-limit stages: [`RateLimitFuture`] and
//! [`FailedAuthFuture`](super::FailedAuthFuture), one state machine
//! ([`Stage`]) under both: a limit check still waiting for its store, the
//! inner service's call, or a rejection.

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

/// A limit check waiting for its store (a Redis round trip).
pub(crate) type PendingCheck = Pin<Box<dyn Future<Output = Result<Decision, LimitError>> + Send>>;

/// What a stage does once its pending check has answered.
pub(crate) type Then<F, A> = Box<dyn FnOnce(Result<Decision, LimitError>) -> Stage<F, A> + Send>;

/// What a stage does to the inner service's response: the limiter adds
/// its `RateLimit` headers, the failed-authentication throttle charges a
/// failure.
pub(crate) trait Finish {
    fn finish<B>(self, response: &mut Response<B>);
}

impl Finish for Headers {
    #[inline]
    fn finish<B>(self, response: &mut Response<B>) {
        if let Some(values) = self {
            answer::add_headers(response.headers_mut(), values);
        }
    }
}

pin_project! {
    /// The state machine of a rate-limit stage's response future; `A` is
    /// what it does to the inner service's response ([`Finish`]).
    pub(crate) struct Stage<F, A> {
        #[pin]
        state: State<F, A>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, A> {
        Checking {
            check: PendingCheck,
            then: Option<Then<F, A>>,
        },
        Inner {
            #[pin]
            future: F,
            finish: Option<A>,
        },
        Rejected {
            response: Option<Response<Bytes>>,
        },
    }
}

impl<F, A> Stage<F, A> {
    /// Calls the inner service; `finish` runs on its response.
    #[inline]
    pub(crate) fn inner(future: F, finish: A) -> Self {
        Self {
            state: State::Inner {
                future,
                finish: Some(finish),
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

    /// Waits for `check`, then goes on as `then` says.
    pub(crate) fn checking(check: PendingCheck, then: Then<F, A>) -> Self {
        Self {
            state: State::Checking {
                check,
                then: Some(then),
            },
        }
    }
}

impl<F, A, B, E> Future for Stage<F, A>
where
    F: Future<Output = Result<Response<B>, E>>,
    A: Finish,
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
                StateProj::Inner { future, finish } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(finish) = finish.take() {
                        finish.finish(&mut response);
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

pin_project! {
    /// The response future of [`RateLimit`](super::RateLimit).
    pub struct RateLimitFuture<F> {
        #[pin]
        pub(crate) stage: Stage<F, Headers>,
    }
}

impl<F> RateLimitFuture<F> {
    #[inline]
    pub(crate) fn inner(future: F, headers: Headers) -> Self {
        Stage::inner(future, headers).into()
    }

    pub(crate) fn rejected(response: Response<Bytes>) -> Self {
        Stage::rejected(response).into()
    }
}

impl<F> From<Stage<F, Headers>> for RateLimitFuture<F> {
    #[inline]
    fn from(stage: Stage<F, Headers>) -> Self {
        Self { stage }
    }
}

impl<F, B, E> Future for RateLimitFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().stage.poll(cx)
    }
}

impl<F> fmt::Debug for RateLimitFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitFuture").finish_non_exhaustive()
    }
}
