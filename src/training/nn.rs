//! Layers and models: `Linear` in PyTorch's layout (weight `[out, in]`, bias `[out]`), an `Mlp`
//! built from sizes and an activation, seeded initialisers, and the graph of an MLP over a batch.
//!
//! Parameters are named as PyTorch's `nn.Sequential` names them (`0.weight`, `0.bias`,
//! `2.weight`, ...: linear layers at even indices, activations between them), so a checkpoint
//! loads into `torch.nn.Sequential(Linear, ReLU, Linear, ...)` with `load_state_dict`.

use crate::data::{Features, Task};
use crate::error::{Error, Result};
use crate::graph::{Graph, Tensor};
use crate::op::{Role, UnaryOp};
use crate::rng::Rng;

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

/// The activation between an MLP's linear layers: a unary op the op table marks as an
/// activation (`relu`, `leaky_relu`, `elu`, `sigmoid`, `tanh`, `gelu`, `silu`, `softplus`).
pub type Activation = UnaryOp;

/// The activation `name` (`relu`, `leaky_relu:0.2`, ...), refusing ops that are not activations.
///
/// ```
/// use shadergrad::{nn::activation, UnaryOp};
/// assert_eq!(activation("elu:0.5")?, UnaryOp::Elu(0.5));
/// assert!(activation("exp").unwrap_err().to_string().contains("relu, leaky_relu"));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn activation(name: &str) -> Result<Activation> {
    match name.parse::<UnaryOp>() {
        Ok(op) if op.role() == Role::Activation => Ok(op),
        _ => Err(not_an_activation(name)),
    }
}

fn not_an_activation(name: &str) -> Error {
    let names: Vec<String> = UnaryOp::with_role(Role::Activation)
        .map(|op| {
            if op.takes_constant() {
                format!("{}[:alpha]", op.name())
            } else {
                op.name().to_string()
            }
        })
        .collect();
    Error::invalid("activation", name, format!("one of {}", names.join(", ")))
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
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// How a batch's features enter a graph.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    /// Bytes used as `scale · byte` (pixels), fed with `Plan::set_input_bytes`.
    Bytes { scale: f64 },
    /// Numbers.
    Floats,
}

impl Input {
    /// How `features` enter.
    pub fn of(features: &Features) -> Input {
        match features {
            Features::Bytes { scale, .. } => Input::Bytes { scale: *scale },
            Features::Floats(_) => Input::Floats,
        }
    }
}

/// An MLP over one batch, in a graph of its own: what a training step, an evaluation and a
/// gradient computation each compile (a plan computes only what its outputs need).
pub struct MlpGraph {
    pub graph: Graph,
    /// The features `[batch, inputs]`.
    pub x: Tensor,
    /// The targets: class ids `[batch]` to classify, values or 0/1 labels `[batch, outputs]`.
    pub targets: Tensor,
    pub layers: Vec<Linear>,
    /// The outputs before the loss's softmax or sigmoid: `[batch, outputs]`.
    pub logits: Tensor,
    /// The task's loss, named `loss`: softmax cross-entropy, mean squared error, or binary
    /// cross-entropy with logits.
    pub loss: Tensor,
    pub input: Input,
}

impl MlpGraph {
    /// Every parameter, in the order of [`Mlp::parameter_names`].
    pub fn params(&self) -> Vec<Tensor> {
        self.layers
            .iter()
            .flat_map(|l| [l.weight.clone(), l.bias.clone()])
            .collect()
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
        if activation.role() != Role::Activation {
            return Err(not_an_activation(&activation.spec()));
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

    /// Outputs: classes, values or labels.
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
                h = h.map(self.activation);
            }
        }
        h.named("logits")
    }

    /// The MLP over a batch of `batch` examples entering as `input`, with `task`'s loss.
    ///
    /// ```
    /// use shadergrad::{data::Task, nn::{Activation, Init, Input, Mlp}};
    /// let mlp = Mlp::new(&[4, 3, 2], Activation::Tanh)?;
    /// let g = mlp.graph(8, Init::KaimingUniform, 0, Input::Floats, Task::Regress);
    /// assert_eq!(g.logits.shape().dims(), &[8, 2]);
    /// assert_eq!(g.targets.shape().dims(), &[8, 2]);
    /// assert_eq!(g.params().len(), 4);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn graph(&self, batch: usize, init: Init, seed: u64, input: Input, task: Task) -> MlpGraph {
        let graph = Graph::new();
        let x = match input {
            Input::Bytes { scale } => graph.byte_input("x", [batch, self.inputs()], scale),
            Input::Floats => graph.input("x", [batch, self.inputs()]),
        };
        let targets = match task {
            Task::Classify => graph.input("labels", [batch]),
            Task::Regress | Task::Multilabel => graph.input("targets", [batch, self.classes()]),
        };
        let layers = self.layers(&graph, init, seed);
        let logits = self.forward(&layers, &x);
        let loss = match task {
            Task::Classify => logits.softmax_cross_entropy(&targets),
            Task::Regress => logits.mse(&targets),
            Task::Multilabel => logits.bce_with_logits(&targets),
        }
        .named("loss");
        MlpGraph {
            graph,
            x,
            targets,
            layers,
            logits,
            loss,
            input,
        }
    }

    /// `784-256-256-10 relu`.
    pub fn describe(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(|s| s.to_string()).collect();
        format!("{} {}", sizes.join("-"), self.activation.spec())
    }
}
