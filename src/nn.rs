//! Layers and models: `Linear` in PyTorch's layout (weight `[out, in]`, bias `[out]`), an `Mlp`
//! built from sizes and an activation, seeded initialisers, and the losses.
//!
//! Parameters are named as PyTorch's `nn.Sequential` names them (`0.weight`, `0.bias`,
//! `2.weight`, ...: linear layers at even indices, activations between them), so a checkpoint
//! loads into `torch.nn.Sequential(Linear, ReLU, Linear, ...)` with `load_state_dict`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::graph::{Graph, Tensor};
use crate::op::UnaryOp;
use crate::rng::Rng;

/// How a linear layer's weights start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// PyTorch's default for `nn.Linear`: Kaiming-uniform with a = √5, which is
    /// `U(−1/√fan_in, 1/√fan_in)` for weights and biases alike.
    KaimingUniform,
    /// Glorot/Xavier uniform `U(−√(6/(fan_in + fan_out)), +…)`, zero biases.
    Xavier,
}

/// The activations an MLP may use between its linear layers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    LeakyRelu(f64),
    Elu(f64),
    Sigmoid,
    Tanh,
    Gelu,
    Silu,
}

impl Activation {
    /// The unary op it runs.
    pub fn op(self) -> UnaryOp {
        match self {
            Activation::Relu => UnaryOp::Relu,
            Activation::LeakyRelu(a) => UnaryOp::LeakyRelu(a),
            Activation::Elu(a) => UnaryOp::Elu(a),
            Activation::Sigmoid => UnaryOp::Sigmoid,
            Activation::Tanh => UnaryOp::Tanh,
            Activation::Gelu => UnaryOp::Gelu,
            Activation::Silu => UnaryOp::Silu,
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::LeakyRelu(a) if *a != 0.01 => write!(f, "leaky_relu:{a}"),
            Activation::Elu(a) if *a != 1.0 => write!(f, "elu:{a}"),
            other => f.write_str(other.op().name()),
        }
    }
}

impl FromStr for Activation {
    type Err = Error;

    /// `relu`, `tanh`, `sigmoid`, `gelu`, `silu`, `leaky_relu[:alpha]`, `elu[:alpha]`.
    fn from_str(s: &str) -> Result<Self> {
        let (name, alpha) = match s.split_once(':') {
            Some((n, a)) => (
                n,
                Some(
                    a.parse::<f64>()
                        .map_err(|_| Error::invalid("activation", s, "a number after `:`"))?,
                ),
            ),
            None => (s, None),
        };
        Ok(match name {
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu(alpha.unwrap_or(0.01)),
            "elu" => Activation::Elu(alpha.unwrap_or(1.0)),
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "gelu" => Activation::Gelu,
            "silu" => Activation::Silu,
            _ => {
                return Err(Error::invalid(
                    "activation",
                    s,
                    "relu, leaky_relu[:alpha], elu[:alpha], sigmoid, tanh, gelu or silu",
                ))
            }
        })
    }
}

/// A multilayer perceptron: linear layers of the given sizes with an activation between them.
///
/// ```
/// use shadergrad::nn::{Activation, Mlp};
/// let mlp = Mlp::new(&[784, 256, 256, 10], Activation::Relu)?;
/// assert_eq!(mlp.parameter_names(), ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]);
/// assert_eq!(mlp.parameter_count(), 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
/// # Ok::<(), shadergrad::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    pub sizes: Vec<usize>,
    pub activation: Activation,
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

impl Mlp {
    /// An MLP of `sizes` (input, hidden..., output), at least two sizes, none zero.
    pub fn new(sizes: &[usize], activation: Activation) -> Result<Self> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::invalid(
                "sizes",
                format!("{sizes:?}"),
                "at least an input and an output size, none of them 0",
            ));
        }
        Ok(Mlp {
            sizes: sizes.to_vec(),
            activation,
        })
    }

    /// Input features.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Output classes.
    pub fn classes(&self) -> usize {
        *self.sizes.last().unwrap_or(&0)
    }

    /// PyTorch `nn.Sequential` names of the parameters, in order.
    pub fn parameter_names(&self) -> Vec<String> {
        (0..self.sizes.len() - 1)
            .flat_map(|i| [format!("{}.weight", 2 * i), format!("{}.bias", 2 * i)])
            .collect()
    }

    /// Shapes of the parameters, in the order of [`Mlp::parameter_names`].
    pub fn parameter_shapes(&self) -> Vec<Vec<usize>> {
        self.sizes
            .windows(2)
            .flat_map(|w| [vec![w[1], w[0]], vec![w[1]]])
            .collect()
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> usize {
        self.parameter_shapes()
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum()
    }

    /// Adds the layers (initialised from `seed`) to `graph` and returns them.
    pub fn layers(&self, graph: &Graph, init: Init, seed: u64) -> Vec<Linear> {
        let mut rng = Rng::new(seed);
        self.sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| Linear::new(graph, &(2 * i).to_string(), w[0], w[1], init, &mut rng))
            .collect()
    }

    /// The logits of `x` `[batch, inputs]` through `layers`.
    pub fn forward(&self, layers: &[Linear], x: &Tensor) -> Tensor {
        let mut h = x.clone();
        for (i, layer) in layers.iter().enumerate() {
            h = layer.forward(&h);
            if i + 1 < layers.len() {
                h = h.map(self.activation.op());
            }
        }
        h.named("logits")
    }

    /// `784-256-256-10 relu`.
    pub fn describe(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(|s| s.to_string()).collect();
        format!("{} {}", sizes.join("-"), self.activation)
    }
}
