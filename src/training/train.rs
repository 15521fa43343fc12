//! Training minibatched MLPs: a [`Trainer`] holds the parameters on a device and one compiled
//! plan per batch size (forward, loss, backward and optimizer update in one submission), and
//! [`fit`] runs epochs with a seeded shuffle, a validation pass per epoch, and a stop flag that
//! leaves a resumable [`Progress`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::backend::{Backend, Element};
use crate::data::{epoch_order, Digits};
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::{Init, Mlp, MlpGraph};
use crate::optim::{Optimizer, Schedule};
use crate::plan::{ParamStore, Plan};

/// Everything that defines a training run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub mlp: Mlp,
    pub init: Init,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub batch: usize,
    pub epochs: u64,
    pub seed: u64,
    /// Read the loss back every this many steps (reading it every step costs a wait per step).
    pub loss_every: u64,
}

/// A compiled plan and the graph it runs (a training step's, or an evaluation's).
struct Compiled<B: Backend> {
    mlp: MlpGraph,
    plan: Plan<B>,
}

/// Accuracy and confusion matrix (`confusion[label][prediction]`) over a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub accuracy: f64,
    pub count: usize,
    pub confusion: Vec<Vec<usize>>,
}

/// A named tensor read back from a device: `(name, shape, values)`.
pub type NamedValues = (String, Vec<usize>, Vec<f64>);

/// An MLP being trained on one backend.
///
/// ```
/// use shadergrad::{backend::cpu::CpuBackend, data::Digits, nn::{Activation, Init, Mlp}, optim::{Optimizer, Schedule}};
/// use shadergrad::train::{TrainConfig, Trainer};
/// let digits = Digits::bundled()?;
/// let config = TrainConfig {
///     mlp: Mlp::new(&[784, 32, 10], Activation::Relu)?,
///     init: Init::KaimingUniform,
///     optimizer: Optimizer::sgd(0.1),
///     schedule: Schedule::Constant,
///     batch: 64,
///     epochs: 1,
///     seed: 0,
///     loss_every: 1,
/// };
/// let mut trainer = Trainer::new(&CpuBackend::<f32>::new(), config)?;
/// let batch: Vec<usize> = (0..64).collect();
/// let first = trainer.step(&digits, &batch, true)?.unwrap();   // forward, loss, backward, update
/// let later = trainer.step(&digits, &batch, true)?.unwrap();
/// assert!(later < first);
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub struct Trainer<B: Backend> {
    backend: B,
    config: TrainConfig,
    store: ParamStore<B>,
    steps: HashMap<usize, Compiled<B>>,
    evals: HashMap<usize, Compiled<B>>,
    /// The current batch's pixels and labels, as bytes (kept to reuse their memory).
    x: Vec<u8>,
    y: Vec<u8>,
}

/// The scale from a pixel byte to the network's input: `[0, 255]` to `[0, 1]`.
const PIXEL_SCALE: f64 = 1.0 / 255.0;

const EVAL_BATCH: usize = 1000;

impl<B: Backend> Trainer<B> {
    /// Parameters initialised from `config.seed`, and the plan for `config.batch`.
    pub fn new(backend: &B, config: TrainConfig) -> Result<Self> {
        if config.batch == 0 {
            return Err(Error::invalid("batch", "0", "a batch of at least one example"));
        }
        let mut t = Trainer {
            backend: backend.clone(),
            store: ParamStore::new(backend),
            config,
            steps: HashMap::new(),
            evals: HashMap::new(),
            x: Vec::new(),
            y: Vec::new(),
        };
        t.step_graph(t.config.batch)?;
        Ok(t)
    }

    /// The run's configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The parameters and optimizer state.
    pub fn store(&self) -> &ParamStore<B> {
        &self.store
    }

    pub(crate) fn store_mut(&mut self) -> &mut ParamStore<B> {
        &mut self.store
    }

    /// What the step plan for the configured batch does per run.
    pub fn step_report(&self) -> Option<crate::plan::PlanReport> {
        self.steps.get(&self.config.batch).map(|s| s.plan.report().clone())
    }

    fn step_graph(&mut self, batch: usize) -> Result<&mut Compiled<B>> {
        if !self.steps.contains_key(&batch) {
            let c = &self.config;
            // Pixels and labels cross to the device as bytes: a quarter of f32's upload.
            let mlp = c.mlp.graph(batch, c.init, c.seed, PIXEL_SCALE);
            let grads = mlp.graph.backward(&mlp.loss)?;
            let step = c.optimizer.minimize(&mlp.graph, &grads, &mlp.params())?;
            let plan = Plan::compile(&self.backend, &mlp.graph, &[&mlp.loss, &step], &mut self.store)?;
            self.steps.insert(batch, Compiled { mlp, plan });
        }
        Ok(self.steps.get_mut(&batch).expect("inserted above"))
    }

    /// What the step plan for the configured batch built: its launches and fusions.
    pub fn describe_step(&self) -> Option<String> {
        self.steps.get(&self.config.batch).map(|s| s.plan.describe())
    }

    /// One training step on the examples at `indices`: upload the batch, forward, loss,
    /// backward, update, all in one submission. Reads the loss back only when `read_loss`; a
    /// non-finite loss is an error naming the step and the first node that went non-finite.
    pub fn step(&mut self, data: &Digits, indices: &[usize], read_loss: bool) -> Result<Option<f64>> {
        self.check_data(data)?;
        if let Some(&bad) = indices.iter().find(|&&i| i >= data.len()) {
            return Err(Error::invalid(
                "batch index",
                bad.to_string(),
                format!("an index of one of the {} examples", data.len()),
            ));
        }
        if indices.is_empty() {
            return Err(Error::invalid("batch", "[]", "at least one example"));
        }
        let classes = self.config.mlp.classes();
        if let Some(&i) = indices.iter().find(|&&i| data.labels[i] as usize >= classes) {
            return Err(Error::LabelOutOfRange {
                label: data.labels[i] as usize,
                index: i,
                classes,
            });
        }
        let mut x = std::mem::take(&mut self.x);
        let mut y = std::mem::take(&mut self.y);
        data.batch_bytes_into(indices, &mut x, &mut y);
        let t = self.store.steps() + 1;
        let lr = self.config.schedule.lr(self.config.optimizer.lr(), t - 1);
        let sg = self.step_graph(indices.len())?;
        sg.plan.set_input_bytes(&sg.mlp.x, &x)?;
        sg.plan.set_input_bytes(&sg.mlp.labels, &y)?;
        sg.plan.set_step(t, lr)?;
        let loss = if read_loss {
            Some(sg.plan.run()?.scalar(&sg.mlp.loss)?)
        } else {
            sg.plan.run_without_readback()?;
            None
        };
        self.store.set_steps(t);
        let result = match loss {
            Some(v) if !v.is_finite() => Err(self.non_finite(indices.len(), t, v, &x, &y)),
            _ => Ok(loss),
        };
        self.x = x;
        self.y = y;
        result
    }

    /// Names the first node of the step's graph that produces NaN or Inf on this batch.
    fn non_finite(&mut self, batch: usize, t: u64, loss: f64, x: &[u8], y: &[u8]) -> Error {
        let backend = self.backend.clone();
        let Some(sg) = self.steps.get(&batch) else {
            return Error::NonFinite(format!("the loss is {loss} at step {t}"));
        };
        let (graph, lt) = (sg.mlp.graph.clone(), sg.mlp.loss.clone());
        // The byte inputs' packed words, fed to the inputs that hold them.
        let packed = |t: &Tensor| graph.tensor(graph.node(t.id()).inputs[0]);
        let (xt, yt) = (packed(&sg.mlp.x), packed(&sg.mlp.labels));
        let (mut xw, mut yw) = (Vec::new(), Vec::new());
        crate::element::pack_bytes(x, &mut xw);
        crate::element::pack_bytes(y, &mut yw);
        let feeds: [(&Tensor, &[B::Elem]); 2] = [(&xt, &xw), (&yt, &yw)];
        let found = crate::check::first_non_finite(&backend, &graph, &[&lt], &mut self.store, &feeds);
        let detail = match found {
            Ok(Some(nf)) if nf.op == "param" => format!(
                "; parameter `{}` is already non-finite, so an earlier update diverged (lower the learning rate)",
                nf.name
            ),
            Ok(Some(nf)) => format!("; the first non-finite value comes from {nf}"),
            Ok(None) => String::new(),
            Err(e) => format!("; finding its source failed: {e}"),
        };
        Error::NonFinite(format!("the loss is {loss} at step {t}{detail}"))
    }

    fn eval_graph(&mut self, batch: usize) -> Result<&mut Compiled<B>> {
        if !self.evals.contains_key(&batch) {
            let c = &self.config;
            let mlp = c.mlp.graph(batch, c.init, c.seed, PIXEL_SCALE);
            let plan = Plan::compile(&self.backend, &mlp.graph, &[&mlp.logits], &mut self.store)?;
            self.evals.insert(batch, Compiled { mlp, plan });
        }
        Ok(self.evals.get_mut(&batch).expect("inserted above"))
    }

    /// Accuracy and confusion matrix over `data`, in batches of 1,000.
    pub fn evaluate(&mut self, data: &Digits) -> Result<Evaluation> {
        self.check_data(data)?;
        let classes = self.config.mlp.classes();
        data.check_labels(classes)?;
        let mut confusion = vec![vec![0usize; classes]; classes];
        let mut x = std::mem::take(&mut self.x);
        let mut y = std::mem::take(&mut self.y);
        let all: Vec<usize> = (0..data.len()).collect();
        for chunk in all.chunks(EVAL_BATCH) {
            data.batch_bytes_into(chunk, &mut x, &mut y);
            let eg = self.eval_graph(chunk.len())?;
            eg.plan.set_input_bytes(&eg.mlp.x, &x)?;
            let out = eg.plan.run()?;
            let logits = out.get(&eg.mlp.logits)?;
            for (row, &i) in logits.chunks(classes).zip(chunk) {
                let pred = argmax(row);
                confusion[data.labels[i] as usize][pred] += 1;
            }
        }
        self.x = x;
        self.y = y;
        let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
        Ok(Evaluation {
            accuracy: if data.is_empty() {
                0.0
            } else {
                correct as f64 / data.len() as f64
            },
            count: data.len(),
            confusion,
        })
    }

    /// Refuses data whose images are not the model's input size.
    fn check_data(&self, data: &Digits) -> Result<()> {
        if data.features() != self.config.mlp.inputs() {
            return Err(Error::invalid(
                "data",
                format!("{}×{} images", data.rows, data.cols),
                format!(
                    "{} values per example, the input size of the {} model",
                    self.config.mlp.inputs(),
                    self.config.mlp.describe()
                ),
            ));
        }
        Ok(())
    }

    /// The gradient of the mean loss over the first `n` examples of `data` for every
    /// parameter, by name (nothing is updated).
    pub fn gradients(&mut self, data: &Digits, n: usize) -> Result<Vec<NamedValues>> {
        let n = n.min(data.len());
        if n == 0 {
            return Err(Error::invalid("examples", "0", "at least one example"));
        }
        self.check_data(data)?;
        let c = &self.config;
        data.check_labels(c.mlp.classes())?;
        let mlp = c.mlp.graph(n, c.init, c.seed, PIXEL_SCALE);
        let grads = mlp.graph.backward(&mlp.loss)?;
        let params = mlp.params();
        let outputs: Vec<Tensor> = params.iter().map(|p| grads.of(p)).collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = outputs.iter().collect();
        let mut plan = Plan::compile(&self.backend, &mlp.graph, &refs, &mut self.store)?;
        let (mut xb, mut yb) = (Vec::new(), Vec::new());
        data.batch_bytes_into(&(0..n).collect::<Vec<_>>(), &mut xb, &mut yb);
        plan.set_input_bytes(&mlp.x, &xb)?;
        plan.set_input_bytes(&mlp.labels, &yb)?;
        let out = plan.run()?;
        params
            .iter()
            .zip(&outputs)
            .map(|(p, g)| {
                Ok((
                    p.name(),
                    p.shape().dims().to_vec(),
                    out.get(g)?.iter().map(|v| v.as_f64()).collect(),
                ))
            })
            .collect()
    }
}

fn argmax<E: Element>(row: &[E]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    pub epoch: u64,
    /// Mean of the training losses read back during the epoch (NaN when none was read).
    #[serde(with = "nan_as_null")]
    pub loss: f64,
    pub val_accuracy: f64,
    pub samples_per_s: f64,
    pub seconds: f64,
}

/// Where a run stands: enough to resume it exactly.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// The epoch in progress (0-based).
    pub epoch: u64,
    /// The next batch of that epoch.
    pub batch: usize,
    pub history: Vec<EpochRecord>,
    /// Losses read so far in this epoch: their sum and count.
    pub loss_sum: f64,
    pub loss_count: u64,
}

/// What [`fit`] reports as it goes.
pub enum Event<'a> {
    /// After a step: where, the loss if it was read, and the epoch's throughput so far.
    Step {
        epoch: u64,
        batch: usize,
        batches: usize,
        loss: Option<f64>,
        samples_per_s: f64,
    },
    /// After an epoch's validation.
    Epoch(&'a EpochRecord),
}

/// Trains until `trainer`'s configured epochs are done (true) or `stop` is set (false); either
/// way `progress` says where to resume.
/// `on` sees each event with the trainer and the progress as they stand (to report, or to save a
/// checkpoint after an epoch).
pub fn fit<B: Backend>(
    trainer: &mut Trainer<B>,
    train: &Digits,
    val: &Digits,
    progress: &mut Progress,
    stop: &AtomicBool,
    on: &mut dyn FnMut(Event<'_>, &Trainer<B>, &Progress),
) -> Result<bool> {
    let classes = trainer.config.mlp.classes();
    train.check_labels(classes)?;
    val.check_labels(classes)?;
    if train.features() != trainer.config.mlp.inputs() {
        return Err(Error::invalid(
            "data",
            format!("{}×{} images", train.rows, train.cols),
            format!("{} inputs per example, as the model takes", trainer.config.mlp.inputs()),
        ));
    }
    let batch = trainer.config.batch;
    let batches = train.len().div_ceil(batch);
    while progress.epoch < trainer.config.epochs {
        let order = epoch_order(train.len(), trainer.config.seed, progress.epoch);
        let start = Instant::now();
        let mut samples = 0usize;
        while progress.batch < batches {
            if stop.load(Ordering::SeqCst) {
                return Ok(false);
            }
            let b = progress.batch;
            let indices = &order[b * batch..((b + 1) * batch).min(train.len())];
            let read = trainer.store.steps() % trainer.config.loss_every.max(1) == 0;
            let loss = trainer.step(train, indices, read)?;
            if let Some(l) = loss {
                progress.loss_sum += l;
                progress.loss_count += 1;
            }
            samples += indices.len();
            progress.batch += 1;
            let event = Event::Step {
                epoch: progress.epoch,
                batch: progress.batch,
                batches,
                loss,
                samples_per_s: samples as f64 / start.elapsed().as_secs_f64().max(1e-9),
            };
            on(event, trainer, progress);
        }
        let seconds = start.elapsed().as_secs_f64();
        let eval = trainer.evaluate(val)?;
        let record = EpochRecord {
            epoch: progress.epoch + 1,
            loss: if progress.loss_count > 0 {
                progress.loss_sum / progress.loss_count as f64
            } else {
                f64::NAN
            },
            val_accuracy: eval.accuracy,
            samples_per_s: samples as f64 / seconds.max(1e-9),
            seconds,
        };
        progress.history.push(record.clone());
        progress.epoch += 1;
        progress.batch = 0;
        progress.loss_sum = 0.0;
        progress.loss_count = 0;
        on(Event::Epoch(&record), trainer, progress);
    }
    Ok(true)
}

/// JSON has no NaN: a figure that is not a number (the loss of an epoch that read none) is
/// written as null and read back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}
