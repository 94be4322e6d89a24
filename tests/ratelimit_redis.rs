//! Redis rate-limit tests.
