//! Signed requests: HMAC signatures over the request and its body.
//!
//! TODO module docs.

#[allow(dead_code)] // Used by the schemes that land next.
mod encoding;
mod secrets;
mod webhook;

pub use secrets::{HmacKey, WebhookSecrets};
pub use webhook::{GithubWebhook, SlackWebhook, StripeWebhook};
