//! A run from start to end: prepared (`launch.rs`), trained epoch by epoch with a progress bar, a
//! line and (with `--json`) a record per epoch, saved after each epoch and on Ctrl-C, and
//! concluded with its plot and a summary line.

use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use shadergrad::backend::{describe_compile, Backend, PipelineTime};
use shadergrad::checkpoint::{resume_path, Checkpoint, TrainingState};
use shadergrad::data::{Dataset, Source, Task};
use shadergrad::group::ProcessGroup;
use shadergrad::model::TrainedOn;
use shadergrad::train::{fit, Augment, EpochRecord, Event, Progress, TrainConfig, Trainer};
use shadergrad::{plot, Devices, Error, Result};

use super::args::TrainArgs;
use super::launch::{describe_devices, prepare, Ranks, Start};
use super::outputs::Outputs;
use super::settings::Settings;
use crate::cli::interrupt;
use crate::cli::progress::TrainingBar;

/// Trains as the flags say: alone, or as one of the `ranks` of an MPI job.
pub fn train(a: &TrainArgs, ranks: Option<&Ranks>) -> Result<ExitCode> {
    let prepared = prepare(a, ranks);
    if let Some(ranks) = ranks {
        ranks.started(prepared.is_ok())?;
    }
    let lead = ranks.is_none_or(|r| r.group.rank() == 0);
    let p = match prepared? {
        Start::Ready(p) => p,
        Start::Complete(why) => {
            if lead {
                eprintln!("{why}");
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let notes = [&p.outputs.note, &p.device_note].into_iter().flatten().chain(&p.notes);
    for note in notes.filter(|_| lead) {
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
    /// Whether this process speaks and writes: alone, or rank 0 of a job (every rank computes
    /// the same figures).
    fn lead(&self) -> bool {
        self.group.as_ref().is_none_or(|g| g.rank() == 0)
    }

    /// `gpu` or `cpu`, for the lines and records.
    fn kind<B: Backend>(backends: &[B]) -> &'static str {
        if backends[0].is_gpu() {
            "gpu"
        } else {
            "cpu"
        }
    }

    /// How many devices train the model, across the ranks of a job.
    fn device_count<B: Backend>(&self, backends: &[B]) -> usize {
        backends.len() * self.group.as_ref().map_or(1, |g| g.size())
    }

    /// Trains on `backends`: one, or several that split each batch (data parallel).
    fn on<B: Backend>(
        &self,
        backends: &[B],
        config: TrainConfig,
        resume: Option<(Checkpoint, TrainingState)>,
    ) -> Result<ExitCode> {
        let mut trainer = Trainer::replicated(backends, config.clone())?;
        trainer.set_pipelined(self.args.pipeline);
        if let Some(group) = &self.group {
            trainer.join(Rc::clone(group))?;
        }
        if self.args.show_plan {
            println!(
                "training step of {} at batch {} on {}:",
                config.mlp.describe(),
                config.batch,
                backends[0].describe()
            );
            print!("{}", trainer.describe_step(self.train)?);
            return Ok(ExitCode::SUCCESS);
        }
        let mut progress = Progress::default();
        if let Some((ckpt, state)) = &resume {
            trainer.restore(ckpt)?;
            progress = state.progress.clone();
        }
        self.announce(backends, &config, resume.is_some().then_some(&progress));
        interrupt::install();
        let started = Instant::now();
        let mut report = Report::new(self, backends, &config, &progress);
        let finished = fit(
            &mut trainer,
            self.train,
            self.val,
            &mut progress,
            interrupt::flag(),
            &mut |event, trainer, progress| report.event(event, trainer, progress),
        );
        report.bar.finish();
        let saved = report.saved == Some((progress.epoch, progress.batch));
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
        self.conclude(&trainer, &progress, finished, (saved, report.save_error), started)
    }

    /// The line that says what is about to train, on what, from what (and, resuming, from where).
    fn announce<B: Backend>(&self, backends: &[B], config: &TrainConfig, resumed: Option<&Progress>) {
        if !self.lead() {
            return;
        }
        let devices = match &self.group {
            Some(g) => format!("{} MPI ranks, rank 0 on {}", g.size(), describe_devices(backends)),
            None => describe_devices(backends),
        };
        let resuming = resumed.map_or(String::new(), |p| {
            format!(", resuming at epoch {} batch {}", p.epoch + 1, p.batch)
        });
        eprintln!(
            "training {} ({}) on {devices} ({}): {} from {}: {} train / {} validation, {} lr {} ({}), batch {}, {} epochs{}{resuming}",
            config.mlp.describe(),
            config.task.name(),
            Self::kind(backends),
            if self.train.image.is_some() { "images" } else { "examples" },
            self.source.describe(),
            self.train.len(),
            self.val.len(),
            config.optimizer.name(),
            self.settings.lr,
            self.settings.schedule,
            config.batch,
            config.epochs,
            regularize_words(config),
        );
    }

    /// After training stopped or finished: the model saved where it stopped (unless a checkpoint
    /// just saved it there: `saved`), the plot drawn, and the run's
    /// summary (a line; with `--json`, a last record); an interrupted run says how to continue.
    fn conclude<B: Backend>(
        &self,
        trainer: &Trainer<B>,
        progress: &Progress,
        finished: bool,
        (saved, save_error): (bool, Option<Error>),
        started: Instant,
    ) -> Result<ExitCode> {
        if !saved {
            self.save(trainer, progress)?;
        }
        if let Some(e) = save_error {
            return Err(e);
        }
        if !self.lead() {
            return Ok(if finished {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(130)
            });
        }
        let config = trainer.config();
        let kind = if trainer.store().backend().is_gpu() {
            "gpu"
        } else {
            "cpu"
        };
        if !progress.history.is_empty() {
            plot::write_training_curves(
                &self.outputs.plot,
                &progress.history,
                &format!("{} on {kind}", config.mlp.describe()),
                config.task,
            )?;
        }
        if self.args.json {
            println!("{}", self.summary(config, progress, finished, started));
        }
        let model = self.outputs.model.display();
        if !finished {
            eprintln!(
                "interrupted at epoch {} batch {}: saved {model}; continue with --resume {model}",
                progress.epoch + 1,
                progress.batch,
            );
            return Ok(ExitCode::from(130));
        }
        self.tell_costs(trainer, started);
        let (kept, score) = match (progress.best, progress.history.last()) {
            (Some(b), _) => (
                format!(" (the best validation epoch, {} of {}", b.epoch, progress.history.len())
                    + if progress.history.len() < config.epochs as usize {
                        ": stopped early, out of patience)"
                    } else {
                        ")"
                    },
                validation_score(config.task, b.val_score).1,
            ),
            (None, _) if self.val.is_empty() => (String::new(), "no validation split".into()),
            (None, last) => (
                String::new(),
                validation_score(config.task, last.map_or(f64::NAN, |r| r.val_score)).1,
            ),
        };
        eprintln!(
            "saved {model}{kept} and {} in {:.1}s; {score}",
            self.outputs.plot.display(),
            started.elapsed().as_secs_f64(),
        );
        Ok(ExitCode::SUCCESS)
    }

    /// The `--json` record that ends a run: where its files are, how far it went, its last and
    /// best scores, its time.
    fn summary(
        &self,
        config: &TrainConfig,
        progress: &Progress,
        finished: bool,
        started: Instant,
    ) -> serde_json::Value {
        let last = progress.history.last();
        let mut record = serde_json::json!({
            "record": "summary",
            "model": self.outputs.model.display().to_string(),
            "resume": resume_path(&self.outputs.model).display().to_string(),
            "plot": self.outputs.plot.display().to_string(),
            "finished": finished,
            "epochs": progress.history.len(),
            "loss": last.map(|r| r.loss),
            "seconds": started.elapsed().as_secs_f64(),
        });
        if !self.val.is_empty() {
            let (key, _) = validation_score(config.task, 0.0);
            let best = progress.best.map(|b| (b.epoch, b.val_score));
            let best = best.or_else(|| {
                let top = progress
                    .history
                    .iter()
                    .max_by(|a, b| a.val_score.total_cmp(&b.val_score));
                top.map(|r| (r.epoch, r.val_score))
            });
            record["val_loss"] = serde_json::json!(last.map(|r| r.val_loss));
            record[key] = serde_json::json!(last.map(|r| r.val_score));
            record["best_epoch"] = serde_json::json!(best.map(|b| b.0));
            record[format!("best_{key}")] = serde_json::json!(best.map(|b| b.1));
            record["saved_epoch"] = serde_json::json!(progress.best.map_or(progress.history.len() as u64, |b| b.epoch));
        }
        record
    }

    /// What the step plan does per run, and what summing gradients across devices cost.
    fn tell_costs<B: Backend>(&self, trainer: &Trainer<B>, started: Instant) {
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
                trainer.devices() * self.group.as_ref().map_or(1, |g| g.size()),
                reduce.steps,
                reduce.seconds / reduce.steps as f64 * 1e3,
                100.0 * reduce.seconds / seconds.max(1e-9)
            );
        }
    }

    /// Saves the model and what resuming needs, on the lead rank (the only one that writes).
    fn save<B: Backend>(&self, trainer: &Trainer<B>, progress: &Progress) -> Result<()> {
        if !self.lead() {
            return Ok(());
        }
        let mut ckpt = trainer.checkpoint(self.train, Some(progress))?;
        ckpt.model.info.trained_on = Some(TrainedOn {
            source: self.source.clone(),
            validation: self.validation,
            seed: self.settings.seed,
            standardize: self.settings.standardize,
            class_weight: self.settings.class_weight.clone(),
        });
        ckpt.save(&self.outputs.model)
    }
}

/// What a run shows and saves as it trains: the progress bar, each epoch's line and record,
/// the shaders' compile time once it is known, and a checkpoint after each epoch.
struct Report<'a, B: Backend> {
    run: &'a Run<'a>,
    backends: &'a [B],
    config: &'a TrainConfig,
    bar: TrainingBar,
    /// How many of the devices' pipelines have been reported.
    compiled_told: usize,
    steps_seen: bool,
    validated: bool,
    /// The last checkpoint that could not be written (training goes on; the run fails at the end).
    save_error: Option<Error>,
    /// When the last checkpoint was written (or the run started), and where it stood then.
    last_save: Instant,
    saved: Option<(u64, usize)>,
}

impl<'a, B: Backend> Report<'a, B> {
    fn new(run: &'a Run<'a>, backends: &'a [B], config: &'a TrainConfig, progress: &Progress) -> Self {
        let batches = run.train.len().div_ceil(config.batch) as u64;
        let done = progress.epoch * batches + progress.batch as u64;
        Report {
            run,
            backends,
            config,
            bar: TrainingBar::new(batches * config.epochs, done, run.lead()),
            compiled_told: 0,
            steps_seen: false,
            validated: false,
            save_error: None,
            last_save: Instant::now(),
            saved: None,
        }
    }

    /// Writes a checkpoint if `--checkpoint-every` has passed since the last: at an epoch's
    /// end, or between steps (not while a pipelined step is in flight, whose loss the progress
    /// does not count yet), so a crash loses at most that much; a short run writes once, at
    /// its end.
    fn checkpoint(&mut self, trainer: &Trainer<B>, progress: &Progress, epoch_end: bool) {
        let every = self.run.settings.checkpoint_every;
        let due = self.last_save.elapsed() >= every;
        let between_steps = !epoch_end && !every.is_zero() && !self.run.args.pipeline;
        if !(due && (epoch_end || between_steps)) {
            return;
        }
        match self.run.save(trainer, progress) {
            Ok(()) => self.saved = Some((progress.epoch, progress.batch)),
            Err(e) => {
                let model = self.run.outputs.model.display();
                self.bar.println(&format!("warning: could not save {model}: {e}"));
                self.save_error = Some(e);
            }
        }
        self.last_save = Instant::now();
    }

    fn event(&mut self, event: Event<'_>, trainer: &Trainer<B>, progress: &Progress) {
        match event {
            Event::Step {
                epoch,
                loss,
                samples_per_s,
                ..
            } => {
                if !self.steps_seen {
                    self.steps_seen = true;
                    self.tell_compile();
                }
                self.bar.step(epoch, self.config.epochs, loss, samples_per_s);
                self.checkpoint(trainer, progress, false);
            }
            Event::Epoch(r) => {
                if !self.validated {
                    self.validated = true;
                    self.tell_compile();
                }
                // Saved before the epoch's line, so what the line reports is on disk when it shows.
                self.checkpoint(trainer, progress, true);
                self.epoch(r);
            }
        }
    }

    /// An epoch's line, and its JSON record with `--json` (without the validation figures when
    /// the run holds out no examples).
    fn epoch(&self, r: &EpochRecord) {
        let kind = Run::kind(self.backends);
        let validated = !self.run.val.is_empty();
        let (key, score) = validation_score(self.config.task, r.val_score);
        if self.run.args.json && self.run.lead() {
            let mut record = serde_json::json!({
                "record": "epoch",
                "epoch": r.epoch,
                "loss": r.loss,
                "samples_per_s": r.samples_per_s,
                "seconds": r.seconds,
                "backend": kind,
                "device": self.backends[0].describe(),
                "devices": self.run.device_count(self.backends),
            });
            if validated {
                record["val_loss"] = serde_json::json!(r.val_loss);
                record[key] = serde_json::json!(r.val_score);
            }
            self.bar.suspend_print(&record.to_string());
        }
        let validation = if validated {
            format!("  validation loss {:.4}  {score}", r.val_loss)
        } else {
            String::new()
        };
        self.bar.println(&format!(
            "epoch {:>3}/{}: loss {:.4}{validation}  {:.0} samples/s ({kind})  {:.1}s",
            r.epoch, self.config.epochs, r.loss, r.samples_per_s, r.seconds
        ));
    }

    /// What compiling shaders cost, said once the first step (then the first validation) has
    /// run them, when it passed a second: on lavapipe it is most of a first run.
    fn tell_compile(&mut self) {
        let times: Vec<PipelineTime> = self.backends.iter().flat_map(Backend::pipeline_times).collect();
        let new = &times[self.compiled_told..];
        if new.iter().map(PipelineTime::total_s).sum::<f64>() > 1.0 {
            self.bar.println(&format!(
                "compiled GPU shaders: {} (the driver caches them for the next run)",
                describe_compile(new)
            ));
            self.compiled_told = times.len();
        }
    }
}
