//! Optimizers: SGD, SGD with momentum (optionally Nesterov), Adam and AdamW, run as kernels
//! inside a training step's plan, and learning-rate schedules. The update rules themselves are
//! plain data of the engine (`op::UpdateRule`); this is how a model applies them.

use crate::engine::autodiff::Gradients;
use crate::engine::error::Result;
use crate::engine::graph::{Graph, Tensor};
use crate::engine::op::UpdateRule;

/// An optimizer: an update rule (plain data the engine runs as one kernel per parameter block),
/// built with [`UpdateRule::sgd`], [`UpdateRule::momentum`], [`UpdateRule::nesterov`],
/// [`UpdateRule::adam`] or [`UpdateRule::adamw`] and applied to a graph with
/// [`UpdateRule::minimize`]. The learning rate here is the base rate; a [`Schedule`] may change
/// it per step.
pub type Optimizer = UpdateRule;

impl UpdateRule {
    /// Adds an update of every parameter in `params` from its gradient, and returns the step:
    /// a node that runs all the updates when a plan asks for it.
    ///
    /// ```
    /// use shadergrad::{Graph, optim::Optimizer};
    /// let g = Graph::new();
    /// let w = g.param("w", [2], vec![1.0, -1.0]);
    /// let loss = w.square().sum();
    /// let grads = g.backward(&loss)?;
    /// let step = Optimizer::sgd(0.1).minimize(&g, &grads, &[w])?;
    /// assert_eq!(step.name(), "step");
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn minimize(&self, graph: &Graph, grads: &Gradients, params: &[Tensor]) -> Result<Tensor> {
        let mut updates = Vec::with_capacity(params.len());
        for p in params {
            let g = grads.of(p)?;
            updates.push(graph.update(p, &g, *self));
        }
        graph.check()?;
        Ok(graph.group("step", &updates))
    }
}

/// A learning-rate schedule over steps.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "schedule", rename_all = "snake_case")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every` steps.
    Step { every: u64, gamma: f64 },
    /// Cosine decay from the base rate to `min_factor`·base over `total` steps.
    Cosine { total: u64, min_factor: f64 },
}

impl Schedule {
    /// The rate at step `t` (0-based) for base rate `base`.
    ///
    /// ```
    /// use shadergrad::optim::Schedule;
    /// let s = Schedule::Cosine { total: 100, min_factor: 0.0 };
    /// assert!((s.lr(0.1, 0) - 0.1).abs() < 1e-12);
    /// assert!((s.lr(0.1, 50) - 0.05).abs() < 1e-12);
    /// assert_eq!(Schedule::Step { every: 10, gamma: 0.5 }.lr(1.0, 25), 0.25);
    /// ```
    pub fn lr(&self, base: f64, t: u64) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => base * gamma.powi((t / every.max(1)) as i32),
            Schedule::Cosine { total, min_factor } => {
                let progress = (t as f64 / total.max(1) as f64).min(1.0);
                let factor = min_factor + (1.0 - min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                base * factor
            }
        }
    }
}
