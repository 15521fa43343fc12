//! The normalisations an MLP may put before each hidden activation: PyTorch's `LayerNorm` and
//! `BatchNorm1d` (batch statistics in training, running statistics in evaluation).

use crate::engine::graph::{Graph, Tensor};
use crate::engine::op::{Axis, Broadcast, UpdateRule};

use super::mode::Mode;

/// PyTorch's `LayerNorm` and `BatchNorm1d` epsilon.
pub const LAYER_NORM_EPS: f64 = 1e-5;

/// PyTorch's `BatchNorm1d` momentum: `running = 0.9·running + 0.1·batch statistic`.
pub const BATCH_NORM_MOMENTUM: f64 = 0.1;

/// The normalisation after each hidden linear layer, before its activation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    #[default]
    None,
    /// PyTorch's `LayerNorm(features)`: each example's features to mean 0 and variance 1, then
    /// a learnt gain (`weight`, starting at 1) and `bias` (starting at 0) per feature.
    Layer,
    /// PyTorch's `BatchNorm1d(features)`: each feature to mean 0 and variance 1 over the batch
    /// in training (which also updates `running_mean` and the unbiased `running_var`, momentum
    /// 0.1), over the running statistics in evaluation; then a gain and a bias.
    Batch,
}

impl Norm {
    /// `none` or `layer`.
    pub fn name(self) -> &'static str {
        match self {
            Norm::None => "none",
            Norm::Layer => "layer",
            Norm::Batch => "batch",
        }
    }
}

/// A layer norm's parameters in a graph.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl LayerNorm {
    /// `features` gains named `{prefix}.weight` (ones) and biases `{prefix}.bias` (zeros).
    pub fn new(graph: &Graph, prefix: &str, features: usize) -> LayerNorm {
        LayerNorm {
            weight: graph.param(&format!("{prefix}.weight"), [features], vec![1.0; features]),
            bias: graph.param(&format!("{prefix}.bias"), [features], vec![0.0; features]),
        }
    }

    /// `(x − mean) / √(var + 1e-5) · weight + bias`, the statistics of each row of `x`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.normalize_affine(Axis::Rows, LAYER_NORM_EPS, &self.weight, &self.bias)
    }
}

/// A batch norm's parameters and running statistics in a graph.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
}

impl BatchNorm {
    /// `features` gains (ones) and biases (zeros), and running statistics starting at mean 0
    /// and variance 1, named `{prefix}.weight`, ... as PyTorch names them.
    pub fn new(graph: &Graph, prefix: &str, features: usize) -> BatchNorm {
        BatchNorm {
            weight: graph.param(&format!("{prefix}.weight"), [features], vec![1.0; features]),
            bias: graph.param(&format!("{prefix}.bias"), [features], vec![0.0; features]),
            running_mean: graph.buffer(&format!("{prefix}.running_mean"), [features], vec![0.0; features]),
            running_var: graph.buffer(&format!("{prefix}.running_var"), [features], vec![1.0; features]),
        }
    }

    /// In training, `x` `[batch, features]` normalised by its batch's statistics, and the
    /// updates of the running statistics (none for a batch of one, whose variance is
    /// undefined); in evaluation, by the running statistics. Then the gain and the bias.
    pub fn forward(&self, x: &Tensor, mode: Mode, updates: &mut Vec<Tensor>) -> Tensor {
        let g = x.graph();
        let shape = x.shape();
        let cols = |t: &Tensor| t.broadcast(Broadcast::Cols, &shape);
        match mode {
            Mode::Train { .. } => {
                let rows = shape.as_matrix().0;
                if rows > 1 {
                    let mean = x.col_sum().scale(1.0 / rows as f64);
                    let var = (x - &cols(&mean)).square().col_sum().scale(1.0 / (rows - 1) as f64);
                    let rule = UpdateRule::RunningAverage {
                        momentum: BATCH_NORM_MOMENTUM,
                    };
                    updates.push(g.update(&self.running_mean, &mean, rule));
                    updates.push(g.update(&self.running_var, &var, rule));
                }
                x.normalize_affine(Axis::Columns, LAYER_NORM_EPS, &self.weight, &self.bias)
            }
            Mode::Eval => {
                let rstd = self.running_var.add_scalar(LAYER_NORM_EPS).sqrt().recip();
                let xhat = &(x - &cols(&self.running_mean)) * &cols(&rstd);
                (&xhat * &cols(&self.weight)).bias_add(&self.bias)
            }
        }
    }
}

/// The normalisation of a hidden layer in a graph.
#[derive(Clone, Debug)]
pub enum NormLayer {
    Layer(LayerNorm),
    Batch(BatchNorm),
}

impl NormLayer {
    /// Its trainable parameters: gain, then bias.
    pub fn params(&self) -> [Tensor; 2] {
        match self {
            NormLayer::Layer(n) => [n.weight.clone(), n.bias.clone()],
            NormLayer::Batch(n) => [n.weight.clone(), n.bias.clone()],
        }
    }
}
