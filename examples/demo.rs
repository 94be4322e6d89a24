//! Demo (placeholder).
fn main() {}
