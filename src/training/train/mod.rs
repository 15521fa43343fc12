//! Training minibatched MLPs on any [`Dataset`](crate::data::Dataset): a [`Trainer`] holds the
//! parameters on a device and one compiled plan per batch size (forward, loss, backward and
//! optimizer update in one submission), and [`fit`] runs epochs with a seeded shuffle, a
//! validation pass per epoch, and a stop flag that leaves a resumable [`Progress`].
//!
//! From the bottom up: what defines a run (`config.rs`); a compiled step and its staging
//! buffers (`compiled.rs`); a device's replica (`replica.rs`) and a step in flight
//! (`in_flight.rs`); the trainer (`trainer.rs`), with its data-parallel (`shared.rs`) and
//! pipelined (`pipeline.rs`) steps; the epochs (`fit.rs`).

mod compiled;
mod config;
mod fit;
mod in_flight;
mod pipeline;
mod replica;
mod shared;
mod trainer;

pub use config::{Augment, Regularize, TrainConfig};
pub use fit::{fit, BestEpoch, EpochRecord, Event, Progress};
pub use in_flight::LateLoss;
pub use replica::ReduceTime;
pub use trainer::{NamedValues, Trainer};
