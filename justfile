# bitlab tasks. On a fresh machine: `just sweep` runs the default experiment end to end,
# `just test` runs the test suite. Each installs what it needs first, and each builds ONE
# binary: `sweep` (and every other command a user runs) the optimized build, `test` the test
# profile, so a first `just sweep` compiles bitlab once.

set shell := ["bash", "-euo", "pipefail", "-c"]

deps := justfile_directory() / ".deps"
bundled_libtorch := deps / "libtorch/torch"
# Use your own libtorch (CPU or CUDA, version 2.13) by exporting LIBTORCH; else one is installed.
export LIBTORCH := env_var_or_default("LIBTORCH", bundled_libtorch)
# Sweeps and benchmarks time bitlab's own kernels, so every user-facing recipe runs the
# optimized build.
bitlab := justfile_directory() / "target/release/bitlab"

# Run the default experiment (the paper's comparison) and render reports/paper/.
default: sweep

# Install libtorch if needed, build bitlab, fetch and verify the datasets. Idempotent.
setup: libtorch build datasets

# PyTorch 2.13.0's CPU libraries from PyPI without the CUDA stack: libtorch_cpu needs only the
# CUDA runtime and CUPTI libraries beside it (two small wheels), not the whole CUDA stack.
libtorch:
    #!/usr/bin/env bash
    set -euo pipefail
    if compgen -G "$LIBTORCH/lib/libtorch_cpu.*" >/dev/null; then exit 0; fi
    if [ "$LIBTORCH" != "{{bundled_libtorch}}" ]; then
        echo "error: LIBTORCH=$LIBTORCH has no lib/libtorch_cpu.so; point it at a libtorch 2.13 folder, or unset it to let 'just' install one" >&2
        exit 1
    fi
    command -v python3 >/dev/null || { echo "error: python3 with pip is needed to install libtorch (or set LIBTORCH)" >&2; exit 1; }
    echo "installing PyTorch 2.13.0 CPU libraries into {{deps}}/libtorch (about 1.2 GB, once)"
    rm -rf "{{deps}}/libtorch.partial"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps \
        --target "{{deps}}/libtorch.partial" \
        torch==2.13.0 "nvidia-cuda-runtime==13.0.96.*" "nvidia-cuda-cupti==13.0.85.*"
    rm -rf "{{deps}}/libtorch"
    mv "{{deps}}/libtorch.partial" "{{deps}}/libtorch"

# Build the optimized bitlab binary (linked to $LIBTORCH with an rpath); latency figures depend on it.
build: libtorch
    cargo build --release --bin bitlab

# Download the movie-review corpora and the pretrained MiniLM checkpoint, verify checksums, write the splits.
datasets: build
    {{bitlab}} datasets fetch

# Run an experiment (default: experiments/paper.toml; resumes unfinished trials), then report it (and README.md's results for the default).
sweep experiment="experiments/paper.toml" *args="": setup
    {{bitlab}} sweep {{experiment}} {{args}}
    if [ "{{experiment}}" = "experiments/paper.toml" ]; then {{bitlab}} report paper --readme README.md; fi

# Time the matmul kernels and the model-size scaling (optimized build) and render both reports.
bench: build
    {{bitlab}} bench kernels
    {{bitlab}} bench model
    {{bitlab}} report kernels
    {{bitlab}} report model-scaling

# Render the report of an experiment from the database.
report experiment="paper": build
    {{bitlab}} report {{experiment}}

# The test suite: unit, property and end-to-end tests. It builds the test profile only (the
# datasets are fetched by that profile's binary, which the end-to-end tests run too).
test: libtorch
    cargo run --quiet --bin bitlab -- datasets fetch
    cargo test --all-targets

# Format and lint checks (warnings are errors).
lint: libtorch
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings

# Any other bitlab command, e.g. `just bitlab runs --format csv`.
bitlab *args: build
    {{bitlab}} {{args}}
