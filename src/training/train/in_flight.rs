//! A training step submitted and not waited for yet, and the loss it reports a step late.

use crate::engine::backend::Backend;
use crate::engine::graph::Tensor;
use crate::engine::plan::Submitted;

use super::compiled::{FeedKey, Staging};

/// A step's loss, read once the step after it had been submitted ([`Trainer::submit_step`](super::Trainer::submit_step)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LateLoss {
    /// The step it is the loss of (1-based, as the optimizer counts them).
    pub step: u64,
    pub loss: f64,
}

/// A step submitted and not waited for yet.
pub(super) struct InFlight<B: Backend> {
    pub(super) t: u64,
    pub(super) key: (usize, FeedKey),
    /// The run and its loss tensor, when the step reads its loss.
    pub(super) run: Option<(Submitted<B>, Tensor)>,
    /// Its batch, to name the first non-finite node should its loss not be finite.
    pub(super) staging: Staging<B::Elem>,
}
