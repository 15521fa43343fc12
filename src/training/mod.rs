//! The training toolkit on top of the engine: layers and models, optimizers, data sets,
//! checkpoints and the trainer, and the small utilities they share (atomic writes, a seeded
//! random generator).

pub mod checkpoint;
pub mod data;
pub mod group;
pub mod inputs;
pub mod io;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod optim;
pub mod rng;
pub mod train;
