//! Layers and models: `Linear` in PyTorch's layout (weight `[out, in]`, bias `[out]`), an `Mlp`
//! built from sizes and an activation, seeded initialisers, and the graph of an MLP over a batch.
//!
//! Parameters are named as PyTorch's `nn.Sequential` names them: each module of the stack
//! ([`Mlp::modules`]: `Linear`, then optionally `LayerNorm`, the activation, optionally `Dropout`,
//! per hidden layer) takes the next index, so a plain MLP's are `0.weight`, `0.bias`, `2.weight`,
//! ... and a checkpoint loads into the `torch.nn.Sequential` that [`Mlp::torch`] writes with
//! `load_state_dict(strict=True)`.
//!
//! From the bottom up: what a graph is for and how it is fed (`mode.rs`), the linear layer
//! (`linear.rs`), the norms (`norm.rs`), the PyTorch stack (`torch.rs`), the MLP (`stack.rs`).

mod linear;
mod mode;
mod norm;
mod stack;
mod torch;

pub use linear::{Init, Linear};
pub use mode::{Input, Mode};
pub use norm::{BatchNorm, LayerNorm, Norm, NormLayer, BATCH_NORM_MOMENTUM, LAYER_NORM_EPS};
pub use stack::{activation, dropout_stream, Activation, Layers, Mlp, MlpGraph};
pub use torch::Module;
