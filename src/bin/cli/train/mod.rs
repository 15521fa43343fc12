//! `shadergrad train`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use shadergrad::backend::{describe_compile, Backend, PipelineTime};
use shadergrad::checkpoint::{Checkpoint, TrainingState};
use shadergrad::data::{Dataset, Source, Task};
use shadergrad::group::ProcessGroup;
use shadergrad::model::TrainedOn;
use shadergrad::nn::{Init, Mlp, Norm};
use shadergrad::optim::Schedule;
use shadergrad::train::{fit, Augment, Event, Progress, Regularize, TrainConfig, Trainer};
use shadergrad::{plot, Devices, Error, Result};

mod launch;
mod outputs;

pub use launch::Ranks;
use launch::{describe_devices, Prepared, Start};
use outputs::Outputs;

use super::data::{self, DataArgs};
use super::progress::TrainingBar;
use super::{flags, interrupt};

#[derive(clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// What the targets are: classify, regress or multilabel [default: classify for digits;
    /// for a CSV or NumPy file it must be given].
    #[arg(long)]
    task: Option<String>,
    /// Standardise the features (and regression targets) of a CSV or NumPy file by the
    /// training split's mean and deviation: on or off [default: on].
    #[arg(long)]
    standardize: Option<String>,
    /// Hidden layer sizes [default: 256,256].
    #[arg(long)]
    hidden: Option<String>,
    /// relu, leaky_relu[:alpha], elu[:alpha], sigmoid, tanh, gelu, silu, softplus [default: relu].
    #[arg(long)]
    activation: Option<String>,
    /// sgd, momentum, nesterov, adam, adamw [default: momentum].
    #[arg(long)]
    optimizer: Option<String>,
    /// Learning rate [default: 0.05 for sgd/momentum, 0.001 for adam].
    #[arg(long)]
    lr: Option<f64>,
    /// Learning-rate schedule: constant, cosine, step:EVERY:GAMMA [default: cosine].
    #[arg(long)]
    schedule: Option<String>,
    /// Examples per step [default: 64].
    #[arg(long)]
    batch: Option<usize>,
    /// Passes over the training data [default: 30 for augmented images; otherwise 10, or as
    /// many as make 100 steps when the training split is small, so 120 rows at batch 64 train
    /// for 50 epochs].
    #[arg(long)]
    epochs: Option<u64>,
    /// Seed of the initial weights, the split and the shuffles [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Weight initialisation: kaiming (PyTorch's default) or xavier [default: kaiming].
    #[arg(long)]
    init: Option<String>,
    /// Examples held out for validation [default: one eighth of the data].
    #[arg(long)]
    validation: Option<usize>,
    /// gpu, cpu or auto [default: auto, or SHADERGRAD_BACKEND].
    #[arg(long)]
    backend: Option<String>,
    /// Split every batch across devices, data-parallel: a number of devices (the best GPUs of
    /// one kind, shared when there are fewer; CPU replicas on --backend cpu), or adapters by
    /// number or name part, as SHADERGRAD_ADAPTER names one: 0,2 [default: 1].
    #[arg(long)]
    devices: Option<String>,
    /// Matrix products in mixed precision: f16 operands, f32 sums, on the GPU's cooperative
    /// matrices (tensor cores); an error saying what is missing on a GPU without them.
    #[arg(long)]
    mixed_precision: bool,
    /// Where the model is saved (atomically), after every epoch and at the end; what --resume
    /// needs besides (optimizer state, progress) goes beside it in <OUT>.resume [default: with
    /// --resume, the file resumed; otherwise model.safetensors, or the first free
    /// model-N.safetensors when that holds another run].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run saved in this model file (and its .resume file), saving it there.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// The training-curve picture, .svg or .png [default: the model's name with .svg].
    #[arg(long)]
    plot: Option<PathBuf>,
    /// One JSON record per epoch on stdout.
    #[arg(long)]
    json: bool,
    /// Read the loss back every N steps [default: 10].
    #[arg(long)]
    loss_every: Option<u64>,
    /// Dropout after each hidden activation: the probability of dropping a value, in [0, 1)
    /// [default: 0].
    #[arg(long)]
    dropout: Option<f64>,
    /// Normalisation before each hidden activation: none, layer or batch [default: none].
    #[arg(long)]
    norm: Option<String>,
    /// Label smoothing of the cross-entropy, in [0, 1) (classify) [default: 0.1 for images,
    /// 0 otherwise].
    #[arg(long)]
    label_smoothing: Option<f64>,
    /// Training images shifted by up to N pixels each way, or off [default: shift:2 for
    /// images, off for other data].
    #[arg(long)]
    augment: Option<String>,
    /// Stop after N epochs without a better validation score, and save the best epoch's model
    /// [default: none: train every epoch, save the last].
    #[arg(long)]
    patience: Option<u64>,
    /// Print the training step's launches (kernels, sizes, buffers) and what was fused and why,
    /// then exit without training.
    #[arg(long)]
    show_plan: bool,
    /// Submit each step without waiting for it and read its loss a step later: the next batch
    /// is gathered and uploaded while the GPU computes (the same model bit for bit).
    #[arg(long)]
    pipeline: bool,
}

/// The settings of a run as flags give them (or would give them, for a saved run).
#[derive(Clone, Debug, PartialEq)]
struct Settings {
    hidden: Vec<usize>,
    activation: String,
    optimizer: String,
    lr: f64,
    schedule: String,
    batch: usize,
    /// `None`: [`default_epochs`] once the training split's size is known.
    epochs: Option<u64>,
    seed: u64,
    init: String,
    validation: Option<usize>,
    loss_every: u64,
    task: Task,
    standardize: bool,
    dropout: f64,
    norm: Norm,
    /// `None`: 0.1 for images, 0 otherwise.
    label_smoothing: Option<f64>,
    /// `None`: shift:2 for images, off otherwise.
    augment: Option<Augment>,
    patience: Option<u64>,
}

/// `--norm`.
fn norm_flag(text: Option<&str>) -> Result<Norm> {
    match text {
        None | Some("none") => Ok(Norm::None),
        Some("layer") => Ok(Norm::Layer),
        Some("batch") => Ok(Norm::Batch),
        Some(other) => Err(Error::invalid("--norm", other, "none, layer or batch")),
    }
}

/// `--augment`: `shift:N` or `off`.
fn augment_flag(text: &str) -> Result<Augment> {
    if text == "off" {
        return Ok(Augment::Off);
    }
    text.strip_prefix("shift:")
        .and_then(|n| n.parse().ok())
        .filter(|&n: &u32| n <= 8)
        .map(|pixels| Augment::Shift { pixels })
        .ok_or_else(|| Error::invalid("--augment", text, "shift:N with N pixels from 0 to 8, or off"))
}

/// A probability-like flag's value, given or not, checked to lie in `[0, 1)`.
fn unit_interval(value: Option<f64>, flag: &str) -> Result<Option<f64>> {
    match value {
        Some(v) if !(0.0..1.0).contains(&v) => Err(Error::invalid(flag, v.to_string(), "a number in [0, 1)")),
        v => Ok(v),
    }
}

/// `--init`'s word for an initialisation.
fn init_name(init: Init) -> &'static str {
    match init {
        Init::KaimingUniform => "kaiming",
        Init::Xavier => "xavier",
    }
}

/// `--schedule`'s words for a schedule.
fn schedule_name(s: &Schedule) -> String {
    match s {
        Schedule::Constant => "constant".into(),
        Schedule::Cosine { .. } => "cosine".into(),
        Schedule::Step { every, gamma } => format!("step:{every}:{gamma}"),
    }
}

/// `--standardize`: on or off (on unless said).
fn standardize_flag(flag: Option<&str>) -> Result<bool> {
    match flag {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(Error::invalid("--standardize", other, "on or off")),
    }
}

/// Ten epochs, or more where that would be under 100 steps: a small table (iris's 120 training
/// rows are 2 batches of 64) learns nothing in 20 steps, while more than ~100 steps overfits the
/// smallest noisy regressions (scikit-learn's diabetes set: R² 0.33 at 100 steps, 0.09 at 300).
/// The digits' 7,000 rows make 110 steps an epoch, so they keep ten.
fn default_epochs(steps_per_epoch: u64, augmented: bool) -> u64 {
    const MIN_EPOCHS: u64 = 10;
    // Shifted images are new examples each epoch: 30 epochs took held-out digits from 96.5%
    // (10) to 97.8–98.3% (BENCHMARKS.md, "The default").
    const AUGMENTED_EPOCHS: u64 = 30;
    const MIN_STEPS: u64 = 100;
    let least = if augmented { AUGMENTED_EPOCHS } else { MIN_EPOCHS };
    least.max(MIN_STEPS.div_ceil(steps_per_epoch.max(1)))
}

impl Settings {
    fn from_flags(a: &TrainArgs, task: Task) -> Result<Self> {
        let optimizer = a.optimizer.clone().unwrap_or_else(|| "momentum".into());
        let default_lr = if optimizer.starts_with("adam") { 0.001 } else { 0.05 };
        let batch = a.batch.unwrap_or(64);
        if batch == 0 {
            return Err(Error::invalid("--batch", "0", "a batch of at least one example"));
        }
        Ok(Settings {
            hidden: flags::sizes(a.hidden.as_deref().unwrap_or("256,256"), "--hidden")?,
            activation: a.activation.clone().unwrap_or_else(|| "relu".into()),
            lr: a.lr.unwrap_or(default_lr),
            optimizer,
            schedule: a.schedule.clone().unwrap_or_else(|| "cosine".into()),
            batch,
            epochs: a.epochs,
            seed: a.seed.unwrap_or(0),
            init: a.init.clone().unwrap_or_else(|| "kaiming".into()),
            validation: a.validation,
            loss_every: a.loss_every.unwrap_or(10),
            task,
            standardize: standardize_flag(a.standardize.as_deref())?,
            dropout: unit_interval(a.dropout, "--dropout")?.unwrap_or(0.0),
            norm: norm_flag(a.norm.as_deref())?,
            label_smoothing: unit_interval(a.label_smoothing, "--label-smoothing")?,
            augment: a.augment.as_deref().map(augment_flag).transpose()?,
            patience: match a.patience {
                Some(0) => return Err(Error::invalid("--patience", "0", "at least 1 epoch")),
                p => p,
            },
        })
    }

    /// The flags that would start the saved run.
    fn of_run(t: &TrainingState, on: &TrainedOn) -> Self {
        let c = &t.config;
        Settings {
            hidden: c.mlp.sizes[1..c.mlp.sizes.len() - 1].to_vec(),
            activation: c.mlp.activation.spec(),
            optimizer: c.optimizer.name().into(),
            lr: c.optimizer.lr(),
            schedule: schedule_name(&c.schedule),
            batch: c.batch,
            epochs: Some(c.epochs),
            seed: c.seed,
            init: init_name(c.init).into(),
            validation: Some(on.validation),
            loss_every: c.loss_every,
            task: c.task,
            standardize: on.standardize,
            dropout: c.mlp.dropout,
            norm: c.mlp.norm,
            label_smoothing: Some(c.regularize.label_smoothing),
            augment: Some(c.regularize.augment),
            patience: c.regularize.patience,
        }
    }

    /// The saved run's settings, with `--epochs` (to train longer) taken from the flags; any
    /// other flag given with a value other than the saved run's is refused.
    fn resumed(t: &TrainingState, on: &TrainedOn, a: &TrainArgs, path: &Path) -> Result<Self> {
        let mut saved = Settings::of_run(t, on);
        if a.epochs.is_some() {
            saved.epochs = a.epochs;
        }
        let flags = Settings::from_flags(a, saved.task)?;
        let activation = |s: &str| flags::activation(s).map(|op| op.spec()).unwrap_or_else(|_| s.into());
        let differs: Vec<&str> = [
            ("--hidden", a.hidden.is_some() && flags.hidden != saved.hidden),
            (
                "--activation",
                a.activation.is_some() && activation(&flags.activation) != saved.activation,
            ),
            (
                "--optimizer",
                a.optimizer.is_some() && flags.optimizer != saved.optimizer,
            ),
            ("--lr", a.lr.is_some() && flags.lr != saved.lr),
            ("--schedule", a.schedule.is_some() && flags.schedule != saved.schedule),
            ("--batch", a.batch.is_some() && flags.batch != saved.batch),
            ("--seed", a.seed.is_some() && flags.seed != saved.seed),
            ("--init", a.init.is_some() && flags.init != saved.init),
            (
                "--validation",
                a.validation.is_some() && flags.validation != saved.validation,
            ),
            (
                "--loss-every",
                a.loss_every.is_some() && flags.loss_every != saved.loss_every,
            ),
            (
                "--task",
                a.task.is_some() && data::task(a.task.as_deref(), &on.source).ok() != Some(saved.task),
            ),
            (
                "--standardize",
                a.standardize.is_some() && flags.standardize != saved.standardize,
            ),
            ("--dropout", a.dropout.is_some() && flags.dropout != saved.dropout),
            ("--norm", a.norm.is_some() && flags.norm != saved.norm),
            (
                "--label-smoothing",
                a.label_smoothing.is_some() && flags.label_smoothing != saved.label_smoothing,
            ),
            ("--augment", a.augment.is_some() && flags.augment != saved.augment),
            ("--patience", a.patience.is_some() && flags.patience != saved.patience),
        ]
        .into_iter()
        .filter(|(_, d)| *d)
        .map(|(f, _)| f)
        .collect();
        if !differs.is_empty() {
            return Err(Error::invalid(
                differs.join(", "),
                "a value other than the checkpoint's",
                format!(
                    "the settings of the run saved in {} (a resume continues that run; only --epochs may change)",
                    path.display()
                ),
            ));
        }
        Ok(saved)
    }

    fn config(&self, data: &Dataset, steps_per_epoch: u64) -> Result<TrainConfig> {
        let mut sizes = vec![data.feature_count];
        sizes.extend(&self.hidden);
        sizes.push(data.outputs());
        let augment = match (self.augment, data.image) {
            (None, Some(_)) => Augment::Shift { pixels: 2 },
            (None, None) => Augment::Off,
            (Some(a @ Augment::Shift { .. }), None) => {
                return Err(Error::invalid(
                    "--augment",
                    a.to_string(),
                    "off: the data are not images (shifts need rows and columns of pixels)",
                ))
            }
            (Some(a), _) => a,
        };
        let label_smoothing = match self.label_smoothing {
            Some(s) if s > 0.0 && self.task != Task::Classify => {
                return Err(Error::invalid(
                    "--label-smoothing",
                    s.to_string(),
                    format!("0 for {} (it smooths class labels)", self.task.name()),
                ))
            }
            Some(s) => s,
            None if data.image.is_some() && self.task == Task::Classify => 0.1,
            None => 0.0,
        };
        let augmented = augment != Augment::Off;
        let epochs = self
            .epochs
            .unwrap_or_else(|| default_epochs(steps_per_epoch, augmented));
        if self.norm == Norm::Batch && self.batch < 2 {
            return Err(Error::invalid(
                "--norm batch with --batch",
                self.batch.to_string(),
                "a batch of at least 2 (batch norm divides by the batch's variance)",
            ));
        }
        let mlp = Mlp::new(&sizes, flags::activation(&self.activation)?)?
            .with_dropout(self.dropout)?
            .with_norm(self.norm);
        Ok(TrainConfig {
            mlp,
            task: self.task,
            init: match self.init.as_str() {
                "kaiming" => Init::KaimingUniform,
                "xavier" => Init::Xavier,
                other => return Err(Error::invalid("--init", other, "kaiming or xavier")),
            },
            optimizer: flags::optimizer(&self.optimizer, self.lr)?,
            schedule: flags::schedule(&self.schedule, steps_per_epoch * epochs)?,
            batch: self.batch,
            epochs,
            seed: self.seed,
            loss_every: self.loss_every,
            regularize: Regularize {
                label_smoothing,
                augment,
                patience: self.patience,
            },
        })
    }
}

pub fn train(a: TrainArgs) -> Result<ExitCode> {
    #[cfg(feature = "mpi")]
    if let Some(mpi) = shadergrad::group::Mpi::from_launcher()? {
        return super::ranks::train(&a, mpi);
    }
    train_with(&a, None)
}

/// Trains as the flags say: alone, or as one of the `ranks` of an MPI job.
pub fn train_with(a: &TrainArgs, ranks: Option<&Ranks>) -> Result<ExitCode> {
    let prepared = Prepared::new(a, ranks);
    if let Some(ranks) = ranks {
        ranks.started(prepared.is_ok())?;
    }
    let p = match prepared? {
        Start::Ready(p) => p,
        Start::Complete(why) => {
            if ranks.is_none_or(|r| r.group.rank() == 0) {
                eprintln!("{why}");
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    if let Some(note) = p
        .outputs
        .note
        .as_deref()
        .filter(|_| ranks.is_none_or(|r| r.group.rank() == 0))
    {
        eprintln!("{note}");
    }
    let run = Run {
        args: a,
        settings: &p.settings,
        validation: p.validation,
        source: &p.source,
        train: &p.train,
        val: &p.val,
        outputs: &p.outputs,
        group: ranks.map(|r| Rc::clone(&r.group)),
    };
    match p.devices {
        Devices::Gpu(v) => run.on(&v, p.config, p.resume),
        Devices::Cpu(v) => run.on(&v, p.config, p.resume),
    }
}

/// The validation score's JSON key and its words: R² to regress, accuracy (the mean of the
/// labels' for multilabel) otherwise.
fn validation_score(task: Task, score: f64) -> (&'static str, String) {
    match task {
        Task::Regress => ("val_r2", format!("validation R² {score:.4}")),
        _ => ("val_accuracy", format!("validation accuracy {:.2}%", 100.0 * score)),
    }
}

/// `, images shifted by up to 2 pixels, label smoothing 0.1, patience 5`: what regularises the
/// run besides the model's dropout and norm (which its description says).
fn regularize_words(c: &TrainConfig) -> String {
    let r = &c.regularize;
    let mut out = String::new();
    if let Augment::Shift { pixels } = r.augment {
        out += &format!(", images shifted by up to {pixels} pixels");
    }
    if r.label_smoothing > 0.0 {
        out += &format!(", label smoothing {}", r.label_smoothing);
    }
    if let Some(p) = r.patience {
        out += &format!(", patience {p} (the best epoch is kept)");
    }
    out
}

/// A run about to start: its flags, settings and data.
struct Run<'a> {
    args: &'a TrainArgs,
    settings: &'a Settings,
    validation: usize,
    source: &'a Source,
    train: &'a Dataset,
    val: &'a Dataset,
    outputs: &'a Outputs,
    /// The other ranks of an MPI job; rank 0 alone reports and saves.
    group: Option<Rc<dyn ProcessGroup>>,
}

impl Run<'_> {
    /// Trains on `backends`: one, or several that split each batch (data parallel).
    fn on<B: Backend>(
        &self,
        backends: &[B],
        config: TrainConfig,
        resume: Option<(Checkpoint, TrainingState)>,
    ) -> Result<ExitCode> {
        let a = self.args;
        let backend = &backends[0];
        let mut trainer = Trainer::replicated(backends, config.clone())?;
        trainer.set_pipelined(a.pipeline);
        let lead = self.group.as_ref().is_none_or(|g| g.rank() == 0);
        if let Some(group) = &self.group {
            trainer.join(Rc::clone(group))?;
        }
        // Only the lead rank speaks (every rank computes the same figures).
        let say = |line: &str| {
            if lead {
                eprintln!("{line}")
            }
        };
        if a.show_plan {
            println!(
                "training step of {} at batch {} on {}:",
                config.mlp.describe(),
                config.batch,
                backend.describe()
            );
            print!("{}", trainer.describe_step(self.train)?);
            return Ok(ExitCode::SUCCESS);
        }
        let mut progress = Progress::default();
        if let Some((ckpt, state)) = &resume {
            trainer.restore(ckpt)?;
            progress = state.progress.clone();
        }
        let kind = if backend.is_gpu() { "gpu" } else { "cpu" };
        let devices = match &self.group {
            Some(g) => format!("{} MPI ranks, rank 0 on {}", g.size(), describe_devices(backends)),
            None => describe_devices(backends),
        };
        say(&format!(
            "training {} ({}) on {devices} ({kind}): {} from {}: {} train / {} validation, {} lr {} ({}), batch {}, {} epochs{}{}",
            config.mlp.describe(),
            config.task.name(),
            if self.train.image.is_some() { "images" } else { "examples" },
            self.source.describe(),
            self.train.len(),
            self.val.len(),
            config.optimizer.name(),
            self.settings.lr,
            self.settings.schedule,
            config.batch,
            config.epochs,
            regularize_words(&config),
            if resume.is_some() {
                format!(", resuming at epoch {} batch {}", progress.epoch + 1, progress.batch)
            } else {
                String::new()
            }
        ));

        interrupt::install();
        let batches = self.train.len().div_ceil(config.batch) as u64;
        let done = progress.epoch * batches + progress.batch as u64;
        let mut bar = TrainingBar::new(batches * config.epochs, done, lead);
        let mut save_error: Option<Error> = None;
        let started = std::time::Instant::now();
        // What compiling shaders cost, said once the first step (then the first validation)
        // has run them, when it passed a second: on lavapipe it is most of a first run.
        let mut compiled_told = 0;
        let (mut steps_seen, mut validated) = (false, false);
        let mut tell_compile = |bar: &TrainingBar| {
            let times: Vec<PipelineTime> = backends.iter().flat_map(Backend::pipeline_times).collect();
            let new = &times[compiled_told..];
            if new.iter().map(PipelineTime::total_s).sum::<f64>() > 1.0 {
                bar.println(&format!(
                    "compiled GPU shaders: {} (the driver caches them for the next run)",
                    describe_compile(new)
                ));
                compiled_told = times.len();
            }
        };
        let mut on = |event: Event<'_>, trainer: &Trainer<B>, progress: &Progress| match event {
            Event::Step {
                epoch,
                loss,
                samples_per_s,
                ..
            } => {
                if !steps_seen {
                    steps_seen = true;
                    tell_compile(&bar);
                }
                bar.step(epoch, config.epochs, loss, samples_per_s)
            }
            Event::Epoch(r) => {
                if !validated {
                    validated = true;
                    tell_compile(&bar);
                }
                let (key, score) = validation_score(config.task, r.val_score);
                if a.json && lead {
                    let mut record = serde_json::json!({
                        "epoch": r.epoch,
                        "loss": r.loss,
                        "val_loss": r.val_loss,
                        "samples_per_s": r.samples_per_s,
                        "seconds": r.seconds,
                        "backend": kind,
                        "device": backend.describe(),
                        "devices": backends.len() * self.group.as_ref().map_or(1, |g| g.size()),
                    });
                    record[key] = serde_json::json!(r.val_score);
                    bar.suspend_print(&record.to_string());
                }
                bar.println(&format!(
                    "epoch {:>3}/{}: loss {:.4}  validation loss {:.4}  {score}  {:.0} samples/s ({kind})  {:.1}s",
                    r.epoch, config.epochs, r.loss, r.val_loss, r.samples_per_s, r.seconds
                ));
                // Saved after every epoch (atomically), so a crash loses at most one epoch.
                if let Err(e) = self.save(trainer, progress, lead) {
                    bar.println(&format!(
                        "warning: could not save {}: {e}",
                        self.outputs.model.display()
                    ));
                    save_error = Some(e);
                }
            }
        };
        let finished = fit(
            &mut trainer,
            self.train,
            self.val,
            &mut progress,
            interrupt::flag(),
            &mut on,
        );
        bar.finish();
        let finished = match finished {
            Ok(f) => f,
            Err(Error::NonFinite(why)) => {
                return Err(Error::NonFinite(format!(
                    "{why}. Training stopped; {} keeps the last good epoch's model",
                    self.outputs.model.display()
                )));
            }
            Err(e) => return Err(e),
        };
        // An interrupted run saves where it stopped; a finished one has just saved its last epoch.
        if !finished {
            self.save(&trainer, &progress, lead)?;
        }
        if let Some(e) = save_error {
            return Err(e);
        }
        if !finished {
            say(&format!(
                "interrupted at epoch {} batch {}: saved {}; continue with --resume {}",
                progress.epoch + 1,
                progress.batch,
                self.outputs.model.display(),
                self.outputs.model.display()
            ));
            return Ok(ExitCode::from(130));
        }
        if !lead {
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(r) = trainer.step_report() {
            eprintln!("step plan: {r}");
        }
        let reduce = trainer.reduce_time();
        if reduce.steps > 0 {
            let seconds = started.elapsed().as_secs_f64();
            eprintln!(
                "all-reduce of {} gradient values ({:.0} KiB) across {} devices, {} steps: {:.2} ms per step on the host, {:.1}% of the run",
                reduce.values,
                reduce.values as f64 * 4.0 / 1024.0,
                backends.len() * self.group.as_ref().map_or(1, |g| g.size()),
                reduce.steps,
                reduce.seconds / reduce.steps as f64 * 1e3,
                100.0 * reduce.seconds / seconds.max(1e-9)
            );
        }
        plot::write_training_curves(
            &self.outputs.plot,
            &progress.history,
            &format!("{} on {kind}", config.mlp.describe()),
            config.task,
        )?;
        let last = progress.history.last().map_or(f64::NAN, |r| r.val_score);
        let (kept, score) = match progress.best {
            Some(b) => (
                format!(" (the best validation epoch, {} of {}", b.epoch, progress.history.len())
                    + if progress.history.len() < config.epochs as usize {
                        ": stopped early, out of patience)"
                    } else {
                        ")"
                    },
                b.val_score,
            ),
            None => (String::new(), last),
        };
        let (_, score) = validation_score(config.task, score);
        eprintln!(
            "saved {}{kept} and {} in {:.1}s; {score}",
            self.outputs.model.display(),
            self.outputs.plot.display(),
            started.elapsed().as_secs_f64(),
        );
        Ok(ExitCode::SUCCESS)
    }

    /// Saves the model and what resuming needs, on the lead rank (the only one that writes).
    fn save<B: Backend>(&self, trainer: &Trainer<B>, progress: &Progress, lead: bool) -> Result<()> {
        if !lead {
            return Ok(());
        }
        let mut ckpt = trainer.checkpoint(self.train, Some(progress))?;
        ckpt.model.info.trained_on = Some(TrainedOn {
            source: self.source.clone(),
            validation: self.validation,
            seed: self.settings.seed,
            standardize: self.settings.standardize,
        });
        ckpt.save(&self.outputs.model)
    }
}
