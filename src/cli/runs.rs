//! `bitlab runs`: list recorded trials.
use super::DbArgs;

/// Output formats of `bitlab runs`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Aligned plain-text table.
    Table,
    /// CSV, one row per trial.
    Csv,
}

/// Arguments of `bitlab runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Only this experiment.
    #[arg(long)]
    experiment: Option<String>,
    #[command(flatten)]
    db: DbArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Runs `bitlab runs`.
pub fn run(args: RunsArgs) -> bitlab::Result<()> {
    let store = bitlab::store::Store::open(&args.db.db)?;
    let table = bitlab::report::runs_table(&store, args.experiment.as_deref())?;
    match args.format {
        Format::Table => print!("{}", table.to_text()),
        Format::Csv => table.to_csv(std::io::stdout().lock())?,
    }
    Ok(())
}
