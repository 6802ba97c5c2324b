//! `bitlab report`: render an experiment's report from the database alone.
use super::DbArgs;
use std::path::PathBuf;

/// Arguments of `bitlab report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Experiment name, or its TOML file.
    experiment: String,
    #[command(flatten)]
    db: DbArgs,
    /// Folder for reports (the report goes to <out>/<experiment>/).
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Also write the headline results into this Markdown file, between its
    /// `<!-- bitlab:results:start -->` and `<!-- bitlab:results:end -->` lines.
    #[arg(long)]
    readme: Option<PathBuf>,
}

/// Runs `bitlab report`.
pub fn run(args: ReportArgs) -> bitlab::Result<()> {
    let name = if args.experiment.ends_with(".toml") {
        bitlab::experiment::Experiment::load(args.experiment.as_ref())?.name
    } else {
        args.experiment
    };
    let store = bitlab::store::Store::open(&args.db.db)?;
    let out = args.out.join(&name);
    let written = bitlab::report::render(&store, &name, &out)?;
    for path in written {
        println!("{}", path.display());
    }
    if let Some(readme) = args.readme {
        bitlab::report::update_readme(&store, &name, &readme, &out.display().to_string())?;
        println!("{}: results section updated", readme.display());
    }
    Ok(())
}
