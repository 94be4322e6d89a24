//! PostgreSQL key store tests.
