//! A model being trained from Python: its device and, once fitted, its checkpoint (the model
//! file's contents and what continuing its training needs) as plain data.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::wgpu::{adapters, find_adapter, WgpuBackend};
use shadergrad::backend::Backend;
use shadergrad::checkpoint::Checkpoint;
use shadergrad::data::Task;
use shadergrad::model::Predictions;
use shadergrad::train::TrainConfig;
use shadergrad::Device;

use crate::data::{check, dataset, floats, Rows, TableOptions, TargetArgs};
use crate::errors::to_py;
use crate::loop_::{train, Outcome, Schedule};

/// The device a learner computes on: the CPU backend in f32 or f64, or a GPU (f32).
#[derive(Clone)]
pub enum Compute {
    Cpu32(CpuBackend<f32>),
    Cpu64(CpuBackend<f64>),
    Gpu(WgpuBackend),
}

/// `$body` with `$b` bound to the learner's backend, whichever it is.
macro_rules! on_backend {
    ($compute:expr, $b:ident => $body:expr) => {
        match $compute {
            Compute::Cpu32($b) => $body,
            Compute::Cpu64($b) => $body,
            Compute::Gpu($b) => $body,
        }
    };
}

impl Compute {
    /// `device`: `auto` (a hardware GPU, else the CPU backend), `cpu`, `gpu`, or part of an
    /// adapter's name or type (`llvmpipe`, `discrete`); the CPU backend in f64 when `f64`.
    fn open(device: &str, f64: bool) -> shadergrad::Result<Compute> {
        let cpu = || match f64 {
            true => Compute::Cpu64(CpuBackend::new()),
            false => Compute::Cpu32(CpuBackend::new()),
        };
        Ok(match device {
            "auto" | "cpu" | "gpu" => match Device::named(device)? {
                Device::Cpu(_) => cpu(),
                Device::Gpu(g) => Compute::Gpu(g),
            },
            name => {
                let list = adapters();
                let at = find_adapter(&list, name, "device")?;
                Compute::Gpu(WgpuBackend::on_adapter(list[at].clone())?)
            }
        })
    }

    fn describe(&self) -> String {
        on_backend!(self, b => b.describe())
    }
}

/// The names of the GPU adapters there are, best first: what `device=` may name.
#[pyfunction]
pub fn devices() -> Vec<String> {
    adapters()
        .iter()
        .map(|a| {
            let info = a.get_info();
            format!("{} ({:?}, {:?})", info.name, info.device_type, info.backend)
        })
        .collect()
}

/// A model on a device, trained (or loaded) from Python.
#[pyclass(module = "shadergrad._native")]
pub struct Learner {
    compute: Compute,
    checkpoint: Option<Checkpoint>,
}

/// A `task` word as the crate's task.
fn task(word: &str) -> PyResult<Task> {
    match word {
        "classify" => Ok(Task::Classify),
        "regress" => Ok(Task::Regress),
        "multilabel" => Ok(Task::Multilabel),
        other => Err(PyValueError::new_err(format!("unknown task {other:?}"))),
    }
}

#[pymethods]
impl Learner {
    /// A learner on `device` (see `shadergrad.devices()`), computing in f64 on the CPU when
    /// `f64`.
    #[new]
    #[pyo3(signature = (device="auto", f64=false))]
    fn new(py: Python<'_>, device: &str, f64: bool) -> PyResult<Self> {
        let compute = py.detach(|| Compute::open(device, f64)).map_err(to_py)?;
        Ok(Learner {
            compute,
            checkpoint: None,
        })
    }

    /// The device it computes on, as the crate describes it.
    #[getter]
    fn device(&self) -> String {
        self.compute.describe()
    }

    /// Whether it holds a model.
    #[getter]
    fn fitted(&self) -> bool {
        self.checkpoint.is_some()
    }

    /// Trains: from scratch (`config`, the run's JSON), or continuing the model it holds when
    /// `warm`, on `x` (a float32 matrix or a table's CSV bytes) and the checked targets; with
    /// the validation rows for early stopping. Returns what the epochs did. The GIL is released
    /// while it trains; Ctrl-C raises KeyboardInterrupt within a step and leaves the learner
    /// as it was.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (config, task_word, x, y, k, labels, names, weight=None, val=None, schedule=None, warm=false, categorical=vec![], na=None))]
    fn fit(
        &mut self,
        py: Python<'_>,
        config: &str,
        task_word: &str,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        k: usize,
        labels: Vec<f64>,
        names: Vec<String>,
        weight: Option<&Bound<'_, PyAny>>,
        val: Option<(Bound<'_, PyAny>, Bound<'_, PyAny>)>,
        schedule: Option<&str>,
        warm: bool,
        categorical: Vec<String>,
        na: Option<Vec<String>>,
    ) -> PyResult<Outcome> {
        let mut config: TrainConfig =
            serde_json::from_str(config).map_err(|e| PyValueError::new_err(format!("config: {e}")))?;
        let schedule: Schedule = match schedule {
            Some(s) => serde_json::from_str(s).map_err(|e| PyValueError::new_err(format!("schedule: {e}")))?,
            None => Schedule::default(),
        };
        let targets = |values: &Bound<'_, PyAny>| -> PyResult<TargetArgs> {
            Ok(TargetArgs {
                task: task(task_word)?,
                values: floats(values)?,
                k,
                labels: labels.clone(),
                names: names.clone(),
            })
        };
        let rows = Rows::from_py(x)?;
        let y = targets(y)?;
        let weight = weight.map(floats).transpose()?;
        let val = match &val {
            Some((vx, vy)) => Some((Rows::from_py(vx)?, targets(vy)?)),
            None => None,
        };
        let previous = if warm { self.checkpoint.as_ref() } else { None };
        let options = TableOptions { categorical, na };
        let compute = &self.compute;
        let (checkpoint, outcome) = py.detach(|| -> PyResult<_> {
            let model = previous.map(|c| &c.model);
            let schema = model.and_then(|m| m.info.schema.as_ref());
            let scaling = model.map(|m| &m.info.scaling);
            let encoded = check(rows.features(schema, &options))?;
            let schema = encoded.schema.clone();
            let train_set = check(dataset(encoded, &y, weight, scaling))?;
            let scaling = train_set.scaling.clone();
            let val_set = match val {
                Some((rows, vy)) => {
                    let encoded = check(rows.features(schema.as_ref(), &options))?;
                    Some(check(dataset(encoded, &vy, None, Some(&scaling)))?)
                }
                None => None,
            };
            // The input width is the data's: a matrix's columns, or the inputs a table's schema makes.
            config.mlp.sizes[0] = train_set.feature_count;
            config.mlp = check(config.mlp.validated())?;
            on_backend!(compute, b => train(b, config, previous, &train_set, val_set.as_ref(), &schedule))
        })?;
        self.checkpoint = Some(checkpoint);
        Ok(outcome)
    }

    /// The model's outputs for `x` (a float32 matrix in the units it was trained on, or a
    /// table's CSV bytes): class probabilities, values in the original units, or label
    /// probabilities, `[rows, outputs]` row-major as float64 bytes; and the line that counts the
    /// categories training never saw (empty when there were none).
    fn predict<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyBytes>, usize, String)> {
        let checkpoint = self.fitted_checkpoint()?;
        let rows = Rows::from_py(x)?;
        let compute = &self.compute;
        let (values, n, unseen) = py
            .detach(|| -> shadergrad::Result<_> {
                let model = &checkpoint.model;
                let encoded = rows.features(model.info.schema.as_ref(), &TableOptions::default())?;
                let predictions = on_backend!(compute, b => model.predict(b, &encoded.features))?;
                let values: Vec<f64> = match predictions {
                    Predictions::Classes { probabilities, .. } => probabilities.concat(),
                    Predictions::Values(v) => v.concat(),
                    Predictions::Labels { probabilities, .. } => probabilities.concat(),
                };
                Ok((values, encoded.rows, encoded.unseen.line().unwrap_or_default()))
            })
            .map_err(to_py)?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok((PyBytes::new(py, &bytes), n, unseen))
    }

    /// The model's info (architecture, task, inputs, classes, scaling, a table's schema) as
    /// JSON.
    fn info(&self) -> PyResult<String> {
        let checkpoint = self.fitted_checkpoint()?;
        serde_json::to_string(&checkpoint.model.info).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The model file's bytes (what `shadergrad train` writes), and the resume file's (the
    /// optimizer's state and the run), if it was trained here.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyBytes>, Option<Bound<'py, PyBytes>>)> {
        let checkpoint = self.fitted_checkpoint()?;
        let model = checkpoint.model.to_bytes().map_err(to_py)?;
        let resume = checkpoint.resume_bytes().map_err(to_py)?;
        Ok((PyBytes::new(py, &model), resume.map(|r| PyBytes::new(py, &r))))
    }

    /// The model as an ONNX file's bytes (raw columns or pixels in, final answers out).
    fn to_onnx<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let onnx = self.fitted_checkpoint()?.model.to_onnx().map_err(to_py)?;
        Ok(PyBytes::new(py, &onnx))
    }

    /// A learner on `device` holding the model of a model file's bytes (and its resume file's,
    /// to continue training); `name` names it in messages.
    #[staticmethod]
    #[pyo3(signature = (model, resume=None, name="the model", device="auto", f64=false))]
    fn from_bytes(
        py: Python<'_>,
        model: &[u8],
        resume: Option<&[u8]>,
        name: &str,
        device: &str,
        f64: bool,
    ) -> PyResult<Learner> {
        let checkpoint = Checkpoint::from_bytes(model, resume, name.as_ref()).map_err(to_py)?;
        let compute = py.detach(|| Compute::open(device, f64)).map_err(to_py)?;
        Ok(Learner {
            compute,
            checkpoint: Some(checkpoint),
        })
    }
}

impl Learner {
    fn fitted_checkpoint(&self) -> PyResult<&Checkpoint> {
        self.checkpoint
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("this learner holds no model yet: fit it first"))
    }
}
