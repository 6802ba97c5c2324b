//! Quantization-aware training and evaluation: Adam/AdamW on cross-entropy with warm-up and a
//! learning-rate schedule, validation every epoch, test metrics at the end.
mod interrupt;
mod metrics;
mod progress;
mod schedule;
mod trainer;

pub use interrupt::{check_interrupted, install_interrupt_handler, interrupted};
pub use metrics::{evaluate, macro_f1, Evaluation};
pub use progress::{SweepProgress, TrialProgress};
pub use schedule::{learning_rate, quant_lambda};
pub use trainer::{train, TrainOutcome};
