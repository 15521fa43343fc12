//! Optimizers: SGD, SGD with momentum (optionally Nesterov), Adam and AdamW, run as GPU kernels
//! inside a training step's plan, and learning-rate schedules.

use crate::autodiff::Gradients;
use crate::backend::{Kernel, Params};
use crate::error::Result;
use crate::graph::{Graph, Tensor};

/// An optimizer and its hyperparameters. The learning rate here is the base rate; a
/// [`Schedule`] may change it per step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// `w −= lr · (g + weight_decay·w)`
    Sgd { lr: f64, weight_decay: f64 },
    /// PyTorch's momentum SGD: `v = μ·v + g; w −= lr·v` (Nesterov: `w −= lr·(g + μ·v)`)
    Momentum {
        lr: f64,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
    },
    /// Adam, or AdamW when `decoupled` (weight decay applied to the weights, not the gradient)
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    },
}

impl Optimizer {
    /// Plain SGD.
    pub fn sgd(lr: f64) -> Self {
        Optimizer::Sgd { lr, weight_decay: 0.0 }
    }

    /// SGD with momentum 0.9.
    pub fn momentum(lr: f64) -> Self {
        Optimizer::Momentum {
            lr,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    /// Adam with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8).
    pub fn adam(lr: f64) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }

    /// AdamW with PyTorch's defaults (weight decay 0.01).
    pub fn adamw(lr: f64) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            decoupled: true,
        }
    }

    /// The optimizer's name: `sgd`, `momentum`, `nesterov`, `adam`, `adamw`.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Momentum { nesterov: false, .. } => "momentum",
            Optimizer::Momentum { nesterov: true, .. } => "nesterov",
            Optimizer::Adam { decoupled: false, .. } => "adam",
            Optimizer::Adam { decoupled: true, .. } => "adamw",
        }
    }

    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            Optimizer::Sgd { lr, .. } | Optimizer::Momentum { lr, .. } | Optimizer::Adam { lr, .. } => lr,
        }
    }

    /// The per-parameter state buffers the optimizer keeps (momentum: `v`; Adam: `m`, `v`).
    pub fn state_names(&self) -> &'static [&'static str] {
        match self {
            Optimizer::Sgd { .. } => &[],
            Optimizer::Momentum { .. } => &["momentum"],
            Optimizer::Adam { .. } => &["adam_m", "adam_v"],
        }
    }

    /// The kernel and params of one update of `n` values at step `t` (1-based) with rate `lr`.
    pub fn kernel(&self, n: usize, t: u64, lr: f64) -> (Kernel, Params) {
        let n = n as u32;
        match *self {
            Optimizer::Sgd { weight_decay, .. } => (Kernel::Sgd, Params::dims(&[n]).with_scalars(&[lr, weight_decay])),
            Optimizer::Momentum {
                momentum,
                nesterov,
                weight_decay,
                ..
            } => (
                Kernel::Momentum,
                Params::dims(&[n, nesterov as u32]).with_scalars(&[lr, momentum, weight_decay]),
            ),
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
                ..
            } => {
                let t = t.max(1) as f64;
                let c1 = 1.0 - beta1.powf(t);
                let c2 = 1.0 - beta2.powf(t);
                (
                    Kernel::Adam,
                    Params::dims(&[n, decoupled as u32]).with_scalars(&[lr, beta1, beta2, eps, weight_decay, c1, c2]),
                )
            }
        }
    }

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
#[derive(Clone, Copy, Debug, PartialEq)]
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
