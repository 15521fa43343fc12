//! ONNX export: a model as one ONNX file that takes raw columns and gives final answers, so it
//! runs wherever onnxruntime does. Inside the graph, in order: a table's preprocessing (missing
//! numbers filled with the training median plus their 0/1 indicators; categories one-hot by the
//! `ai.onnx.ml` encoder, an unseen or rare category to "other" where the column has it, a missing
//! cell to its own input), the pixels' scale, the standardisation, the layers (`Gemm`, every
//! activation, `LayerNormalization`, batch norm in inference form; dropout is the identity), and
//! the answer (classes as trained, probabilities, values in original units, labels).
//!
//! Opset 20 of `ai.onnx` (GELU's tanh form is there from 20) and 1 of `ai.onnx.ml`, IR version
//! 9: onnxruntime 1.17 and later run it.

mod export;
mod graph;
pub mod proto;

use prost::Message;

use crate::engine::error::Result;
use crate::training::model::Model;

pub use export::{export, INPUT_FEATURES, INPUT_IMAGE};

impl Model {
    /// The model as an ONNX file's bytes (see [`crate::onnx`]): a table's model takes one input
    /// per column (`float` numbers, NaN where missing; `string` categories, `""` where missing),
    /// an image model `image` (pixel values 0–255), any other `features`; it answers `label`
    /// and `probabilities` (classify), `values` (regress), or `probabilities` and `labels`
    /// (multi-label).
    ///
    /// ```
    /// use shadergrad::{backend::cpu::CpuBackend, data::{Dataset, Task}, nn::{Activation, Init, Mlp}};
    /// use shadergrad::{onnx::proto::ModelProto, optim::{Optimizer, Schedule}, train::{TrainConfig, Trainer}};
    /// let digits = Dataset::bundled_digits()?;
    /// let config = TrainConfig {
    ///     mlp: Mlp::new(&[784, 16, 10], Activation::Relu)?, task: Task::Classify, init: Init::KaimingUniform,
    ///     optimizer: Optimizer::sgd(0.1), schedule: Schedule::Constant, batch: 64, epochs: 1, seed: 0,
    ///     loss_every: 1, regularize: Default::default(),
    /// };
    /// let model = Trainer::new(&CpuBackend::<f32>::new(), config)?.model(&digits)?;
    /// let onnx = <ModelProto as prost::Message>::decode(&model.to_onnx()?[..]).unwrap();
    /// let graph = onnx.graph.unwrap();
    /// assert_eq!(graph.input[0].name, "image");
    /// assert_eq!(graph.output.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["label", "probabilities"]);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn to_onnx(&self) -> Result<Vec<u8>> {
        Ok(export(self)?.encode_to_vec())
    }
}
