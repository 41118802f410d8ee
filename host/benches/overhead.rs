//! Per-request overhead micro-benchmark (work in progress).
fn main() {}
