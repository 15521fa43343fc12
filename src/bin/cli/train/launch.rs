//! What a run needs before it trains: its settings, data and devices, and, under MPI, the
//! ranks' agreement that every one of them got that far.

use std::rc::Rc;

use shadergrad::backend::wgpu::WgpuBackend;
use shadergrad::backend::Backend;
use shadergrad::checkpoint::{resume_path, Checkpoint, TrainingState};
use shadergrad::data::{ClassWeight, Dataset, Source, Targets};
use shadergrad::group::ProcessGroup;
use shadergrad::train::TrainConfig;
use shadergrad::{Devices, Error, Result};

use super::args::TrainArgs;
use super::outputs::Outputs;
use super::settings::{class_weight_error, Settings};
use crate::cli::data;
use crate::cli::flags::{self, device_with_note};

/// The ranks of an MPI job, as the command line sees them.
pub struct Ranks {
    pub group: Rc<dyn ProcessGroup>,
    /// This rank's place on its host: which of the host's devices it takes.
    pub local_rank: usize,
    /// Set when the ranks agreed that the run failed (so no rank is left waiting, and each
    /// may finish normally): whether all of them failed the same way.
    pub agreed_failure: std::cell::Cell<Option<bool>>,
}

impl Ranks {
    /// Whether every rank started (read its data, opened its device): a collective, so a
    /// rank that could not start takes the others down with it instead of leaving them
    /// waiting in the first step.
    pub(super) fn started(&self, ok: bool) -> Result<()> {
        let mut failed = [f32::from(u8::from(!ok))];
        self.group.sum(&mut failed)?;
        let failed = failed[0] as usize;
        if failed > 0 {
            self.agreed_failure.set(Some(failed == self.group.size()));
        }
        match (ok, failed) {
            (true, n) if n > 0 => Err(Error::Ranks(format!(
                "{n} of {} MPI ranks could not start (their messages say why)",
                self.group.size()
            ))),
            _ => Ok(()),
        }
    }
}

/// Everything a run needs before it trains: its settings, data and devices.
pub(super) struct Prepared {
    pub(super) settings: Settings,
    pub(super) validation: usize,
    pub(super) source: Source,
    pub(super) train: Dataset,
    pub(super) val: Dataset,
    pub(super) config: TrainConfig,
    pub(super) resume: Option<(Checkpoint, TrainingState)>,
    pub(super) devices: Devices,
    /// Why `auto` passed over a GPU, said once before training.
    pub(super) device_note: Option<String>,
    /// What reading a table left out (columns, rows), said before training.
    pub(super) notes: Vec<String>,
    pub(super) outputs: Outputs,
}

/// What a run comes to before it trains: ready, or a resumed run with nothing left to do
/// (and the words that say so).
pub(super) enum Start {
    Ready(Box<Prepared>),
    Complete(String),
}

/// What the flags come to before any training: the run's settings, data and devices, or a
/// resumed run that has nothing left to do.
pub(super) fn prepare(a: &TrainArgs, ranks: Option<&Ranks>) -> Result<Start> {
    if let Some(out) = &a.out {
        flags::output_path(out, "--out")?;
    }
    let outputs = Outputs::choose(a.out.as_deref(), a.plot.as_deref(), a.resume.as_deref())?;
    let model_flag = if a.out.is_some() || a.resume.is_none() {
        "--out"
    } else {
        "--resume"
    };
    flags::output_path(&outputs.model, model_flag)?;
    flags::output_path(&resume_path(&outputs.model), model_flag)?;
    flags::chart_path(&outputs.plot, "--plot")?;
    let resume = match &a.resume {
        Some(path) => {
            let ckpt = Checkpoint::load(path)?;
            let (Some(state), Some(on)) = (ckpt.training.clone(), ckpt.model.info.trained_on.clone()) else {
                return Err(Error::Checkpoint {
                    path: path.clone(),
                    why: format!(
                        "has no resume file beside it ({}): only a run `shadergrad train` saved can continue",
                        resume_path(path).display()
                    ),
                });
            };
            Some((ckpt, state, on))
        }
        None => None,
    };
    // The data: the flags', or the resumed run's (which the flags may only repeat).
    let named = a.data.source("train", &[])?;
    let source = match (&resume, named) {
        (Some((_, _, on)), Some(s)) if s != on.source => {
            return Err(Error::invalid(
                "--data",
                s.describe(),
                format!("the resumed run's data, {} (or no --data)", on.source.describe()),
            ))
        }
        (Some((_, _, on)), _) => on.source.clone(),
        (None, Some(s)) => s,
        (None, None) => Source::BundledDigits,
    };
    let settings = match (&resume, &a.resume) {
        (Some((_, state, on)), Some(path)) => Settings::resumed(state, on, a, path)?,
        _ => Settings::from_flags(a, data::task(a.task.as_deref(), &source)?)?,
    };
    if settings.validation == Some(0) && settings.patience.is_some() {
        return Err(Error::invalid(
            "--patience with --validation",
            "0",
            "some examples held out: patience stops on the validation score, and --validation 0 keeps none",
        ));
    }
    let split = source.load_split(settings.task, settings.validation, settings.seed, settings.standardize)?;
    let validation = split.validation.len();
    let (mut train_set, val_set, mut notes) = (split.train, split.validation, split.notes);
    if let Some(by) = &settings.class_weight {
        let weights = train_set.weigh_classes(by).map_err(class_weight_error)?;
        notes.push(class_weight_note(&train_set, by, &weights));
    }
    let steps_per_epoch = train_set.len().div_ceil(settings.batch) as u64;
    let config = settings.config(&train_set, steps_per_epoch)?;
    if let (Some((ckpt, state, _)), Some(path)) = (&resume, &a.resume) {
        ckpt.model.expect_model(&config.mlp, path)?;
        if let Some(why) = nothing_left(state, &config, path) {
            return Ok(Start::Complete(why));
        }
    }
    let resume = resume.map(|(ckpt, state, _)| (ckpt, state));
    let (devices, device_note) = choose_devices(a, &config, ranks)?;
    Ok(Start::Ready(Box::new(Prepared {
        settings,
        validation,
        source,
        train: train_set,
        val: val_set,
        config,
        resume,
        devices,
        device_note,
        notes,
        outputs,
    })))
}

/// `class weights (balanced): Adelie 0.73, Chinstrap 1.59, Gentoo 0.98`: each class's weight in
/// the loss, as `--class-weight` made them on the training split.
fn class_weight_note(train: &Dataset, by: &ClassWeight, weights: &[f64]) -> String {
    let Targets::Classes { labels, names, .. } = &train.targets else {
        unreachable!("class weights are only for classes")
    };
    let each: Vec<String> = weights
        .iter()
        .enumerate()
        .map(|(c, w)| {
            // Three decimals, less trailing zeros: 0.733, 2.
            let w = format!("{w:.3}");
            let w = w.trim_end_matches('0').trim_end_matches('.');
            format!("{} {w}", Targets::class_name(labels, names, c))
        })
        .collect();
    let how = match by {
        ClassWeight::Balanced => " (balanced)",
        ClassWeight::Given(_) => "",
    };
    format!("class weights{how}: {}", each.join(", "))
}

/// Why a resumed run has nothing left to do, if it has not: it trained every epoch `config`
/// asks for, or it stopped early, out of patience (which more epochs would not change).
fn nothing_left(state: &TrainingState, config: &TrainConfig, path: &std::path::Path) -> Option<String> {
    let p = &state.progress;
    if p.out_of_patience(config.regularize.patience) {
        let best = p.best.map_or(0, |b| b.epoch);
        return Some(format!(
            "{}: the run stopped early after epoch {}, out of patience (its model is the best epoch, {best}): nothing left to do",
            path.display(),
            p.epoch,
        ));
    }
    (p.epoch >= config.epochs).then(|| {
        format!(
            "{}: the run has trained {} of {} epochs: nothing left to do (an --epochs above {} trains on)",
            path.display(),
            p.epoch,
            config.epochs,
            p.epoch
        )
    })
}

/// The devices `--backend` and `--devices` name (one per rank under MPI, by its local rank),
/// and the line that says why `auto` passed over a GPU, if it did.
fn choose_devices(a: &TrainArgs, config: &TrainConfig, ranks: Option<&Ranks>) -> Result<(Devices, Option<String>)> {
    let spec = a.devices.as_deref().map(str::trim);
    let backend = || match &a.backend {
        Some(name) => name.clone(),
        None => std::env::var("SHADERGRAD_BACKEND").unwrap_or_else(|_| "auto".into()),
    };
    if a.mixed_precision {
        return Ok((mixed_precision_device(&backend(), spec, ranks.is_some())?, None));
    }
    if let Some(ranks) = ranks {
        if spec.is_some_and(|s| s != "1") {
            return Err(Error::invalid(
                "--devices",
                spec.unwrap_or_default(),
                "1 under MPI: each rank takes one device (start more ranks for more devices)",
            ));
        }
        return Ok((shadergrad::Device::nth(&backend(), ranks.local_rank)?, None));
    }
    let Some(spec) = spec.filter(|&s| s != "1") else {
        let (device, note) = device_with_note(&a.backend)?;
        let devices = match device {
            shadergrad::Device::Gpu(b) => Devices::Gpu(vec![b]),
            shadergrad::Device::Cpu(b) => Devices::Cpu(vec![b]),
        };
        return Ok((devices, note));
    };
    let devices = shadergrad::Device::several(&backend(), spec)?;
    if devices.len() > config.batch {
        return Err(Error::invalid(
            "--batch",
            config.batch.to_string(),
            format!(
                "at least one example for each of the {} devices of --devices {spec}",
                devices.len()
            ),
        ));
    }
    Ok((devices, None))
}

/// The one GPU `--mixed-precision` trains on: not the CPU backend, and not one of several
/// devices or ranks, each of which would need a device of its own opened for it.
fn mixed_precision_device(backend: &str, spec: Option<&str>, under_mpi: bool) -> Result<Devices> {
    if backend == "cpu" {
        return Err(Error::invalid(
            "--backend",
            backend,
            "gpu or auto with --mixed-precision (the CPU backend has no f16 cooperative matrices)",
        ));
    }
    if under_mpi || spec.is_some_and(|s| s != "1") {
        return Err(Error::invalid(
            "--mixed-precision",
            "on",
            "one device: not with --devices or MPI ranks",
        ));
    }
    Ok(Devices::Gpu(vec![WgpuBackend::mixed_precision()?]))
}

/// `llvmpipe (…) [Vulkan, Cpu]`, or `2 devices: A, B` (`2 × A` when they are one adapter).
pub(super) fn describe_devices<B: Backend>(backends: &[B]) -> String {
    let names: Vec<String> = backends.iter().map(Backend::describe).collect();
    match names.as_slice() {
        [one] => one.clone(),
        [first, rest @ ..] if rest.iter().all(|n| n == first) => format!("{} × {first}", names.len()),
        _ => format!("{} devices: {}", names.len(), names.join(", ")),
    }
}
