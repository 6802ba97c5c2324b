//! Experiment files: TOML schema, validation, sweep expansion and trial hashing.
//!
//! Two stages, as the design notes ask: deserialize what the user wrote ([`schema`]), then
//! resolve it into a validated plan of [`TrialConfig`]s ([`sweep`]), each with a canonical hash.
pub mod config;

pub use config::*;
