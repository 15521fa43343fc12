//! A data set in memory: its features (bytes or numbers, `[n, features]` row-major), its targets
//! (class ids, values to regress, or 0/1 labels), what they are called, and the standardisation
//! already applied; splits, subsets and the batches a trainer gathers from it.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::engine::error::{Error, Result};
use crate::training::data::table::Schema;
use crate::training::rng::Rng;

/// What a model's outputs mean, and so how it is trained and scored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// One class per example: softmax cross-entropy; accuracy and a confusion matrix.
    #[default]
    Classify,
    /// Values per example: mean squared error (on standardised targets); RMSE, MAE and R².
    Regress,
    /// Several 0/1 labels per example: sigmoid and binary cross-entropy; accuracy per label.
    Multilabel,
}

impl Task {
    /// `classify`, `regress` or `multilabel`.
    pub fn name(self) -> &'static str {
        match self {
            Task::Classify => "classify",
            Task::Regress => "regress",
            Task::Multilabel => "multilabel",
        }
    }
}

/// A data set's features, `[n, count]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Features {
    /// 8-bit values used as `scale · byte` (pixels); they cross to the device as bytes.
    Bytes { values: Vec<u8>, scale: f64 },
    /// Numbers; they cross to the device as f32.
    Floats(Vec<f32>),
}

impl Features {
    fn len(&self) -> usize {
        match self {
            Features::Bytes { values, .. } => values.len(),
            Features::Floats(v) => v.len(),
        }
    }
}

/// A data set's targets.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// The class of each example, as an index into `labels`, the classes' original values
    /// (a table whose classes are 3, 7, 9 has `labels` `[3, 7, 9]` and ids 0, 1, 2). Classes
    /// written as text (`Adelie`, `yes`) have their `names`, sorted, and `labels` 0, 1, ...;
    /// `names` is empty for classes that are numbers.
    Classes {
        ids: Vec<u32>,
        labels: Vec<f64>,
        names: Vec<String>,
    },
    /// `k` values per example (standardised where the data set's [`Scaling`] says so).
    Values { values: Vec<f32>, k: usize },
    /// `k` labels per example, each 0 or 1.
    Labels { values: Vec<f32>, k: usize },
}

/// Per-column standardisation, `(v − mean) / std`, fitted on a training split. A constant
/// column gets std 1, so it becomes 0 rather than NaN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardizer {
    /// The mean and (population) standard deviation of each of the `k` columns of `values`.
    ///
    /// ```
    /// use shadergrad::data::Standardizer;
    /// let s = Standardizer::fit(&[1.0, 5.0, 3.0, 5.0], 2);
    /// assert_eq!((s.mean.clone(), s.std.clone()), (vec![2.0, 5.0], vec![1.0, 1.0]));
    /// assert_eq!(s.apply(3.0, 0), 1.0);
    /// ```
    pub fn fit(values: &[f32], k: usize) -> Self {
        Self::fit_weighted(values, k, None)
    }

    /// [`Standardizer::fit`] with each row counting by its weight (scikit-learn's
    /// `StandardScaler` with `sample_weight`): a row of weight 2 counts as the row twice, one of
    /// weight 0 not at all.
    ///
    /// ```
    /// use shadergrad::data::Standardizer;
    /// let s = Standardizer::fit_weighted(&[1.0, 3.0, 7.0], 1, Some(&[3.0, 1.0, 0.0]));
    /// assert_eq!((s.mean.clone(), s.std.clone()), (vec![1.5], vec![0.75f64.sqrt()]));
    /// ```
    pub fn fit_weighted(values: &[f32], k: usize, weights: Option<&[f32]>) -> Self {
        let k = k.max(1);
        let rows = values.len() / k;
        let weight = |i: usize| weights.map_or(1.0, |w| w[i] as f64);
        let n = (0..rows).map(weight).sum::<f64>().max(f64::MIN_POSITIVE);
        let mut mean = vec![0.0; k];
        for (i, row) in values.chunks(k).enumerate() {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += weight(i) * v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; k];
        for (i, row) in values.chunks(k).enumerate() {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += weight(i) * (v as f64 - m).powi(2);
            }
        }
        let std = var
            .iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                // A constant column (or one of a single value): centred, not divided by zero.
                if sd > 1e-12 {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Standardizer { mean, std }
    }

    /// Column `j`'s value `v` in standard units.
    pub fn apply(&self, v: f64, j: usize) -> f64 {
        (v - self.mean[j]) / self.std[j]
    }

    /// Column `j`'s standard value `z` back in original units.
    pub fn invert(&self, z: f64, j: usize) -> f64 {
        z * self.std[j] + self.mean[j]
    }

    /// Every value of a row-major matrix of these columns in standard units, in place (as
    /// training and prediction both apply it, in f64, rounded once to f32).
    ///
    /// ```
    /// use shadergrad::data::Standardizer;
    /// let s = Standardizer { mean: vec![10.0, 0.0], std: vec![2.0, 1.0] };
    /// let mut rows = [12.0, 5.0, 8.0, -1.0];
    /// s.apply_all(&mut rows);
    /// assert_eq!(rows, [1.0, 5.0, -1.0, -1.0]);
    /// ```
    pub fn apply_all(&self, values: &mut [f32]) {
        let k = self.mean.len().max(1);
        for row in values.chunks_mut(k) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = self.apply(*v as f64, j) as f32;
            }
        }
    }
}

/// How a data set's numbers were transformed from their original units.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    pub features: Option<Standardizer>,
    pub targets: Option<Standardizer>,
}

/// A data set: features, targets and what they are called.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub features: Features,
    /// Values per example.
    pub feature_count: usize,
    pub feature_names: Vec<String>,
    pub targets: Targets,
    pub target_names: Vec<String>,
    /// `[rows, cols]` of each example when the features are an image's pixels.
    pub image: Option<[usize; 2]>,
    /// The standardisation already applied to the features and targets.
    pub scaling: Scaling,
    /// For a table: how its columns became the features (fitted on the training split), for
    /// the model to record and apply to new rows.
    pub schema: Option<Arc<Schema>>,
    /// Each example's weight in a training step's loss (the weighted mean `Σ wᵢ·lᵢ / Σ wᵢ`),
    /// when they are not all equal: see [`Dataset::with_weights`] and
    /// [`Dataset::weigh_classes`].
    pub weights: Option<Vec<f32>>,
}

/// Rows `indices` of the row-major `values` (`width` per row), appended to `out`.
fn extend_rows<T: Copy>(out: &mut Vec<T>, values: &[T], width: usize, indices: &[usize]) {
    for &i in indices {
        out.extend_from_slice(&values[i * width..(i + 1) * width]);
    }
}

/// A batch gathered for upload, its buffers kept between steps.
#[derive(Default)]
pub(crate) struct Batch {
    pub bytes: Vec<u8>,
    pub floats: Vec<f32>,
    pub targets: Vec<f32>,
    pub weights: Vec<f32>,
}

impl Batch {
    /// Examples `rows` of this batch of `examples`, into `out` (a data-parallel replica's
    /// share of a batch gathered and augmented once).
    pub(crate) fn copy_rows(&self, rows: std::ops::Range<usize>, examples: usize, out: &mut Batch) {
        fn part<T: Copy>(all: &[T], rows: &std::ops::Range<usize>, examples: usize, out: &mut Vec<T>) {
            let width = all.len() / examples.max(1);
            out.clear();
            out.extend_from_slice(&all[rows.start * width..rows.end * width]);
        }
        part(&self.bytes, &rows, examples, &mut out.bytes);
        part(&self.floats, &rows, examples, &mut out.floats);
        part(&self.targets, &rows, examples, &mut out.targets);
        part(&self.weights, &rows, examples, &mut out.weights);
    }
}

/// The examples of `targets` split into training and validation (`validation` of them), by a
/// seeded shuffle; with `stratify`, each class gives the validation split its own share (rounded,
/// at least one where it has two or more examples), so a rare class is not left out of either
/// side. The same seed gives the same rows.
///
/// ```
/// use shadergrad::data::{split_rows, Targets};
/// let t = Targets::Classes { ids: vec![0, 0, 0, 0, 1, 1], labels: vec![0.0, 1.0], names: vec![] };
/// let (train, val) = split_rows(&t, 2, 7, true);
/// assert_eq!((train.len(), val.len()), (4, 2));
/// assert!(val.iter().any(|&i| i >= 4), "the rare class has a row in validation");
/// ```
pub fn split_rows(targets: &Targets, validation: usize, seed: u64, stratify: bool) -> (Vec<usize>, Vec<usize>) {
    let n = targets.len();
    let mut rng = Rng::new(seed ^ 0x5911);
    let Targets::Classes { ids, labels, .. } = targets else {
        return plain_split(n, validation, &mut rng);
    };
    if !stratify {
        return plain_split(n, validation, &mut rng);
    }
    let share = validation.min(n) as f64 / n.max(1) as f64;
    let mut by_class = vec![Vec::new(); labels.len()];
    for (i, &c) in ids.iter().enumerate() {
        by_class[c as usize].push(i);
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for mut members in by_class {
        rng.shuffle(&mut members);
        let mut take = (members.len() as f64 * share).round() as usize;
        if take == 0 && share > 0.0 && members.len() >= 2 {
            take = 1;
        }
        let cut = members.len() - take.min(members.len());
        train.extend_from_slice(&members[..cut]);
        val.extend_from_slice(&members[cut..]);
    }
    // Back to a mixed order, the same for the same seed.
    rng.shuffle(&mut train);
    rng.shuffle(&mut val);
    (train, val)
}

/// `n` examples in a seeded shuffle, the last `validation` of it held out.
fn plain_split(n: usize, validation: usize, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let cut = n - validation.min(n);
    let val = order.split_off(cut);
    (order, val)
}

impl Targets {
    /// How many examples they are the targets of.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { ids, .. } => ids.len(),
            Targets::Values { values, k } | Targets::Labels { values, k } => values.len() / (*k).max(1),
        }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`Dataset::check_classes`] of these targets, of the column(s) `target` of `source`.
    pub fn check_classes(&self, target: &str, source: &str) -> Result<()> {
        let Targets::Classes { ids, labels, names } = self else {
            return Ok(());
        };
        let mut seen = vec![false; labels.len()];
        for &id in ids {
            seen[id as usize] = true;
        }
        let distinct = seen.iter().filter(|&&s| s).count();
        let n = ids.len();
        if distinct == 1 {
            let only = Targets::class_name(labels, names, ids[0] as usize);
            return Err(Error::bad_file(
                source,
                format!(
                    "target `{target}` holds one class only ({only}) in its {n} rows: there is nothing to classify"
                ),
            ));
        }
        if 2 * distinct > n {
            return Err(Error::bad_file(
                source,
                format!(
                    "target `{target}` holds {distinct} distinct values in {n} rows, more than half: it is not a set of \
                     classes to learn but an identifier, or values to predict (--task regress)"
                ),
            ));
        }
        Ok(())
    }

    /// The targets of the examples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Targets {
        let rows = |values: &[f32], k: usize| {
            let mut out = Vec::with_capacity(indices.len() * k);
            extend_rows(&mut out, values, k, indices);
            out
        };
        match self {
            Targets::Classes { ids, labels, names } => Targets::Classes {
                ids: indices.iter().map(|&i| ids[i]).collect(),
                labels: labels.clone(),
                names: names.clone(),
            },
            Targets::Values { values, k } => Targets::Values {
                values: rows(values, *k),
                k: *k,
            },
            Targets::Labels { values, k } => Targets::Labels {
                values: rows(values, *k),
                k: *k,
            },
        }
    }

    /// Class `id`'s label as written: its name, or its number (`3`, not `3.0`).
    pub fn class_name(labels: &[f64], names: &[String], id: usize) -> String {
        match names.get(id) {
            Some(n) => n.clone(),
            None => labels.get(id).map_or(id.to_string(), |l| format_label(*l)),
        }
    }
}

/// The validation split a run holds out of `n` examples unless told: one eighth, or none (and
/// why) when that is too few to be scored: no example, or for regression fewer than the two an
/// R² needs.
///
/// ```
/// use shadergrad::data::{default_validation, Task};
/// assert_eq!(default_validation(8000, Task::Classify, "digits"), (1000, None));
/// let (n, why) = default_validation(4, Task::Regress, "t.csv");
/// assert!(n == 0 && why.unwrap().contains("too few"));
/// ```
pub fn default_validation(n: usize, task: Task, source: &str) -> (usize, Option<String>) {
    let v = n / 8;
    let least = if task == Task::Regress { 2 } else { 1 };
    if v >= least {
        return (v, None);
    }
    let why = format!(
        "{source} has {n} rows: too few to hold out a validation split that can be scored (one eighth is {v}); \
         training on all of them, with no validation score (--validation N holds out N)"
    );
    (0, Some(why))
}

/// A number label as written: whole numbers without a decimal point.
pub fn format_label(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Dataset {
    /// Checks that the parts agree (lengths, ids in range, finite numbers, 0/1 labels), so
    /// every loader hands out only data a model can train on. `source` names it in errors.
    pub fn check(&self, source: &str) -> Result<()> {
        let n = self.len();
        let bad = |why: String| Error::bad_file(source, why);
        if self.feature_count == 0 || self.features.len() != n * self.feature_count {
            return Err(bad(format!(
                "holds {} feature values for {n} examples of {} features",
                self.features.len(),
                self.feature_count
            )));
        }
        if self.feature_names.len() != self.feature_count {
            return Err(bad("names a different number of features than it has".into()));
        }
        match &self.targets {
            Targets::Classes { ids, labels, .. } => {
                if let Some(i) = ids.iter().position(|&c| c as usize >= labels.len()) {
                    return Err(Error::LabelOutOfRange {
                        label: ids[i] as usize,
                        index: i,
                        classes: labels.len(),
                    });
                }
            }
            Targets::Values { values, k } | Targets::Labels { values, k } => {
                if *k == 0 || values.len() != n * k {
                    return Err(bad(format!("holds {} target values for {n} examples", values.len())));
                }
            }
        }
        Ok(())
    }

    /// Refuses class targets that cannot be trained on as classes: a single class (there is
    /// nothing to tell apart), or more distinct classes than half the examples (an identifier, or
    /// values to regress). One rule for every format; `source` names the data in the message.
    ///
    /// ```
    /// use shadergrad::data::{Dataset, Features, Scaling, Targets};
    /// let with = |ids: Vec<u32>, labels: Vec<f64>| Dataset {
    ///     features: Features::Floats(vec![0.0; ids.len()]),
    ///     feature_count: 1,
    ///     feature_names: vec!["x".into()],
    ///     targets: Targets::Classes { ids, labels, names: vec![] },
    ///     target_names: vec!["y".into()],
    ///     image: None,
    ///     scaling: Scaling::default(),
    ///     schema: None,
    ///     weights: None,
    /// };
    /// assert!(with(vec![0, 1, 0, 1], vec![3.0, 7.0]).check_classes("t.csv").is_ok());
    /// let e = with(vec![0, 1, 2, 0], vec![1.0, 2.0, 3.0]).check_classes("t.csv").unwrap_err();
    /// assert!(e.to_string().contains("--task regress"), "{e}");
    /// assert!(with(vec![0, 0, 0], vec![5.0]).check_classes("t.csv").is_err());
    /// ```
    pub fn check_classes(&self, source: &str) -> Result<()> {
        self.targets.check_classes(&self.target_names.join(", "), source)
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The task its targets are for.
    pub fn task(&self) -> Task {
        match self.targets {
            Targets::Classes { .. } => Task::Classify,
            Targets::Values { .. } => Task::Regress,
            Targets::Labels { .. } => Task::Multilabel,
        }
    }

    /// Outputs a model of it needs: classes, values or labels per example.
    pub fn outputs(&self) -> usize {
        match &self.targets {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Values { k, .. } | Targets::Labels { k, .. } => *k,
        }
    }

    /// The examples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let f = self.feature_count;
        fn rows<T: Copy>(values: &[T], width: usize, indices: &[usize]) -> Vec<T> {
            let mut out = Vec::with_capacity(indices.len() * width);
            extend_rows(&mut out, values, width, indices);
            out
        }
        let features = match &self.features {
            Features::Bytes { values, scale } => Features::Bytes {
                values: rows(values, f, indices),
                scale: *scale,
            },
            Features::Floats(v) => Features::Floats(rows(v, f, indices)),
        };
        let targets = self.targets.subset(indices);
        Dataset {
            features,
            feature_count: f,
            feature_names: self.feature_names.clone(),
            targets,
            target_names: self.target_names.clone(),
            image: self.image,
            scaling: self.scaling.clone(),
            schema: self.schema.clone(),
            weights: self.weights.as_ref().map(|w| rows(w, 1, indices)),
        }
    }

    /// Splits off `validation` examples chosen by a seeded shuffle: `(train, validation)`.
    ///
    /// ```
    /// let d = shadergrad::data::Dataset::bundled_digits()?;
    /// let (train, val) = d.split(1000, 0);
    /// assert_eq!((train.len(), val.len()), (7000, 1000));
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn split(&self, validation: usize, seed: u64) -> (Dataset, Dataset) {
        let (train, val) = split_rows(&self.targets, validation, seed, false);
        (self.subset(&train), self.subset(&val))
    }

    /// Like [`Dataset::split`], but for classes each class gives the validation split its own
    /// share (rounded, at least one where it has two or more examples), so a rare class is not
    /// left out of either side. Other tasks split as [`Dataset::split`] does.
    pub fn split_stratified(&self, validation: usize, seed: u64) -> (Dataset, Dataset) {
        let (train, val) = split_rows(&self.targets, validation, seed, true);
        (self.subset(&train), self.subset(&val))
    }

    /// The standardisation of this (training) split: per feature (a table's numbers, not its 0/1
    /// inputs), and per target for regression; weighted by the examples' weights where they have
    /// them.
    pub fn fit_scaling(&self, features: bool, targets: bool) -> Scaling {
        let w = self.weights.as_deref();
        let mut features = match (&self.features, features) {
            (Features::Floats(v), true) => Some(Standardizer::fit_weighted(v, self.feature_count, w)),
            _ => None,
        };
        // A table's 0/1 inputs (categories, missing-cell indicators) stay as they are.
        if let (Some(s), Some(schema)) = (&mut features, &self.schema) {
            for (j, scaled) in schema.scaled_inputs().into_iter().enumerate() {
                if !scaled {
                    s.mean[j] = 0.0;
                    s.std[j] = 1.0;
                }
            }
        }
        Scaling {
            features,
            targets: match (&self.targets, targets) {
                (Targets::Values { values, k }, true) => Some(Standardizer::fit_weighted(values, *k, w)),
                _ => None,
            },
        }
    }

    /// Applies `scaling` (fitted on the training split) to this data set's numbers and records
    /// it. Byte features are left as they are.
    pub fn standardize(&mut self, scaling: &Scaling) {
        if let (Features::Floats(v), Some(s)) = (&mut self.features, &scaling.features) {
            s.apply_all(v);
            self.scaling.features = Some(s.clone());
        }
        if let (Targets::Values { values, .. }, Some(s)) = (&mut self.targets, &scaling.targets) {
            s.apply_all(values);
            self.scaling.targets = Some(s.clone());
        }
    }

    /// The features of the examples at `indices` into `batch.bytes` or `batch.floats`, and
    /// their targets (class ids as numbers, or values) into `batch.targets`.
    pub(crate) fn gather(&self, indices: &[usize], batch: &mut Batch) {
        let f = self.feature_count;
        batch.bytes.clear();
        batch.floats.clear();
        batch.targets.clear();
        batch.weights.clear();
        if let Some(w) = &self.weights {
            extend_rows(&mut batch.weights, w, 1, indices);
        }
        match &self.features {
            Features::Bytes { values, .. } => extend_rows(&mut batch.bytes, values, f, indices),
            Features::Floats(v) => extend_rows(&mut batch.floats, v, f, indices),
        }
        match &self.targets {
            Targets::Classes { ids, .. } => batch.targets.extend(indices.iter().map(|&i| ids[i] as f32)),
            Targets::Values { values, k } | Targets::Labels { values, k } => {
                extend_rows(&mut batch.targets, values, *k, indices)
            }
        }
    }

    /// Re-expresses the class ids against a model's classes (`labels`, and `names` for classes
    /// written as text), matched by how each is written, so a file that holds only some of the
    /// classes, or holds them in another order, still means the model's ids. A class the model
    /// does not know is an error naming it; `source` names the data.
    pub fn relabel(&mut self, labels: &[f64], names: &[String], source: &str) -> Result<()> {
        let Targets::Classes {
            ids,
            labels: own,
            names: own_names,
        } = &mut self.targets
        else {
            return Ok(());
        };
        let written: Vec<String> = (0..labels.len())
            .map(|c| Targets::class_name(labels, names, c))
            .collect();
        let map: Vec<u32> = (0..own.len())
            .map(|c| {
                let mine = Targets::class_name(own, own_names, c);
                written
                    .iter()
                    .position(|w| *w == mine)
                    .map(|p| p as u32)
                    .ok_or_else(|| {
                        Error::bad_file(
                            source,
                            format!(
                                "holds class {mine}, which is not one of the model's classes ({})",
                                written.join(", ")
                            ),
                        )
                    })
            })
            .collect::<Result<_>>()?;
        for id in ids.iter_mut() {
            *id = map[*id as usize];
        }
        *own = labels.to_vec();
        *own_names = names.to_vec();
        Ok(())
    }
}
