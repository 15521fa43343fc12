//! A trained model as a file and as something to use: [`Model`] holds the parameters (PyTorch
//! `nn.Sequential` names: `0.weight`, `0.bias`, `2.weight`, ...) and a [`ModelInfo`] saying
//! everything else a prediction needs: the architecture, the task, the features by name and
//! order, their standardisation, the targets' names, units and class labels. The file is
//! safetensors with exactly the model's tensors, so PyTorch's `load_state_dict` (strict) takes it;
//! the info travels in the safetensors metadata. [`Model::predict`] runs it on any backend.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::engine::backend::Backend;
use crate::engine::error::{Error, Result};
use crate::engine::op::UnaryOp;
use crate::training::data::image::PixelStats;
use crate::training::data::table::Schema;
use crate::training::data::{idx::PIXEL_SCALE, ClassWeight, Dataset, Features, Scaling, Source, Targets, Task};
use crate::training::metrics;
use crate::training::nn::{Activation, Init, Mlp};
use crate::training::optim::{Optimizer, Schedule};
use crate::training::train::{TrainConfig, Trainer};

pub use crate::training::io::Tensors;

/// What a model is, besides its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub mlp: Mlp,
    pub task: Task,
    /// The features, by name, in the order the model takes them.
    pub inputs: Vec<String>,
    /// `[rows, cols]` when the features are an image's pixels.
    pub image: Option<[usize; 2]>,
    /// The scale of byte (pixel) features, `value = scale · byte`; None for numbers.
    pub byte_scale: Option<f64>,
    /// The targets' names.
    pub outputs: Vec<String>,
    /// The classes' original labels, by class id (classification).
    pub classes: Vec<f64>,
    /// The classes as written, by class id, when they are text (`Adelie`, `yes`); empty when
    /// they are the numbers of `classes`.
    #[serde(default)]
    pub class_names: Vec<String>,
    /// The standardisation of the features (and of regression targets) in training.
    pub scaling: Scaling,
    /// What the tensors are when they are not a model to use (`shadergrad grads` writes
    /// gradients).
    #[serde(default)]
    pub note: Option<String>,
    /// The data it was trained on and the split held out from it, when a training run says.
    #[serde(default)]
    pub trained_on: Option<TrainedOn>,
    /// What its training images looked like (a model of images), to tell images unlike them.
    #[serde(default)]
    pub pixels: Option<PixelStats>,
    /// For a model of a table: how the table's columns become its inputs (fill values,
    /// categories, indicator columns), applied to new rows as in training.
    #[serde(default)]
    pub schema: Option<Schema>,
}

/// Where a model's training data came from, and which examples were held out for validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedOn {
    pub source: Source,
    /// Examples held out (chosen by `seed`, stratified for a table's classes).
    pub validation: usize,
    pub seed: u64,
    /// Whether a table's numbers were standardised by the training split.
    pub standardize: bool,
    /// How the training examples' classes were weighted in the loss, if they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_weight: Option<ClassWeight>,
}

impl ModelInfo {
    /// Class `id` as written: `Adelie`, or `3`.
    pub fn class_name(&self, id: usize) -> String {
        Targets::class_name(&self.classes, &self.class_names, id)
    }

    /// The info of `mlp` trained for `task` on `data` (its names, image size, scaling, classes).
    pub fn describe(mlp: &Mlp, task: Task, data: &Dataset) -> ModelInfo {
        ModelInfo {
            mlp: mlp.clone(),
            task,
            inputs: data.feature_names.clone(),
            image: data.image,
            byte_scale: match data.features {
                Features::Bytes { scale, .. } => Some(scale),
                Features::Floats(_) => None,
            },
            outputs: data.target_names.clone(),
            class_names: match &data.targets {
                Targets::Classes { names, .. } => names.clone(),
                _ => Vec::new(),
            },
            classes: match &data.targets {
                Targets::Classes { labels, .. } => {
                    // At least one label per output, so every class id names one.
                    let mut l = labels.clone();
                    while l.len() < mlp.classes() {
                        l.push(l.len() as f64);
                    }
                    l
                }
                _ => Vec::new(),
            },
            scaling: data.scaling.clone(),
            note: None,
            trained_on: None,
            pixels: match (&data.features, data.image) {
                (Features::Bytes { values, .. }, Some(size)) => PixelStats::of(values, size),
                _ => None,
            },
            schema: data.schema.as_deref().cloned(),
        }
    }

    /// What a file without shadergrad's metadata (a PyTorch state dict) is taken to be: a
    /// classifier of its outputs' classes 0..k, of 28×28 byte digits when it takes 784 inputs.
    pub fn assumed(mlp: &Mlp) -> ModelInfo {
        let digits = mlp.inputs() == 784;
        ModelInfo {
            mlp: mlp.clone(),
            task: Task::Classify,
            inputs: (0..mlp.inputs()).map(|i| format!("x{i}")).collect(),
            image: digits.then_some([28, 28]),
            byte_scale: digits.then_some(PIXEL_SCALE),
            outputs: vec!["label".into()],
            classes: (0..mlp.classes()).map(|c| c as f64).collect(),
            class_names: Vec::new(),
            scaling: Scaling::default(),
            note: None,
            trained_on: None,
            pixels: None,
            schema: None,
        }
    }
}

/// A model's predictions, one per example, in the targets' original terms.
#[derive(Clone, Debug, PartialEq)]
pub enum Predictions {
    /// The predicted class's original label (for classes written as text, its id), as written
    /// (`Adelie`, `3`), and every class's probability.
    Classes {
        classes: Vec<f64>,
        names: Vec<String>,
        probabilities: Vec<Vec<f64>>,
    },
    /// The predicted values, in the targets' original units.
    Values(Vec<Vec<f64>>),
    /// Each label, 0 or 1 (probability over one half), and the probabilities.
    Labels {
        labels: Vec<Vec<u8>>,
        probabilities: Vec<Vec<f64>>,
    },
}

/// A model: its info and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub info: ModelInfo,
    pub params: Tensors,
    /// Optimizer steps that trained it (0 when unknown).
    pub steps: u64,
}

/// The format a model file's metadata says it is.
pub const MODEL_FORMAT: &str = "shadergrad-model-3";
/// The safetensors metadata key of shadergrad's records.
pub const METADATA_KEY: &str = "shadergrad";

/// What a model file records under [`METADATA_KEY`], as JSON.
#[derive(Serialize, Deserialize)]
struct ModelRecord {
    format: String,
    model: ModelInfo,
    steps: u64,
    checksum: String,
}

/// CRC-32 over every tensor's name, shape and bytes, in name order.
pub(crate) fn checksum(tensors: &Tensors) -> String {
    let mut crc = flate2::Crc::new();
    for (name, (shape, data)) in tensors {
        crc.update(name.as_bytes());
        for d in shape {
            crc.update(&(*d as u64).to_le_bytes());
        }
        crc.update(bytemuck::cast_slice(data));
    }
    format!("{:08x}", crc.sum())
}

/// Tensors and a JSON record as safetensors bytes.
pub(crate) fn to_safetensors(tensors: &Tensors, record: &impl Serialize) -> Result<Vec<u8>> {
    let json = serde_json::to_string(record).map_err(|e| Error::Format {
        what: "a model's metadata",
        why: e.to_string(),
    })?;
    let views = tensors
        .iter()
        .map(|(n, (s, d))| {
            let view = TensorView::new(Dtype::F32, s.clone(), bytemuck::cast_slice(d)).map_err(|e| Error::Format {
                what: "a model",
                why: format!("tensor `{n}`: {e}"),
            })?;
            Ok((n.clone(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(HashMap::from([(METADATA_KEY.to_string(), json)]))).map_err(|e| Error::Format {
        what: "a model",
        why: e.to_string(),
    })
}

/// The tensors (as f32) and the metadata of safetensors bytes; `path` names the file in errors.
pub(crate) fn read_safetensors(bytes: &[u8], path: &Path) -> Result<(Tensors, HashMap<String, String>)> {
    let bad = |why: String| Error::Checkpoint {
        path: path.to_path_buf(),
        why,
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let mut tensors = Tensors::new();
    for (name, view) in st.tensors() {
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            // PyTorch may save doubles; kept as f32.
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            other => {
                return Err(bad(format!(
                    "tensor `{name}` has dtype {other:?}; only F32 and F64 load"
                )))
            }
        };
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok((tensors, header.metadata().clone().unwrap_or_default()))
}

/// The first format's metadata (`sizes`, `activation`): its model.
fn legacy_mlp(sizes: &str, activation: Option<&String>) -> std::result::Result<Mlp, String> {
    let sizes: Vec<usize> = sizes
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| format!("metadata sizes `{sizes}` are not a list of numbers"))?;
    let activation =
        crate::training::nn::activation(activation.map_or("relu", String::as_str)).map_err(|e| e.to_string())?;
    Mlp::new(&sizes, activation).map_err(|e| e.to_string())
}

/// The sizes of an MLP from PyTorch `nn.Sequential` shapes: `0.weight [h1, in]`, `2.weight [h2, h1]`, ...
fn infer_mlp(params: &Tensors) -> std::result::Result<Mlp, String> {
    let mut sizes = Vec::new();
    for i in 0.. {
        let Some((shape, _)) = params.get(&format!("{}.weight", 2 * i)) else {
            break;
        };
        if shape.len() != 2 {
            return Err(format!("tensor `{}.weight` has shape {shape:?}, not [out, in]", 2 * i));
        }
        if sizes.is_empty() {
            sizes.push(shape[1]);
        } else if sizes.last() != Some(&shape[1]) {
            return Err(format!(
                "tensor `{}.weight` takes {} inputs but the layer before gives {}",
                2 * i,
                shape[1],
                sizes.last().unwrap_or(&0)
            ));
        }
        sizes.push(shape[0]);
    }
    if sizes.is_empty() {
        return Err("holds no `0.weight`: not an nn.Sequential MLP state dict".into());
    }
    Mlp::new(&sizes, Activation::Relu).map_err(|e| e.to_string())
}

impl Model {
    /// The model's file as safetensors bytes: its parameters and its info.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let record = ModelRecord {
            format: MODEL_FORMAT.into(),
            model: self.info.clone(),
            steps: self.steps,
            checksum: checksum(&self.params),
        };
        to_safetensors(&self.params, &record)
    }

    /// Writes the model file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::training::io::write_atomic(path, &self.to_bytes()?)
    }

    /// Reads a model file, verifying its checksum and its tensors against the model its info
    /// describes. A file of the first format, or one PyTorch wrote (no metadata: the sizes come
    /// from the shapes, see [`ModelInfo::assumed`]), loads too.
    ///
    /// ```no_run
    /// use shadergrad::{backend::cpu::CpuBackend, data::Features, model::Model};
    /// let model = Model::load("model.safetensors".as_ref())?;
    /// let rows = Features::Floats(vec![5.1, 3.5, 1.4, 0.2]);
    /// let predictions = model.predict(&CpuBackend::<f32>::new(), &rows)?;
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn load(path: &Path) -> Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, path).map(|(model, _)| model)
    }

    /// Parses model-file bytes; also returns the tensors that are not the model's (the optimizer
    /// state the first format kept in the same file, named `optim.…`).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(Model, Tensors)> {
        let bad = |why: String| Error::Checkpoint {
            path: path.to_path_buf(),
            why,
        };
        let (tensors, meta) = read_safetensors(bytes, path)?;
        let verify = |want: &str, tensors: &Tensors| {
            let got = checksum(tensors);
            if got == want {
                Ok(())
            } else {
                Err(bad(format!(
                    "checksum mismatch (the file records {want}, its data gives {got}): the file is corrupt"
                )))
            }
        };
        let (info, steps) = match meta.get(METADATA_KEY) {
            Some(json) => {
                let record: ModelRecord = serde_json::from_str(json)
                    .map_err(|e| bad(format!("its metadata does not read as {MODEL_FORMAT}: {e}")))?;
                if record.format != MODEL_FORMAT {
                    return Err(bad(format!(
                        "is a {} file, not a model ({MODEL_FORMAT})",
                        record.format
                    )));
                }
                verify(&record.checksum, &tensors)?;
                let mut info = record.model;
                info.mlp = info
                    .mlp
                    .validated()
                    .map_err(|e| bad(format!("its model is not one: {e}")))?;
                (info, record.steps)
            }
            None => {
                // The first format's keys (sizes, activation, checksum), or none (PyTorch).
                if let Some(want) = meta.get("checksum") {
                    verify(want, &tensors)?;
                }
                let mlp = match meta.get("sizes") {
                    Some(sizes) => legacy_mlp(sizes, meta.get("activation")).map_err(bad)?,
                    None => infer_mlp(&tensors).map_err(bad)?,
                };
                let mut info = ModelInfo::assumed(&mlp);
                info.note = meta.get("content").cloned();
                (info, 0)
            }
        };
        let (extra, params): (Tensors, Tensors) = tensors.into_iter().partition(|(n, _)| n.starts_with("optim."));
        let model = Model { info, params, steps };
        model.check(path)?;
        Ok((model, extra))
    }

    /// Checks the parameters are exactly those of the model, with its shapes.
    fn check(&self, path: &Path) -> Result<()> {
        let mlp = &self.info.mlp;
        let bad = |why: String| Error::Checkpoint {
            path: path.to_path_buf(),
            why,
        };
        for (name, shape) in mlp.parameter_names().iter().zip(mlp.parameter_shapes()) {
            match self.params.get(name) {
                None => {
                    return Err(bad(format!(
                        "has no tensor `{name}`, which a {} model needs",
                        mlp.describe()
                    )))
                }
                Some((s, _)) if *s != shape => {
                    return Err(bad(format!(
                        "tensor `{name}` has shape {s:?} but a {} model needs {shape:?}",
                        mlp.describe()
                    )))
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = self.params.keys().find(|k| !mlp.parameter_names().contains(k)) {
            return Err(bad(format!(
                "tensor `{extra}` is not a parameter of a {} model",
                mlp.describe()
            )));
        }
        Ok(())
    }

    /// Checks the file holds the model `mlp` (for `--resume` with explicit sizes).
    pub fn expect_model(&self, mlp: &Mlp, path: &Path) -> Result<()> {
        if self.info.mlp != *mlp {
            return Err(Error::Checkpoint {
                path: path.to_path_buf(),
                why: format!(
                    "holds a {} model, not the {} asked for",
                    self.info.mlp.describe(),
                    mlp.describe()
                ),
            });
        }
        Ok(())
    }

    /// A trainer on `backend` holding this model's parameters (to evaluate or predict with).
    pub fn trainer<B: Backend>(&self, backend: &B) -> Result<Trainer<B>> {
        let config = TrainConfig {
            mlp: self.info.mlp.clone(),
            task: self.info.task,
            init: Init::KaimingUniform,
            optimizer: Optimizer::sgd(0.0),
            schedule: Schedule::Constant,
            batch: 1,
            epochs: 0,
            seed: 0,
            loss_every: 1,
            regularize: Default::default(),
        };
        let mut trainer = Trainer::new(backend, config)?;
        trainer.load_params(&self.params)?;
        Ok(trainer)
    }

    /// `features` (in original units, `[n, inputs]`: numbers, or bytes for an image model) as
    /// the model takes them, with placeholder targets: a data set to run it on.
    pub fn dataset(&self, features: &Features) -> Result<Dataset> {
        let info = &self.info;
        let f = info.mlp.inputs();
        let len = match features {
            Features::Bytes { values, .. } => values.len(),
            Features::Floats(v) => v.len(),
        };
        if len % f != 0 {
            return Err(Error::invalid(
                "features",
                format!("{len} values"),
                format!("rows of the {f} features the model takes"),
            ));
        }
        let n = len / f;
        // Bytes stay bytes for a model of bytes; anything else becomes numbers in the model's units.
        let features = match (features, info.byte_scale) {
            (Features::Bytes { values, .. }, Some(scale)) => Features::Bytes {
                values: values.clone(),
                scale,
            },
            (Features::Bytes { values, .. }, None) => Features::Floats(values.iter().map(|&b| b as f32).collect()),
            (Features::Floats(v), Some(scale)) => {
                Features::Floats(v.iter().map(|&x| (x as f64 * scale) as f32).collect())
            }
            (Features::Floats(v), None) => Features::Floats(v.clone()),
        };
        let k = info.mlp.classes();
        let targets = match info.task {
            Task::Classify => Targets::Classes {
                ids: vec![0; n],
                labels: info.classes.clone(),
                names: info.class_names.clone(),
            },
            Task::Regress => Targets::Values {
                values: vec![0.0; n * k],
                k,
            },
            Task::Multilabel => Targets::Labels {
                values: vec![0.0; n * k],
                k,
            },
        };
        let mut data = Dataset {
            features,
            feature_count: f,
            feature_names: info.inputs.clone(),
            targets,
            target_names: info.outputs.clone(),
            image: info.image,
            scaling: Scaling::default(),
            schema: info.schema.clone().map(std::sync::Arc::new),
            weights: None,
        };
        data.standardize(&Scaling {
            features: info.scaling.features.clone(),
            targets: None,
        });
        data.scaling.targets = info.scaling.targets.clone();
        Ok(data)
    }

    /// The model's predictions for `features` (original units, `[n, inputs]`), on `backend`.
    pub fn predict<B: Backend>(&self, backend: &B, features: &Features) -> Result<Predictions> {
        let data = self.dataset(features)?;
        let rows: Vec<usize> = (0..data.len()).collect();
        let outputs = self.trainer(backend)?.outputs(&data, &rows)?;
        Ok(self.interpret(&outputs))
    }

    /// Outputs (`[n, k]` logits or standard values) as predictions.
    pub(crate) fn interpret(&self, outputs: &[f64]) -> Predictions {
        let info = &self.info;
        let k = info.mlp.classes().max(1);
        match info.task {
            Task::Classify => {
                let mut classes = Vec::new();
                let mut names = Vec::new();
                let mut probabilities = Vec::new();
                for row in outputs.chunks(k) {
                    let best = metrics::argmax(row);
                    classes.push(info.classes.get(best).copied().unwrap_or(best as f64));
                    names.push(info.class_name(best));
                    probabilities.push(metrics::softmax(row));
                }
                Predictions::Classes {
                    classes,
                    names,
                    probabilities,
                }
            }
            Task::Regress => Predictions::Values(
                outputs
                    .chunks(k)
                    .map(|row| {
                        row.iter()
                            .enumerate()
                            .map(|(j, &z)| info.scaling.targets.as_ref().map_or(z, |s| s.invert(z, j)))
                            .collect()
                    })
                    .collect(),
            ),
            Task::Multilabel => {
                let probabilities: Vec<Vec<f64>> = outputs
                    .chunks(k)
                    .map(|row| row.iter().map(|&z| UnaryOp::Sigmoid.f(z)).collect())
                    .collect();
                let labels = probabilities
                    .iter()
                    .map(|p| p.iter().map(|&q| (q > 0.5) as u8).collect())
                    .collect();
                Predictions::Labels { labels, probabilities }
            }
        }
    }
}
