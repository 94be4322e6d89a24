//! Placeholder until the layer benchmarks land.

fn main() {}
