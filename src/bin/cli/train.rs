//! `shadergrad train`, `eval` and `grads`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use shadergrad::backend::Backend;
use shadergrad::checkpoint::Checkpoint;
use shadergrad::data::Digits;
use shadergrad::nn::{Init, Mlp};
use shadergrad::train::{fit, Event, Progress, TrainConfig, Trainer};
use shadergrad::{plot, Device, Error, Result};

use super::progress::ProgressBar;
use super::{flags, interrupt, json_number, DataArgs};

#[derive(clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Hidden layer sizes [default: 256,256].
    #[arg(long)]
    hidden: Option<String>,
    /// relu, leaky_relu[:alpha], elu[:alpha], sigmoid, tanh, gelu, silu [default: relu].
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
    /// Passes over the training digits [default: 10].
    #[arg(long)]
    epochs: Option<u64>,
    /// Seed of the initial weights, the split and the shuffles [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Weight initialisation: kaiming (PyTorch's default) or xavier [default: kaiming].
    #[arg(long)]
    init: Option<String>,
    /// Digits held out for validation [default: one eighth of the data].
    #[arg(long)]
    validation: Option<usize>,
    /// gpu, cpu or auto [default: auto, or SHADERGRAD_BACKEND].
    #[arg(long)]
    backend: Option<String>,
    /// Where the model is saved (atomically), after every epoch and at the end.
    #[arg(long, default_value = "model.safetensors")]
    out: PathBuf,
    /// Continue the run saved in this checkpoint.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// The training-curve picture, .svg or .png.
    #[arg(long, default_value = "training.svg")]
    plot: PathBuf,
    /// One JSON record per epoch on stdout.
    #[arg(long)]
    json: bool,
    /// Read the loss back every N steps [default: 10].
    #[arg(long)]
    loss_every: Option<u64>,
    /// Print the training step's launches (kernels, sizes, buffers) and what was fused and why,
    /// then exit without training.
    #[arg(long)]
    show_plan: bool,
}

/// The settings of a run, as flags give them or a checkpoint recorded them.
#[derive(Clone, Debug, PartialEq)]
struct Settings {
    hidden: Vec<usize>,
    activation: String,
    optimizer: String,
    lr: f64,
    schedule: String,
    batch: usize,
    epochs: u64,
    seed: u64,
    init: String,
    validation: Option<usize>,
    loss_every: u64,
}

impl Settings {
    fn from_flags(a: &TrainArgs) -> Result<Self> {
        let optimizer = a.optimizer.clone().unwrap_or_else(|| "momentum".into());
        let default_lr = if optimizer.starts_with("adam") { 0.001 } else { 0.05 };
        Ok(Settings {
            hidden: flags::sizes(a.hidden.as_deref().unwrap_or("256,256"), "--hidden")?,
            activation: a.activation.clone().unwrap_or_else(|| "relu".into()),
            lr: a.lr.unwrap_or(default_lr),
            optimizer,
            schedule: a.schedule.clone().unwrap_or_else(|| "cosine".into()),
            batch: a.batch.unwrap_or(64),
            epochs: a.epochs.unwrap_or(10),
            seed: a.seed.unwrap_or(0),
            init: a.init.clone().unwrap_or_else(|| "kaiming".into()),
            validation: a.validation,
            loss_every: a.loss_every.unwrap_or(10),
        })
    }

    fn to_meta(&self, meta: &mut BTreeMap<String, String>) {
        let hidden: Vec<String> = self.hidden.iter().map(|h| h.to_string()).collect();
        for (k, v) in [
            ("hidden", hidden.join(",")),
            ("activation", self.activation.clone()),
            ("optimizer", self.optimizer.clone()),
            ("lr", self.lr.to_string()),
            ("schedule", self.schedule.clone()),
            ("batch", self.batch.to_string()),
            ("epochs", self.epochs.to_string()),
            ("seed", self.seed.to_string()),
            ("init", self.init.clone()),
            ("validation", self.validation.map_or(String::new(), |v| v.to_string())),
            ("loss_every", self.loss_every.to_string()),
        ] {
            meta.insert(format!("train.{k}"), v);
        }
    }

    /// The settings a checkpoint recorded, with `--epochs` (to train longer) taken from the flags;
    /// any other flag that differs from the saved run is refused.
    fn resumed(meta: &BTreeMap<String, String>, a: &TrainArgs, path: &Path) -> Result<Self> {
        let get = |k: &str| -> Result<String> {
            meta.get(&format!("train.{k}"))
                .cloned()
                .ok_or_else(|| Error::Checkpoint {
                    path: path.into(),
                    why: format!("has no train.{k}: it was not written by `shadergrad train`"),
                })
        };
        let num = |k: &str| -> Result<f64> {
            get(k)?.parse().map_err(|_| Error::Checkpoint {
                path: path.into(),
                why: format!("train.{k} is not a number"),
            })
        };
        let saved = Settings {
            hidden: flags::sizes(&get("hidden")?, "train.hidden")?,
            activation: get("activation")?,
            optimizer: get("optimizer")?,
            lr: num("lr")?,
            schedule: get("schedule")?,
            batch: num("batch")? as usize,
            epochs: a.epochs.unwrap_or(num("epochs")? as u64),
            seed: num("seed")? as u64,
            init: get("init")?,
            validation: get("validation")?.parse().ok(),
            loss_every: num("loss_every")? as u64,
        };
        let flags = Settings::from_flags(a)?;
        let differs: Vec<&str> = [
            ("--hidden", a.hidden.is_some() && flags.hidden != saved.hidden),
            (
                "--activation",
                a.activation.is_some() && flags.activation != saved.activation,
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

    fn config(&self, inputs: usize, classes: usize, steps_per_epoch: u64) -> Result<TrainConfig> {
        let mut sizes = vec![inputs];
        sizes.extend(&self.hidden);
        sizes.push(classes);
        Ok(TrainConfig {
            mlp: Mlp::new(&sizes, flags::activation(&self.activation)?)?,
            init: match self.init.as_str() {
                "kaiming" => Init::KaimingUniform,
                "xavier" => Init::Xavier,
                other => return Err(Error::invalid("--init", other, "kaiming or xavier")),
            },
            optimizer: flags::optimizer(&self.optimizer, self.lr)?,
            schedule: flags::schedule(&self.schedule, steps_per_epoch * self.epochs)?,
            batch: self.batch,
            epochs: self.epochs,
            seed: self.seed,
            loss_every: self.loss_every,
        })
    }
}

fn device(flag: &Option<String>) -> Result<Device> {
    match flag {
        Some(name) => Device::named(name),
        None => Device::best(),
    }
}

pub fn train(a: TrainArgs) -> Result<ExitCode> {
    flags::chart_path(&a.plot, "--plot")?;
    let resume = match &a.resume {
        Some(path) => Some(Checkpoint::load(path)?),
        None => None,
    };
    let settings = match (&resume, &a.resume) {
        (Some(ckpt), Some(path)) => Settings::resumed(&ckpt.meta, &a, path)?,
        _ => Settings::from_flags(&a)?,
    };
    let digits = match a.data.load("train")? {
        Some(d) => d,
        None => Digits::bundled()?,
    };
    let validation = settings.validation.unwrap_or(digits.len() / 8);
    if validation >= digits.len() {
        return Err(Error::invalid(
            "--validation",
            validation.to_string(),
            format!("fewer than the {} digits loaded", digits.len()),
        ));
    }
    let (train_set, val_set) = digits.split(validation, settings.seed);
    let classes = 10;
    let steps_per_epoch = train_set.len().div_ceil(settings.batch.max(1)) as u64;
    let config = settings.config(digits.features(), classes, steps_per_epoch)?;
    if let (Some(ckpt), Some(path)) = (&resume, &a.resume) {
        ckpt.expect_model(&config.mlp, path)?;
    }
    match device(&a.backend)? {
        Device::Gpu(b) => run_training(&b, &a, &settings, config, &train_set, &val_set, resume),
        Device::Cpu(b) => run_training(&b, &a, &settings, config, &train_set, &val_set, resume),
    }
}

#[allow(clippy::too_many_arguments)]
fn run_training<B: Backend>(
    backend: &B,
    a: &TrainArgs,
    settings: &Settings,
    config: TrainConfig,
    train_set: &Digits,
    val_set: &Digits,
    resume: Option<Checkpoint>,
) -> Result<ExitCode> {
    let mut trainer = Trainer::new(backend, config.clone())?;
    if a.show_plan {
        println!(
            "training step of {} at batch {} on {}:",
            config.mlp.describe(),
            config.batch,
            backend.describe()
        );
        print!("{}", trainer.describe_step().unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let mut progress = Progress::default();
    if let Some(ckpt) = &resume {
        let (p, steps) = Progress::from_meta(&ckpt.meta)?;
        trainer.restore(ckpt, steps)?;
        progress = p;
    }
    let kind = if backend.is_gpu() { "gpu" } else { "cpu" };
    eprintln!(
        "training {} on {} ({kind}): {} train / {} validation digits, {} lr {} ({}), batch {}, {} epochs{}",
        config.mlp.describe(),
        backend.describe(),
        train_set.len(),
        val_set.len(),
        config.optimizer.name(),
        settings.lr,
        settings.schedule,
        config.batch,
        config.epochs,
        if resume.is_some() {
            format!(", resuming at epoch {} batch {}", progress.epoch + 1, progress.batch)
        } else {
            String::new()
        }
    );

    interrupt::install();
    let batches = train_set.len().div_ceil(config.batch) as u64;
    let total = batches * config.epochs;
    let done_before = progress.epoch * batches + progress.batch as u64;
    let mut done = done_before;
    let mut bar = ProgressBar::new();
    let mut save_error: Option<Error> = None;
    let started = std::time::Instant::now();
    let mut on = |event: Event<'_>, trainer: &Trainer<B>, progress: &Progress| match event {
        Event::Step {
            epoch,
            batch,
            batches,
            loss,
            samples_per_s,
        } => {
            done += 1;
            bar.update(
                epoch,
                config.epochs,
                batch,
                batches,
                done - done_before,
                total - done_before,
                loss,
                samples_per_s,
            );
        }
        Event::Epoch(r) => {
            bar.clear();
            if a.json {
                println!(
                    "{{\"epoch\": {}, \"loss\": {}, \"val_accuracy\": {}, \"samples_per_s\": {}, \"seconds\": {}, \"backend\": \"{kind}\"}}",
                    r.epoch,
                    json_number(r.loss),
                    json_number(r.val_accuracy),
                    json_number(r.samples_per_s),
                    json_number(r.seconds)
                );
            }
            eprintln!(
                "epoch {:>3}/{}: loss {:.4}  validation accuracy {:.2}%  {:.0} samples/s ({kind})  {:.1}s",
                r.epoch,
                config.epochs,
                r.loss,
                100.0 * r.val_accuracy,
                r.samples_per_s,
                r.seconds
            );
            // Saved after every epoch (atomically), so a crash loses at most one epoch.
            if let Err(e) = save(trainer, settings, progress, &a.out) {
                eprintln!("warning: could not save {}: {e}", a.out.display());
                save_error = Some(e);
            }
        }
    };
    let finished = match fit(
        &mut trainer,
        train_set,
        val_set,
        &mut progress,
        interrupt::flag(),
        &mut on,
    ) {
        Ok(f) => f,
        Err(Error::NonFinite(why)) => {
            bar.clear();
            return Err(Error::NonFinite(format!(
                "{why}. Training stopped; {} keeps the last good epoch's model",
                a.out.display()
            )));
        }
        Err(e) => return Err(e),
    };
    bar.clear();
    // An interrupted run saves where it stopped; a finished one has just saved its last epoch.
    if !finished {
        save(&trainer, settings, &progress, &a.out)?;
    }
    if let Some(e) = save_error {
        return Err(e);
    }
    if !finished {
        eprintln!(
            "interrupted at epoch {} batch {}: saved {}; continue with --resume {}",
            progress.epoch + 1,
            progress.batch,
            a.out.display(),
            a.out.display()
        );
        return Ok(ExitCode::from(130));
    }
    if let Some(r) = trainer.step_report() {
        eprintln!("step plan: {r}");
    }
    plot::write_training_curves(
        &a.plot,
        &progress.history,
        &format!("{} on {kind}", config.mlp.describe()),
    )?;
    let last = progress.history.last();
    eprintln!(
        "saved {} and {} in {:.1}s; validation accuracy {:.2}%",
        a.out.display(),
        a.plot.display(),
        started.elapsed().as_secs_f64(),
        100.0 * last.map_or(0.0, |r| r.val_accuracy)
    );
    Ok(ExitCode::SUCCESS)
}

fn save<B: Backend>(trainer: &Trainer<B>, settings: &Settings, progress: &Progress, out: &Path) -> Result<()> {
    let mut meta = BTreeMap::new();
    settings.to_meta(&mut meta);
    progress.to_meta(&mut meta, trainer.store().steps());
    trainer.checkpoint(meta)?.save(out)
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// The model (safetensors) to evaluate.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// gpu, cpu or auto [default: auto, or SHADERGRAD_BACKEND].
    #[arg(long)]
    backend: Option<String>,
    /// The activation of a model without metadata (a PyTorch state dict) [default: relu].
    #[arg(long)]
    activation: Option<String>,
    /// Print {"accuracy", "count", "confusion"} as JSON.
    #[arg(long)]
    json: bool,
}

/// The model in a checkpoint, as a trainer whose parameters are the checkpoint's.
fn load_model<B: Backend>(backend: &B, ckpt: &Checkpoint, activation: &Option<String>) -> Result<Trainer<B>> {
    let mut mlp = ckpt.mlp.clone();
    if let Some(act) = activation {
        mlp.activation = flags::activation(act)?;
    }
    let config = TrainConfig {
        mlp,
        init: Init::KaimingUniform,
        optimizer: shadergrad::optim::Optimizer::sgd(0.0),
        schedule: shadergrad::optim::Schedule::Constant,
        batch: 1,
        epochs: 0,
        seed: 0,
        loss_every: 1,
    };
    let mut trainer = Trainer::new(backend, config)?;
    trainer.restore(ckpt, 0)?;
    Ok(trainer)
}

/// The digits to evaluate: those named, else the bundled digits the model was validated on
/// (the split its training recorded), else all the bundled digits.
fn eval_digits(data: &DataArgs, ckpt: &Checkpoint) -> Result<(Digits, String)> {
    if let Some(d) = data.load("t10k")? {
        return Ok((d, "the digits named".into()));
    }
    let all = Digits::bundled()?;
    let seed = ckpt.meta.get("train.seed").and_then(|s| s.parse::<u64>().ok());
    match seed {
        Some(seed) => {
            let validation = ckpt
                .meta
                .get("train.validation")
                .and_then(|v| v.parse().ok())
                .unwrap_or(all.len() / 8);
            let (_, val) = all.split(validation, seed);
            Ok((
                val,
                format!("the {validation} bundled digits held out from its training"),
            ))
        }
        None => Ok((all, "all 8,000 bundled digits".into())),
    }
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let ckpt = Checkpoint::load(&a.model)?;
    let (digits, what) = eval_digits(&a.data, &ckpt)?;
    let e = match device(&a.backend)? {
        Device::Gpu(b) => load_model(&b, &ckpt, &a.activation)?.evaluate(&digits)?,
        Device::Cpu(b) => load_model(&b, &ckpt, &a.activation)?.evaluate(&digits)?,
    };
    if a.json {
        let rows: Vec<String> = e
            .confusion
            .iter()
            .map(|r| format!("[{}]", r.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")))
            .collect();
        println!(
            "{{\"accuracy\": {}, \"count\": {}, \"confusion\": [{}]}}",
            json_number(e.accuracy),
            e.count,
            rows.join(", ")
        );
        return Ok(());
    }
    println!(
        "{}: accuracy {:.2}% on {} ({} digits)",
        a.model.display(),
        100.0 * e.accuracy,
        what,
        e.count
    );
    println!("confusion (rows: label, columns: prediction)");
    print!("     ");
    for c in 0..e.confusion.len() {
        print!("{c:>6}");
    }
    println!();
    for (label, row) in e.confusion.iter().enumerate() {
        print!("{label:>4} ");
        for n in row {
            print!("{n:>6}");
        }
        println!();
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct GradsArgs {
    /// The model (safetensors).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// How many examples (the first N) the mean loss is over.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Where the gradients go (safetensors, named like the parameters).
    #[arg(long)]
    out: PathBuf,
    /// gpu, cpu or auto [default: auto, or SHADERGRAD_BACKEND].
    #[arg(long)]
    backend: Option<String>,
    /// The activation of a model without metadata [default: relu].
    #[arg(long)]
    activation: Option<String>,
}

pub fn grads(a: GradsArgs) -> Result<()> {
    let ckpt = Checkpoint::load(&a.model)?;
    let digits = match a.data.load("train")? {
        Some(d) => d,
        None => Digits::bundled()?,
    };
    let grads = match device(&a.backend)? {
        Device::Gpu(b) => load_model(&b, &ckpt, &a.activation)?.gradients(&digits, a.batch)?,
        Device::Cpu(b) => load_model(&b, &ckpt, &a.activation)?.gradients(&digits, a.batch)?,
    };
    let out = Checkpoint {
        mlp: ckpt.mlp.clone(),
        params: grads
            .into_iter()
            .map(|(n, s, v)| (n, (s, v.iter().map(|&x| x as f32).collect())))
            .collect(),
        state: BTreeMap::new(),
        meta: BTreeMap::from([(
            "content".to_string(),
            format!(
                "gradient of the mean softmax cross-entropy over the first {} examples",
                a.batch.min(digits.len())
            ),
        )]),
    };
    out.save(&a.out)?;
    eprintln!(
        "wrote the gradients of {} parameters over {} examples to {}",
        out.params.len(),
        a.batch.min(digits.len()),
        a.out.display()
    );
    Ok(())
}
