//! Measurements taken after training: latency against sequence length, peak memory against
//! input length (one fresh child process per point), storage and parameter counts, and the
//! environment they were taken in. Every figure records which kernel produced it.
mod environment;
mod latency;
mod memory;
mod peak_rss;
mod stats;
mod train_step;

pub use environment::capture_environment;
pub use latency::{measure_latency, LatencyPoint};
pub use memory::{measure_memory_in_child, memory_point, MemoryPoint};
pub(crate) use peak_rss::current_rss;
pub use stats::{median, percentile};
pub use train_step::{
    measure_train_memory_in_child, measure_train_step, train_memory_point, StepOptimizer,
    TrainStepBench,
};
