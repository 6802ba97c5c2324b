//! End to end: `bitlab sweep experiments/smoke.toml` on the real Rotten Tomatoes data into a
//! temporary database, its report, `bitlab runs`, resuming, and Ctrl-C.
//!
//! Needs the datasets fetched (`just test` runs `just setup` first, which does it).
mod common;
use common::{bitlab, repo};
use std::path::Path;
use std::process::{Command, Output};

fn sweep_args(tmp: &Path) -> Vec<String> {
    vec![
        "sweep".into(),
        "experiments/smoke.toml".into(),
        "--artifacts".into(),
        tmp.join("artifacts").display().to_string(),
        "--reports".into(),
        tmp.join("reports").display().to_string(),
    ]
}

fn run_sweep(tmp: &Path) -> Output {
    let args = sweep_args(tmp);
    bitlab(&args.iter().map(String::as_str).collect::<Vec<_>>(), tmp)
}

fn runs_csv(tmp: &Path) -> Vec<csv::StringRecord> {
    let out = bitlab(&["runs", "--format", "csv", "--experiment", "smoke"], tmp);
    assert!(out.status.success());
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let headers = reader.headers().unwrap().clone();
    assert!(
        headers.iter().any(|h| h == "status"),
        "runs CSV has a status column: {headers:?}"
    );
    reader.records().map(|r| r.unwrap()).collect()
}

#[test]
fn smoke_sweep_records_every_trial_and_renders_its_report() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_sweep(tmp.path());
    assert!(
        out.status.success(),
        "sweep failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let rows = runs_csv(tmp.path());
    assert_eq!(rows.len(), 3, "one row per trial of smoke.toml");
    // The packed model that latency and memory are measured on predicts what the reference
    // (dequantized) model predicts on at least 99.5% of the test set, for every scheme.
    let out = bitlab(
        &["runs", "--format", "csv", "--experiment", "smoke"],
        tmp.path(),
    );
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "packed_agreement")
        .expect("packed_agreement column");
    for row in reader.records().map(|r| r.unwrap()) {
        let agreement: f64 = row[column].parse().unwrap();
        assert!(
            agreement >= 0.995,
            "packed agreement {agreement} in {row:?}"
        );
    }

    let report = tmp.path().join("reports/smoke");
    for chart in ["latency", "memory", "storage", "accuracy"] {
        let svg = std::fs::read_to_string(report.join(format!("{chart}.svg"))).unwrap();
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{chart}.svg is well formed"
        );
        let png = std::fs::read(report.join(format!("{chart}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
            "{chart}.png is a PNG"
        );
    }
    let markdown = std::fs::read_to_string(report.join("report.md")).unwrap();
    for scheme in ["fp32", "int8", "ternary"] {
        assert!(markdown.contains(scheme), "report.md mentions {scheme}");
    }
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("<html") && html.contains("latency.svg"));

    // A second run finds every trial done and trains nothing.
    let again = run_sweep(tmp.path());
    assert!(again.status.success());
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("0 run now, 3 already done"), "{stdout}");

    // `bitlab infer` classifies new texts with every trained artifact, through the trial's own
    // tokenizer, and names the kernel: the packed ternary engine for the ternary trial.
    let mut kernels = Vec::new();
    // Beside each artifact lies its dataset settings (`<hash>.dataset.json`, docs/FORMAT.md).
    for entry in std::fs::read_dir(tmp.path().join("artifacts/smoke")).unwrap() {
        let artifact = entry.unwrap().path();
        if artifact.extension().is_none_or(|e| e != "bitlab") {
            continue;
        }
        let (kernel, _) = common::infer(&artifact, &["a warm, funny film", "dull and lifeless"]);
        kernels.push(kernel);
    }
    assert_eq!(kernels.len(), 3);
    assert!(
        kernels.iter().any(|k| k.contains("bitlab-ternary-2bit")),
        "{kernels:?}"
    );
}

#[test]
fn ctrl_c_keeps_finished_trials_and_the_next_run_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let args = sweep_args(tmp.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_bitlab"))
        .current_dir(repo())
        .args(&args)
        .args([
            "--db",
            tmp.path().join("results.db").to_str().unwrap(),
            "--no-report",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first trial is recorded as done, then press Ctrl-C.
    let db = tmp.path().join("results.db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "first trial never finished"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("sweep ended before Ctrl-C: {status}");
        }
        if db.exists()
            && runs_csv(tmp.path())
                .iter()
                .any(|r| r.iter().any(|f| f == "done"))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let statuses: Vec<String> = runs_csv(tmp.path())
        .iter()
        .map(|r| {
            r.iter()
                .find(|f| ["done", "interrupted", "pending", "running", "failed"].contains(f))
                .unwrap()
                .to_string()
        })
        .collect();
    if out.status.success() {
        // The signal landed after the last trial finished: everything must be done.
        assert!(statuses.iter().all(|s| s == "done"), "{statuses:?}");
    } else {
        assert_eq!(
            out.status.code(),
            Some(130),
            "Ctrl-C exits with 130: {stderr}"
        );
        assert!(stderr.contains("run the same command again"), "{stderr}");
        assert!(
            statuses.iter().any(|s| s == "done"),
            "finished trial kept: {statuses:?}"
        );
        assert!(
            !statuses.iter().any(|s| s == "running"),
            "no trial left running: {statuses:?}"
        );
    }
    let done_before = statuses.iter().filter(|s| *s == "done").count();
    let resumed = run_sweep(tmp.path());
    assert!(resumed.status.success());
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        stdout.contains(&format!("{done_before} already done")),
        "{stdout}"
    );
    assert!(runs_csv(tmp.path())
        .iter()
        .all(|r| r.iter().any(|f| f == "done")));
}

#[test]
fn infer_with_a_missing_artifact_says_so() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bitlab"))
        .current_dir(repo())
        .args(["infer", "--artifact", "no/such/model.bitlab", "text"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no/such/model.bitlab"), "{err}");
}

#[test]
fn a_wrong_key_names_the_key_and_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("typo.toml");
    let text = std::fs::read_to_string(repo().join("experiments/smoke.toml")).unwrap();
    std::fs::write(
        &path,
        text.replacen("[train]", "[train]\nlearning_rate = 0.1", 1),
    )
    .unwrap();
    let out = bitlab(&["sweep", path.to_str().unwrap(), "--dry-run"], tmp.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("learning_rate") && stderr.contains("typo.toml"),
        "{stderr}"
    );
}

#[test]
fn a_missing_dataset_says_how_to_fetch_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bitlab(
        &[
            "sweep",
            "experiments/smoke.toml",
            "--datasets",
            tmp.path().to_str().unwrap(),
            "--no-report",
        ],
        tmp.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rotten_tomatoes") && stderr.contains("bitlab datasets fetch"),
        "{stderr}"
    );
    // Nothing trained, so nothing was recorded as failed.
    let rows = runs_csv(tmp.path());
    assert!(
        rows.iter().all(|r| r.iter().any(|f| f == "pending")),
        "trials stay pending"
    );
}

#[test]
fn a_diverging_trial_is_recorded_as_failed_and_the_sweep_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("diverge.toml");
    let text = std::fs::read_to_string(repo().join("experiments/smoke.toml")).unwrap();
    let sweep = text.find("\n[sweep]").unwrap() + 1;
    let text = format!(
        "{}[sweep]\nquantizer = [\"fp32\"]\n\"train.lr\" = [1e30, 2e-3]\n",
        text[..sweep]
            .replace("memory = true", "memory = false")
            .replace("name = \"smoke\"", "name = \"diverge\"")
    );
    std::fs::write(&path, text).unwrap();
    let out = bitlab(
        &[
            "sweep",
            path.to_str().unwrap(),
            "--artifacts",
            tmp.path().join("a").to_str().unwrap(),
            "--reports",
            tmp.path().join("r").to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(
        !out.status.success(),
        "a failed trial makes the sweep exit non-zero"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 run now") && stdout.contains("1 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("diverged"), "{stdout}");
    let runs = bitlab(
        &["runs", "--format", "csv", "--experiment", "diverge"],
        tmp.path(),
    );
    let mut reader = csv::Reader::from_reader(runs.stdout.as_slice());
    let rows: Vec<_> = reader.records().map(|r| r.unwrap()).collect();
    assert!(rows
        .iter()
        .any(|r| r.iter().any(|f| f == "failed") && r.iter().any(|f| f.contains("diverged"))));
    assert!(rows.iter().any(|r| r.iter().any(|f| f == "done")));
    // The report still renders, with the failed trial listed.
    assert!(tmp.path().join("r/diverge/report.md").exists());
}
