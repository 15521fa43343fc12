//! What Python hands over, as the crate's data sets: a float32 matrix (a NumPy array, read
//! through the buffer protocol) or a table as CSV bytes (a DataFrame with text, categories and
//! missing cells, which goes through the same inferred preprocessing as `shadergrad train`), and
//! the targets scikit-learn's conventions have already checked.

use std::sync::Arc;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use shadergrad::data::table::{infer, read_csv, Columns, Markers, Schema, Unseen};
use shadergrad::data::{Dataset, Features, Scaling, Targets, Task};
use shadergrad::Error;

use crate::errors::to_py;

/// Rows of features as Python gave them.
pub enum Rows {
    /// A C-ordered `[n, features]` float32 matrix.
    Matrix {
        values: Vec<f32>,
        n: usize,
        features: usize,
    },
    /// A table's CSV (a header, then a row per example).
    Table(Vec<u8>),
}

impl Rows {
    /// `x`: a 2-D float32 buffer, or the bytes of a CSV.
    pub fn from_py(x: &Bound<'_, PyAny>) -> PyResult<Rows> {
        if let Ok(bytes) = x.extract::<Vec<u8>>() {
            return Ok(Rows::Table(bytes));
        }
        let buffer = PyBuffer::<f32>::get(x)?;
        let shape = buffer.shape().to_vec();
        let [n, features] = shape[..] else {
            return Err(PyValueError::new_err(format!(
                "expected a 2-D array of features, got shape {shape:?}"
            )));
        };
        Ok(Rows::Matrix {
            values: buffer.to_vec(x.py())?,
            n,
            features,
        })
    }

    /// The features of these rows, as the model's preprocessing makes them: a matrix as it is,
    /// a table through `schema` (or, with None, a schema fitted here on every row, with
    /// `categorical` columns and `na` markers as `shadergrad train` takes them).
    pub fn features(&self, schema: Option<&Schema>, table: &TableOptions) -> shadergrad::Result<Encoded> {
        match self {
            Rows::Matrix { values, n, features } => Ok(Encoded {
                features: Features::Floats(values.clone()),
                count: *features,
                names: (0..*features).map(|j| format!("x{j}")).collect(),
                schema: None,
                rows: *n,
                unseen: Unseen::default(),
            }),
            Rows::Table(bytes) => {
                let markers = Markers::new(table.na.as_deref());
                let raw = read_csv(bytes, "the DataFrame", &markers)?;
                let all: Vec<usize> = (0..raw.rows).collect();
                let schema = match schema {
                    Some(s) => s.clone(),
                    None => {
                        let columns = Columns {
                            categorical: table.categorical.clone(),
                            na: table.na.clone(),
                            ..Columns::default()
                        };
                        let info = infer(&raw, &columns)?;
                        Schema::fit(&raw, &info, &all, None, table.na.clone())
                    }
                };
                let (values, unseen) = schema.encode(&raw, &all)?;
                Ok(Encoded {
                    features: Features::Floats(values),
                    count: schema.width(),
                    names: schema.input_names(),
                    rows: raw.rows,
                    schema: Some(schema),
                    unseen,
                })
            }
        }
    }
}

/// How a table's columns are read: which columns of numbers are categories, and which cells
/// mean missing.
#[derive(Clone, Debug, Default)]
pub struct TableOptions {
    pub categorical: Vec<String>,
    pub na: Option<Vec<String>>,
}

/// Rows encoded as a model's inputs.
pub struct Encoded {
    pub features: Features,
    /// Inputs per row.
    pub count: usize,
    pub names: Vec<String>,
    pub schema: Option<Schema>,
    pub rows: usize,
    /// Categories (or missing cells) the schema had not seen.
    pub unseen: Unseen,
}

/// Targets as Python checked them: for classes, their ids (0..k) with the classes' labels and
/// names; else `k` values or 0/1 labels per row.
pub struct TargetArgs {
    pub task: Task,
    pub values: Vec<f32>,
    pub k: usize,
    pub labels: Vec<f64>,
    pub names: Vec<String>,
}

impl TargetArgs {
    fn targets(&self) -> Targets {
        match self.task {
            Task::Classify => Targets::Classes {
                ids: self.values.iter().map(|&v| v as u32).collect(),
                labels: self.labels.clone(),
                names: self.names.clone(),
            },
            Task::Regress => Targets::Values {
                values: self.values.clone(),
                k: self.k,
            },
            Task::Multilabel => Targets::Labels {
                values: self.values.clone(),
                k: self.k,
            },
        }
    }
}

/// A data set of `x` and its targets, weighted by `weights` when given, standardised by
/// `scaling` (or, with None, by its own statistics, weighted as it is).
pub fn dataset(
    x: Encoded,
    y: &TargetArgs,
    weights: Option<Vec<f32>>,
    scaling: Option<&Scaling>,
) -> shadergrad::Result<Dataset> {
    let targets = y.targets();
    if targets.len() != x.rows {
        return Err(Error::Length {
            what: "targets (one for each row of X)".into(),
            expected: x.rows,
            got: targets.len(),
        });
    }
    let mut data = Dataset {
        features: x.features,
        feature_count: x.count,
        feature_names: x.names,
        targets,
        target_names: (0..y.k.max(1)).map(|j| format!("y{j}")).collect(),
        image: None,
        scaling: Scaling::default(),
        schema: x.schema.map(Arc::new),
        weights: None,
    };
    if let Some(w) = weights {
        data = data.with_weights(w)?;
    }
    let scaling = match scaling {
        Some(s) => s.clone(),
        None => data.fit_scaling(true, y.task == Task::Regress),
    };
    data.standardize(&scaling);
    Ok(data)
}

/// A float32 buffer as a vector.
pub fn floats(x: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    PyBuffer::<f32>::get(x)?.to_vec(x.py())
}

/// The error of a crate call, for Python.
pub fn check<T>(r: shadergrad::Result<T>) -> PyResult<T> {
    r.map_err(to_py)
}
