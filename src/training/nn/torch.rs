//! The PyTorch export: an MLP as the `nn.Sequential` stack PyTorch would build (each module of
//! the stack takes the next index, which names its parameters), and each module as PyTorch
//! writes it.

use crate::engine::op::UnaryOp;

use super::norm::Norm;

/// One module of an MLP's `nn.Sequential` stack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Module {
    Linear {
        inputs: usize,
        outputs: usize,
    },
    LayerNorm {
        features: usize,
    },
    BatchNorm {
        features: usize,
    },
    /// The activation between linear layers (an [`Activation`](super::Activation)).
    Activation(UnaryOp),
    Dropout(f64),
}

impl Module {
    /// Its parameters' names after the module's index, and their shapes.
    pub fn parameters(&self) -> Vec<(&'static str, Vec<usize>)> {
        match *self {
            Module::Linear { inputs, outputs } => vec![("weight", vec![outputs, inputs]), ("bias", vec![outputs])],
            Module::LayerNorm { features } => vec![("weight", vec![features]), ("bias", vec![features])],
            Module::BatchNorm { features } => vec![
                ("weight", vec![features]),
                ("bias", vec![features]),
                ("running_mean", vec![features]),
                ("running_var", vec![features]),
                ("num_batches_tracked", vec![]),
            ],
            Module::Activation(_) | Module::Dropout(_) => Vec::new(),
        }
    }

    /// The module as PyTorch writes it: `nn.Linear(784, 256)`, `nn.ReLU()`, `nn.Dropout(0.1)`.
    pub fn torch(&self) -> String {
        match *self {
            Module::Linear { inputs, outputs } => format!("nn.Linear({inputs}, {outputs})"),
            Module::LayerNorm { features } => format!("nn.LayerNorm({features})"),
            Module::BatchNorm { features } => format!("nn.BatchNorm1d({features})"),
            Module::Dropout(p) => format!("nn.Dropout({p})"),
            Module::Activation(op) => match op {
                UnaryOp::Relu => "nn.ReLU()".into(),
                UnaryOp::LeakyRelu(a) => format!("nn.LeakyReLU({a})"),
                UnaryOp::Elu(a) => format!("nn.ELU({a})"),
                UnaryOp::Sigmoid => "nn.Sigmoid()".into(),
                UnaryOp::Tanh => "nn.Tanh()".into(),
                // PyTorch's exact (erf) GELU; ours is the tanh approximation.
                UnaryOp::Gelu => "nn.GELU(approximate='tanh')".into(),
                UnaryOp::Silu => "nn.SiLU()".into(),
                UnaryOp::Softplus => "nn.Softplus()".into(),
                other => format!("<{}>", other.spec()),
            },
        }
    }
}

/// The `nn.Sequential` stack of an MLP of `sizes` with `activation`, `norm` before each
/// hidden activation and `dropout` after it: each module's index is its position.
pub fn stack(sizes: &[usize], activation: UnaryOp, norm: Norm, dropout: f64) -> Vec<Module> {
    let mut out = Vec::new();
    let last = sizes.len() - 2;
    for (i, w) in sizes.windows(2).enumerate() {
        out.push(Module::Linear {
            inputs: w[0],
            outputs: w[1],
        });
        if i == last {
            break;
        }
        match norm {
            Norm::None => {}
            Norm::Layer => out.push(Module::LayerNorm { features: w[1] }),
            Norm::Batch => out.push(Module::BatchNorm { features: w[1] }),
        }
        out.push(Module::Activation(activation));
        if dropout > 0.0 {
            out.push(Module::Dropout(dropout));
        }
    }
    out
}
