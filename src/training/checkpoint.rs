//! Checkpoints in safetensors with PyTorch `nn.Sequential` state-dict names (`0.weight`,
//! `0.bias`, `2.weight`, ...), plus metadata that rebuilds the model (sizes, activation), the
//! optimizer state and the training progress for `--resume`, and a CRC-32 checksum that loading
//! verifies. Writes are atomic: an interrupted or failed save leaves the previous file intact.
//! A file PyTorch wrote in this layout (no metadata) loads too: the sizes come from the shapes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::nn::{Activation, Mlp};

/// Tensors by name, f32, with their shapes.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// What a checkpoint holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub mlp: Mlp,
    /// Parameters by state-dict name.
    pub params: Tensors,
    /// Optimizer state, named `optim.<param>.<key>` in the file.
    pub state: Tensors,
    /// Free-form string metadata (training configuration and progress), without the keys this
    /// module manages itself.
    pub meta: BTreeMap<String, String>,
}

const FORMAT: &str = "shadergrad-mlp-1";
const STATE_PREFIX: &str = "optim.";

/// CRC-32 over every tensor's name, shape and bytes, in name order.
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
        let mut meta: HashMap<String, String> = self.meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        meta.insert("format".into(), FORMAT.into());
        meta.insert(
            "sizes".into(),
            self.mlp
                .sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        meta.insert("activation".into(), self.mlp.activation.to_string());
        meta.insert("checksum".into(), checksum(&borrowed));
        let views = borrowed
            .iter()
            .map(|(n, s, d)| {
                Ok((
                    n.clone(),
                    TensorView::new(Dtype::F32, s.clone(), d).map_err(|e| Error::Format {
                        what: "a checkpoint",
                        why: format!("tensor `{n}`: {e}"),
                    })?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
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
        let mut meta: BTreeMap<String, String> = header.metadata().clone().unwrap_or_default().into_iter().collect();

        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, view) in st.tensors() {
            let data = match view.dtype() {
                Dtype::F32 => view.data().to_vec(),
                // PyTorch may save doubles; keep f32 on load.
                Dtype::F64 => {
                    let d: Vec<f64> = view
                        .data()
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                        .collect();
                    bytemuck::cast_slice(&d.iter().map(|&v| v as f32).collect::<Vec<f32>>()).to_vec()
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
        if let Some(want) = meta.remove("checksum") {
            let borrowed: Vec<(String, Vec<usize>, &[u8])> = tensors
                .iter()
                .map(|(n, s, d)| (n.clone(), s.clone(), d.as_slice()))
                .collect();
            let got = checksum(&borrowed);
            if got != want {
                return Err(ckpt_error(
                    path,
                    format!("checksum mismatch (the file records {want}, its data gives {got}): the file is corrupt"),
                ));
            }
        }
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

        meta.remove("format");
        let mlp = match (meta.remove("sizes"), meta.remove("activation")) {
            (Some(sizes), activation) => {
                let sizes: Vec<usize> = sizes
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| ckpt_error(path, format!("metadata sizes `{sizes}` are not a list of numbers")))?;
                let activation: Activation = activation.as_deref().unwrap_or("relu").parse()?;
                Mlp::new(&sizes, activation)?
            }
            (None, _) => infer_mlp(&params).map_err(|why| ckpt_error(path, why))?,
        };
        let ckpt = Checkpoint {
            mlp,
            params,
            state,
            meta,
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
