//! CSV tables: a header row naming the columns, then one example per row. Only the columns a
//! data set uses are read as numbers, so a text column (an id, a name) can be dropped; every
//! fault names the row (and its line in the file), the column and the text.

use std::path::Path;

use super::{Dataset, Features, Scaling, Targets, Task};
use crate::engine::error::{Error, Result};

/// Which columns of a CSV are targets and which features.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Columns {
    /// The target columns (one for classification; one or more to regress or to label).
    pub targets: Vec<String>,
    /// The feature columns, in this order; None: every column that is not a target or dropped.
    pub features: Option<Vec<String>>,
    /// Columns to leave out of the features.
    pub drop: Vec<String>,
}

/// The numbers of the wanted columns of a CSV, row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Every column of the header, in file order.
    pub header: Vec<String>,
    /// The wanted columns, in the order asked for.
    pub names: Vec<String>,
    /// `rows × names.len()` values, row-major.
    pub values: Vec<f64>,
    pub rows: usize,
}

/// Reads the columns `wanted` of CSV `bytes` (`name` for errors): a header, then rows of
/// numbers. `wanted` None reads every column.
pub fn read_table(bytes: &[u8], name: &str, wanted: Option<&[String]>) -> Result<Table> {
    read_columns(bytes, name, |header| Ok(wanted.unwrap_or(header).to_vec()))
}

/// [`read_table`] of the columns `pick` chooses once it has seen the header (so the file is
/// parsed once even when which columns to read depends on which it has).
fn read_columns(bytes: &[u8], name: &str, pick: impl FnOnce(&[String]) -> Result<Vec<String>>) -> Result<Table> {
    let bad = |why: String| Error::bad_file(name, why);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(csv_fault(&e)))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(bad("is empty: a CSV needs a header row naming its columns".into()));
    }
    for (i, h) in header.iter().enumerate() {
        if let Some(j) = header[..i].iter().position(|o| o == h) {
            return Err(bad(format!(
                "the column name `{h}` appears twice (columns {} and {})",
                j + 1,
                i + 1
            )));
        }
    }
    let names = pick(&header)?;
    let mut index = Vec::with_capacity(names.len());
    for n in &names {
        let i = header
            .iter()
            .position(|h| h == n)
            .ok_or_else(|| bad(format!("has no column `{n}` (its columns: {})", header.join(", "))))?;
        index.push(i);
    }
    let mut values = Vec::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.map_err(|e| bad(csv_fault(&e)))?;
        rows += 1;
        let line = record.position().map_or(rows + 1, |p| p.line() as usize);
        for (&i, n) in index.iter().zip(&names) {
            let text = record.get(i).unwrap_or("").trim();
            let v: f64 = text.parse().map_err(|_| {
                bad(format!(
                    "row {rows} (line {line}), column `{n}`: `{text}` is not a number"
                ))
            })?;
            if !v.is_finite() {
                return Err(bad(format!(
                    "row {rows} (line {line}), column `{n}`: `{text}` is not a finite number"
                )));
            }
            values.push(v);
        }
    }
    if rows == 0 {
        return Err(bad("has a header but no rows".into()));
    }
    Ok(Table {
        header,
        names,
        values,
        rows,
    })
}

/// What a csv error says, with its row and line.
fn csv_fault(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
            let at = pos
                .as_ref()
                .map_or(String::new(), |p| format!("row {} (line {})", p.record(), p.line()));
            format!("{at} has {len} cells, but the header names {expected_len} columns")
        }
        csv::ErrorKind::Utf8 { pos, .. } => {
            let at = pos.as_ref().map_or(String::new(), |p| format!(" at line {}", p.line()));
            format!("is not UTF-8 text{at}")
        }
        _ => format!("cannot be read as CSV: {e}"),
    }
}

/// Class ids from whole-number values: the distinct values, sorted, are the classes' labels.
/// `at(i)` names example `i` in a message.
pub(crate) fn classes(values: &[f64], at: impl Fn(usize) -> String) -> std::result::Result<Targets, String> {
    if let Some(i) = values.iter().position(|v| v.fract() != 0.0) {
        return Err(format!(
            "{}: {} is not a whole number, which a class label must be (values to predict are --task regress)",
            at(i),
            values[i]
        ));
    }
    let mut labels: Vec<f64> = values.to_vec();
    labels.sort_by(f64::total_cmp);
    labels.dedup();
    let ids = values
        .iter()
        .map(|v| labels.binary_search_by(|l| l.total_cmp(v)).unwrap_or(0) as u32)
        .collect();
    Ok(Targets::Classes { ids, labels })
}

/// The feature columns: `columns.features`, or every column but the targets and the dropped.
fn feature_columns(header: &[String], columns: &Columns, name: &str) -> Result<Vec<String>> {
    for c in columns.drop.iter().chain(columns.features.iter().flatten()) {
        if !header.contains(c) {
            return Err(Error::bad_file(
                name,
                format!("has no column `{c}` (its columns: {})", header.join(", ")),
            ));
        }
    }
    let features: Vec<String> = match &columns.features {
        Some(f) => f.clone(),
        None => header
            .iter()
            .filter(|h| !columns.targets.contains(h) && !columns.drop.contains(h))
            .cloned()
            .collect(),
    };
    if let Some(t) = features.iter().find(|f| columns.targets.contains(f)) {
        return Err(Error::invalid(
            "features",
            t.as_str(),
            "columns that are not also targets",
        ));
    }
    if features.is_empty() {
        return Err(Error::bad_file(name, "leaves no column to be a feature"));
    }
    Ok(features)
}

/// A data set for `task` from CSV bytes (`name` for errors).
///
/// ```
/// use shadergrad::data::{table::{parse_csv, Columns}, Task};
/// let csv = b"height,weight,class\n1.5,60,3\n1.8,80,7\n1.6,65,3\n";
/// let columns = Columns { targets: vec!["class".into()], ..Columns::default() };
/// let d = parse_csv(csv, "people.csv", &columns, Task::Classify)?;
/// assert_eq!((d.len(), d.feature_count, d.outputs()), (3, 2, 2));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn parse_csv(bytes: &[u8], name: &str, columns: &Columns, task: Task) -> Result<Dataset> {
    if columns.targets.is_empty() {
        return Err(Error::invalid("targets", "none", "at least one target column"));
    }
    // The features, then the targets: which they are depends on the header.
    let table = read_columns(bytes, name, |header| {
        for t in &columns.targets {
            if !header.contains(t) {
                return Err(Error::bad_file(
                    name,
                    format!("has no target column `{t}` (its columns: {})", header.join(", ")),
                ));
            }
        }
        let mut wanted = feature_columns(header, columns, name)?;
        wanted.extend(columns.targets.iter().cloned());
        Ok(wanted)
    })?;
    let k = columns.targets.len();
    let f = table.names.len() - k;
    let features = table.names[..f].to_vec();
    let width = f + k;
    let mut x = Vec::with_capacity(table.rows * f);
    let mut y = Vec::with_capacity(table.rows * k);
    for row in table.values.chunks(width) {
        x.extend(row[..f].iter().map(|&v| v as f32));
        y.extend_from_slice(&row[f..]);
    }
    let at = |i: usize| {
        let (row, j) = (i / k + 1, i % k);
        format!("row {row}, column `{}`", columns.targets[j])
    };
    let targets = match task {
        Task::Classify => {
            if k != 1 {
                return Err(Error::invalid(
                    "targets",
                    columns.targets.join(","),
                    "one target column for classification",
                ));
            }
            classes(&y, at).map_err(|why| Error::bad_file(name, why))?
        }
        Task::Regress => Targets::Values {
            values: y.iter().map(|&v| v as f32).collect(),
            k,
        },
        Task::Multilabel => {
            if let Some(i) = y.iter().position(|&v| v != 0.0 && v != 1.0) {
                return Err(Error::bad_file(
                    name,
                    format!("{}: {} is not 0 or 1, as a multi-label target must be", at(i), y[i]),
                ));
            }
            Targets::Labels {
                values: y.iter().map(|&v| v as f32).collect(),
                k,
            }
        }
    };
    let data = Dataset {
        features: Features::Floats(x),
        feature_count: f,
        feature_names: features,
        targets,
        target_names: columns.targets.clone(),
        image: None,
        scaling: Scaling::default(),
    };
    data.check(name)?;
    Ok(data)
}

/// A data set for `task` from a CSV file.
pub fn load_csv(path: &Path, columns: &Columns, task: Task) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_csv(&bytes, &path.display().to_string(), columns, task)
}
