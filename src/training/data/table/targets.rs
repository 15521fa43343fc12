//! The targets of a table: class labels (numbers or text, sorted), values to regress, or 0/1
//! labels (also written yes/no or true/false). A row whose target is missing has none to learn
//! from: it is left out, and counted.

use crate::engine::error::{Error, Result};
use crate::training::data::dataset::{Targets, Task};

use super::column::RawColumn;
use super::read::RawTable;

/// The targets of `rows` of `table` for `task` in the columns `names`, and the rows that have
/// them (a row with a missing target is left out). Classes are those of the rows, sorted
/// (`Dataset::relabel` expresses them as a model's).
///
/// ```
/// use shadergrad::data::{table::{read_csv, targets, Markers}, Targets, Task};
/// let t = read_csv(b"x,species\n1,Gentoo\n2,NA\n3,Adelie\n", "p.csv", &Markers::new(None))?;
/// let (y, kept) = targets(&t, &["species".into()], Task::Classify, &[0, 1, 2])?;
/// assert_eq!(kept, [0, 2]);
/// assert_eq!(y, Targets::Classes { ids: vec![1, 0], labels: vec![0.0, 1.0], names: vec!["Adelie".into(), "Gentoo".into()] });
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn targets(table: &RawTable, names: &[String], task: Task, rows: &[usize]) -> Result<(Targets, Vec<usize>)> {
    let mut columns = Vec::with_capacity(names.len());
    for n in names {
        let c = table.column(n).ok_or_else(|| {
            Error::bad_file(
                &table.name,
                format!("has no target column `{n}` (its columns: {})", table.header.join(", ")),
            )
        })?;
        columns.push((n.as_str(), c));
    }
    let kept: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&i| columns.iter().all(|(_, c)| !c.is_missing(i)))
        .collect();
    let bad = |i: usize, name: &str, why: String| {
        Error::bad_file(
            &table.name,
            format!("row {}{}, column `{name}`: {why}", i + 1, table.line_of(i)),
        )
    };
    let targets = match task {
        Task::Classify => {
            let [(name, column)] = columns[..] else {
                return Err(Error::invalid(
                    "targets",
                    names.join(","),
                    "one target column for classification",
                ));
            };
            classes(table, name, column, &kept)?
        }
        Task::Regress => {
            let mut values = Vec::with_capacity(kept.len() * columns.len());
            for &i in &kept {
                for (name, c) in &columns {
                    match c {
                        RawColumn::Numbers(v) => values.push(v[i]),
                        RawColumn::Text { .. } => {
                            let text = c.text(i).unwrap_or_default();
                            match text.parse::<f32>() {
                                Ok(v) if v.is_finite() => values.push(v),
                                _ => {
                                    return Err(bad(
                                        i,
                                        name,
                                        format!("`{text}` is not a number, which a value to regress must be (text labels are --task classify)"),
                                    ))
                                }
                            }
                        }
                    }
                }
            }
            Targets::Values {
                values,
                k: columns.len(),
            }
        }
        Task::Multilabel => {
            let mut values = Vec::with_capacity(kept.len() * columns.len());
            for &i in &kept {
                for (name, c) in &columns {
                    let text = c.text(i).unwrap_or_default();
                    let v = match text.to_ascii_lowercase().as_str() {
                        "1" | "yes" | "true" => 1.0,
                        "0" | "no" | "false" => 0.0,
                        _ => {
                            return Err(bad(
                                i,
                                name,
                                format!(
                                    "`{text}` is not 0 or 1 (or yes/no, true/false), as a multi-label target must be"
                                ),
                            ))
                        }
                    };
                    values.push(v);
                }
            }
            Targets::Labels {
                values,
                k: columns.len(),
            }
        }
    };
    Ok((targets, kept))
}

/// Class targets from a column: whole numbers (their labels the numbers, sorted) or text (the
/// names, sorted; labels 0, 1, ...).
fn classes(table: &RawTable, name: &str, column: &RawColumn, rows: &[usize]) -> Result<Targets> {
    match column {
        RawColumn::Numbers(v) => {
            if let Some(&i) = rows.iter().find(|&&i| v[i].fract() != 0.0) {
                return Err(Error::bad_file(
                    &table.name,
                    format!(
                        "row {}{}, column `{name}`: {} is not a whole number, which a class label must be (values to predict are --task regress)",
                        i + 1,
                        table.line_of(i),
                        v[i]
                    ),
                ));
            }
            let mut labels: Vec<f64> = rows.iter().map(|&i| v[i] as f64).collect();
            labels.sort_by(f64::total_cmp);
            labels.dedup();
            let ids = rows
                .iter()
                .map(|&i| labels.binary_search_by(|l| l.total_cmp(&(v[i] as f64))).unwrap_or(0) as u32)
                .collect();
            Ok(Targets::Classes {
                ids,
                labels,
                names: Vec::new(),
            })
        }
        RawColumn::Text { codes, values, .. } => {
            let mut names: Vec<String> = rows.iter().map(|&i| values[codes[i] as usize].clone()).collect();
            names.sort();
            names.dedup();
            let ids = rows
                .iter()
                .map(|&i| names.binary_search(&values[codes[i] as usize]).unwrap_or(0) as u32)
                .collect();
            Ok(Targets::Classes {
                ids,
                labels: (0..names.len()).map(|k| k as f64).collect(),
                names,
            })
        }
    }
}
