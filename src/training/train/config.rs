//! What defines a training run: the model, the task, the optimizer and its schedule, the batch,
//! the epochs, the seed and the regularisation; saved with a run so that it can continue.

use crate::training::data::Task;
use crate::training::nn::{Init, Mlp};
use crate::training::optim::{Optimizer, Schedule};

/// Everything that defines a training run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub mlp: Mlp,
    /// What the outputs mean, and so the loss (classification unless said).
    #[serde(default)]
    pub task: Task,
    pub init: Init,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub batch: usize,
    pub epochs: u64,
    pub seed: u64,
    /// Read the loss back every this many steps (reading it every step costs a wait per step).
    pub loss_every: u64,
    /// Label smoothing, augmentation and early stopping (none of them unless said).
    #[serde(default)]
    pub regularize: Regularize,
}

/// The parts of a training run that regularise it without changing the model.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Regularize {
    /// Label smoothing of the softmax cross-entropy, in `[0, 1)` (classification only).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Random changes to training images.
    #[serde(default)]
    pub augment: Augment,
    /// Stop after this many epochs without a better validation score, and keep the best
    /// epoch's parameters as the model.
    #[serde(default)]
    pub patience: Option<u64>,
}

/// Random changes to each training image, drawn per step and example from counters (so a
/// resumed run draws what it would have drawn); never in evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augment {
    #[default]
    Off,
    /// Translations by up to `pixels` pixels each way in each direction (vacated pixels 0).
    Shift { pixels: u32 },
}

impl std::fmt::Display for Augment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Augment::Off => write!(f, "off"),
            Augment::Shift { pixels } => write!(f, "shift:{pixels}"),
        }
    }
}
