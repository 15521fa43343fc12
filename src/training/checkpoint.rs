//! Checkpoints: a training run saved so that it can continue. The model file (see
//! [`crate::training::model`]) holds the model's own tensors and nothing else, so PyTorch loads it
//! strictly; what `--resume` needs besides (the optimizer state, the run's configuration and
//! progress, where its data came from) is a second file beside it, `<model>.resume`, tied to
//! the model by the model's checksum. Both are written atomically, the model first.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::backend::Backend;
use crate::engine::error::{Error, Result};
use crate::training::data::Dataset;
use crate::training::model::{checksum, read_safetensors, to_safetensors, Model, ModelInfo, Tensors, METADATA_KEY};
use crate::training::train::{Progress, TrainConfig, Trainer};

/// A training run as a checkpoint records it: with the model's info (which says what data it
/// was trained on), enough to continue it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    pub config: TrainConfig,
    /// Where the run stands.
    pub progress: Progress,
    /// Optimizer steps taken (Adam's bias correction counts them).
    pub steps: u64,
}

/// A model and, when a training run wrote it, what continuing the run needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub model: Model,
    /// Optimizer state by `<param>.<key>` (`0.weight.momentum`).
    pub state: Tensors,
    pub training: Option<TrainingState>,
}

/// The prefix of the latest parameters in a resume state whose model is an earlier, best epoch.
const LATEST: &str = "latest.";

/// The format of a resume file.
pub const RESUME_FORMAT: &str = "shadergrad-resume-1";

/// What a resume file records under the metadata key, as JSON.
#[derive(Serialize, Deserialize)]
struct ResumeRecord {
    format: String,
    training: TrainingState,
    /// The checksum of the model file this continues.
    model_checksum: String,
    checksum: String,
}

/// The resume file beside a model file: `model.safetensors.resume`.
///
/// ```
/// use std::path::Path;
/// let p = shadergrad::checkpoint::resume_path(Path::new("runs/model.safetensors"));
/// assert_eq!(p, Path::new("runs/model.safetensors.resume"));
/// ```
pub fn resume_path(model: &Path) -> PathBuf {
    let mut name = model.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".resume");
    model.with_file_name(name)
}

impl Checkpoint {
    /// Writes the model file at `path` and, for a training run, its resume file beside it;
    /// both atomically, the model first (so an interrupted save never leaves a model older
    /// than its resume file; the checksum tie catches the other way round).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.model.save(path)?;
        if let Some(resume) = self.resume_bytes()? {
            crate::training::io::write_atomic(&resume_path(path), &resume)?;
        }
        Ok(())
    }

    /// The resume file's bytes, for a training run (None for a model alone): what
    /// [`Checkpoint::save`] writes beside the model, and a pickled estimator keeps.
    pub fn resume_bytes(&self) -> Result<Option<Vec<u8>>> {
        let Some(training) = &self.training else {
            return Ok(None);
        };
        let record = ResumeRecord {
            format: RESUME_FORMAT.into(),
            training: training.clone(),
            model_checksum: checksum(&self.model.params),
            checksum: checksum(&self.state),
        };
        to_safetensors(&self.state, &record).map(Some)
    }

    /// Reads a model file and, when there is one, its resume file. A file of the first format
    /// (one file, optimizer state inside) loads as a model whose run cannot be resumed.
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let resume = resume_path(path);
        let resume_bytes = match std::fs::read(&resume) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&resume, e)),
        };
        Self::from_bytes(&bytes, resume_bytes.as_deref(), path)
    }

    /// A checkpoint from a model file's bytes and, for a run, its resume file's (`path` names
    /// the model in messages, the resume file beside it).
    ///
    /// ```
    /// use shadergrad::{backend::cpu::CpuBackend, checkpoint::Checkpoint, data::Dataset, nn::{Activation, Mlp}};
    /// use shadergrad::train::{Progress, TrainConfig, Trainer};
    /// # let config = TrainConfig { mlp: Mlp::new(&[784, 8, 10], Activation::Relu)?, task: Default::default(), init: shadergrad::nn::Init::KaimingUniform, optimizer: shadergrad::optim::Optimizer::adam(1e-3), schedule: shadergrad::optim::Schedule::Constant, batch: 8, epochs: 1, seed: 0, loss_every: 1, regularize: Default::default() };
    /// let digits = Dataset::bundled_digits()?;
    /// let trainer = Trainer::new(&CpuBackend::<f32>::new(), config)?;
    /// let ckpt = trainer.checkpoint(&digits, Some(&Progress::default()))?;
    /// let (model, resume) = (ckpt.model.to_bytes()?, ckpt.resume_bytes()?);
    /// let back = Checkpoint::from_bytes(&model, resume.as_deref(), "m.safetensors".as_ref())?;
    /// assert_eq!(back, ckpt);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn from_bytes(model_bytes: &[u8], resume_bytes: Option<&[u8]>, path: &Path) -> Result<Checkpoint> {
        let (model, _) = Model::from_bytes(model_bytes, path)?;
        let Some(bytes) = resume_bytes else {
            return Ok(Checkpoint {
                model,
                state: Tensors::new(),
                training: None,
            });
        };
        let resume = resume_path(path);
        let bad = |why: String| Error::Checkpoint {
            path: resume.clone(),
            why,
        };
        let (state, meta) = read_safetensors(bytes, &resume)?;
        let json = meta
            .get(METADATA_KEY)
            .ok_or_else(|| bad("is not a resume file: it has no shadergrad record".into()))?;
        let record: ResumeRecord =
            serde_json::from_str(json).map_err(|e| bad(format!("does not read as {RESUME_FORMAT}: {e}")))?;
        if record.checksum != checksum(&state) {
            return Err(bad("checksum mismatch: the file is corrupt".into()));
        }
        if record.model_checksum != checksum(&model.params) {
            return Err(bad(format!(
                "belongs to another state of {} (an interrupted save?): it cannot continue this model",
                path.display()
            )));
        }
        Ok(Checkpoint {
            model,
            state,
            training: Some(record.training),
        })
    }
}

/// Saving a trainer's model and run, and restoring them.
impl<B: Backend> Trainer<B> {
    /// The trained model: its parameters, and its info from `data` (the training split: its
    /// names, scaling and classes).
    pub fn model(&self, data: &Dataset) -> Result<Model> {
        Ok(self.snapshot(data)?.0)
    }

    /// The model, its optimizer state and (with `progress`) where the run stands, as a
    /// checkpoint.
    /// A run that keeps its best epoch saves that epoch's parameters as the model, and the
    /// latest ones (what it continues from) in the resume state as `latest.<param>`.
    pub fn checkpoint(&self, data: &Dataset, progress: Option<&Progress>) -> Result<Checkpoint> {
        let (mut model, mut state) = self.snapshot(data)?;
        // The best epoch is the parameters as they stand only at the end of that epoch.
        let best_is_older = progress.is_some_and(|p| {
            p.best
                .is_some_and(|b| b.epoch != p.history.len() as u64 || p.batch != 0)
        });
        if let (true, Some(best)) = (best_is_older, &self.best) {
            let latest = std::mem::replace(&mut model.params, best.clone());
            state.extend(
                latest
                    .into_iter()
                    .filter(|(name, _)| self.store().shape(name).is_some())
                    .map(|(name, v)| (format!("{LATEST}{name}"), v)),
            );
            self.add_counters(&mut model.params);
        }
        Ok(Checkpoint {
            model,
            state,
            training: progress.map(|p| TrainingState {
                config: self.config().clone(),
                progress: p.clone(),
                steps: self.store().steps(),
            }),
        })
    }

    /// The parameters as they stand, by name.
    pub(crate) fn read_params(&self) -> Result<Tensors> {
        Ok(self.snapshot_tensors()?.0)
    }

    /// The model and its optimizer state by `<param>.<key>`, from one read of the device.
    fn snapshot(&self, data: &Dataset) -> Result<(Model, Tensors)> {
        let (mut params, state) = self.snapshot_tensors()?;
        self.add_counters(&mut params);
        let model = Model {
            info: ModelInfo::describe(&self.config().mlp, self.config().task, data),
            params,
            steps: self.store().steps(),
        };
        Ok((model, state))
    }

    /// The batch norms' `num_batches_tracked`, which is the step count.
    fn add_counters(&self, params: &mut Tensors) {
        for name in self.config().mlp.counters() {
            params.insert(name, (vec![], vec![self.store().steps() as f32]));
        }
    }

    /// The parameters and the optimizer state by `<param>.<key>`, from one read of the device.
    fn snapshot_tensors(&self) -> Result<(Tensors, Tensors)> {
        let as_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect();
        let (mut params, mut state) = (Tensors::new(), Tensors::new());
        for (name, shape, values, states) in self.store().read_all()? {
            for (key, v) in states {
                state.insert(format!("{name}.{key}"), (shape.dims().to_vec(), as_f32(&v)));
            }
            params.insert(name, (shape.dims().to_vec(), as_f32(&values)));
        }
        Ok((params, state))
    }

    /// Sets every parameter of `params` (a model's, by name).
    pub(crate) fn load_params(&mut self, params: &Tensors) -> Result<()> {
        let counters = self.config().mlp.counters();
        for (name, (shape, values)) in params.iter().filter(|(n, _)| !counters.contains(n)) {
            let v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
            self.store_mut().set(name, &shape.as_slice().into(), &v)?;
        }
        Ok(())
    }

    /// Loads a checkpoint's parameters and optimizer state (and its step count, when it records
    /// a run) into a trainer of the same model.
    pub fn restore(&mut self, ckpt: &Checkpoint) -> Result<()> {
        self.load_params(&ckpt.model.params)?;
        if ckpt.training.as_ref().is_some_and(|t| t.progress.best.is_some()) {
            // The model file holds the best epoch's parameters: keep them as the best.
            self.best = Some(ckpt.model.params.clone());
        }
        let latest: Tensors = ckpt
            .state
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(LATEST)?.to_string(), v.clone())))
            .collect();
        self.load_params(&latest)?;
        for (full, (_, values)) in ckpt.state.iter().filter(|(k, _)| !k.starts_with(LATEST)) {
            let Some((name, key)) = full.rsplit_once('.') else {
                continue;
            };
            if self.store().shape(name).is_some() && self.config().optimizer.state_names().contains(&key) {
                let v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
                self.store_mut().set_state(name, key, &v)?;
            }
        }
        let steps = ckpt.training.as_ref().map_or(ckpt.model.steps, |t| t.steps);
        self.store_mut().set_steps(steps);
        Ok(())
    }
}
