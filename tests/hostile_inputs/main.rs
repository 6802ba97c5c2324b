//! Parsers under hostile inputs (issue 11, item 9): the experiment loader, the dataset CSV
//! readers and manifest, and the artifact reader run over inputs grown from valid seeds by a
//! property-based generator (truncations, flipped bytes, huge lengths, deep nesting, invalid
//! UTF-8). Each must return a result or a typed error naming the cause: no panic, no hang
//! (30 s per input), and no allocation beyond `max(64 KiB, C x input bytes)`, measured by the
//! counting allocator below, with C = 16 for the artifact reader, 64 for the artifact loader,
//! 128 for the CSV readers and 1024 for the TOML parsers (each campaign's budget says why), plus
//! 16 KiB per trial for the experiment loader, whose grids are capped at `MAX_TRIALS`. A version-1 artifact
//! committed as a fixture keeps loading with its recorded logits.
//!
//! CI runs about a thousand inputs per parser; `PROPTEST_CASES=20000 cargo test --test
//! hostile_inputs -- --nocapture` runs a longer campaign and prints what each parser was given.
mod alloc_meter;
mod artifact_fixture;
mod artifact_reader;
mod campaign;
mod dataset_csv;
mod experiment_loader;
mod mutate;
mod tiny_model;

#[global_allocator]
static ALLOCATOR: alloc_meter::CountingAllocator = alloc_meter::CountingAllocator;
