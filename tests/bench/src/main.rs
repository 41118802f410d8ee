//! poe-bench: the benchmark harness (work in progress).
fn main() {}
