//! Progress display: a bar per trial on a terminal (trial i of n, epoch, loss, throughput),
//! plain lines otherwise so logs stay readable.
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Progress of a whole sweep.
#[derive(Debug, Clone)]
pub struct SweepProgress {
    total: usize,
    terminal: bool,
}

impl SweepProgress {
    /// A sweep of `total` trials to run; draws bars only when stderr is a terminal.
    pub fn new(total: usize) -> Self {
        Self {
            total,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Progress of the `index`-th (1-based) trial.
    pub fn trial(&self, index: usize, label: &str) -> TrialProgress {
        let prefix = format!("[trial {index}/{}] {label}", self.total);
        let bar = if self.terminal {
            let bar = ProgressBar::new(0);
            let style =
                ProgressStyle::with_template("{prefix} {msg} [{bar:30}] {pos}/{len} {elapsed}")
                    .expect("valid progress template")
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(prefix.clone());
            bar
        } else {
            ProgressBar::hidden()
        };
        TrialProgress {
            bar,
            prefix,
            terminal: self.terminal,
        }
    }
}

/// Progress of one trial.
#[derive(Debug)]
pub struct TrialProgress {
    bar: ProgressBar,
    prefix: String,
    terminal: bool,
}

impl TrialProgress {
    /// Starts epoch `epoch` (1-based) of `epochs`, with `steps` optimizer steps.
    pub fn start_epoch(&self, epoch: usize, epochs: usize, steps: usize) {
        self.bar.set_length(steps as u64);
        self.bar.set_position(0);
        self.bar.set_message(format!("epoch {epoch}/{epochs}"));
    }

    /// One optimizer step done.
    pub fn step(&self, epoch: usize, epochs: usize, loss: f64, examples_per_second: f64) {
        self.bar.inc(1);
        self.bar.set_message(format!(
            "epoch {epoch}/{epochs} loss {loss:.4} {examples_per_second:.0} ex/s"
        ));
    }

    /// Prints a line above the bar (or plainly when not on a terminal).
    pub fn line(&self, text: &str) {
        let line = format!("{} {text}", self.prefix);
        if self.terminal {
            self.bar.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
