//! A column of a table: as read (numbers, or text stored once and coded by row), and being read
//! (a builder that keeps numbers as numbers until the first text cell, then interns cells), and
//! which cells mean "missing".

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The cells that mean "missing" unless `--na` says otherwise (compared ignoring case; an empty
/// cell is always missing).
pub const DEFAULT_NA: [&str; 6] = ["NA", "N/A", "NaN", "null", "None", "?"];

/// The code of a missing cell in a text column.
pub const MISSING: u32 = u32::MAX;

/// A column as read: numbers, or text codes.
#[derive(Clone, Debug, PartialEq)]
pub enum RawColumn {
    /// Every present cell a number; NaN where a cell is missing.
    Numbers(Vec<f32>),
    /// Text: each row's code into `values` ([`MISSING`] where missing), and how often each
    /// value occurs.
    Text {
        codes: Vec<u32>,
        values: Vec<String>,
        counts: Vec<u32>,
    },
}

impl RawColumn {
    /// How many rows are missing.
    pub fn missing(&self) -> usize {
        match self {
            RawColumn::Numbers(v) => v.iter().filter(|x| x.is_nan()).count(),
            RawColumn::Text { codes, .. } => codes.iter().filter(|&&c| c == MISSING).count(),
        }
    }

    /// Whether row `i`'s cell is missing.
    pub fn is_missing(&self, i: usize) -> bool {
        match self {
            RawColumn::Numbers(v) => v[i].is_nan(),
            RawColumn::Text { codes, .. } => codes[i] == MISSING,
        }
    }

    /// Row `i`'s cell as text (numbers written as [`number_text`] writes them); None if missing.
    pub fn text(&self, i: usize) -> Option<String> {
        match self {
            RawColumn::Numbers(v) => (!v[i].is_nan()).then(|| number_text(v[i])),
            RawColumn::Text { codes, values, .. } => values.get(codes[i] as usize).cloned(),
        }
    }
}

/// A number as a category's name: whole numbers without a decimal point (`3`, not `3.0`), others
/// in the shortest form that reads back as the same f32.
///
/// ```
/// use shadergrad::data::table::number_text;
/// assert_eq!((number_text(3.0), number_text(2.5), number_text(-0.0)), ("3".into(), "2.5".into(), "0".into()));
/// ```
pub fn number_text(v: f32) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Which cells are missing: empty ones and the markers, ignoring case.
#[derive(Clone, Debug)]
pub struct Markers {
    list: Vec<Vec<u8>>,
    /// Which bytes (lower-cased) start a marker: most cells (numbers) are told apart by their
    /// first byte alone.
    first: [bool; 256],
}

impl Markers {
    /// `markers` (lower-cased), or [`DEFAULT_NA`] when None.
    pub fn new(markers: Option<&[String]>) -> Self {
        let list: Vec<Vec<u8>> = match markers {
            Some(m) => m.iter().map(|s| s.trim().to_ascii_lowercase().into_bytes()).collect(),
            None => DEFAULT_NA.iter().map(|s| s.to_ascii_lowercase().into_bytes()).collect(),
        };
        let mut first = [false; 256];
        for m in &list {
            if let Some(&b) = m.first() {
                first[b.to_ascii_lowercase() as usize] = true;
            }
        }
        Markers { list, first }
    }

    /// Whether a cell starting with byte `b` may be a marker (so must be compared with them).
    pub(super) fn may_start(&self, b: u8) -> bool {
        self.first[b.to_ascii_lowercase() as usize]
    }

    /// Whether `cell` (trimmed) means missing.
    pub fn is_missing(&self, cell: &[u8]) -> bool {
        match cell.first() {
            None => true,
            Some(&b) if !self.first[b.to_ascii_lowercase() as usize] => false,
            Some(_) => self.list.iter().any(|m| m.eq_ignore_ascii_case(cell)),
        }
    }
}

/// `cell` as text if it is UTF-8; ASCII (every number) checked the quick way.
fn utf8(cell: &[u8]) -> Option<&str> {
    if cell.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(cell) });
    }
    std::str::from_utf8(cell).ok()
}

/// FNV-1a, for interning cells: short keys, no untrusted-input concerns a slower hash guards
/// against (a file can only slow its own reading down).
#[derive(Default)]
pub(super) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Interner = HashMap<Box<str>, u32, BuildHasherDefault<Fnv>>;

/// A column being read.
pub(super) enum Builder {
    Numbers(Vec<f32>),
    Text {
        codes: Vec<u32>,
        index: Interner,
        values: Vec<String>,
        counts: Vec<u32>,
    },
}

impl Builder {
    fn intern(index: &mut Interner, values: &mut Vec<String>, counts: &mut Vec<u32>, text: &str) -> u32 {
        if let Some(&c) = index.get(text) {
            counts[c as usize] += 1;
            return c;
        }
        let c = values.len() as u32;
        index.insert(text.into(), c);
        values.push(text.to_string());
        counts.push(1);
        c
    }

    /// Turns a column of numbers into text, each number written as [`number_text`] writes it.
    fn to_text(numbers: &[f32]) -> Builder {
        let (mut index, mut values, mut counts) = (Interner::default(), Vec::new(), Vec::new());
        let codes = numbers
            .iter()
            .map(|&v| match v.is_nan() {
                true => MISSING,
                false => Self::intern(&mut index, &mut values, &mut counts, &number_text(v)),
            })
            .collect();
        Builder::Text {
            codes,
            index,
            values,
            counts,
        }
    }

    /// Adds a present cell; `Err` with why when it is not UTF-8 or not a finite number where
    /// numbers are expected to be finite.
    pub(super) fn push(&mut self, cell: &[u8]) -> std::result::Result<(), String> {
        let text = utf8(cell).ok_or_else(|| "is not UTF-8 text".to_string())?;
        if let Builder::Numbers(values) = self {
            match super::number::parse(text).ok_or(()) {
                Ok(v) if v.is_finite() => {
                    values.push(v);
                    return Ok(());
                }
                Ok(_) => return Err(format!("`{text}` is not a finite number")),
                Err(_) => *self = Builder::to_text(values),
            }
        }
        if let Builder::Text {
            codes,
            index,
            values,
            counts,
        } = self
        {
            codes.push(Self::intern(index, values, counts, text));
        }
        Ok(())
    }

    pub(super) fn push_missing(&mut self) {
        match self {
            Builder::Numbers(v) => v.push(f32::NAN),
            Builder::Text { codes, .. } => codes.push(MISSING),
        }
    }

    pub(super) fn finish(self) -> RawColumn {
        match self {
            Builder::Numbers(v) => RawColumn::Numbers(v),
            Builder::Text {
                codes, values, counts, ..
            } => RawColumn::Text { codes, values, counts },
        }
    }
}

/// Joins the pieces' columns, in order: numbers stay numbers where every piece read numbers;
/// a column any piece read as text is text, its codes re-numbered into one list of values.
pub(super) fn join(pieces: Vec<Vec<RawColumn>>, width: usize) -> Vec<RawColumn> {
    let mut columns: Vec<Vec<RawColumn>> = (0..width).map(|_| Vec::new()).collect();
    for piece in pieces {
        for (j, c) in piece.into_iter().enumerate() {
            columns[j].push(c);
        }
    }
    columns
        .into_iter()
        .map(|parts| {
            if parts.iter().all(|p| matches!(p, RawColumn::Numbers(_))) {
                let mut all = Vec::new();
                for p in parts {
                    if let RawColumn::Numbers(v) = p {
                        all.extend(v);
                    }
                }
                return RawColumn::Numbers(all);
            }
            let mut joined = Builder::Text {
                codes: Vec::new(),
                index: Interner::default(),
                values: Vec::new(),
                counts: Vec::new(),
            };
            for p in parts {
                let Builder::Text {
                    codes,
                    index,
                    values,
                    counts,
                } = &mut joined
                else {
                    continue;
                };
                match p {
                    RawColumn::Numbers(v) => codes.extend(v.iter().map(|&x| match x.is_nan() {
                        true => MISSING,
                        false => Builder::intern(index, values, counts, &number_text(x)),
                    })),
                    RawColumn::Text {
                        codes: piece_codes,
                        values: piece_values,
                        counts: piece_counts,
                    } => {
                        let map: Vec<u32> = piece_values
                            .iter()
                            .zip(&piece_counts)
                            .map(|(v, &n)| {
                                let c = Builder::intern(index, values, counts, v);
                                counts[c as usize] += n - 1;
                                c
                            })
                            .collect();
                        codes.extend(
                            piece_codes
                                .iter()
                                .map(|&c| if c == MISSING { MISSING } else { map[c as usize] }),
                        );
                    }
                }
            }
            joined.finish()
        })
        .collect()
}
