//! A run's settings: from the flags with their defaults, or those of a saved run being resumed
//! (which the flags may only repeat, but for `--epochs`), and the training configuration they
//! make once the data is known.

use std::path::Path;
use std::time::Duration;

use shadergrad::checkpoint::TrainingState;
use shadergrad::data::{ClassWeight, Dataset, Task};
use shadergrad::model::TrainedOn;
use shadergrad::nn::{Init, Mlp, Norm};
use shadergrad::optim::Schedule;
use shadergrad::train::{Augment, Regularize, TrainConfig};
use shadergrad::{Error, Result};

use super::args::TrainArgs;
use crate::cli::{data, flags};

/// The settings of a run as flags give them (or would give them, for a saved run).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `None`: [`default_hidden`] once the training split's size is known.
    pub hidden: Option<Vec<usize>>,
    pub activation: String,
    pub optimizer: String,
    pub lr: f64,
    pub schedule: String,
    pub batch: usize,
    /// `None`: [`default_epochs`] once the training split's size is known.
    pub epochs: Option<u64>,
    pub seed: u64,
    pub init: String,
    pub validation: Option<usize>,
    pub loss_every: u64,
    pub task: Task,
    pub standardize: bool,
    pub dropout: f64,
    pub norm: Norm,
    /// `None`: 0.1 for images, 0 otherwise.
    pub label_smoothing: Option<f64>,
    pub class_weight: Option<ClassWeight>,
    /// `None`: shift:2 for images, off otherwise.
    pub augment: Option<Augment>,
    pub patience: Option<u64>,
    /// How often a running run writes its checkpoint (not part of the run: a resume may change it).
    pub checkpoint_every: Duration,
}

/// How often a run writes its checkpoint unless `--checkpoint-every` says: often enough that a
/// crash loses little, rarely enough that a small table's run writes once (its epochs take
/// milliseconds, and each write is two fsynced files).
const DEFAULT_CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

/// `--norm`.
fn norm_flag(text: Option<&str>) -> Result<Norm> {
    match text {
        None | Some("none") => Ok(Norm::None),
        Some("layer") => Ok(Norm::Layer),
        Some("batch") => Ok(Norm::Batch),
        Some(other) => Err(Error::invalid("--norm", other, "none, layer or batch")),
    }
}

/// `--augment`: `shift:N` or `off`.
fn augment_flag(text: &str) -> Result<Augment> {
    if text == "off" {
        return Ok(Augment::Off);
    }
    text.strip_prefix("shift:")
        .and_then(|n| n.parse().ok())
        .filter(|&n: &u32| n <= 8)
        .map(|pixels| Augment::Shift { pixels })
        .ok_or_else(|| Error::invalid("--augment", text, "shift:N with N pixels from 0 to 8, or off"))
}

/// A probability-like flag's value, given or not, checked to lie in `[0, 1)`.
fn unit_interval(value: Option<f64>, flag: &str) -> Result<Option<f64>> {
    match value {
        Some(v) if !(0.0..1.0).contains(&v) => Err(Error::invalid(flag, v.to_string(), "a number in [0, 1)")),
        v => Ok(v),
    }
}

/// `--class-weight`, for classify only.
fn class_weight_flag(text: Option<&str>, task: Task) -> Result<Option<ClassWeight>> {
    let Some(text) = text else { return Ok(None) };
    if task != Task::Classify {
        return Err(Error::invalid(
            "--class-weight",
            text,
            format!("no class weights for {} (they weigh classes)", task.name()),
        ));
    }
    text.parse().map(Some).map_err(class_weight_error)
}

/// A class weight's error as `--class-weight`'s.
pub fn class_weight_error(e: Error) -> Error {
    match e {
        Error::InvalidValue { value, expected, .. } => Error::invalid("--class-weight", value, expected),
        other => other,
    }
}

/// `--init`'s word for an initialisation.
fn init_name(init: Init) -> &'static str {
    match init {
        Init::KaimingUniform => "kaiming",
        Init::Xavier => "xavier",
    }
}

/// `--schedule`'s words for a schedule.
fn schedule_name(s: &Schedule) -> String {
    match s {
        Schedule::Constant => "constant".into(),
        Schedule::Cosine { .. } => "cosine".into(),
        Schedule::Step { every, gamma } => format!("step:{every}:{gamma}"),
    }
}

/// `--standardize`: on or off (on unless said).
fn standardize_flag(flag: Option<&str>) -> Result<bool> {
    match flag {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(Error::invalid("--standardize", other, "on or off")),
    }
}

/// Two hidden layers of 256, or of 64 for a table of fewer than 1,000 training rows: the wider
/// network overfits a small table (scikit-learn's diabetes set, 353 training rows: R² 0.32 at
/// 256 wide, 0.39 at 64, against 0.35 for scikit-learn's MLP; BENCHMARKS.md, "Your own data"),
/// where larger ones (friedman1's 1,600, the digits' 7,000) lose nothing by its width.
fn default_hidden(training_rows: usize) -> Vec<usize> {
    const SMALL_TABLE: usize = 1000;
    if training_rows < SMALL_TABLE {
        vec![64, 64]
    } else {
        vec![256, 256]
    }
}

/// Ten epochs, or more where that would be under 100 steps: a small table (iris's 120 training
/// rows are 2 batches of 64) learns nothing in 20 steps, while more than ~100 steps overfits the
/// smallest noisy regressions (scikit-learn's diabetes set: R² 0.33 at 100 steps, 0.09 at 300).
/// The digits' 7,000 rows make 110 steps an epoch, so they keep ten.
fn default_epochs(steps_per_epoch: u64, augmented: bool) -> u64 {
    const MIN_EPOCHS: u64 = 10;
    // Shifted images are new examples each epoch: 30 epochs took held-out digits from 96.5%
    // (10) to 97.8–98.3% (BENCHMARKS.md, "The default").
    const AUGMENTED_EPOCHS: u64 = 30;
    const MIN_STEPS: u64 = 100;
    let least = if augmented { AUGMENTED_EPOCHS } else { MIN_EPOCHS };
    least.max(MIN_STEPS.div_ceil(steps_per_epoch.max(1)))
}

impl Settings {
    pub fn from_flags(a: &TrainArgs, task: Task) -> Result<Self> {
        let optimizer = a.optimizer.clone().unwrap_or_else(|| "momentum".into());
        let default_lr = if optimizer.starts_with("adam") { 0.001 } else { 0.05 };
        let batch = a.batch.unwrap_or(64);
        if batch == 0 {
            return Err(Error::invalid("--batch", "0", "a batch of at least one example"));
        }
        Ok(Settings {
            hidden: a.hidden.as_deref().map(|h| flags::sizes(h, "--hidden")).transpose()?,
            activation: a.activation.clone().unwrap_or_else(|| "relu".into()),
            lr: a.lr.unwrap_or(default_lr),
            optimizer,
            schedule: a.schedule.clone().unwrap_or_else(|| "cosine".into()),
            batch,
            epochs: a.epochs,
            seed: a.seed.unwrap_or(0),
            init: a.init.clone().unwrap_or_else(|| "kaiming".into()),
            validation: a.validation,
            loss_every: a.loss_every.unwrap_or(10),
            task,
            standardize: standardize_flag(a.standardize.as_deref())?,
            dropout: unit_interval(a.dropout, "--dropout")?.unwrap_or(0.0),
            norm: norm_flag(a.norm.as_deref())?,
            label_smoothing: unit_interval(a.label_smoothing, "--label-smoothing")?,
            class_weight: class_weight_flag(a.class_weight.as_deref(), task)?,
            augment: a.augment.as_deref().map(augment_flag).transpose()?,
            patience: match a.patience {
                Some(0) => return Err(Error::invalid("--patience", "0", "at least 1 epoch")),
                p => p,
            },
            checkpoint_every: match &a.checkpoint_every {
                Some(text) => flags::duration(text, "--checkpoint-every")?,
                None => DEFAULT_CHECKPOINT_EVERY,
            },
        })
    }

    /// The flags that would start the saved run.
    fn of_run(t: &TrainingState, on: &TrainedOn) -> Self {
        let c = &t.config;
        Settings {
            hidden: Some(c.mlp.sizes[1..c.mlp.sizes.len() - 1].to_vec()),
            activation: c.mlp.activation.spec(),
            optimizer: c.optimizer.name().into(),
            lr: c.optimizer.lr(),
            schedule: schedule_name(&c.schedule),
            batch: c.batch,
            epochs: Some(c.epochs),
            seed: c.seed,
            init: init_name(c.init).into(),
            validation: Some(on.validation),
            loss_every: c.loss_every,
            task: c.task,
            standardize: on.standardize,
            dropout: c.mlp.dropout,
            norm: c.mlp.norm,
            label_smoothing: Some(c.regularize.label_smoothing),
            class_weight: on.class_weight.clone(),
            augment: Some(c.regularize.augment),
            patience: c.regularize.patience,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
        }
    }

    /// The saved run's settings, with `--epochs` (to train longer) taken from the flags; any
    /// other flag given with a value other than the saved run's is refused.
    pub fn resumed(t: &TrainingState, on: &TrainedOn, a: &TrainArgs, path: &Path) -> Result<Self> {
        let mut saved = Settings::of_run(t, on);
        if a.epochs.is_some() {
            saved.epochs = a.epochs;
        }
        let flags = Settings::from_flags(a, saved.task)?;
        saved.checkpoint_every = flags.checkpoint_every;
        let activation = |s: &str| flags::activation(s).map(|op| op.spec()).unwrap_or_else(|_| s.into());
        let differs: Vec<&str> = [
            ("--hidden", a.hidden.is_some() && flags.hidden != saved.hidden),
            (
                "--activation",
                a.activation.is_some() && activation(&flags.activation) != saved.activation,
            ),
            (
                "--optimizer",
                a.optimizer.is_some() && flags.optimizer != saved.optimizer,
            ),
            ("--lr", a.lr.is_some() && flags.lr != saved.lr),
            ("--schedule", a.schedule.is_some() && flags.schedule != saved.schedule),
            ("--batch", a.batch.is_some() && flags.batch != saved.batch),
            ("--seed", a.seed.is_some() && flags.seed != saved.seed),
            ("--init", a.init.is_some() && flags.init != saved.init),
            (
                "--validation",
                a.validation.is_some() && flags.validation != saved.validation,
            ),
            (
                "--loss-every",
                a.loss_every.is_some() && flags.loss_every != saved.loss_every,
            ),
            (
                "--task",
                a.task.is_some() && data::task(a.task.as_deref(), &on.source).ok() != Some(saved.task),
            ),
            (
                "--standardize",
                a.standardize.is_some() && flags.standardize != saved.standardize,
            ),
            ("--dropout", a.dropout.is_some() && flags.dropout != saved.dropout),
            ("--norm", a.norm.is_some() && flags.norm != saved.norm),
            (
                "--label-smoothing",
                a.label_smoothing.is_some() && flags.label_smoothing != saved.label_smoothing,
            ),
            (
                "--class-weight",
                a.class_weight.is_some() && flags.class_weight != saved.class_weight,
            ),
            ("--augment", a.augment.is_some() && flags.augment != saved.augment),
            ("--patience", a.patience.is_some() && flags.patience != saved.patience),
        ]
        .into_iter()
        .filter(|(_, d)| *d)
        .map(|(f, _)| f)
        .collect();
        if !differs.is_empty() {
            return Err(Error::invalid(
                differs.join(", "),
                "a value other than the checkpoint's",
                format!(
                    "the settings of the run saved in {} (a resume continues that run; only --epochs may change)",
                    path.display()
                ),
            ));
        }
        Ok(saved)
    }

    pub fn config(&self, data: &Dataset, steps_per_epoch: u64) -> Result<TrainConfig> {
        let mut sizes = vec![data.feature_count];
        sizes.extend(self.hidden.clone().unwrap_or_else(|| default_hidden(data.len())));
        sizes.push(data.outputs());
        let augment = match (self.augment, data.image) {
            (None, Some(_)) => Augment::Shift { pixels: 2 },
            (None, None) => Augment::Off,
            (Some(a @ Augment::Shift { .. }), None) => {
                return Err(Error::invalid(
                    "--augment",
                    a.to_string(),
                    "off: the data are not images (shifts need rows and columns of pixels)",
                ))
            }
            (Some(a), _) => a,
        };
        let label_smoothing = match self.label_smoothing {
            Some(s) if s > 0.0 && self.task != Task::Classify => {
                return Err(Error::invalid(
                    "--label-smoothing",
                    s.to_string(),
                    format!("0 for {} (it smooths class labels)", self.task.name()),
                ))
            }
            Some(s) => s,
            None if data.image.is_some() && self.task == Task::Classify => 0.1,
            None => 0.0,
        };
        let augmented = augment != Augment::Off;
        let epochs = self
            .epochs
            .unwrap_or_else(|| default_epochs(steps_per_epoch, augmented));
        if self.norm == Norm::Batch && self.batch < 2 {
            return Err(Error::invalid(
                "--norm batch with --batch",
                self.batch.to_string(),
                "a batch of at least 2 (batch norm divides by the batch's variance)",
            ));
        }
        let mlp = Mlp::new(&sizes, flags::activation(&self.activation)?)?
            .with_dropout(self.dropout)?
            .with_norm(self.norm);
        Ok(TrainConfig {
            mlp,
            task: self.task,
            init: match self.init.as_str() {
                "kaiming" => Init::KaimingUniform,
                "xavier" => Init::Xavier,
                other => return Err(Error::invalid("--init", other, "kaiming or xavier")),
            },
            optimizer: flags::optimizer(&self.optimizer, self.lr)?,
            schedule: flags::schedule(&self.schedule, steps_per_epoch * epochs)?,
            batch: self.batch,
            epochs,
            seed: self.seed,
            loss_every: self.loss_every,
            regularize: Regularize {
                label_smoothing,
                augment,
                patience: self.patience,
            },
        })
    }
}
