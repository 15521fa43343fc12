//! How well a model's outputs fit a data set, by task: accuracy and a confusion matrix for
//! classes; RMSE, MAE and R² per target and over all (in the targets' original units) for
//! regression; accuracy per label for multi-label data. Also each task's mean loss, computed on
//! the host from the outputs exactly as the training kernels define it.

use serde::Serialize;

use crate::engine::op::UnaryOp;
use crate::training::data::{Dataset, Targets};

/// The fit of one regressed target (or of all of them).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fit {
    pub rmse: f64,
    pub mae: f64,
    /// 1 − residual / total sum of squares (the mean of the targets' R² for the overall fit).
    pub r2: f64,
}

/// The task's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Metrics {
    Classify {
        accuracy: f64,
        /// `confusion[true class][predicted class]`, classes in the order of `labels`.
        confusion: Vec<Vec<usize>>,
        /// The classes' original labels.
        labels: Vec<f64>,
        /// The classes as written (`Adelie`, `3`), in the same order.
        names: Vec<String>,
    },
    Regress {
        overall: Fit,
        /// One per target, in the data set's order.
        targets: Vec<Fit>,
    },
    Multilabel {
        /// The mean of the labels' accuracies.
        mean_accuracy: f64,
        /// One per label: the share of examples whose label (output > 0.5) is right.
        accuracy: Vec<f64>,
    },
}

/// A model scored on a data set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub count: usize,
    /// The mean loss, as the training step computes it (on standardised targets).
    pub loss: f64,
    pub metrics: Metrics,
}

impl Evaluation {
    /// One number to compare runs by: accuracy (classes), mean accuracy (labels), or R²
    /// (regression).
    pub fn score(&self) -> f64 {
        match &self.metrics {
            Metrics::Classify { accuracy, .. } => *accuracy,
            Metrics::Regress { overall, .. } => overall.r2,
            Metrics::Multilabel { mean_accuracy, .. } => *mean_accuracy,
        }
    }

    /// The accuracy, for classes (and the mean accuracy, for labels).
    pub fn accuracy(&self) -> Option<f64> {
        match &self.metrics {
            Metrics::Classify { accuracy, .. } => Some(*accuracy),
            Metrics::Multilabel { mean_accuracy, .. } => Some(*mean_accuracy),
            Metrics::Regress { .. } => None,
        }
    }
}

/// The index of a row's largest value (the first, on ties): the predicted class of its logits.
pub(crate) fn argmax(row: &[f64]) -> usize {
    (0..row.len()).fold(0, |best, j| if row[j] > row[best] { j } else { best })
}

/// A row of logits as probabilities, max-subtracted so logits of ±1e4 stay finite.
pub(crate) fn softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = row.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

fn softmax_ce(row: &[f64], class: usize) -> f64 {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
    sum.ln() - (row[class] - max)
}

/// Scores `outputs` (`[n, k]` logits or values, row-major) against `data`'s targets.
pub(crate) fn evaluate(outputs: &[f64], data: &Dataset) -> Evaluation {
    let n = data.len();
    let k = data.outputs().max(1);
    let count = n.max(1) as f64;
    let rows = || outputs.chunks(k);
    let metrics_and_loss = match &data.targets {
        Targets::Classes { ids, labels, names } => {
            let mut confusion = vec![vec![0usize; labels.len()]; labels.len()];
            let mut loss = 0.0;
            for (row, &c) in rows().zip(ids) {
                let pred = argmax(row);
                confusion[c as usize][pred.min(labels.len() - 1)] += 1;
                loss += softmax_ce(row, c as usize);
            }
            let right: usize = (0..labels.len()).map(|c| confusion[c][c]).sum();
            (
                Metrics::Classify {
                    accuracy: right as f64 / count,
                    confusion,
                    labels: labels.clone(),
                    names: (0..labels.len())
                        .map(|c| Targets::class_name(labels, names, c))
                        .collect(),
                },
                loss / count,
            )
        }
        Targets::Values { values, .. } => {
            let scaling = data.scaling.targets.as_ref();
            let original = |z: f64, j: usize| scaling.map_or(z, |s| s.invert(z, j));
            let mut per = Vec::with_capacity(k);
            let mut squared = 0.0;
            for j in 0..k {
                let y: Vec<f64> = (0..n).map(|i| original(values[i * k + j] as f64, j)).collect();
                let p: Vec<f64> = (0..n).map(|i| original(outputs[i * k + j], j)).collect();
                let mean = y.iter().sum::<f64>() / count;
                let ss_res: f64 = y.iter().zip(&p).map(|(a, b)| (a - b).powi(2)).sum();
                let ss_tot: f64 = y.iter().map(|a| (a - mean).powi(2)).sum();
                let mae = y.iter().zip(&p).map(|(a, b)| (a - b).abs()).sum::<f64>() / count;
                per.push(Fit {
                    rmse: (ss_res / count).sqrt(),
                    mae,
                    // A constant target explains nothing: R² is 1 when it is hit exactly, 0 else.
                    r2: if ss_tot > 0.0 {
                        1.0 - ss_res / ss_tot
                    } else if ss_res == 0.0 {
                        1.0
                    } else {
                        0.0
                    },
                });
                squared += (0..n)
                    .map(|i| (outputs[i * k + j] - values[i * k + j] as f64).powi(2))
                    .sum::<f64>();
            }
            let total = (n * k).max(1) as f64;
            let overall = Fit {
                rmse: (per.iter().map(|f| f.rmse * f.rmse).sum::<f64>() / k as f64).sqrt(),
                mae: per.iter().map(|f| f.mae).sum::<f64>() / k as f64,
                r2: per.iter().map(|f| f.r2).sum::<f64>() / k as f64,
            };
            (Metrics::Regress { overall, targets: per }, squared / total)
        }
        Targets::Labels { values, .. } => {
            let mut right = vec![0usize; k];
            let mut loss = 0.0;
            for (i, row) in rows().enumerate() {
                for (j, &z) in row.iter().enumerate() {
                    let t = values[i * k + j] as f64;
                    right[j] += ((z > 0.0) == (t > 0.5)) as usize;
                    // −t·ln σ(z) − (1 − t)·ln(1 − σ(z)), finite for any z.
                    loss += UnaryOp::Softplus.f(z) - z * t;
                }
            }
            let accuracy: Vec<f64> = right.iter().map(|&r| r as f64 / count).collect();
            (
                Metrics::Multilabel {
                    mean_accuracy: accuracy.iter().sum::<f64>() / k as f64,
                    accuracy,
                },
                // Summed over the labels, averaged over examples: the training loss.
                loss / count,
            )
        }
    };
    Evaluation {
        count: n,
        loss: metrics_and_loss.1,
        metrics: metrics_and_loss.0,
    }
}
