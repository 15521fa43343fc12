//! Checkpoints in safetensors with PyTorch `nn.Sequential` state-dict names (`0.weight`,
//! `0.bias`, `2.weight`, ...), the optimizer state beside them (`optim.<param>.<key>`), and one
//! metadata record, [`Metadata`], written and read here only: the model (sizes, activation), the
//! training run when there is one (its configuration and where it stands, for `--resume`), and a
//! CRC-32 of the tensors that loading verifies. Writes are atomic: an interrupted or failed save
//! leaves the previous file intact. A file PyTorch wrote in this layout (no metadata) loads too:
//! the sizes come from the shapes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::nn::{Activation, Mlp};
use crate::train::{Progress, TrainConfig, Trainer};

/// Tensors by name, f32, with their shapes.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// A training run as a checkpoint records it: enough to continue it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    pub config: TrainConfig,
    /// Where the run stands.
    pub progress: Progress,
    /// Optimizer steps taken (Adam's bias correction counts them).
    pub steps: u64,
    /// Examples held out of the data for validation (they are chosen by `config.seed`).
    pub validation: Option<usize>,
}

/// What a checkpoint holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub mlp: Mlp,
    /// Parameters by state-dict name.
    pub params: Tensors,
    /// Optimizer state, named `optim.<param>.<key>` in the file.
    pub state: Tensors,
    /// The run that wrote it, if a training run did.
    pub training: Option<TrainingState>,
    /// What the tensors are, when they are not a model to train (`shadergrad grads` writes
    /// gradients).
    pub note: Option<String>,
}

/// The record under the safetensors metadata key [`METADATA_KEY`], as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// [`FORMAT`].
    pub format: String,
    pub model: Mlp,
    pub training: Option<TrainingState>,
    pub note: Option<String>,
    /// CRC-32 over every tensor's name, shape and bytes, in name order.
    pub checksum: String,
}

/// The format this module writes.
pub const FORMAT: &str = "shadergrad-mlp-2";
/// The safetensors metadata key of the [`Metadata`] record.
pub const METADATA_KEY: &str = "shadergrad";
const STATE_PREFIX: &str = "optim.";

fn checksum(tensors: &[(String, Vec<usize>, &[u8])]) -> String {
    let mut crc = flate2::Crc::new();
    for (name, shape, data) in tensors {
        crc.update(name.as_bytes());
        for d in shape {
            crc.update(&(*d as u64).to_le_bytes());
        }
        crc.update(data);
    }
    format!("{:08x}", crc.sum())
}

fn ckpt_error(path: &Path, why: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

impl Checkpoint {
    /// Serialises to safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, (shape, v)) in &self.params {
            owned.push((name.clone(), shape.clone(), bytemuck::cast_slice(v).to_vec()));
        }
        for (name, (shape, v)) in &self.state {
            owned.push((
                format!("{STATE_PREFIX}{name}"),
                shape.clone(),
                bytemuck::cast_slice(v).to_vec(),
            ));
        }
        owned.sort_by(|a, b| a.0.cmp(&b.0));
        let borrowed: Vec<(String, Vec<usize>, &[u8])> = owned
            .iter()
            .map(|(n, s, d)| (n.clone(), s.clone(), d.as_slice()))
            .collect();
        let record = Metadata {
            format: FORMAT.into(),
            model: self.mlp.clone(),
            training: self.training.clone(),
            note: self.note.clone(),
            checksum: checksum(&borrowed),
        };
        let json = serde_json::to_string(&record).map_err(|e| Error::Format {
            what: "checkpoint metadata",
            why: e.to_string(),
        })?;
        let views = borrowed
            .iter()
            .map(|(n, s, d)| {
                let view = TensorView::new(Dtype::F32, s.clone(), d).map_err(|e| Error::Format {
                    what: "a checkpoint",
                    why: format!("tensor `{n}`: {e}"),
                })?;
                Ok((n.clone(), view))
            })
            .collect::<Result<Vec<_>>>()?;
        let meta = HashMap::from([(METADATA_KEY.to_string(), json)]);
        safetensors::serialize(views, Some(meta)).map_err(|e| Error::Format {
            what: "a checkpoint",
            why: e.to_string(),
        })
    }

    /// Writes the checkpoint atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, &self.to_bytes()?)
    }

    /// Reads a checkpoint, verifying its checksum (when it has one) and its tensors against the
    /// model its metadata (or, for a PyTorch file, its shapes) describes.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses checkpoint bytes; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| ckpt_error(path, format!("not a safetensors file: {e}")))?;
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| ckpt_error(path, format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();

        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, view) in st.tensors() {
            let data = match view.dtype() {
                Dtype::F32 => view.data().to_vec(),
                // PyTorch may save doubles; keep f32 on load.
                Dtype::F64 => {
                    let d: Vec<f32> = view
                        .data()
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                        .collect();
                    bytemuck::cast_slice(&d).to_vec()
                }
                other => {
                    return Err(ckpt_error(
                        path,
                        format!("tensor `{name}` has dtype {other:?}; only F32 and F64 load"),
                    ))
                }
            };
            tensors.push((name, view.shape().to_vec(), data));
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let borrowed: Vec<(String, Vec<usize>, &[u8])> = tensors
            .iter()
            .map(|(n, s, d)| (n.clone(), s.clone(), d.as_slice()))
            .collect();
        let got = checksum(&borrowed);
        let verify = |want: &str| {
            if got == want {
                Ok(())
            } else {
                Err(ckpt_error(
                    path,
                    format!("checksum mismatch (the file records {want}, its data gives {got}): the file is corrupt"),
                ))
            }
        };
        let to_f32 = |d: &[u8]| -> Vec<f32> {
            d.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let mut params = Tensors::new();
        let mut state = Tensors::new();
        for (name, shape, data) in &tensors {
            match name.strip_prefix(STATE_PREFIX) {
                Some(rest) => state.insert(rest.to_string(), (shape.clone(), to_f32(data))),
                None => params.insert(name.clone(), (shape.clone(), to_f32(data))),
            };
        }

        let (mlp, training, note) = match meta.get(METADATA_KEY) {
            Some(json) => {
                let record: Metadata = serde_json::from_str(json)
                    .map_err(|e| ckpt_error(path, format!("its metadata does not read as {FORMAT}: {e}")))?;
                verify(&record.checksum)?;
                let mlp = Mlp::new(&record.model.sizes, record.model.activation)
                    .map_err(|e| ckpt_error(path, format!("its model is not one: {e}")))?;
                (mlp, record.training, record.note)
            }
            None => {
                // The first format's keys (sizes, activation, checksum), or none at all (PyTorch).
                if let Some(want) = meta.get("checksum") {
                    verify(want)?;
                }
                let mlp = match meta.get("sizes") {
                    Some(sizes) => legacy_mlp(sizes, meta.get("activation").map(String::as_str))
                        .map_err(|why| ckpt_error(path, why))?,
                    None => infer_mlp(&params).map_err(|why| ckpt_error(path, why))?,
                };
                (mlp, None, meta.get("content").cloned())
            }
        };
        let ckpt = Checkpoint {
            mlp,
            params,
            state,
            training,
            note,
        };
        ckpt.check(path)?;
        Ok(ckpt)
    }

    /// Checks the parameters are exactly those of the model, with its shapes.
    fn check(&self, path: &Path) -> Result<()> {
        for (name, shape) in self.mlp.parameter_names().iter().zip(self.mlp.parameter_shapes()) {
            match self.params.get(name) {
                None => {
                    return Err(ckpt_error(
                        path,
                        format!("has no tensor `{name}`, which a {} model needs", self.mlp.describe()),
                    ))
                }
                Some((s, _)) if *s != shape => {
                    return Err(ckpt_error(
                        path,
                        format!(
                            "tensor `{name}` has shape {s:?} but a {} model needs {shape:?}",
                            self.mlp.describe()
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = self.params.keys().find(|k| !self.mlp.parameter_names().contains(k)) {
            return Err(ckpt_error(
                path,
                format!("tensor `{extra}` is not a parameter of a {} model", self.mlp.describe()),
            ));
        }
        Ok(())
    }

    /// Checks the checkpoint holds the model `mlp` (for `--resume` with explicit sizes).
    pub fn expect_model(&self, mlp: &Mlp, path: &Path) -> Result<()> {
        if self.mlp.sizes != mlp.sizes {
            return Err(ckpt_error(
                path,
                format!(
                    "holds a {} model, not the {} asked for",
                    self.mlp.describe(),
                    mlp.describe()
                ),
            ));
        }
        Ok(())
    }
}

/// Saving a trainer's model and run, and restoring them.
impl<B: Backend> Trainer<B> {
    /// The parameters and optimizer state as a checkpoint; with `progress`, also the run's
    /// configuration and where it stands, so that [`Trainer::restore`] and [`fit`](crate::train::fit) continue it.
    pub fn checkpoint(&self, progress: Option<&Progress>) -> Result<Checkpoint> {
        let mut params = BTreeMap::new();
        let mut state = BTreeMap::new();
        for (name, shape, values, states) in self.store().read_all()? {
            let dims = shape.dims().to_vec();
            for (key, v) in states {
                state.insert(
                    format!("{name}.{key}"),
                    (dims.clone(), v.iter().map(|&x| x as f32).collect()),
                );
            }
            params.insert(name, (dims, values.iter().map(|&x| x as f32).collect()));
        }
        Ok(Checkpoint {
            mlp: self.config().mlp.clone(),
            params,
            state,
            training: progress.map(|p| TrainingState {
                config: self.config().clone(),
                progress: p.clone(),
                steps: self.store().steps(),
                validation: None,
            }),
            note: None,
        })
    }

    /// Loads parameters (and any optimizer state) from a checkpoint of the same model, and the
    /// optimizer's step count when the checkpoint records a run.
    pub fn restore(&mut self, ckpt: &Checkpoint) -> Result<()> {
        for (name, (shape, values)) in &ckpt.params {
            let v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
            self.store_mut().set(name, &shape.as_slice().into(), &v)?;
        }
        for (full, (_, values)) in &ckpt.state {
            let Some((name, key)) = full.rsplit_once('.') else {
                continue;
            };
            if self.store().shape(name).is_some() && self.config().optimizer.state_names().contains(&key) {
                let v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
                self.store_mut().set_state(name, key, &v)?;
            }
        }
        self.store_mut()
            .set_steps(ckpt.training.as_ref().map_or(0, |t| t.steps));
        Ok(())
    }
}

/// The model of the first format's metadata: `sizes` as `784,256,10` and an activation name.
fn legacy_mlp(sizes: &str, activation: Option<&str>) -> std::result::Result<Mlp, String> {
    let sizes: Vec<usize> = sizes
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| format!("metadata sizes `{sizes}` are not a list of numbers"))?;
    let activation = crate::nn::activation(activation.unwrap_or("relu")).map_err(|e| e.to_string())?;
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
