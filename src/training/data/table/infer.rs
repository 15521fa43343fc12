//! What each column of a table is, decided from the training file: numbers, categories, an
//! identifier (a name or an id: left out), the index pandas or R writes (left out), or nothing
//! at all (every cell missing: left out); and which columns are the targets and the features.
//! Every decision is said in one line a user can act on.

use serde::{Deserialize, Serialize};

use crate::engine::error::{Error, Result};

use super::column::RawColumn;
use super::read::RawTable;

/// Which columns of a table are targets and features, and what the user says about the others.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Columns {
    /// The target columns (one for classification; one or more to regress or to label).
    pub targets: Vec<String>,
    /// The feature columns, in this order; None: every column that is not a target, dropped, an
    /// identifier, the index or empty.
    pub features: Option<Vec<String>>,
    /// Columns to leave out of the features.
    pub drop: Vec<String>,
    /// Columns of numbers to treat as categories (an integer column stays numeric unless named
    /// here: a count is never guessed to be a category).
    #[serde(default)]
    pub categorical: Vec<String>,
    /// The cells that mean "missing" besides empty ones; None: `NA`, `N/A`, `NaN`, `null`,
    /// `None`, `?` (case-insensitive).
    #[serde(default)]
    pub na: Option<Vec<String>>,
}

/// What a column holds, as inferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Every present cell a number.
    Numeric,
    /// Text (or numbers named by `--categorical`): a set of categories.
    Categorical,
    /// Text with a value of its own in (nearly) every row: a name, an id, free text.
    Identifier,
    /// Row numbers under an empty or `Unnamed: 0` header, as pandas and R write them.
    Index,
    /// Every cell missing.
    Empty,
}

impl Kind {
    /// `numeric`, `categorical`, ...
    pub fn name(self) -> &'static str {
        match self {
            Kind::Numeric => "numeric",
            Kind::Categorical => "categorical",
            Kind::Identifier => "identifier",
            Kind::Index => "index",
            Kind::Empty => "empty",
        }
    }
}

/// What a column is used for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Target,
    Feature,
    /// Left out of the features, and why.
    Left(String),
}

/// One column as inferred.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    pub kind: Kind,
    pub missing: usize,
    /// Distinct present values: a text column's always; a number column's once
    /// [`count_distinct`] has counted them (what `inspect` shows; training never needs them,
    /// and counting a million-row column's takes a tenth of reading it).
    pub distinct: Option<usize>,
    pub role: Role,
}

/// Rows above which a text column whose values are nearly all distinct is taken for an
/// identifier; a smaller table cannot tell a name from a rare category.
pub const IDENTIFIER_ROWS: usize = 20;
/// The share of a text column's present cells that are distinct, at or above which it is an
/// identifier.
pub const IDENTIFIER_SHARE: f64 = 0.95;

/// The distinct present numbers of a column of numbers.
fn distinct_numbers(v: &[f32]) -> usize {
    // -0 and 0 are one value.
    let present: Vec<u32> = v.iter().filter(|x| !x.is_nan()).map(|x| (x + 0.0).to_bits()).collect();
    let sorted = radix_sorted(present);
    sorted.len() - sorted.windows(2).filter(|w| w[0] == w[1]).count()
}

/// `keys` sorted, by two passes of 16-bit digits: linear in the rows, where a comparison sort of
/// a million-row column took most of the time from file to features.
fn radix_sorted(mut keys: Vec<u32>) -> Vec<u32> {
    let mut other = vec![0u32; keys.len()];
    for shift in [0, 16] {
        let mut starts = vec![0usize; 1 << 16];
        for &k in &keys {
            starts[(k >> shift) as usize & 0xffff] += 1;
        }
        let mut at = 0;
        for s in starts.iter_mut() {
            (*s, at) = (at, at + *s);
        }
        for &k in &keys {
            let d = (k >> shift) as usize & 0xffff;
            other[starts[d]] = k;
            starts[d] += 1;
        }
        std::mem::swap(&mut keys, &mut other);
    }
    keys
}

/// Counts the distinct numbers of every column of numbers of `table` that `info` (its columns,
/// as [`infer`] gave them) has not counted, the columns spread over the CPU's workers.
///
/// ```
/// use shadergrad::data::table::{count_distinct, infer, read_csv, Columns, Markers};
/// let t = read_csv(b"a,y\n1,x\n1,y\n2,x\n", "t.csv", &Markers::new(None))?;
/// let mut info = infer(&t, &Columns { targets: vec!["y".into()], ..Columns::default() })?;
/// assert_eq!((info[0].distinct, info[1].distinct), (None, Some(2)));
/// count_distinct(&t, &mut info);
/// assert_eq!(info[0].distinct, Some(2));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn count_distinct(table: &RawTable, info: &mut [ColumnInfo]) {
    let counts: Vec<std::sync::atomic::AtomicUsize> = table.columns.iter().map(|_| Default::default()).collect();
    crate::engine::pool::run(table.columns.len(), |j| {
        if let (RawColumn::Numbers(v), None) = (&table.columns[j], info[j].distinct) {
            counts[j].store(distinct_numbers(v), std::sync::atomic::Ordering::Relaxed);
        }
    });
    for (c, n) in info.iter_mut().zip(counts) {
        c.distinct = c.distinct.or(Some(n.into_inner()));
    }
}

/// A text column's distinct values (None for numbers: see [`count_distinct`]).
fn text_distinct(column: &RawColumn) -> Option<usize> {
    match column {
        RawColumn::Text { counts, .. } => Some(counts.len()),
        RawColumn::Numbers(_) => None,
    }
}

/// Whether a column holds the row numbers 0..n or 1..n, in order.
fn row_numbers(column: &RawColumn) -> bool {
    let RawColumn::Numbers(v) = column else {
        return false;
    };
    let from = v.first().copied().unwrap_or(0.0);
    (from == 0.0 || from == 1.0) && v.iter().enumerate().all(|(i, &x)| x == from + i as f32)
}

/// The kind of column `j` of `table`, by the rules above (`categorical`: the user's list).
fn kind(table: &RawTable, j: usize, categorical: &[String]) -> Result<Kind> {
    let (name, column) = (&table.header[j], &table.columns[j]);
    if name.is_empty() || name == "Unnamed: 0" {
        if row_numbers(column) {
            return Ok(Kind::Index);
        }
        if name.is_empty() {
            return Err(Error::bad_file(
                &table.name,
                format!(
                    "column {} has no name in the header (and does not hold row numbers, as an index column would)",
                    j + 1
                ),
            ));
        }
    }
    let present = table.rows - column.missing();
    Ok(match column {
        _ if present == 0 => Kind::Empty,
        RawColumn::Numbers(_) if categorical.contains(name) => Kind::Categorical,
        RawColumn::Numbers(_) => Kind::Numeric,
        RawColumn::Text { .. } if categorical.contains(name) => Kind::Categorical,
        RawColumn::Text { counts, .. } => {
            let unique = counts.len() as f64;
            if table.rows > IDENTIFIER_ROWS && unique >= IDENTIFIER_SHARE * present as f64 {
                Kind::Identifier
            } else {
                Kind::Categorical
            }
        }
    })
}

/// Checks that every column `columns` names is in `table`.
fn check_named(table: &RawTable, columns: &Columns) -> Result<()> {
    let named = columns.targets.iter().map(|t| (t, "target column"));
    let named = named.chain(columns.features.iter().flatten().map(|f| (f, "column")));
    let named = named.chain(columns.drop.iter().chain(&columns.categorical).map(|c| (c, "column")));
    for (c, what) in named {
        if !table.header.contains(c) {
            return Err(Error::bad_file(
                &table.name,
                format!("has no {what} `{c}` (its columns: {})", table.header.join(", ")),
            ));
        }
    }
    if let Some(t) = columns.features.iter().flatten().find(|f| columns.targets.contains(f)) {
        return Err(Error::invalid(
            "features",
            t.as_str(),
            "columns that are not also targets",
        ));
    }
    Ok(())
}

/// Every column of `table` with its kind and role, for `columns` (the targets are those named;
/// features those named, else every column that is not a target, dropped or left out by kind).
///
/// ```
/// use shadergrad::data::table::{infer, read_csv, Columns, Kind, Markers, Role};
/// let csv = b",island,mass,species\n0,Biscoe,3750,Adelie\n1,Dream,NA,Gentoo\n2,Biscoe,3250,Adelie\n";
/// let t = read_csv(csv, "p.csv", &Markers::new(None))?;
/// let columns = Columns { targets: vec!["species".into()], ..Columns::default() };
/// let info = infer(&t, &columns)?;
/// let kinds: Vec<Kind> = info.iter().map(|c| c.kind).collect();
/// assert_eq!(kinds, [Kind::Index, Kind::Categorical, Kind::Numeric, Kind::Categorical]);
/// assert!(matches!(info[0].role, Role::Left(_)) && info[2].role == Role::Feature && info[2].missing == 1);
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn infer(table: &RawTable, columns: &Columns) -> Result<Vec<ColumnInfo>> {
    check_named(table, columns)?;
    let mut out = Vec::with_capacity(table.header.len());
    for (j, name) in table.header.iter().enumerate() {
        let kind = kind(table, j, &columns.categorical)?;
        let column = &table.columns[j];
        let chosen = columns.features.as_ref().is_some_and(|f| f.contains(name));
        let role = if columns.targets.contains(name) {
            Role::Target
        } else if let Some(features) = &columns.features {
            match features.contains(name) {
                true if kind == Kind::Empty => Role::Left("every cell is missing".into()),
                true => Role::Feature,
                false => Role::Left("not among --features".into()),
            }
        } else if columns.drop.contains(name) {
            Role::Left("dropped (--drop)".into())
        } else {
            match kind {
                Kind::Numeric | Kind::Categorical => Role::Feature,
                Kind::Identifier => Role::Left(format!(
                    "it looks like an identifier ({} distinct values in {} rows); --features keeps it",
                    text_distinct(column).unwrap_or_default(),
                    table.rows - column.missing()
                )),
                Kind::Index => Role::Left("it is the index pandas or R writes (row numbers)".into()),
                Kind::Empty => Role::Left("every cell is missing".into()),
            }
        };
        // A column the user named as a feature is one even if it looks like an identifier.
        let kind = if chosen && kind == Kind::Identifier {
            Kind::Categorical
        } else {
            kind
        };
        out.push(ColumnInfo {
            name: name.clone(),
            kind,
            missing: column.missing(),
            distinct: text_distinct(column),
            role,
        });
    }
    if !out.iter().any(|c| c.role == Role::Feature) {
        return Err(Error::bad_file(&table.name, "leaves no column to be a feature"));
    }
    Ok(out)
}

/// The lines that say which feature columns hold numbers in some rows and text in others, and
/// that they are read as categories (each number one of them): a column of codes with a stray
/// word, or a number column with a typo, which the user may want to mend or drop.
///
/// ```
/// use shadergrad::data::table::{infer, mixed_notes, read_csv, Columns, Markers};
/// let t = read_csv(b"size,y\n1,a\n2,b\nthree,a\n", "t.csv", &Markers::new(None))?;
/// let info = infer(&t, &Columns { targets: vec!["y".into()], ..Columns::default() })?;
/// let notes = mixed_notes(&t, &info);
/// assert!(notes[0].contains("`three` in row 3 (line 4)"), "{notes:?}");
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn mixed_notes(table: &RawTable, info: &[ColumnInfo]) -> Vec<String> {
    let mut notes = Vec::new();
    for (c, column) in info.iter().zip(&table.columns) {
        let RawColumn::Text { codes, values, .. } = column else {
            continue;
        };
        if c.role != Role::Feature {
            continue;
        }
        let number = |v: &String| v.parse::<f32>().is_ok_and(f32::is_finite);
        let numbers: Vec<bool> = values.iter().map(number).collect();
        let count = |want: bool| {
            codes
                .iter()
                .filter(|&&k| numbers.get(k as usize) == Some(&want))
                .count()
        };
        let (numeric, text) = (count(true), count(false));
        if numeric == 0 || text == 0 {
            continue;
        }
        let first = codes.iter().position(|&k| numbers.get(k as usize) == Some(&false));
        let Some(i) = first else { continue };
        notes.push(format!(
            "{}: column `{}` holds numbers in {numeric} rows and text in {text}, the first `{}` in row {}{}: read as categories, each number one of them (mend the text, or --drop {} leaves the column out)",
            table.name,
            c.name,
            values[codes[i] as usize],
            i + 1,
            table.line_of(i),
            c.name,
        ));
    }
    notes
}

/// The lines that say which columns were left out of the features by their kind, and how to keep
/// them: an identifier, the index, an empty column. (Columns the user dropped are not repeated.)
pub fn left_out_notes(table: &str, info: &[ColumnInfo]) -> Vec<String> {
    info.iter()
        .filter(|c| matches!(c.kind, Kind::Identifier | Kind::Index | Kind::Empty))
        .filter_map(|c| match &c.role {
            Role::Left(why) => Some(format!("{table}: column `{}` is left out: {why}", c.name)),
            _ => None,
        })
        .collect()
}
