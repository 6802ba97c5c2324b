//! Instruction sets: run-time detection ([`Backend`], [`Avx2Token`]) and one file of shared
//! helpers per instruction set ([`avx2`], [`portable`]).
//!
//! Adding an instruction set (AVX-512 VNNI is next) takes: a token type proving the CPU has it
//! (like [`Avx2Token`]), a [`Backend`] variant, one file here with its loops trait (like
//! [`avx2::Avx2Loops`]), shared helpers and safe wrappers, per ternary layout one
//! implementation of that trait (a row dot product and an unpack, in the layout's folder), one
//! more supertrait of [`super::TernaryLayout`], and its arms in the [`Backend`] dispatch of
//! [`super::ternary_layout`] and `tiled_matmat`.
pub mod avx2;
pub mod portable;

/// The instruction set a kernel call runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// x86-64 AVX2 (256-bit integer SIMD); only constructible where the CPU has it.
    Avx2(Avx2Token),
    /// Plain Rust, any CPU; the same integer results as [`Backend::Avx2`].
    Portable,
}

/// Proof that the running CPU supports AVX2 (obtainable only through [`Avx2Token::detect`]), so
/// the `unsafe` AVX2 code can rely on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx2Token(());

impl Avx2Token {
    /// `Some` when the CPU running this process supports AVX2.
    pub fn detect() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                return Some(Avx2Token(()));
            }
        }
        None
    }
}

impl Backend {
    /// The fastest backend this CPU supports.
    pub fn detect() -> Self {
        Avx2Token::detect().map_or(Backend::Portable, Backend::Avx2)
    }

    /// Short name used in kernel names: `avx2` or `portable`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Avx2(_) => "avx2",
            Backend::Portable => "portable",
        }
    }

    /// Every backend this CPU can run (the portable one always), for tests and benchmarks.
    pub fn available() -> Vec<Self> {
        let mut all = vec![Backend::Portable];
        all.extend(Avx2Token::detect().map(Backend::Avx2));
        all
    }
}
