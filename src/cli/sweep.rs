//! `bitlab sweep`: run or resume an experiment, then render its report.
use super::{parse_device, DbArgs};
use bitlab::experiment::Experiment;
use bitlab::runner::{run_sweep, RunOptions};
use std::path::PathBuf;

/// Arguments of `bitlab sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Experiment file, e.g. experiments/paper.toml.
    experiment: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    /// Folder of datasets (each with a manifest.toml).
    #[arg(long, default_value = "datasets")]
    datasets: PathBuf,
    /// Folder for packed model artifacts.
    #[arg(long, default_value = "results/artifacts")]
    artifacts: PathBuf,
    /// Folder for reports.
    #[arg(long, default_value = "reports")]
    reports: PathBuf,
    /// Device: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Only parse the file and list its trials.
    #[arg(long)]
    dry_run: bool,
    /// Skip rendering the report at the end.
    #[arg(long)]
    no_report: bool,
}

/// Runs `bitlab sweep`.
pub fn run(args: SweepArgs) -> bitlab::Result<()> {
    let experiment = Experiment::load(&args.experiment)?;
    if args.dry_run {
        println!(
            "experiment `{}`: {} trials",
            experiment.name,
            experiment.trials.len()
        );
        for trial in &experiment.trials {
            println!("  {}  {}", trial.hash, trial.label);
        }
        return Ok(());
    }
    let opts = RunOptions {
        db: args.db.db.clone(),
        datasets_dir: args.datasets,
        artifacts_dir: args.artifacts,
        device: parse_device(&args.device)?,
        exe: std::env::current_exe().map_err(|e| bitlab::Error::io("current executable", e))?,
    };
    let summary = run_sweep(&experiment, &opts)?;
    println!(
        "experiment `{}`: {} trials, {} run now, {} already done, {} failed",
        experiment.name,
        summary.total,
        summary.finished,
        summary.skipped,
        summary.failed.len()
    );
    for (label, error) in &summary.failed {
        println!("  FAILED {label}: {error}");
    }
    if !args.no_report {
        let store = bitlab::store::Store::open(&opts.db)?;
        let out = args.reports.join(&experiment.name);
        let written = bitlab::report::render(&store, &experiment.name, &out)?;
        println!(
            "report: {} ({} files)",
            out.join("index.html").display(),
            written.len()
        );
    }
    if summary.failed.is_empty() {
        Ok(())
    } else {
        Err(bitlab::Error::Invalid(format!(
            "{} trial(s) failed (errors above and in `bitlab runs`); fix the cause and run the same command again to retry them",
            summary.failed.len()
        )))
    }
}
