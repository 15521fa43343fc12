//! A training step's (or an evaluation's) compiled plan and the graph it runs, keyed by batch
//! size and what a batch brings, and the host buffers a batch is staged in on its way to the
//! device.

use crate::engine::backend::Backend;
use crate::engine::error::Result;
use crate::engine::plan::{ParamStore, Plan};
use crate::training::data::{Batch, Dataset};
use crate::training::nn::{Input, MlpGraph, Mode};

use super::config::TrainConfig;

/// What a batch brings to a plan: how its features enter, and whether it has example weights
/// for the loss (which only a training step reads).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Feed {
    pub(super) input: Input,
    pub(super) weighted: bool,
}

impl Feed {
    /// What batches of `data` bring.
    pub(super) fn of(data: &Dataset) -> Feed {
        Feed {
            input: Input::of(&data.features),
            weighted: data.weights.is_some(),
        }
    }

    /// The same, as a key of compiled plans (bytes at a scale, or numbers; weighted or not).
    pub(super) fn key(self) -> FeedKey {
        let scale = match self.input {
            Input::Bytes { scale } => Some(scale.to_bits()),
            Input::Floats => None,
        };
        FeedKey(scale, self.weighted)
    }
}

/// A [`Feed`] as a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct FeedKey(Option<u64>, bool);

/// A compiled plan and the graph it runs (a training step's, or an evaluation's).
pub(super) struct Compiled<B: Backend> {
    pub(super) mlp: MlpGraph,
    pub(super) plan: Plan<B>,
}

/// A batch gathered on the host, and its numbers in the backend's type.
pub(super) struct Staging<E> {
    pub(super) batch: Batch,
    pub(super) x: Vec<E>,
    pub(super) y: Vec<E>,
    pub(super) w: Vec<E>,
}

impl<E> Default for Staging<E> {
    fn default() -> Self {
        Staging {
            batch: Batch::default(),
            x: Vec::new(),
            y: Vec::new(),
            w: Vec::new(),
        }
    }
}

/// The counter stream of a run's augmentation (apart from its dropout streams).
pub(super) fn augment_stream(seed: u64) -> u32 {
    crate::engine::op::random::counter_hash(seed as u32 ^ 0xa5a5_a5a5, (seed >> 32) as u32, u32::MAX)
}

pub(super) const EVAL_BATCH: usize = 1000;

/// `config`'s training step (or its evaluation) for `batch` examples of `feed` on `backend`,
/// its dropout drawn from `seed`'s streams (an evaluation reads no weights).
pub(super) fn compile<B: Backend>(
    backend: &B,
    store: &mut ParamStore<B>,
    c: &TrainConfig,
    seed: u64,
    batch: usize,
    feed: Feed,
    training: bool,
) -> Result<Compiled<B>> {
    let mode = if training {
        Mode::Train {
            label_smoothing: c.regularize.label_smoothing,
            weighted: feed.weighted,
        }
    } else {
        Mode::Eval
    };
    let mlp = c.mlp.graph_for(batch, c.init, seed, feed.input, c.task, mode);
    let plan = if training {
        let grads = mlp.graph.backward(&mlp.loss)?;
        let step = c.optimizer.minimize(&mlp.graph, &grads, &mlp.params())?;
        let buffers = mlp.graph.group("buffer updates", &mlp.buffer_updates);
        Plan::compile(backend, &mlp.graph, &[&mlp.loss, &step, &buffers], store)?
    } else {
        Plan::compile(backend, &mlp.graph, &[&mlp.logits], store)?
    };
    Ok(Compiled { mlp, plan })
}
