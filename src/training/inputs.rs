//! A model's inputs read from files, in the model's feature order and original units: a table
//! (through the preprocessing the model records: its columns matched by name, in any order,
//! missing cells filled and categories encoded as in training), NumPy arrays, or images of the
//! model's size; and labelled data to evaluate it on, encoded the same way. [`Model::predict`]
//! takes what these return.

use std::path::{Path, PathBuf};

use crate::engine::error::{Error, Result};
use crate::training::data::image::PixelStats;
use crate::training::data::table::{self, RawColumn, RawTable, Unseen};
use crate::training::data::{image, npy, Dataset, Features, Source, Task};
use crate::training::model::Model;

/// Rows of a file read for a model: their inputs, what names each row (a table's index or id
/// column, when it has one), and the categories the model had not seen in training.
#[derive(Clone, Debug, PartialEq)]
pub struct Rows {
    pub features: Features,
    /// The id column's name and each row's id.
    pub ids: Option<(String, Vec<String>)>,
    pub unseen: Unseen,
}

/// The column that names a table's rows: `id` if given (an error when missing), else the one the
/// model recorded as its training table's index or identifier, else a column with an index's
/// header (empty or `Unnamed: 0`).
fn id_column(table: &RawTable, wanted: Option<&str>, recorded: Option<&str>) -> Result<Option<(String, Vec<String>)>> {
    let name = match wanted {
        Some(w) if table.column(w).is_none() => {
            return Err(Error::bad_file(
                &table.name,
                format!(
                    "has no column `{w}` to name the rows by (its columns: {})",
                    table.header.join(", ")
                ),
            ))
        }
        Some(w) => Some(w.to_string()),
        None => recorded
            .filter(|r| table.column(r).is_some())
            .map(str::to_string)
            .or_else(|| {
                table
                    .header
                    .iter()
                    .find(|h| h.is_empty() || *h == "Unnamed: 0")
                    .cloned()
            }),
    };
    Ok(name.map(|n| {
        let column = table.column(&n).expect("found above");
        let ids = (0..table.rows).map(|i| column.text(i).unwrap_or_default()).collect();
        (n, ids)
    }))
}

/// The inputs of every row of a table for a model that records no preprocessing (one trained
/// before tables were: numbers only, by name).
fn plain_numbers(table: &RawTable, names: &[String]) -> Result<Vec<f32>> {
    let mut out = vec![0.0f32; table.rows * names.len()];
    for (j, name) in names.iter().enumerate() {
        let column = table.column(name).ok_or_else(|| {
            Error::bad_file(
                &table.name,
                format!(
                    "has no column `{name}`, which the model takes (its columns: {})",
                    table.header.join(", ")
                ),
            )
        })?;
        for i in 0..table.rows {
            let text = column.text(i);
            let v = match (column, &text) {
                (RawColumn::Numbers(v), _) if !v[i].is_nan() => v[i],
                (_, Some(t)) => t.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    Error::bad_file(
                        &table.name,
                        format!(
                            "row {}{}, column `{name}`: `{t}` is not a number",
                            i + 1,
                            table.line_of(i)
                        ),
                    )
                })?,
                (_, None) => {
                    return Err(Error::bad_file(
                        &table.name,
                        format!(
                            "row {}{}, column `{name}` is missing (this model fills no missing cells)",
                            i + 1,
                            table.line_of(i)
                        ),
                    ))
                }
            };
            out[i * names.len() + j] = v;
        }
    }
    Ok(out)
}

impl Model {
    /// The inputs of every row of `path` for this model, and what names the rows: a `.csv`
    /// (through the model's preprocessing: its columns by name in any order, other columns
    /// ignored, a missing one an error naming it), an `.npy` of `[n, features]`, or an `.npz`
    /// holding `x`. `id` names the column that names the rows (else the model's recorded one,
    /// else an index column, else none).
    ///
    /// ```no_run
    /// use shadergrad::model::Model;
    /// use shadergrad::backend::cpu::CpuBackend;
    /// let model = Model::load("model.safetensors".as_ref())?;
    /// let rows = model.read_rows("new_rows.csv".as_ref(), None)?;
    /// if let Some(line) = rows.unseen.line() {
    ///     eprintln!("{line}");
    /// }
    /// let predictions = model.predict(&CpuBackend::<f32>::new(), &rows.features)?;
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn read_rows(&self, path: &Path, id: Option<&str>) -> Result<Rows> {
        let info = &self.info;
        let f = info.mlp.inputs();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let read = || std::fs::read(path).map_err(|e| Error::io(path, e));
        let name = path.display().to_string();
        let (values, shape) = match ext.as_str() {
            "csv" => {
                let na = info.schema.as_ref().and_then(|s| s.na.clone());
                let table = table::read_file(path, na.as_deref())?;
                let ids = id_column(&table, id, info.schema.as_ref().and_then(|s| s.id.as_deref()))?;
                let all: Vec<usize> = (0..table.rows).collect();
                let (values, unseen) = match &info.schema {
                    Some(schema) => schema.encode(&table, &all)?,
                    None => (plain_numbers(&table, &info.inputs)?, Unseen::default()),
                };
                return Ok(Rows {
                    features: Features::Floats(values),
                    ids,
                    unseen,
                });
            }
            "npy" => {
                let x = npy::parse(&read()?, &name)?;
                (x.values, x.shape)
            }
            "npz" => {
                let (x, _) = npy::parse_npz(&read()?, &name)?;
                (x.values, x.shape)
            }
            _ => return Err(Error::bad_file(path, "is not a .csv, .npy or .npz file of features")),
        };
        let n = shape.first().copied().unwrap_or(0);
        if n == 0 || values.len() != n * f {
            return Err(Error::bad_file(
                path,
                format!("holds features of shape {shape:?}, not [n, {f}] as the model takes"),
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::bad_file(
                path,
                format!("feature `{}` of row {} is {}", info.inputs[i % f], i / f + 1, values[i]),
            ));
        }
        Ok(Rows {
            features: Features::Floats(values.iter().map(|&v| v as f32).collect()),
            ids: None,
            unseen: Unseen::default(),
        })
    }

    /// The features of every row of `path` (see [`Model::read_rows`], which also says what names
    /// each row and what categories were new).
    ///
    /// ```no_run
    /// use shadergrad::model::Model;
    /// use shadergrad::backend::cpu::CpuBackend;
    /// let model = Model::load("model.safetensors".as_ref())?;
    /// let rows = model.read_features("new_rows.csv".as_ref())?;
    /// let predictions = model.predict(&CpuBackend::<f32>::new(), &rows)?;
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn read_features(&self, path: &Path) -> Result<Features> {
        Ok(self.read_rows(path, None)?.features)
    }

    /// Labelled data from `source` in the model's terms: its inputs (through its
    /// preprocessing), its class ids, its standardisation; ready to evaluate on.
    pub fn labelled(&self, source: &Source) -> Result<Dataset> {
        self.labelled_rows(source, None)
    }

    /// The examples its training run held out for validation, as it recorded them (its data,
    /// seed and split), in the model's terms; an error when it records no run.
    pub fn held_out(&self) -> Result<Dataset> {
        let Some(t) = &self.info.trained_on else {
            return Err(Error::invalid(
                "model",
                "without a recorded run",
                "a model a training run saved",
            ));
        };
        self.labelled_rows(&t.source, Some((t.validation, t.seed, t.standardize)))
    }

    /// [`Model::labelled`] of every row of `source`, or with `split` (validation, seed,
    /// standardised) of the rows its run held out.
    fn labelled_rows(&self, source: &Source, split: Option<(usize, u64, bool)>) -> Result<Dataset> {
        let info = &self.info;
        let mut data = match (source, &info.schema) {
            (Source::Csv { path, columns }, Some(schema)) => {
                let table = table::read_file(path, schema.na.as_deref())?;
                schema.check_columns(&table)?;
                let all: Vec<usize> = (0..table.rows).collect();
                let (targets, kept) = table::targets(&table, &columns.targets, info.task, &all)?;
                let at: Vec<usize> = match split {
                    Some((validation, seed, _)) => table::table_split(&targets, validation, seed).1,
                    None => (0..kept.len()).collect(),
                };
                let rows: Vec<usize> = at.iter().map(|&i| kept[i]).collect();
                let schema = std::sync::Arc::new(schema.clone());
                table::encoded(&table, &schema, &rows, targets.subset(&at), &columns.targets)?.0
            }
            _ => {
                let mut source = source.clone();
                if let (Source::Csv { columns, .. }, None) = (&mut source, split) {
                    if columns.features.is_none() {
                        // By name, in the model's order, whatever the file's order; others ignored.
                        columns.features = Some(info.inputs.clone());
                        columns.drop.clear();
                    }
                }
                let all = source.load(info.task)?;
                match split {
                    Some((validation, seed, standardize)) => source.split(&all, validation, seed, standardize).1,
                    None => all,
                }
            }
        };
        if info.task == Task::Classify {
            data.relabel(&info.classes, &info.class_names, &source.describe())?;
        }
        if split.is_none() || info.schema.is_some() {
            data.scaling = Default::default();
            data.standardize(&info.scaling);
        }
        Ok(data)
    }

    /// The pixels of `paths` (PNG or PGM; colour is averaged to gray), for a model trained on
    /// images: each must be of the model's size, else the error names both sizes.
    ///
    /// ```no_run
    /// use shadergrad::model::Model;
    /// use shadergrad::backend::cpu::CpuBackend;
    /// let model = Model::load("model.safetensors".as_ref())?;
    /// let digits = model.read_images(&["seven.png".into()])?;
    /// let predictions = model.predict(&CpuBackend::<f32>::new(), &digits)?;
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn read_images(&self, paths: &[PathBuf]) -> Result<Features> {
        let info = &self.info;
        let f = info.mlp.inputs();
        let Some([rows, cols]) = info.image else {
            return Err(Error::invalid(
                "images",
                paths.first().map(|p| p.display().to_string()).unwrap_or_default(),
                format!("rows of the model's {f} features (it was not trained on images)"),
            ));
        };
        let mut bytes = Vec::with_capacity(paths.len() * f);
        for path in paths {
            let img = image::load(path)?;
            if (img.height, img.width) != (rows, cols) {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "is {}×{} pixels (width × height) but the model takes {cols}×{rows} images",
                        img.width, img.height
                    ),
                ));
            }
            bytes.extend(img.pixels);
        }
        Ok(Features::Bytes {
            values: bytes,
            scale: info.byte_scale.unwrap_or(1.0),
        })
    }

    /// The images among `images` (as [`Model::read_images`] reads them) that look unlike the
    /// model's training images, by position, each with why (see [`PixelStats::unlike`]); none
    /// when the model records no statistics of its training images.
    ///
    /// ```no_run
    /// use shadergrad::model::Model;
    /// let model = Model::load("model.safetensors".as_ref())?;
    /// let images = model.read_images(&["inverted.png".into()])?;
    /// for (i, why) in model.unlike_training(&images) {
    ///     eprintln!("image {i} is unlike the training images: {why}");
    /// }
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn unlike_training(&self, images: &Features) -> Vec<(usize, String)> {
        let (Some(trained), Some(size), Features::Bytes { values, .. }) = (self.info.pixels, self.info.image, images)
        else {
            return Vec::new();
        };
        let pixels = size[0] * size[1];
        values
            .chunks_exact(pixels.max(1))
            .enumerate()
            .filter_map(|(i, image)| Some((i, trained.unlike(&PixelStats::of(image, size)?)?)))
            .collect()
    }
}
