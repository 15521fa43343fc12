//! The training loop: epochs of steps over a seeded shuffle, a validation pass per epoch,
//! and a stop flag that leaves a resumable [`Progress`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::engine::backend::Backend;
use crate::engine::error::{Error, Result};
use crate::training::data::{epoch_order, Dataset};
use crate::training::nn::Norm;

use super::trainer::Trainer;

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    pub epoch: u64,
    /// Mean of the training losses read back during the epoch (NaN when none was read).
    #[serde(with = "nan_as_null")]
    pub loss: f64,
    /// The mean loss on the validation split.
    #[serde(with = "nan_as_null")]
    pub val_loss: f64,
    /// The validation score: accuracy (classes), mean accuracy (labels), or R² (regression).
    #[serde(with = "nan_as_null")]
    pub val_score: f64,
    pub samples_per_s: f64,
    pub seconds: f64,
}

/// Where a run stands: enough to resume it exactly.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// The epoch in progress (0-based).
    pub epoch: u64,
    /// The next batch of that epoch.
    pub batch: usize,
    pub history: Vec<EpochRecord>,
    /// Losses read so far in this epoch: their sum and count.
    pub loss_sum: f64,
    pub loss_count: u64,
    /// The epoch with the best validation score so far, when the run keeps its best model
    /// ([`Regularize::patience`](super::Regularize::patience)).
    #[serde(default)]
    pub best: Option<BestEpoch>,
}

/// The epoch whose parameters a run keeps as its model.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BestEpoch {
    /// 1-based, as [`EpochRecord::epoch`].
    pub epoch: u64,
    pub val_score: f64,
}

impl Progress {
    /// Counts a loss read back in this epoch.
    fn add_loss(&mut self, loss: Option<f64>) {
        if let Some(l) = loss {
            self.loss_sum += l;
            self.loss_count += 1;
        }
    }

    /// Whether `patience` epochs have passed since the best one (the run is over).
    ///
    /// ```
    /// use shadergrad::train::{BestEpoch, Progress};
    /// let p = Progress { epoch: 5, best: Some(BestEpoch { epoch: 3, val_score: 0.9 }), ..Progress::default() };
    /// assert!(p.out_of_patience(Some(2)));
    /// assert!(!p.out_of_patience(Some(3)));
    /// assert!(!p.out_of_patience(None));
    /// ```
    pub fn out_of_patience(&self, patience: Option<u64>) -> bool {
        match (patience, self.best) {
            (Some(p), Some(best)) => self.epoch >= best.epoch + p,
            _ => false,
        }
    }
}

/// What [`fit`] reports as it goes.
pub enum Event<'a> {
    /// After a step: where, the loss if it was read (pipelined, [`Trainer::set_pipelined`]:
    /// the step before's), and the epoch's throughput so far.
    Step {
        epoch: u64,
        batch: usize,
        batches: usize,
        loss: Option<f64>,
        samples_per_s: f64,
    },
    /// After an epoch's validation.
    Epoch(&'a EpochRecord),
}

/// Trains until `trainer`'s configured epochs are done (true) or `stop` is set (false); either
/// way `progress` says where to resume.
/// `on` sees each event with the trainer and the progress as they stand (to report, or to save a
/// checkpoint after an epoch).
pub fn fit<B: Backend>(
    trainer: &mut Trainer<B>,
    train: &Dataset,
    val: &Dataset,
    progress: &mut Progress,
    stop: &AtomicBool,
    on: &mut dyn FnMut(Event<'_>, &Trainer<B>, &Progress),
) -> Result<bool> {
    trainer.check_data(train, None)?;
    trainer.check_data(val, None)?;
    if train.is_empty() {
        return Err(Error::invalid("training data", "no examples", "at least one example"));
    }
    let devices = trainer.devices.len();
    if trainer.config.mlp.norm == Norm::Batch && trainer.config.batch < 2 * devices {
        return Err(Error::invalid(
            "batch",
            trainer.config.batch.to_string(),
            if devices == 1 {
                "at least 2 examples with batch norm (one example has no variance)".to_string()
            } else {
                format!(
                    "at least 2 examples per device with batch norm on {devices} devices (one example has no variance)"
                )
            },
        ));
    }
    let batch = trainer.config.batch;
    let batches = train.len().div_ceil(batch);
    let patience = trainer.config.regularize.patience.filter(|_| !val.is_empty());
    while progress.epoch < trainer.config.epochs && !progress.out_of_patience(patience) {
        let order = epoch_order(train.len(), trainer.config.seed, progress.epoch);
        let start = Instant::now();
        let mut samples = 0usize;
        while progress.batch < batches {
            // In a group every process stops at the same step: the one after any asked.
            let stopped = match trainer.group {
                Some(_) if trainer.group_stopped => true,
                Some(_) => {
                    trainer.stop_requested = stop.load(Ordering::SeqCst);
                    false
                }
                None => stop.load(Ordering::SeqCst),
            };
            if stopped {
                // The step in flight counts in this epoch's loss, as it will on resuming.
                progress.add_loss(trainer.flush()?.map(|late| late.loss));
                return Ok(false);
            }
            let b = progress.batch;
            let indices = &order[b * batch..((b + 1) * batch).min(train.len())];
            // Every loss_every steps, and the epoch's last step, so every epoch reports a loss.
            let read = trainer.store().steps().is_multiple_of(trainer.config.loss_every.max(1)) || b + 1 == batches;
            let loss = if trainer.pipelined {
                trainer.submit_step(train, indices, read)?.map(|late| late.loss)
            } else {
                trainer.step(train, indices, read)?
            };
            progress.add_loss(loss);
            samples += indices.len();
            progress.batch += 1;
            let event = Event::Step {
                epoch: progress.epoch,
                batch: progress.batch,
                batches,
                loss,
                samples_per_s: samples as f64 / start.elapsed().as_secs_f64().max(1e-9),
            };
            on(event, trainer, progress);
        }
        progress.add_loss(trainer.flush()?.map(|late| late.loss));
        let seconds = start.elapsed().as_secs_f64();
        let eval = if val.is_empty() {
            None
        } else {
            Some(trainer.validate(val)?)
        };
        let record = EpochRecord {
            epoch: progress.epoch + 1,
            loss: if progress.loss_count > 0 {
                progress.loss_sum / progress.loss_count as f64
            } else {
                f64::NAN
            },
            val_loss: eval.map_or(f64::NAN, |e| e.0),
            val_score: eval.map_or(f64::NAN, |e| e.1),
            samples_per_s: samples as f64 / seconds.max(1e-9),
            seconds,
        };
        trainer.check_group_agrees(record.epoch)?;
        progress.history.push(record.clone());
        // A score that is not a number (a diverged validation loss) is never the best.
        let better = |b: &BestEpoch| record.val_score > b.val_score || b.val_score.is_nan();
        if patience.is_some() && progress.best.is_none_or(|b| better(&b)) {
            progress.best = Some(BestEpoch {
                epoch: record.epoch,
                val_score: record.val_score,
            });
            trainer.best = Some(trainer.read_params()?);
        }
        progress.epoch += 1;
        progress.batch = 0;
        progress.loss_sum = 0.0;
        progress.loss_count = 0;
        on(Event::Epoch(&record), trainer, progress);
    }
    Ok(true)
}

/// JSON has no NaN: a figure that is not a number (the loss of an epoch that read none) is
/// written as null and read back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}
