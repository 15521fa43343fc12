//! scikit-learn's stochastic training loop (`BaseMultilayerPerceptron._fit_stochastic`) over the
//! crate's trainer: epochs of shuffled batches, the loss curve, and stopping when the training
//! loss (or, with early stopping, the validation score) has not improved by `tol` for more than
//! `n_iter_no_change` epochs; with early stopping, the best epoch's parameters are the model.

use pyo3::prelude::*;
use shadergrad::backend::Backend;
use shadergrad::checkpoint::Checkpoint;
use shadergrad::data::{epoch_order, Dataset};
use shadergrad::train::{Progress, TrainConfig, Trainer};

use crate::data::check;

/// How many epochs to run and when to stop, in scikit-learn's terms.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default)]
pub struct Schedule {
    pub max_iter: u64,
    pub tol: f64,
    pub n_iter_no_change: u64,
    pub early_stopping: bool,
    /// One epoch, as `partial_fit` runs (the counts still update).
    pub incremental: bool,
    /// Print a line per epoch.
    pub verbose: bool,
    /// Shuffle the rows each epoch (else take them in order).
    pub shuffle: bool,
    /// The L2 penalty (`alpha`), added to the loss curve as scikit-learn adds it.
    pub alpha: f64,
    /// Where a continued fit stands: epochs so far, the best loss and validation score, and
    /// the epochs since either improved.
    pub epochs_before: u64,
    pub best_loss: f64,
    pub best_validation_score: f64,
    pub no_improvement: u64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            max_iter: 200,
            tol: 1e-4,
            n_iter_no_change: 10,
            early_stopping: false,
            incremental: false,
            verbose: false,
            shuffle: true,
            alpha: 0.0,
            epochs_before: 0,
            best_loss: f64::INFINITY,
            best_validation_score: f64::NEG_INFINITY,
            no_improvement: 0,
        }
    }
}

/// What a fit did.
#[pyclass(module = "shadergrad._native", get_all)]
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The mean training loss of each epoch (with the L2 penalty).
    pub loss_curve: Vec<f64>,
    /// The validation score after each epoch, with early stopping.
    pub validation_scores: Vec<f64>,
    pub best_loss: f64,
    pub best_validation_score: f64,
    pub no_improvement: u64,
    /// Epochs run by this call.
    pub epochs: u64,
    /// Whether it stopped for want of improvement (not at `max_iter`).
    pub converged: bool,
}

/// Prints `line` on Python's stdout.
fn say(line: String) {
    Python::attach(|py| {
        let _ = py.import("builtins").and_then(|b| b.call_method1("print", (line,)));
    });
}

/// Raises KeyboardInterrupt (or whatever a signal handler raised) if Ctrl-C came.
fn signals() -> PyResult<()> {
    Python::attach(|py| py.check_signals())
}

/// Half the L2 penalty's `alpha · Σ w²` over the weights (not the biases), per example of a
/// batch of `batch`, as scikit-learn adds it to each batch's loss.
fn penalty<B: Backend>(trainer: &Trainer<B>, alpha: f64, batch: usize) -> PyResult<f64> {
    if alpha == 0.0 {
        return Ok(0.0);
    }
    let squares: f64 = check(trainer.store().read_all())?
        .iter()
        .filter(|(name, ..)| name.ends_with("weight"))
        .map(|(_, _, v, _)| v.iter().map(|x| x * x).sum::<f64>())
        .sum();
    Ok(0.5 * alpha * squares / batch.max(1) as f64)
}

/// Trains `config` (continuing `previous` when given) on `train` for the epochs `s` allows,
/// on `backend`; returns the checkpoint to keep and what happened.
pub fn train<B: Backend>(
    backend: &B,
    config: TrainConfig,
    previous: Option<&Checkpoint>,
    train: &Dataset,
    val: Option<&Dataset>,
    s: &Schedule,
) -> PyResult<(Checkpoint, Outcome)> {
    let batch = config.batch;
    let seed = config.seed;
    let mut trainer = check(Trainer::new(backend, config))?;
    if let Some(c) = previous {
        check(trainer.restore(c))?;
    }
    let mut out = Outcome {
        best_loss: s.best_loss,
        best_validation_score: s.best_validation_score,
        no_improvement: s.no_improvement,
        ..Outcome::default()
    };
    let total_weight: f64 = match &train.weights {
        Some(w) => w.iter().map(|&x| x as f64).sum(),
        None => train.len() as f64,
    };
    let mut best: Option<Checkpoint> = None;
    let epochs = if s.incremental { 1 } else { s.max_iter };
    for it in 0..epochs {
        let order = match s.shuffle {
            true => epoch_order(train.len(), seed, s.epochs_before + it),
            false => (0..train.len()).collect(),
        };
        let mut sum = 0.0;
        for chunk in order.chunks(batch) {
            signals()?;
            let loss = check(trainer.step(train, chunk, true))?.unwrap_or(f64::NAN);
            // Each batch's mean counts by its examples (or their weights).
            let weight: f64 = match &train.weights {
                Some(w) => chunk.iter().map(|&i| w[i] as f64).sum(),
                None => chunk.len() as f64,
            };
            sum += loss * weight;
        }
        let loss = sum / total_weight.max(f64::MIN_POSITIVE) + penalty(&trainer, s.alpha, batch)?;
        out.loss_curve.push(loss);
        out.epochs += 1;
        let epoch = s.epochs_before + it + 1;
        if s.verbose {
            say(format!("Iteration {epoch}, loss = {loss:.8}"));
        }
        match (s.early_stopping, val) {
            (true, Some(val)) => {
                let score = check(trainer.evaluate(val))?.score();
                out.validation_scores.push(score);
                if s.verbose {
                    say(format!("Validation score: {score:.6}"));
                }
                out.no_improvement = if score < out.best_validation_score + s.tol {
                    out.no_improvement + 1
                } else {
                    0
                };
                if score > out.best_validation_score {
                    out.best_validation_score = score;
                    best = Some(check(trainer.checkpoint(train, Some(&progress(epoch))))?);
                }
            }
            _ => {
                out.no_improvement = if loss > out.best_loss - s.tol {
                    out.no_improvement + 1
                } else {
                    0
                };
                out.best_loss = out.best_loss.min(loss);
            }
        }
        if s.incremental {
            break;
        }
        if out.no_improvement > s.n_iter_no_change {
            out.converged = true;
            if s.verbose {
                let what = if s.early_stopping {
                    "Validation score"
                } else {
                    "Training loss"
                };
                say(format!(
                    "{what} did not improve more than tol={} for {} consecutive epochs. Stopping.",
                    s.tol, s.n_iter_no_change
                ));
            }
            break;
        }
    }
    let epochs = s.epochs_before + out.epochs;
    let last = check(trainer.checkpoint(train, Some(&progress(epochs))))?;
    Ok((best.filter(|_| s.early_stopping).unwrap_or(last), out))
}

/// Where a run stands after `epochs` epochs, for its checkpoint.
fn progress(epochs: u64) -> Progress {
    Progress {
        epoch: epochs,
        ..Progress::default()
    }
}
