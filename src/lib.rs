//! bitlab: an experiment-tracking research framework for low-bit transformers.
//!
//! It reproduces and extends "The Era of 1-bit LLMs: All Large Language Models are in 1.58 Bits"
//! (Ma et al., 2024, BitNet b1.58): ternary weights trained with quantization-aware training,
//! compared against fp32, fp16, bf16, int8 and int4 on text classification, with accuracy,
//! latency, memory and storage recorded per trial into SQLite and rendered as reports.
//!
//! Pipeline: [`experiment`] (TOML -> trials) -> [`data`] -> [`train`] ([`model`], [`quant`],
//! [`attention`]) -> [`measure`] -> [`store`] -> [`report`]; [`runner`] ties them together.

pub mod artifact;
pub mod assets;
pub mod attention;
pub mod bench;
pub mod data;
pub mod error;
pub mod experiment;
pub mod kernels;
pub mod measure;
pub mod model;
pub mod quant;
pub mod report;
pub mod runner;
pub mod store;
pub mod train;

pub use error::{Error, Result};
