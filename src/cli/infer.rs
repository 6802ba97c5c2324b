//! `bitlab infer --artifact FILE [TEXT ...]`: classify texts (arguments, or one per line on
//! stdin) with a trained artifact and print label, probability and the kernel that ran.
use std::io::BufRead;
use std::path::PathBuf;

/// Arguments of `bitlab infer`.
#[derive(Debug, clap::Args)]
pub struct InferArgs {
    /// A trial's packed artifact (e.g. results/artifacts/paper/<trial hash>.bitlab).
    #[arg(long)]
    artifact: PathBuf,
    /// Folder of datasets (the trial's tokenizer and label names come from there).
    #[arg(long, default_value = "datasets")]
    datasets: PathBuf,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Texts to classify; read one per line from stdin when none is given.
    texts: Vec<String>,
}

/// Runs `bitlab infer`.
pub fn run(args: InferArgs) -> bitlab::Result<()> {
    let texts = if args.texts.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bitlab::Error::io("<stdin>", e))?
            .into_iter()
            .filter(|line| !line.trim().is_empty())
            .collect()
    } else {
        args.texts
    };
    let result =
        bitlab::runner::inference::classify(&args.artifact, &args.datasets, &texts, args.threads)?;
    println!("kernel: {}", result.kernel);
    for prediction in result.predictions {
        println!(
            "{}\t{:.4}\t{}",
            prediction.label_name, prediction.probabilities[prediction.label], prediction.text
        );
    }
    Ok(())
}
