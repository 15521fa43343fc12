//! One device's copy of a model being trained: its parameters, its compiled steps and its share
//! of each batch; and how a batch is shared among devices.

use std::collections::HashMap;

use crate::engine::backend::Backend;
use crate::engine::error::Result;
use crate::engine::plan::ParamStore;
use crate::training::nn::Input;

use super::compiled::{compile, Compiled, Feed, FeedKey, Staging};
use super::config::TrainConfig;

/// One device's copy of the model: its parameters (the same on every device of a run), its
/// step plans, and its share of each batch (used only when there are several devices).
pub(super) struct Replica<B: Backend> {
    pub(super) backend: B,
    pub(super) store: ParamStore<B>,
    pub(super) steps: HashMap<(usize, FeedKey), Compiled<B>>,
    pub(super) share: Staging<B::Elem>,
}

/// What the gradient all-reduce of a data-parallel run has cost so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReduceTime {
    /// Steps that summed gradients across devices.
    pub steps: u64,
    /// Host seconds spent in them summing the gradient arenas read back from every device and
    /// writing the sum back to each (reading back is counted with the step's compute: it
    /// waits for it).
    pub seconds: f64,
    /// Values in one device's gradient arenas: each step reads this many from every device and
    /// writes them back to every device.
    pub values: usize,
}

/// `examples` split into `devices` contiguous shares whose sizes differ by at most one, the
/// larger first (empty shares when there are fewer examples than devices).
pub(super) fn shares(examples: usize, devices: usize) -> Vec<std::ops::Range<usize>> {
    let (each, extra) = (examples / devices, examples % devices);
    let mut start = 0;
    (0..devices)
        .map(|d| {
            let len = each + usize::from(d < extra);
            start += len;
            start - len..start
        })
        .collect()
}

/// The seed of replica `r`'s dropout streams: the run's own for the first, distinct for the
/// others, so that replicas do not drop the same units of their different examples.
fn replica_seed(seed: u64, r: usize) -> u64 {
    seed ^ (r as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl<B: Backend> Replica<B> {
    /// A replica on `backend` with the parameters `config.seed` initialises (in one arena, so
    /// that one optimizer launch updates them all).
    pub(super) fn new(backend: &B, config: &TrainConfig) -> Result<Self> {
        let mut store = ParamStore::new(backend);
        let shape = config
            .mlp
            .clone()
            .validated()?
            .graph(1, config.init, config.seed, Input::Floats, config.task);
        store.create_from(&shape.graph)?;
        Ok(Replica {
            backend: backend.clone(),
            store,
            steps: HashMap::new(),
            share: Staging::default(),
        })
    }

    /// Its training step for `batch` examples of `feed`, compiled the first time; `r` is its
    /// place among the devices (its dropout streams).
    pub(super) fn step_plan(
        &mut self,
        config: &TrainConfig,
        r: usize,
        batch: usize,
        feed: Feed,
    ) -> Result<&mut Compiled<B>> {
        let key = (batch, feed.key());
        if !self.steps.contains_key(&key) {
            let seed = replica_seed(config.seed, r);
            let compiled = compile(&self.backend, &mut self.store, config, seed, batch, feed, true)?;
            self.steps.insert(key, compiled);
        }
        Ok(self.steps.get_mut(&key).expect("inserted above"))
    }
}
