//! A linear layer in PyTorch's layout (weight `[out, in]`, bias `[out]`, `y = x·Wᵀ + b`) and the
//! seeded initialisers of its weights.

use crate::engine::graph::{Graph, Tensor};
use crate::training::rng::Rng;

/// How a linear layer's weights start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// PyTorch's default for `nn.Linear`: Kaiming-uniform with a = √5, which is
    /// `U(−1/√fan_in, 1/√fan_in)` for weights and biases alike.
    KaimingUniform,
    /// Glorot/Xavier uniform `U(−√(6/(fan_in + fan_out)), +…)`, zero biases.
    Xavier,
}

/// A linear layer's parameters in a graph.
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    /// Adds a `fan_in → fan_out` layer's parameters, named `{prefix}.weight` and `{prefix}.bias`.
    pub fn new(graph: &Graph, prefix: &str, fan_in: usize, fan_out: usize, init: Init, rng: &mut Rng) -> Linear {
        let (wb, bb) = match init {
            Init::KaimingUniform => {
                let b = 1.0 / (fan_in as f64).sqrt();
                (b, b)
            }
            Init::Xavier => ((6.0 / (fan_in + fan_out) as f64).sqrt(), 0.0),
        };
        let w: Vec<f64> = (0..fan_in * fan_out).map(|_| rng.uniform(-wb, wb)).collect();
        let b: Vec<f64> = (0..fan_out)
            .map(|_| if bb > 0.0 { rng.uniform(-bb, bb) } else { 0.0 })
            .collect();
        Linear {
            weight: graph.param(&format!("{prefix}.weight"), [fan_out, fan_in], w),
            bias: graph.param(&format!("{prefix}.bias"), [fan_out], b),
        }
    }

    /// `x · Wᵀ + b`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, &self.bias)
    }
}
