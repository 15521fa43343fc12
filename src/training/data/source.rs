//! Where a data set comes from, and how it is loaded and split: the bundled digits, an IDX pair,
//! a CSV table, NumPy arrays.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::error::{Error, Result};

use super::dataset::{default_validation, Dataset, Task};
use super::idx::Digits;
use super::{npy, table};

/// Where a data set comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The 8,000 MNIST digits shipped inside the crate.
    BundledDigits,
    /// An IDX pair: images and labels.
    Idx { images: PathBuf, labels: PathBuf },
    /// A CSV table and which of its columns are targets and features.
    Csv { path: PathBuf, columns: table::Columns },
    /// NumPy arrays: a features `.npy` and a targets `.npy`, or one `.npz` holding `x` and `y`.
    Npy { data: PathBuf, targets: Option<PathBuf> },
}

impl Source {
    /// The data set, its targets for `task` (digits are for classification only).
    pub fn load(&self, task: Task) -> Result<Dataset> {
        let data = match self {
            Source::BundledDigits | Source::Idx { .. } => {
                if task != Task::Classify {
                    return Err(Error::invalid(
                        "task",
                        task.name(),
                        "classify: digits have one class each",
                    ));
                }
                match self {
                    Source::Idx { images, labels } => Digits::load(images, labels)?.into_dataset(),
                    _ => Dataset::bundled_digits()?,
                }
            }
            Source::Csv { path, columns } => table::load_csv(path, columns, task)?,
            Source::Npy { data, targets } => npy::load_dataset(data, targets.as_deref(), task)?,
        };
        Ok(data)
    }

    /// True for a table or arrays (as against digits): what decides standardisation and the
    /// stratified split.
    pub fn is_table(&self) -> bool {
        matches!(self, Source::Csv { .. } | Source::Npy { .. })
    }

    /// The training and validation splits of `data` (loaded from this source), `validation`
    /// examples held out: a seeded shuffle for digits; for a table or arrays, stratified by
    /// class (for classification), and standardised by the training split's statistics when
    /// `standardize` (targets too, to regress), which both splits then carry as their
    /// [`Dataset::scaling`] for the model to record.
    ///
    /// ```
    /// use shadergrad::data::{Source, Task};
    /// let source = Source::BundledDigits;
    /// let digits = source.load(Task::Classify)?;
    /// let (train, val) = source.split(&digits, 1000, 0, true);
    /// assert_eq!((train.len(), val.len()), (7000, 1000));
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn split(&self, data: &Dataset, validation: usize, seed: u64, standardize: bool) -> (Dataset, Dataset) {
        if !self.is_table() {
            return data.split(validation, seed);
        }
        let (mut train, mut val) = data.split_stratified(validation, seed);
        if standardize {
            let mut scaling = train.fit_scaling(true, data.task() == Task::Regress);
            // A table's 0/1 inputs (categories, missing-cell indicators) stay 0/1.
            if let (Some(s), Some(schema)) = (&mut scaling.features, &data.schema) {
                for (j, scaled) in schema.scaled_inputs().into_iter().enumerate() {
                    if !scaled {
                        s.mean[j] = 0.0;
                        s.std[j] = 1.0;
                    }
                }
            }
            train.standardize(&scaling);
            val.standardize(&scaling);
        }
        (train, val)
    }

    /// The training and validation splits as a run makes them: `validation` examples held out
    /// (None: one eighth), chosen by `seed` (stratified by class for a table or arrays), and for
    /// a table or arrays standardised by the training split when `standardize`. A CSV's
    /// preprocessing (fill values, categories) is fitted on its training rows alone, and the
    /// lines that say what it left out come with the splits.
    ///
    /// ```
    /// use shadergrad::data::{Source, Task};
    /// let split = Source::BundledDigits.load_split(Task::Classify, Some(1000), 0, true)?;
    /// assert_eq!((split.train.len(), split.validation.len(), split.rows), (7000, 1000, 8000));
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn load_split(
        &self,
        task: Task,
        validation: Option<usize>,
        seed: u64,
        standardize: bool,
    ) -> Result<table::Split> {
        if let Source::Csv { path, columns } = self {
            return table::load_split(path, columns, task, validation, seed, standardize);
        }
        let data = self.load(task)?;
        data.check_classes(&self.describe())?;
        let n = data.len();
        let (validation, note) = match validation {
            Some(v) => (v, None),
            None => default_validation(n, task, &self.describe()),
        };
        if validation >= n {
            return Err(Error::invalid(
                "--validation",
                validation.to_string(),
                format!("fewer than the {n} examples loaded"),
            ));
        }
        let (train, validation) = self.split(&data, validation, seed, standardize);
        Ok(table::Split {
            train,
            validation,
            notes: note.into_iter().collect(),
            rows: n,
        })
    }

    /// Where it is, for messages: `the bundled digits`, a path.
    pub fn describe(&self) -> String {
        match self {
            Source::BundledDigits => "the 8,000 bundled digits".into(),
            Source::Idx { images, .. } => images.display().to_string(),
            Source::Csv { path, .. } => path.display().to_string(),
            Source::Npy { data, .. } => data.display().to_string(),
        }
    }
}
