//! The preprocessing of a table, fitted on the training split and recorded with the model: how
//! each feature column becomes the model's inputs. Numbers: missing cells filled with the
//! training median, and a 0/1 column saying so where training had missing cells. Categories:
//! one column each (of those seen at least [`MIN_COUNT`] times, at most [`MAX_CATEGORIES`]), one
//! "other" column shared by the rest, and one for missing cells where training had them; at
//! prediction a category training never saw goes to "other" when there is one, else to no
//! column, and is counted. The same step serves training, evaluation and prediction, so the
//! same rows give the same numbers on both sides.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::engine::error::{Error, Result};
use crate::engine::pool;

use super::column::{number_text, RawColumn};
use super::infer::{ColumnInfo, Kind, Role};
use super::read::RawTable;

/// Categories seen fewer times than this in the training split share the "other" column.
pub const MIN_COUNT: usize = 5;
/// At most this many categories of a column get a column of their own (the most frequent).
pub const MAX_CATEGORIES: usize = 100;

/// How one column of the table becomes inputs of the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Encoding {
    /// The number, missing cells filled with `fill` (the training median); with `indicator`, a
    /// second input that is 1 where the cell was missing.
    Number { fill: f32, indicator: bool },
    /// One input per category (1 for the row's), then one for "other" categories when `other`,
    /// and one for a missing cell when `missing`.
    OneHot {
        categories: Vec<String>,
        other: bool,
        missing: bool,
    },
}

/// A column of the table the model takes, and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub column: String,
    pub encoding: Encoding,
}

impl Feature {
    /// The names of its inputs: `age`, `age (missing)`; `island=Biscoe`, `island (other)`,
    /// `island (missing)`.
    pub fn input_names(&self) -> Vec<String> {
        let c = &self.column;
        match &self.encoding {
            Encoding::Number { indicator, .. } => {
                let mut out = vec![c.clone()];
                if *indicator {
                    out.push(format!("{c} (missing)"));
                }
                out
            }
            Encoding::OneHot {
                categories,
                other,
                missing,
            } => {
                let mut out: Vec<String> = categories.iter().map(|v| format!("{c}={v}")).collect();
                if *other {
                    out.push(format!("{c} (other)"));
                }
                if *missing {
                    out.push(format!("{c} (missing)"));
                }
                out
            }
        }
    }
}

/// A table's preprocessing, as recorded in a model: the cells that mean missing, the feature
/// columns in the order the model takes them, and the column that names a table's rows (its
/// index or identifier), if training had one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub na: Option<Vec<String>>,
    pub features: Vec<Feature>,
    /// Columns that the training file had and the model leaves out, and why.
    pub left_out: Vec<(String, String)>,
    /// The column of row names or ids (`Unnamed: 0`, `name`): predictions carry it.
    pub id: Option<String>,
}

/// What encoding rows met that training had not: rows per column whose category (or missing
/// cell) was never seen, sent to "other" or to no column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unseen(pub Vec<(String, usize)>);

impl Unseen {
    /// One line for a user, or None when every category was seen.
    ///
    /// ```
    /// use shadergrad::data::table::Unseen;
    /// let u = Unseen(vec![("island".into(), 2), ("sex".into(), 1)]);
    /// assert!(u.line().unwrap().starts_with("3 cells held categories without an input of their own (island: 2, sex: 1)"));
    /// assert!(Unseen(vec![("island".into(), 1)]).line().unwrap().starts_with("1 cell held a category without an input of its own"));
    /// assert_eq!(Unseen::default().line(), None);
    /// ```
    pub fn line(&self) -> Option<String> {
        let total: usize = self.0.iter().map(|(_, n)| n).sum();
        (total > 0).then(|| {
            let per: Vec<String> = self.0.iter().map(|(c, n)| format!("{c}: {n}")).collect();
            let what = match total {
                1 => "1 cell held a category without an input of its own".to_string(),
                n => format!("{n} cells held categories without an input of their own"),
            };
            format!(
                "{what} ({}): never seen in training, or seen there fewer than {MIN_COUNT} times; each counted as \"other\" where its column has one, as no category otherwise",
                per.join(", ")
            )
        })
    }
}

/// The median of `values`' present numbers.
fn median(mut values: Vec<f32>) -> Option<f32> {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return None;
    }
    // Selection, not a sort: linear in the rows. The upper middle lands at n/2 with everything
    // below it to its left, where the lower middle is their largest.
    let n = values.len();
    let (below, &mut upper, _) = values.select_nth_unstable_by(n / 2, f32::total_cmp);
    Some(if n % 2 == 1 {
        upper
    } else {
        let lower = below.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (lower + upper) / 2.0
    })
}

/// Each row's category in `column` as text (numbers written as categories are), None if missing.
fn category_of(column: &RawColumn, i: usize) -> Option<std::borrow::Cow<'_, str>> {
    match column {
        RawColumn::Numbers(v) => (!v[i].is_nan()).then(|| number_text(v[i]).into()),
        RawColumn::Text { codes, values, .. } => values.get(codes[i] as usize).map(|s| s.as_str().into()),
    }
}

/// The encoding of a category column fitted on `rows`: the frequent categories (sorted), and
/// whether others and missing cells were seen.
fn fit_categories(column: &RawColumn, rows: &[usize]) -> Encoding {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut missing = false;
    for &i in rows {
        match category_of(column, i) {
            Some(c) => *counts.entry(c.into_owned()).or_default() += 1,
            None => missing = true,
        }
    }
    let mut by_count: Vec<(String, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let kept = by_count
        .iter()
        .filter(|(_, n)| *n >= MIN_COUNT)
        .take(MAX_CATEGORIES)
        .count();
    let mut categories: Vec<String> = by_count[..kept].iter().map(|(c, _)| c.clone()).collect();
    categories.sort();
    Encoding::OneHot {
        categories,
        other: kept < by_count.len(),
        missing,
    }
}

/// The encoding of each feature column of `table` fitted on `rows` (None for the other columns,
/// and for a number column missing in every row), the columns spread over the CPU's workers.
fn fit_columns(table: &RawTable, info: &[ColumnInfo], rows: &[usize]) -> Vec<Option<Encoding>> {
    let slots: Vec<Mutex<Option<Encoding>>> = info.iter().map(|_| Mutex::new(None)).collect();
    pool::run(info.len(), |j| {
        let encoding = match (&info[j].role, info[j].kind, &table.columns[j]) {
            (Role::Feature, Kind::Categorical, column) => Some(fit_categories(column, rows)),
            (Role::Feature, _, RawColumn::Numbers(v)) => {
                let values: Vec<f32> = rows.iter().map(|&i| v[i]).collect();
                let indicator = values.iter().any(|x| x.is_nan());
                median(values).map(|fill| Encoding::Number { fill, indicator })
            }
            _ => None,
        };
        *slots[j].lock().unwrap_or_else(|e| e.into_inner()) = encoding;
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

impl Schema {
    /// The preprocessing of `table`'s feature columns (as `info` infers them) fitted on the
    /// training `rows`, the features in file order or in the order `order` names them; a feature
    /// missing in every training row is left out (and named in `left_out`).
    pub fn fit(
        table: &RawTable,
        info: &[ColumnInfo],
        rows: &[usize],
        order: Option<&[String]>,
        na: Option<Vec<String>>,
    ) -> Schema {
        let fitted = fit_columns(table, info, rows);
        let mut features = Vec::new();
        let mut left_out = Vec::new();
        let mut id = None;
        for (c, fitted) in info.iter().zip(fitted) {
            match (&c.role, c.kind) {
                (Role::Left(why), kind) => {
                    if matches!(kind, Kind::Index | Kind::Identifier) && id.is_none() {
                        id = Some(c.name.clone());
                    }
                    left_out.push((c.name.clone(), why.clone()));
                }
                (Role::Target, _) => {}
                (Role::Feature, _) => match fitted {
                    Some(encoding) => features.push(Feature {
                        column: c.name.clone(),
                        encoding,
                    }),
                    None => left_out.push((c.name.clone(), "missing in every training row".into())),
                },
            }
        }
        if let Some(order) = order {
            features.sort_by_key(|f| order.iter().position(|o| *o == f.column));
        }
        Schema {
            na,
            features,
            left_out,
            id,
        }
    }

    /// How many inputs the model takes.
    pub fn width(&self) -> usize {
        self.input_names().len()
    }

    /// The inputs' names, in order.
    pub fn input_names(&self) -> Vec<String> {
        self.features.iter().flat_map(Feature::input_names).collect()
    }

    /// Which inputs are numbers to standardise (not 0/1 indicators or categories).
    pub fn scaled_inputs(&self) -> Vec<bool> {
        let mut out = Vec::new();
        for f in &self.features {
            match &f.encoding {
                Encoding::Number { indicator, .. } => {
                    out.push(true);
                    if *indicator {
                        out.push(false);
                    }
                }
                Encoding::OneHot { .. } => out.extend(std::iter::repeat_n(false, f.input_names().len())),
            }
        }
        out
    }

    /// Checks that `table` has every column the model takes, naming the first it lacks.
    pub fn check_columns(&self, table: &RawTable) -> Result<()> {
        match self.features.iter().find(|f| table.column(&f.column).is_none()) {
            Some(f) => Err(Error::bad_file(
                &table.name,
                format!(
                    "has no column `{}`, which the model takes (its columns: {})",
                    f.column,
                    table.header.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// The inputs of `rows` of `table` (row-major, `rows.len() × width`), and what categories
    /// they held that training had not. A missing column, or a number column holding text, is an
    /// error naming it. The rows are spread over the CPU's workers.
    pub fn encode(&self, table: &RawTable, rows: &[usize]) -> Result<(Vec<f32>, Unseen)> {
        self.check_columns(table)?;
        let width = self.width();
        let mut out = vec![0.0f32; rows.len() * width];
        let chunk = rows.len().div_ceil(pool::threads()).max(1024);
        let parts: Vec<Mutex<Part>> = rows
            .chunks(chunk)
            .zip(out.chunks_mut(chunk * width.max(1)))
            .map(|(r, o)| Mutex::new((r, o, Ok(Vec::new()))))
            .collect();
        pool::run(parts.len(), |p| {
            let mut part = parts[p].lock().unwrap_or_else(|e| e.into_inner());
            let (rows, out, result) = &mut *part;
            *result = self.encode_into(table, rows, out);
        });
        let mut strangers = vec![0; self.features.len()];
        for part in parts {
            let (_, _, result) = part.into_inner().unwrap_or_else(|e| e.into_inner());
            for (total, n) in strangers.iter_mut().zip(result?) {
                *total += n;
            }
        }
        let unseen = self
            .features
            .iter()
            .zip(strangers)
            .filter(|(_, n)| *n > 0)
            .map(|(f, n)| (f.column.clone(), n))
            .collect();
        Ok((out, Unseen(unseen)))
    }

    /// [`Schema::encode`] of `rows` into `out` (theirs alone): for each feature, the rows whose
    /// category training had not seen. A block of rows at a time, each feature over the block,
    /// so that the block's inputs stay in cache while every feature writes its columns of them.
    fn encode_into(&self, table: &RawTable, rows: &[usize], out: &mut [f32]) -> Result<Vec<usize>> {
        const BLOCK: usize = 256;
        let width = self.width();
        let mut strangers = vec![0; self.features.len()];
        let features: Vec<Encoder> = self
            .features
            .iter()
            .scan(0, |at, f| {
                let start = *at;
                *at += f.input_names().len();
                Some((f, start))
            })
            .filter_map(|(f, at)| {
                let index = match &f.encoding {
                    Encoding::OneHot { categories, .. } => {
                        Some(categories.iter().enumerate().map(|(k, c)| (c.as_str(), k)).collect())
                    }
                    Encoding::Number { .. } => None,
                };
                // Every column is there: encode checked.
                table.column(&f.column).map(|column| Encoder {
                    feature: f,
                    column,
                    at,
                    index,
                })
            })
            .collect();
        for (block, out) in rows.chunks(BLOCK).zip(out.chunks_mut(BLOCK * width.max(1))) {
            for (e, strangers) in features.iter().zip(&mut strangers) {
                e.encode(table, block, &mut out[e.at..], width, strangers)?;
            }
        }
        Ok(strangers)
    }
}

/// A worker's share of [`Schema::encode`]: its rows, their inputs, and what it found.
type Part<'a> = (&'a [usize], &'a mut [f32], Result<Vec<usize>>);

/// One feature's encoding at work: its column of the table, its first input, and its
/// categories' places.
struct Encoder<'a> {
    feature: &'a Feature,
    column: &'a RawColumn,
    at: usize,
    index: Option<HashMap<&'a str, usize>>,
}

impl Encoder<'_> {
    /// The feature's inputs of `rows` into `out` (row-major, `width` a row, from the feature's
    /// first input on); counts in `strangers` the categories training had not seen.
    fn encode(
        &self,
        table: &RawTable,
        rows: &[usize],
        out: &mut [f32],
        width: usize,
        strangers: &mut usize,
    ) -> Result<()> {
        let (f, column) = (self.feature, self.column);
        match (&f.encoding, &self.index) {
            (Encoding::Number { fill, indicator }, _) => {
                for (r, &i) in rows.iter().enumerate() {
                    let v = number_at(table, &f.column, column, i)?;
                    out[r * width] = v.unwrap_or(*fill);
                    if *indicator {
                        out[r * width + 1] = v.is_none() as u8 as f32;
                    }
                }
            }
            (
                Encoding::OneHot {
                    categories,
                    other,
                    missing,
                },
                Some(index),
            ) => {
                let other_at = other.then_some(categories.len());
                let missing_at = missing.then_some(categories.len() + *other as usize);
                for (r, &i) in rows.iter().enumerate() {
                    let slot = match category_of(column, i) {
                        Some(c) => index.get(c.as_ref()).copied().or_else(|| {
                            *strangers += 1;
                            other_at
                        }),
                        None => missing_at.or_else(|| {
                            *strangers += 1;
                            other_at
                        }),
                    };
                    if let Some(k) = slot {
                        out[r * width + k] = 1.0;
                    }
                }
            }
            (Encoding::OneHot { .. }, None) => unreachable!("one-hot features have their index"),
        }
        Ok(())
    }
}

/// Row `i`'s number in the number column `name`, None when missing; text that is not a number is
/// an error naming the row, the column and the text.
fn number_at(table: &RawTable, name: &str, column: &RawColumn, i: usize) -> Result<Option<f32>> {
    match column {
        RawColumn::Numbers(v) => Ok((!v[i].is_nan()).then_some(v[i])),
        RawColumn::Text { codes, values, .. } => {
            let Some(text) = values.get(codes[i] as usize) else {
                return Ok(None);
            };
            match text.parse::<f32>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                _ => Err(Error::bad_file(
                    &table.name,
                    format!(
                        "row {}{}, column `{name}`: `{text}` is not a number, as the model's input `{name}` is",
                        i + 1,
                        table.line_of(i)
                    ),
                )),
            }
        }
    }
}
