//! Hostile inputs grown from valid seeds: byte-level damage (truncation, flipped, inserted and
//! deleted bytes), line-level edits (duplicated, dropped and inserted lines, CR-only line ends)
//! and hostile numbers in place of the seed's own.
use proptest::prelude::*;
use proptest::sample::Index;

/// Numbers that break naive parsers: the limits of every integer type, overflowing ones,
/// negative and zero sizes, and the extremes of floating point.
pub const HOSTILE_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1e308",
    "-1e308",
    "1e309",
    "1e-400",
    "nan",
    "inf",
    "-inf",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "0x7fffffffffffffff",
    "1.0",
    "1_000",
];

/// One edit of an input.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Keep only the bytes before this position.
    Truncate(Index),
    /// Flip one bit of one byte.
    FlipBit(Index, u8),
    /// Overwrite one byte (any value: NUL, 0xFF, a lone continuation byte...).
    SetByte(Index, u8),
    /// Insert bytes at a position.
    Insert(Index, Vec<u8>),
    /// Delete up to this many bytes from a position.
    Delete(Index, usize),
    /// Repeat one line right after itself (duplicated keys, tables, rows).
    DuplicateLine(Index),
    /// Drop one line.
    DeleteLine(Index),
    /// Insert a line at the start of a line.
    InsertLine(Index, Vec<u8>),
    /// Replace one run of ASCII digits with a hostile number.
    ReplaceNumber(Index, &'static str),
    /// Turn every `\n` into `\r` (old Mac line ends).
    CrOnlyLineEnds,
}

/// Starts of the lines of `bytes` (always at least `[0]`).
fn line_starts(bytes: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i <= bytes.len())
        .collect()
}

/// The line `[start, end)` containing line number `index` (end includes its `\n`).
fn line_at(bytes: &[u8], index: &Index) -> (usize, usize) {
    let starts = line_starts(bytes);
    let i = index.index(starts.len());
    let end = starts.get(i + 1).copied().unwrap_or(bytes.len());
    (starts[i], end)
}

impl Mutation {
    /// Applies the edit to `bytes`.
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        let at = |index: &Index, len: usize| if len == 0 { 0 } else { index.index(len) };
        match self {
            Mutation::Truncate(i) => bytes.truncate(at(i, bytes.len() + 1)),
            Mutation::FlipBit(i, bit) if !bytes.is_empty() => {
                let p = at(i, bytes.len());
                bytes[p] ^= 1 << (bit % 8);
            }
            Mutation::SetByte(i, value) if !bytes.is_empty() => {
                let p = at(i, bytes.len());
                bytes[p] = *value;
            }
            Mutation::Insert(i, new) => {
                let p = at(i, bytes.len() + 1);
                bytes.splice(p..p, new.iter().copied());
            }
            Mutation::Delete(i, n) if !bytes.is_empty() => {
                let p = at(i, bytes.len());
                let end = (p + n).min(bytes.len());
                bytes.drain(p..end);
            }
            Mutation::DuplicateLine(i) => {
                let (start, end) = line_at(bytes, i);
                let mut line = bytes[start..end].to_vec();
                if !line.ends_with(b"\n") {
                    line.insert(0, b'\n');
                }
                bytes.splice(end..end, line);
            }
            Mutation::DeleteLine(i) => {
                let (start, end) = line_at(bytes, i);
                bytes.drain(start..end);
            }
            Mutation::InsertLine(i, line) => {
                let (start, _) = line_at(bytes, i);
                let mut line = line.clone();
                line.push(b'\n');
                bytes.splice(start..start, line);
            }
            Mutation::ReplaceNumber(i, number) => {
                let runs = digit_runs(bytes);
                if !runs.is_empty() {
                    let (start, end) = runs[at(i, runs.len())];
                    bytes.splice(start..end, number.bytes());
                }
            }
            Mutation::CrOnlyLineEnds => {
                for b in bytes.iter_mut().filter(|b| **b == b'\n') {
                    *b = b'\r';
                }
            }
            Mutation::FlipBit(..) | Mutation::SetByte(..) | Mutation::Delete(..) => {}
        }
    }
}

/// `(start, end)` of every maximal run of ASCII digits.
fn digit_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, b) in bytes.iter().enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, bytes.len()));
    }
    runs
}

/// One edit; `lines` generates the hostile lines the parser's format invites.
pub fn mutation(lines: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::DuplicateLine),
        1 => any::<Index>().prop_map(Mutation::DeleteLine),
        3 => (any::<Index>(), lines).prop_map(|(i, l)| Mutation::InsertLine(i, l)),
        3 => (any::<Index>(), prop::sample::select(HOSTILE_NUMBERS))
            .prop_map(|(i, n)| Mutation::ReplaceNumber(i, n)),
        1 => Just(Mutation::CrOnlyLineEnds),
    ]
}

/// Input bytes, shown as (lossy) text when a failing case is reported.
#[derive(Clone)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = String::from_utf8_lossy(&self.0);
        if text.len() > 4096 {
            let cut = (0..=4096)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            write!(f, "{} bytes: {:?}...", self.0.len(), &text[..cut])
        } else {
            write!(f, "{} bytes: {text:?}", self.0.len())
        }
    }
}

/// A seed picked from `seeds`, damaged by one to four edits.
pub fn mutated(seeds: Vec<Vec<u8>>, lines: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = Bytes> {
    (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(lines), 1..=4),
    )
        .prop_map(|(mut bytes, edits)| {
            for edit in &edits {
                edit.apply(&mut bytes);
            }
            Bytes(bytes)
        })
}

/// `open` nested `depth` times around `inner`, closed by `close` (deep nesting).
pub fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// Nesting depths worth trying: shallow, around common recursion limits, and 10 000.
pub fn depth() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..200, Just(10_000)]
}
