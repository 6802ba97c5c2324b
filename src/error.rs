//! The library's error type: every variant names the cause and, where there is one, the fix.
use std::path::PathBuf;

/// Result alias used across bitlab.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in bitlab, with enough context to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An experiment file is malformed or invalid. `message` names the key and the fix.
    #[error("experiment file {path}: {message}")]
    Config {
        /// The experiment file.
        path: PathBuf,
        /// What is wrong (line/column and key where known) and how to fix it.
        message: String,
    },
    /// A dataset is missing, malformed or inconsistent with its manifest.
    #[error("dataset `{name}`: {message}\n  fix: {fix}")]
    Dataset {
        /// Dataset name as written in the experiment file.
        name: String,
        /// What is wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// A downloaded or cached file does not have the expected sha256.
    #[error(
        "checksum mismatch for {path}: expected sha256 {expected}, found {actual}\n  fix: {fix}"
    )]
    Checksum {
        /// The file checked.
        path: PathBuf,
        /// Expected hex digest.
        expected: String,
        /// Actual hex digest.
        actual: String,
        /// How to recover.
        fix: String,
    },
    /// An external program (pip, python3) failed.
    #[error("`{command}` failed: {message}\n  fix: {fix}")]
    Command {
        /// The command line that failed.
        command: String,
        /// Its error output or exit status.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// A quantizer name that is neither registered nor declared.
    #[error("unknown quantizer `{name}`; known quantizers: {known}")]
    UnknownQuantizer {
        /// The name asked for.
        name: String,
        /// Comma-separated list of known names.
        known: String,
    },
    /// A quantizer cannot handle its input (NaN weights, bad group size, corrupt packed data).
    #[error("quantizer `{scheme}`: {message}")]
    Quantization {
        /// Quantizer name.
        scheme: String,
        /// What went wrong.
        message: String,
    },
    /// An exported model artifact is truncated, corrupt or does not match what is expected.
    #[error("artifact {path}: {message}")]
    Artifact {
        /// The artifact file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A pretrained checkpoint is unknown, missing, corrupt or not one bitlab can import.
    #[error("pretrained model {name}: {message}\n  fix: {fix}")]
    Pretrained {
        /// The model name (`model.pretrained`).
        name: String,
        /// What is wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// A libtorch call failed.
    #[error("libtorch error while {context}: {source}")]
    Torch {
        /// What bitlab was doing.
        context: String,
        /// The error reported by tch.
        #[source]
        source: tch::TchError,
    },
    /// The results database failed.
    #[error("results database ({context}): {source}")]
    Store {
        /// What bitlab was doing.
        context: String,
        /// The error reported by sqlx.
        #[source]
        source: sqlx::Error,
    },
    /// A database migration failed.
    #[error("results database migration failed: {0}\n  fix: use a fresh --db file, or one made by this bitlab version")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A training run produced a non-finite loss.
    #[error("trial {trial} diverged at step {step}: loss is {loss}\n  fix: lower train.lr, enable train.grad_clip, or check the quantizer")]
    Diverged {
        /// Trial hash.
        trial: String,
        /// Optimizer step at which the loss became non-finite.
        step: usize,
        /// The loss value.
        loss: f64,
    },
    /// libtorch threw (tch panicked) while running a trial.
    #[error("libtorch raised an exception: {message}\n  fix: check the trial's configuration (shapes, kernel options); the other trials go on")]
    TrialPanicked {
        /// The exception's message.
        message: String,
    },
    /// A measurement could not be taken.
    #[error("measurement `{what}` failed: {message}")]
    Measure {
        /// What was being measured.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// A report could not be rendered.
    #[error("report: {message}")]
    Report {
        /// What went wrong.
        message: String,
    },
    /// The user pressed Ctrl-C; recorded results are kept and the interrupted trial is marked so.
    #[error(
        "interrupted by Ctrl-C; finished trials are saved, run the same command again to resume"
    )]
    Interrupted,
    /// A value given on the command line or by the caller is invalid.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps a tch error with what bitlab was doing.
    pub fn torch(context: impl Into<String>, source: tch::TchError) -> Self {
        Error::Torch {
            context: context.into(),
            source,
        }
    }

    /// Wraps an sqlx error with what bitlab was doing.
    pub fn store(context: impl Into<String>, source: sqlx::Error) -> Self {
        Error::Store {
            context: context.into(),
            source,
        }
    }
}
