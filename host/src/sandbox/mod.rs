//! What bounds a call besides the wasm sandbox itself: time, CPU, memory and output
//! limits, admission at the concurrency caps, and CPU fairness between calls.

pub mod admission; // concurrency caps with a short bounded queue, then 503
pub mod fairness; // CPU-bound calls take turns on cores - 1 heavy slots
pub mod lane; // the low-priority runtime CPU-bound calls move to
pub mod limits; // time, CPU, memory and output limits
