//! The MLP: linear layers of the given sizes with an activation between them, optionally
//! normalised before each activation and dropped out after it; its parameters named as
//! PyTorch's `nn.Sequential` names them, and its graph over a batch.

use crate::engine::error::{Error, Result};
use crate::engine::graph::{Graph, Tensor};
use crate::engine::op::{random, Role, UnaryOp};
use crate::training::data::Task;
use crate::training::rng::Rng;

use super::linear::{Init, Linear};
use super::mode::{Input, Mode};
use super::norm::{BatchNorm, LayerNorm, Norm, NormLayer};
use super::torch::{self, Module};

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

/// A multilayer perceptron: linear layers of the given sizes with an activation between them,
/// optionally normalised before each activation and dropped out after it.
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
    /// Dropout after each hidden activation, in training only: the probability of dropping
    /// each value, in `[0, 1)` (0: none).
    #[serde(default)]
    pub dropout: f64,
    /// The normalisation before each hidden activation.
    #[serde(default)]
    pub norm: Norm,
}

/// The layers of an MLP in a graph: its linear layers, and the norm after each hidden one.
#[derive(Clone, Debug)]
pub struct Layers {
    pub linear: Vec<Linear>,
    pub norms: Vec<NormLayer>,
}

impl Layers {
    /// Every trainable parameter, in the order of [`Mlp::parameter_names`] (buffers, such as a
    /// batch norm's running statistics, left out).
    pub fn params(&self) -> Vec<Tensor> {
        let mut out = Vec::new();
        for (i, l) in self.linear.iter().enumerate() {
            out.extend([l.weight.clone(), l.bias.clone()]);
            if let Some(n) = self.norms.get(i) {
                out.extend(n.params());
            }
        }
        out
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
    /// The examples' weights `[batch]`, in a weighted training graph (see [`Mode::Train`]).
    pub weights: Option<Tensor>,
    pub layers: Layers,
    /// The outputs before the loss's softmax or sigmoid: `[batch, outputs]`.
    pub logits: Tensor,
    /// The task's loss, named `loss`: softmax cross-entropy, mean squared error, or binary
    /// cross-entropy with logits summed over the labels (averaged over examples).
    pub loss: Tensor,
    /// What a training step updates besides the parameters: the batch norms' running
    /// statistics (empty otherwise, and in evaluation).
    pub buffer_updates: Vec<Tensor>,
    pub input: Input,
}

impl MlpGraph {
    /// Every trainable parameter, in the order of [`Mlp::parameter_names`] (buffers, such as a
    /// batch norm's running statistics, left out).
    pub fn params(&self) -> Vec<Tensor> {
        self.layers.params()
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
            dropout: 0.0,
            norm: Norm::None,
        })
    }

    /// The same MLP with dropout `p` (in `[0, 1)`) after each hidden activation.
    ///
    /// ```
    /// use shadergrad::nn::{Activation, Mlp, Norm};
    /// let mlp = Mlp::new(&[4, 8, 2], Activation::Relu)?.with_dropout(0.1)?.with_norm(Norm::Layer);
    /// assert_eq!(mlp.torch(), "nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 2))");
    /// assert_eq!(mlp.parameter_names(), ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]);
    /// assert!(Mlp::new(&[4, 2], Activation::Relu)?.with_dropout(1.0).is_err());
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn with_dropout(mut self, p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid("dropout", p.to_string(), "a probability in [0, 1)"));
        }
        self.dropout = p;
        Ok(self)
    }

    /// The same MLP with `norm` before each hidden activation.
    pub fn with_norm(mut self, norm: Norm) -> Self {
        self.norm = norm;
        self
    }

    /// The MLP checked as [`Mlp::new`] checks it, and its dropout (for one read from a file).
    pub fn validated(self) -> Result<Self> {
        Ok(Mlp::new(&self.sizes, self.activation)?
            .with_dropout(self.dropout)?
            .with_norm(self.norm))
    }

    /// The `nn.Sequential` stack, in order: each module's index is its position.
    pub fn modules(&self) -> Vec<Module> {
        torch::stack(&self.sizes, self.activation, self.norm, self.dropout)
    }

    /// The PyTorch module this MLP is: `nn.Sequential(nn.Linear(784, 256), nn.ReLU(), ...)`.
    pub fn torch(&self) -> String {
        let modules: Vec<String> = self.modules().iter().map(Module::torch).collect();
        format!("nn.Sequential({})", modules.join(", "))
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
        self.parameters().into_iter().map(|(name, _)| name).collect()
    }

    /// Shapes of the parameters, in the order of [`Mlp::parameter_names`].
    pub fn parameter_shapes(&self) -> Vec<Vec<usize>> {
        self.parameters().into_iter().map(|(_, shape)| shape).collect()
    }

    /// The batch norms' `num_batches_tracked`: in the model file for PyTorch, not on the device
    /// (every training step is one batch, so it is the step count).
    pub fn counters(&self) -> Vec<String> {
        self.modules()
            .iter()
            .enumerate()
            .filter(|(_, m)| matches!(m, Module::BatchNorm { .. }))
            .map(|(i, _)| format!("{i}.num_batches_tracked"))
            .collect()
    }

    /// Every parameter's name and shape, in stack order.
    fn parameters(&self) -> Vec<(String, Vec<usize>)> {
        self.modules()
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                m.parameters()
                    .into_iter()
                    .map(move |(name, shape)| (format!("{i}.{name}"), shape))
            })
            .collect()
    }

    /// The stack index of each linear layer, and of the norm after it (hidden layers).
    fn indices(&self) -> Vec<(usize, Option<usize>)> {
        let modules = self.modules();
        let mut out = Vec::new();
        for (i, m) in modules.iter().enumerate() {
            if let Module::Linear { .. } = m {
                let norm = matches!(
                    modules.get(i + 1),
                    Some(Module::LayerNorm { .. } | Module::BatchNorm { .. })
                )
                .then_some(i + 1);
                out.push((i, norm));
            }
        }
        out
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> usize {
        self.parameter_shapes()
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum()
    }

    /// Adds the layers (initialised from `seed`) to `graph` and returns them.
    pub fn layers(&self, graph: &Graph, init: Init, seed: u64) -> Layers {
        let mut rng = Rng::new(seed);
        let mut layers = Layers {
            linear: Vec::new(),
            norms: Vec::new(),
        };
        for (w, (i, norm)) in self.sizes.windows(2).zip(self.indices()) {
            layers
                .linear
                .push(Linear::new(graph, &i.to_string(), w[0], w[1], init, &mut rng));
            if let Some(j) = norm {
                let prefix = j.to_string();
                layers.norms.push(match self.norm {
                    Norm::Batch => NormLayer::Batch(BatchNorm::new(graph, &prefix, w[1])),
                    _ => NormLayer::Layer(LayerNorm::new(graph, &prefix, w[1])),
                });
            }
        }
        layers
    }

    /// The logits of `x` `[batch, inputs]` through `layers`; in training, hidden layer `i`'s
    /// dropout draws its masks from stream [`dropout_stream`]`(seed, i)`.
    /// Batch norms push their running statistics' updates onto `updates` in training.
    pub fn forward(&self, layers: &Layers, x: &Tensor, mode: Mode, seed: u64, updates: &mut Vec<Tensor>) -> Tensor {
        let mut h = x.clone();
        let hidden = layers.linear.len() - 1;
        for (i, layer) in layers.linear.iter().enumerate() {
            h = layer.forward(&h);
            if i == hidden {
                break;
            }
            h = match layers.norms.get(i) {
                Some(NormLayer::Layer(n)) => n.forward(&h),
                Some(NormLayer::Batch(n)) => n.forward(&h, mode, updates),
                None => h,
            };
            h = h.map(self.activation);
            if self.dropout > 0.0 && mode != Mode::Eval {
                h = h.dropout(self.dropout, dropout_stream(seed, i));
            }
        }
        h.named("logits")
    }

    /// The MLP over a batch of `batch` examples entering as `input`, with `task`'s loss, as
    /// evaluated (see [`Mlp::graph_for`]).
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
        self.graph_for(batch, init, seed, input, task, Mode::Eval)
    }

    /// [`Mlp::graph`] for `mode`: a training graph drops out, smooths labels and updates batch
    /// norms' running statistics.
    ///
    /// ```
    /// use shadergrad::{data::Task, nn::{Activation, Init, Input, Mlp, Mode, Norm}};
    /// let mlp = Mlp::new(&[4, 3, 2], Activation::Relu)?.with_dropout(0.5)?.with_norm(Norm::Batch);
    /// let train = mlp.graph_for(8, Init::KaimingUniform, 0, Input::Floats, Task::Classify, Mode::Train { label_smoothing: 0.1, weighted: false });
    /// assert_eq!(train.buffer_updates.len(), 2); // running mean and variance
    /// let eval = mlp.graph(8, Init::KaimingUniform, 0, Input::Floats, Task::Classify);
    /// assert!(eval.buffer_updates.is_empty());
    /// assert!(eval.graph.nodes().len() < train.graph.nodes().len()); // no dropout, no statistics
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn graph_for(&self, batch: usize, init: Init, seed: u64, input: Input, task: Task, mode: Mode) -> MlpGraph {
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
        let mut buffer_updates = Vec::new();
        let logits = self.forward(&layers, &x, mode, seed, &mut buffer_updates);
        let weights = match mode {
            Mode::Train { weighted: true, .. } => Some(graph.input("weights", [batch])),
            _ => None,
        };
        let smoothing = match mode {
            Mode::Train { label_smoothing, .. } => label_smoothing,
            Mode::Eval => 0.0,
        };
        let loss = match (task, &weights) {
            (Task::Classify, None) => logits.smoothed_cross_entropy(&targets, smoothing),
            (Task::Classify, Some(w)) => logits.weighted_cross_entropy(&targets, w, smoothing),
            (Task::Regress, None) => logits.mse(&targets),
            (Task::Regress, Some(w)) => logits.weighted_mse(&targets, w),
            // Each label's loss summed, averaged over examples (scikit-learn's): with the mean
            // over labels too, each label would learn at 1/labels of one label's rate.
            (Task::Multilabel, None) => logits.bce_with_logits(&targets).scale(self.classes() as f64),
            (Task::Multilabel, Some(w)) => logits
                .weighted_bce_with_logits(&targets, w)
                .scale(self.classes() as f64),
        }
        .named("loss");
        MlpGraph {
            graph,
            x,
            targets,
            weights,
            layers,
            logits,
            loss,
            buffer_updates,
            input,
        }
    }

    /// `784-256-256-10 relu`, then `layer norm` and `dropout 0.1` where used.
    pub fn describe(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(|s| s.to_string()).collect();
        let mut out = format!("{} {}", sizes.join("-"), self.activation.spec());
        if self.norm != Norm::None {
            out += &format!(", {} norm", self.norm.name());
        }
        if self.dropout > 0.0 {
            out += &format!(", dropout {}", self.dropout);
        }
        out
    }
}

/// The dropout stream of hidden layer `layer` of a run seeded `seed`: distinct layers and seeds
/// draw unrelated masks.
pub fn dropout_stream(seed: u64, layer: usize) -> u32 {
    random::counter_hash(seed as u32, (seed >> 32) as u32, layer as u32)
}
