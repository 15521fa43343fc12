//! Training minibatched MLPs on any [`Dataset`]: a [`Trainer`] holds the parameters on a device
//! and one compiled plan per batch size (forward, loss, backward and optimizer update in one
//! submission), and [`fit`] runs epochs with a seeded shuffle, a validation pass per epoch, and
//! a stop flag that leaves a resumable [`Progress`].

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::backend::{Backend, Element};
use crate::data::{epoch_order, Batch, Dataset, Targets, Task};
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::group::ProcessGroup;
use crate::io::Tensors;
use crate::metrics::{self, Evaluation};
use crate::nn::{Init, Input, Mlp, MlpGraph, Mode, Norm};
use crate::optim::{Optimizer, Schedule};
use crate::plan::{ParamStore, Plan};

/// Everything that defines a training run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub mlp: Mlp,
    /// What the outputs mean, and so the loss (classification unless said).
    #[serde(default)]
    pub task: Task,
    pub init: Init,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub batch: usize,
    pub epochs: u64,
    pub seed: u64,
    /// Read the loss back every this many steps (reading it every step costs a wait per step).
    pub loss_every: u64,
    /// Label smoothing, augmentation and early stopping (none of them unless said).
    #[serde(default)]
    pub regularize: Regularize,
}

/// The parts of a training run that regularise it without changing the model.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Regularize {
    /// Label smoothing of the softmax cross-entropy, in `[0, 1)` (classification only).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Random changes to training images.
    #[serde(default)]
    pub augment: Augment,
    /// Stop after this many epochs without a better validation score, and keep the best
    /// epoch's parameters as the model.
    #[serde(default)]
    pub patience: Option<u64>,
}

/// Random changes to each training image, drawn per step and example from counters (so a
/// resumed run draws what it would have drawn); never in evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augment {
    #[default]
    Off,
    /// Translations by up to `pixels` pixels each way in each direction (vacated pixels 0).
    Shift { pixels: u32 },
}

impl std::fmt::Display for Augment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Augment::Off => write!(f, "off"),
            Augment::Shift { pixels } => write!(f, "shift:{pixels}"),
        }
    }
}

/// A named tensor read back from a device: `(name, shape, values)`.
pub type NamedValues = (String, Vec<usize>, Vec<f64>);

/// How a batch's features enter a plan, as a key (bytes at a scale, or numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct InputKey(Option<u64>);

impl From<Input> for InputKey {
    fn from(i: Input) -> Self {
        match i {
            Input::Bytes { scale } => InputKey(Some(scale.to_bits())),
            Input::Floats => InputKey(None),
        }
    }
}

/// A compiled plan and the graph it runs (a training step's, or an evaluation's).
struct Compiled<B: Backend> {
    mlp: MlpGraph,
    plan: Plan<B>,
}

/// An MLP being trained on one backend.
///
/// ```
/// use shadergrad::{backend::cpu::CpuBackend, data::{Dataset, Task}, nn::{Activation, Init, Mlp}, optim::{Optimizer, Schedule}};
/// use shadergrad::train::{TrainConfig, Trainer};
/// let digits = Dataset::bundled_digits()?;
/// let config = TrainConfig {
///     mlp: Mlp::new(&[784, 32, 10], Activation::Relu)?,
///     task: Task::Classify,
///     init: Init::KaimingUniform,
///     optimizer: Optimizer::sgd(0.1),
///     schedule: Schedule::Constant,
///     batch: 64,
///     epochs: 1,
///     seed: 0,
///     loss_every: 1,
///     regularize: Default::default(),
/// };
/// let mut trainer = Trainer::new(&CpuBackend::<f32>::new(), config)?;
/// let batch: Vec<usize> = (0..64).collect();
/// let first = trainer.step(&digits, &batch, true)?.unwrap();   // forward, loss, backward, update
/// let later = trainer.step(&digits, &batch, true)?.unwrap();
/// assert!(later < first);
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub struct Trainer<B: Backend> {
    config: TrainConfig,
    /// One copy of the model per device, the first the one evaluated and saved (several only
    /// when training data-parallel, see [`Trainer::replicated`]).
    devices: Vec<Replica<B>>,
    /// Set when the first device's parameters changed outside a step (a checkpoint restored
    /// there): the other replicas copy them before the next step.
    replicas_stale: bool,
    /// Host time spent summing the replicas' gradients and writing the sums back.
    reduce: ReduceTime,
    /// The other processes training this model, when there are any ([`Trainer::join`]).
    group: Option<Rc<dyn ProcessGroup>>,
    /// This process wants the run to stop (Ctrl-C): said to the group with the next step.
    stop_requested: bool,
    /// Some process of the group wanted to stop, as the last step's collective said.
    group_stopped: bool,
    evals: HashMap<(usize, InputKey), Compiled<B>>,
    /// The current batch on its way to the device (kept to reuse its memory).
    staging: Staging<B::Elem>,
    /// The parameters of the best validation epoch, when the run keeps them.
    pub(crate) best: Option<Tensors>,
}

/// One device's copy of the model: its parameters (the same on every device of a run), its
/// step plans, and its share of each batch (used only when there are several devices).
struct Replica<B: Backend> {
    backend: B,
    store: ParamStore<B>,
    steps: HashMap<(usize, InputKey), Compiled<B>>,
    share: Staging<B::Elem>,
}

/// What the gradient all-reduce of a data-parallel run has cost so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReduceTime {
    /// Steps that summed gradients across devices.
    pub steps: u64,
    /// Host seconds spent in them summing the gradient arenas read back from every device and
    /// writing the sum back to each (reading back is counted with the step's compute: it
    /// waits for it).
    pub seconds: f64,
    /// Values in one device's gradient arenas: each step reads this many from every device and
    /// writes them back to every device.
    pub values: usize,
}

/// A batch gathered on the host, and its numbers in the backend's type.
struct Staging<E> {
    batch: Batch,
    x: Vec<E>,
    y: Vec<E>,
}

impl<E> Default for Staging<E> {
    fn default() -> Self {
        Staging {
            batch: Batch::default(),
            x: Vec::new(),
            y: Vec::new(),
        }
    }
}

/// The counter stream of a run's augmentation (apart from its dropout streams).
fn augment_stream(seed: u64) -> u32 {
    crate::op::random::counter_hash(seed as u32 ^ 0xa5a5_a5a5, (seed >> 32) as u32, u32::MAX)
}

/// `values` into `out`, in the backend's type, reusing `out`'s memory.
fn convert<E: Element>(values: &[f32], out: &mut Vec<E>) {
    out.clear();
    out.extend(values.iter().map(|&v| E::from_f64(v as f64)));
}

const EVAL_BATCH: usize = 1000;

/// `examples` split into `devices` contiguous shares whose sizes differ by at most one, the
/// larger first (empty shares when there are fewer examples than devices).
fn shares(examples: usize, devices: usize) -> Vec<std::ops::Range<usize>> {
    let (each, extra) = (examples / devices, examples % devices);
    let mut start = 0;
    (0..devices)
        .map(|d| {
            let len = each + usize::from(d < extra);
            start += len;
            start - len..start
        })
        .collect()
}

/// The seed of replica `r`'s dropout streams: the run's own for the first, distinct for the
/// others, so that replicas do not drop the same units of their different examples.
fn replica_seed(seed: u64, r: usize) -> u64 {
    seed ^ (r as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// `config`'s training step (or its evaluation) for `batch` examples on `backend`, its
/// dropout drawn from `seed`'s streams.
fn compile<B: Backend>(
    backend: &B,
    store: &mut ParamStore<B>,
    c: &TrainConfig,
    seed: u64,
    batch: usize,
    input: Input,
    training: bool,
) -> Result<Compiled<B>> {
    let mode = if training {
        Mode::Train {
            label_smoothing: c.regularize.label_smoothing,
        }
    } else {
        Mode::Eval
    };
    let mlp = c.mlp.graph_for(batch, c.init, seed, input, c.task, mode);
    let plan = if training {
        let grads = mlp.graph.backward(&mlp.loss)?;
        let step = c.optimizer.minimize(&mlp.graph, &grads, &mlp.params())?;
        let buffers = mlp.graph.group("buffer updates", &mlp.buffer_updates);
        Plan::compile(backend, &mlp.graph, &[&mlp.loss, &step, &buffers], store)?
    } else {
        Plan::compile(backend, &mlp.graph, &[&mlp.logits], store)?
    };
    Ok(Compiled { mlp, plan })
}

impl<B: Backend> Replica<B> {
    /// A replica on `backend` with the parameters `config.seed` initialises (in one arena, so
    /// that one optimizer launch updates them all).
    fn new(backend: &B, config: &TrainConfig) -> Result<Self> {
        let mut store = ParamStore::new(backend);
        let shape = config
            .mlp
            .clone()
            .validated()?
            .graph(1, config.init, config.seed, Input::Floats, config.task);
        store.create_from(&shape.graph)?;
        Ok(Replica {
            backend: backend.clone(),
            store,
            steps: HashMap::new(),
            share: Staging::default(),
        })
    }

    /// Its training step for `batch` examples, compiled the first time; `r` is its place
    /// among the devices (its dropout streams).
    fn step_plan(&mut self, config: &TrainConfig, r: usize, batch: usize, input: Input) -> Result<&mut Compiled<B>> {
        let key = (batch, InputKey::from(input));
        if !self.steps.contains_key(&key) {
            let seed = replica_seed(config.seed, r);
            let compiled = compile(&self.backend, &mut self.store, config, seed, batch, input, true)?;
            self.steps.insert(key, compiled);
        }
        Ok(self.steps.get_mut(&key).expect("inserted above"))
    }
}

impl<B: Backend> Trainer<B> {
    /// A trainer with its parameters initialised from `config.seed` (in one arena, so that
    /// one optimizer launch updates them all); its plans are compiled when first needed.
    pub fn new(backend: &B, config: TrainConfig) -> Result<Self> {
        if config.batch == 0 {
            return Err(Error::invalid("batch", "0", "a batch of at least one example"));
        }
        let smoothing = config.regularize.label_smoothing;
        if !(0.0..1.0).contains(&smoothing) {
            return Err(Error::invalid(
                "label smoothing",
                smoothing.to_string(),
                "a number in [0, 1)",
            ));
        }
        let first = Replica::new(backend, &config)?;
        Ok(Trainer {
            config,
            devices: vec![first],
            replicas_stale: false,
            reduce: ReduceTime::default(),
            group: None,
            stop_requested: false,
            group_stopped: false,
            evals: HashMap::new(),
            staging: Staging::default(),
            best: None,
        })
    }

    /// A data-parallel trainer: one replica of the model on each of `backends`, each step's
    /// batch split across them in contiguous shares that differ by at most one example. Each
    /// replica computes the mean gradient of its share; the gradient arenas are read back,
    /// summed on the host weighted by share (so the sum is the gradient of the mean loss over
    /// the whole batch), written back to every replica, and every replica applies the same
    /// update: the parameters stay identical, and the losses are one device's to within f32
    /// rounding. On GPUs the replicas compute at once (each step waits once for all of them).
    ///
    /// The first replica is the one evaluated and saved. Batch-norm statistics are each
    /// replica's share's (as in PyTorch's DDP without SyncBatchNorm), and each replica draws
    /// its own dropout masks: with either, the losses are no longer one device's.
    ///
    /// ```
    /// use shadergrad::{backend::cpu::CpuBackend, data::{Dataset, Task}, nn::{Activation, Init, Mlp}, optim::{Optimizer, Schedule}};
    /// use shadergrad::train::{TrainConfig, Trainer};
    /// let digits = Dataset::bundled_digits()?;
    /// let config = TrainConfig {
    ///     mlp: Mlp::new(&[784, 16, 10], Activation::Relu)?,
    ///     task: Task::Classify,
    ///     init: Init::KaimingUniform,
    ///     optimizer: Optimizer::sgd(0.1),
    ///     schedule: Schedule::Constant,
    ///     batch: 33,
    ///     epochs: 1,
    ///     seed: 0,
    ///     loss_every: 1,
    ///     regularize: Default::default(),
    /// };
    /// let batch: Vec<usize> = (0..33).collect();
    /// let mut one = Trainer::new(&CpuBackend::<f32>::new(), config.clone())?;
    /// let mut two = Trainer::replicated(&[CpuBackend::new(), CpuBackend::new()], config)?; // 17 + 16
    /// for _ in 0..3 {
    ///     let (a, b) = (one.step(&digits, &batch, true)?.unwrap(), two.step(&digits, &batch, true)?.unwrap());
    ///     assert!((a - b).abs() <= 1e-5 * a);
    /// }
    /// assert_eq!(two.reduce_time().steps, 3);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn replicated(backends: &[B], config: TrainConfig) -> Result<Self> {
        let Some((first, others)) = backends.split_first() else {
            return Err(Error::invalid("devices", "none", "at least one device"));
        };
        if config.batch < backends.len() {
            return Err(Error::invalid(
                "batch",
                config.batch.to_string(),
                format!("at least one example for each of the {} devices", backends.len()),
            ));
        }
        let mut trainer = Self::new(first, config)?;
        for backend in others {
            let replica = Replica::new(backend, &trainer.config)?;
            trainer.devices.push(replica);
        }
        Ok(trainer)
    }

    /// Trains together with the other processes of `group` (MPI ranks, say): every process
    /// runs the same steps on the same batches, takes its share of each (its devices' shares,
    /// the processes in rank order), and one [`ProcessGroup::sum`] per step adds up the
    /// weighted gradients and the loss, so that every process applies the same update.
    /// [`fit`] then stops every process at the same step when any one is asked to stop, and
    /// evaluates on process 0 for all. Every process must start from the same parameters
    /// (the same seed, or the same checkpoint restored).
    pub fn join(&mut self, group: Rc<dyn ProcessGroup>) -> Result<()> {
        let replicas = group.size() * self.devices.len();
        if self.config.batch < replicas {
            return Err(Error::invalid(
                "batch",
                self.config.batch.to_string(),
                format!(
                    "at least one example for each of the {replicas} replicas ({} processes)",
                    group.size()
                ),
            ));
        }
        self.group = Some(group);
        Ok(())
    }

    /// How many devices hold a replica of the model (1 unless [`Trainer::replicated`]).
    pub fn devices(&self) -> usize {
        self.devices.len()
    }

    /// What summing gradients across devices has cost so far (nothing on one device).
    pub fn reduce_time(&self) -> ReduceTime {
        self.reduce
    }

    /// The run's configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The parameters and optimizer state (the first device's, when there are several).
    pub fn store(&self) -> &ParamStore<B> {
        &self.devices[0].store
    }

    /// The parameters and optimizer state of the replica on device `device` (0 is
    /// [`Trainer::store`]): the same values on every device of a data-parallel run.
    pub fn replica_store(&self, device: usize) -> Option<&ParamStore<B>> {
        self.devices.get(device).map(|r| &r.store)
    }

    /// The first device's parameters, to change them (the other replicas follow before the
    /// next step).
    pub(crate) fn store_mut(&mut self) -> &mut ParamStore<B> {
        self.replicas_stale = self.devices.len() > 1;
        &mut self.devices[0].store
    }

    /// What the step plan for the configured batch does per run (once a step has compiled it;
    /// the first device's share of it when there are several devices).
    pub fn step_report(&self) -> Option<crate::plan::PlanReport> {
        let share = self.config.batch.div_ceil(self.devices.len());
        self.devices[0]
            .steps
            .iter()
            .find(|((b, _), _)| *b == share)
            .map(|(_, s)| s.plan.report().clone())
    }

    /// The first device's plan for `batch` examples: a training step's, or an evaluation's.
    fn compiled(&mut self, batch: usize, input: Input, training: bool) -> Result<&mut Compiled<B>> {
        let first = &mut self.devices[0];
        if training {
            return first.step_plan(&self.config, 0, batch, input);
        }
        let key = (batch, InputKey::from(input));
        if !self.evals.contains_key(&key) {
            let compiled = compile(
                &first.backend,
                &mut first.store,
                &self.config,
                self.config.seed,
                batch,
                input,
                false,
            )?;
            self.evals.insert(key, compiled);
        }
        Ok(self.evals.get_mut(&key).expect("inserted above"))
    }

    /// What the training step for the configured batch on `data` is compiled to: its launches
    /// and what was fused (see [`Plan::describe`]).
    pub fn describe_step(&mut self, data: &Dataset) -> Result<String> {
        let batch = self.config.batch;
        Ok(self.compiled(batch, Input::of(&data.features), true)?.plan.describe())
    }

    /// Refuses data the model does not fit: another number of features, another task, or
    /// targets the outputs do not cover (among `rows`, or all of them).
    fn check_data(&self, data: &Dataset, rows: Option<&[usize]>) -> Result<()> {
        let mlp = &self.config.mlp;
        if let Some(&bad) = rows.into_iter().flatten().find(|&&i| i >= data.len()) {
            return Err(Error::invalid(
                "batch index",
                bad.to_string(),
                format!("an index of one of the {} examples", data.len()),
            ));
        }
        if data.feature_count != mlp.inputs() {
            let what = match data.image {
                Some([r, c]) => format!("{r}×{c} images"),
                None => format!("{} features", data.feature_count),
            };
            return Err(Error::invalid(
                "data",
                what,
                format!(
                    "{} values per example, the input size of the {} model",
                    mlp.inputs(),
                    mlp.describe()
                ),
            ));
        }
        if data.task() != self.config.task {
            return Err(Error::invalid(
                "data",
                format!("targets for {}", data.task().name()),
                format!("targets for {}, the model's task", self.config.task.name()),
            ));
        }
        match &data.targets {
            Targets::Classes { ids, .. } => {
                let outside = |&i: &usize| ids[i] as usize >= mlp.classes();
                let found = match rows {
                    Some(rows) => rows.iter().copied().find(outside),
                    None => (0..ids.len()).find(outside),
                };
                if let Some(i) = found {
                    return Err(Error::LabelOutOfRange {
                        label: ids[i] as usize,
                        index: i,
                        classes: mlp.classes(),
                    });
                }
            }
            Targets::Values { k, .. } | Targets::Labels { k, .. } if *k != mlp.classes() => {
                return Err(Error::invalid(
                    "data",
                    format!("{k} targets per example"),
                    format!("{} outputs, as the model has", mlp.classes()),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Feeds the batch gathered in `s.batch` to `c`'s plan.
    fn feed(c: &mut Compiled<B>, s: &mut Staging<B::Elem>) -> Result<()> {
        match c.mlp.input {
            Input::Bytes { .. } => c.plan.set_input_bytes(&c.mlp.x, &s.batch.bytes)?,
            Input::Floats => {
                convert(&s.batch.floats, &mut s.x);
                c.plan.set_input(&c.mlp.x, &s.x)?;
            }
        }
        convert(&s.batch.targets, &mut s.y);
        c.plan.set_input(&c.mlp.targets, &s.y)
    }

    /// One training step on the examples at `indices`: upload the batch, forward, loss,
    /// backward, update, all in one submission (on several devices, one submission up to the
    /// gradients and one for the update on each). Reads the loss back only when `read_loss`; a
    /// non-finite loss is an error naming the step and the first node that went non-finite.
    pub fn step(&mut self, data: &Dataset, indices: &[usize], read_loss: bool) -> Result<Option<f64>> {
        self.check_data(data, Some(indices))?;
        if indices.is_empty() {
            return Err(Error::invalid("batch", "[]", "at least one example"));
        }
        let mut staging = std::mem::take(&mut self.staging);
        data.gather(indices, &mut staging.batch);
        let t = self.store().steps() + 1;
        if let (Augment::Shift { pixels }, Some(image)) = (self.config.regularize.augment, data.image) {
            let stream = augment_stream(self.config.seed);
            staging.batch.shift_images(image, pixels, stream, t as u32);
        }
        let lr = self.config.schedule.lr(self.config.optimizer.lr(), t - 1);
        let input = Input::of(&data.features);
        let shared = self.devices.len() > 1 || self.group.is_some();
        let result = if shared {
            self.step_shared(&staging, indices.len(), input, t, lr).map(Some)
        } else {
            (|| {
                let sg = self.compiled(indices.len(), input, true)?;
                Self::feed(sg, &mut staging)?;
                sg.plan.set_step(t, lr)?;
                if read_loss {
                    Ok(Some(sg.plan.run()?.scalar(&sg.mlp.loss)?))
                } else {
                    sg.plan.run_without_readback()?;
                    Ok(None)
                }
            })()
        };
        let result = match result {
            Ok(loss) => {
                for replica in &mut self.devices {
                    replica.store.set_steps(t);
                }
                match loss {
                    Some(v) if !v.is_finite() => {
                        // Shared, this process's first share stands for the batch.
                        let (rank, ranks) = self.group.as_ref().map_or((0, 1), |g| (g.rank(), g.size()));
                        let local = self.devices.len();
                        let examples = shares(indices.len(), local * ranks)[rank * local].len();
                        let key = (examples, InputKey::from(input));
                        let mut share = std::mem::take(&mut self.devices[0].share);
                        let s = if shared { &mut share } else { &mut staging };
                        let e = self.non_finite(key, t, v, s);
                        self.devices[0].share = share;
                        Err(e)
                    }
                    _ => Ok(loss.filter(|_| read_loss)),
                }
            }
            Err(e) => Err(e),
        };
        self.staging = staging;
        result
    }

    /// A step of the batch in `staging` (`examples` of them) split across the devices (and the
    /// processes of the group, each taking its devices' shares): each computes its share's
    /// gradients, the host sums them weighted by share, the group sums the hosts' sums, and
    /// every device applies the total. Returns the mean loss over the batch.
    fn step_shared(
        &mut self,
        staging: &Staging<B::Elem>,
        examples: usize,
        input: Input,
        t: u64,
        lr: f64,
    ) -> Result<f64> {
        if std::mem::take(&mut self.replicas_stale) {
            let (first, others) = self.devices.split_first_mut().expect("one device at least");
            for replica in others {
                replica.store.copy_from(&first.store)?;
            }
        }
        let (rank, ranks) = self.group.as_ref().map_or((0, 1), |g| (g.rank(), g.size()));
        let local = self.devices.len();
        let parts = shares(examples, local * ranks)[rank * local..(rank + 1) * local].to_vec();
        let key = InputKey::from(input);
        // Start every device; one with no share this step (a last batch smaller than the
        // device count) still takes part, with whichever of its step plans it has.
        let mut plan_sizes = Vec::with_capacity(local);
        for (r, (replica, rows)) in self.devices.iter_mut().zip(&parts).enumerate() {
            let size = match replica.steps.keys().find(|k| k.1 == key) {
                Some(k) if rows.is_empty() => k.0,
                _ => rows.len().max(1),
            };
            plan_sizes.push(size);
            let mut share = std::mem::take(&mut replica.share);
            let sg = replica.step_plan(&self.config, rank * local + r, size, input)?;
            let ran = if rows.is_empty() {
                sg.plan.set_step(t, lr)
            } else {
                staging.batch.copy_rows(rows.clone(), examples, &mut share.batch);
                Self::feed(sg, &mut share)
                    .and_then(|_| sg.plan.set_step(t, lr))
                    .and_then(|_| sg.plan.run_to_gradients())
            };
            replica.share = share;
            ran?;
        }
        // Wait for each device in turn and sum as they come in (a process with no example at
        // all this step reads its first device's arenas for their sizes, and adds nothing).
        let mut loss = 0.0;
        let mut sum: Vec<Vec<f64>> = Vec::new();
        let mut reduce = 0.0;
        for (d, replica) in self.devices.iter().enumerate() {
            let weight = parts[d].len() as f64 / examples as f64;
            if weight == 0.0 && (d > 0 || parts.iter().any(|p| !p.is_empty())) {
                continue;
            }
            let sg = &replica.steps[&(plan_sizes[d], key)];
            let (outputs, gradients) = sg.plan.read_gradients()?;
            let started = Instant::now();
            if weight > 0.0 {
                loss += weight * outputs.scalar(&sg.mlp.loss)?;
            }
            sum.resize_with(gradients.len(), Vec::new);
            for (total, g) in sum.iter_mut().zip(&gradients) {
                total.resize(g.len(), 0.0);
                for (t, v) in total.iter_mut().zip(g) {
                    *t += weight * v.as_f64();
                }
            }
            reduce += started.elapsed().as_secs_f64();
        }
        let started = Instant::now();
        let sum: Vec<Vec<B::Elem>> = match &self.group {
            None => sum
                .iter()
                .map(|g| g.iter().map(|&v| B::Elem::from_f64(v)).collect())
                .collect(),
            Some(group) => {
                // One collective a step: the gradients, the loss, and whether to stop.
                let mut flat: Vec<f32> = sum.iter().flatten().map(|&v| v as f32).collect();
                flat.extend([loss as f32, f32::from(u8::from(self.stop_requested))]);
                group.sum(&mut flat)?;
                self.group_stopped = flat.pop().is_some_and(|stops| stops > 0.0);
                loss = flat.pop().map_or(f64::NAN, f64::from);
                let mut values = flat.into_iter();
                sum.iter()
                    .map(|g| {
                        values
                            .by_ref()
                            .take(g.len())
                            .map(|v| B::Elem::from_f64(v as f64))
                            .collect()
                    })
                    .collect()
            }
        };
        for (replica, size) in self.devices.iter_mut().zip(&plan_sizes) {
            let sg = replica.steps.get_mut(&(*size, key)).expect("compiled above");
            sg.plan.run_updates(&sum)?;
        }
        reduce += started.elapsed().as_secs_f64();
        self.reduce.steps += 1;
        self.reduce.seconds += reduce;
        self.reduce.values = sum.iter().map(Vec::len).sum();
        Ok(loss)
    }

    /// Names the first node of the step's graph that produces NaN or Inf on this batch.
    fn non_finite(&mut self, key: (usize, InputKey), t: u64, loss: f64, s: &mut Staging<B::Elem>) -> Error {
        let first = &mut self.devices[0];
        let backend = first.backend.clone();
        let Some(sg) = first.steps.get(&key) else {
            return Error::NonFinite(format!("the loss is {loss} at step {t}"));
        };
        let (graph, lt) = (sg.mlp.graph.clone(), sg.mlp.loss.clone());
        // What each input holds: a byte input's packed words, fed to the input that holds them.
        let x_input = match sg.mlp.input {
            Input::Bytes { .. } => {
                crate::element::pack_bytes(&s.batch.bytes, &mut s.x);
                graph.tensor(graph.node(sg.mlp.x.id()).inputs[0])
            }
            Input::Floats => {
                convert(&s.batch.floats, &mut s.x);
                sg.mlp.x.clone()
            }
        };
        convert(&s.batch.targets, &mut s.y);
        let targets = sg.mlp.targets.clone();
        let feeds: [(&Tensor, &[B::Elem]); 2] = [(&x_input, &s.x), (&targets, &s.y)];
        let found = crate::check::first_non_finite(&backend, &graph, &[&lt], &mut first.store, &feeds);
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

    /// The model's forward pass: its outputs (logits, or values in standard units) for the
    /// examples at `rows` of `data`, `[rows.len(), outputs]` row-major, in batches of 1,000.
    /// [`Model::predict`](crate::model::Model::predict) turns these into classes, probabilities
    /// or values in original units.
    ///
    /// ```
    /// use shadergrad::backend::cpu::CpuBackend;
    /// use shadergrad::data::{table::{parse_csv, Columns}, Task};
    /// use shadergrad::nn::{Activation, Init, Mlp};
    /// use shadergrad::optim::{Optimizer, Schedule};
    /// use shadergrad::train::{TrainConfig, Trainer};
    /// let csv = b"a,b,y\n0,1,0\n1,0,1\n";
    /// let columns = Columns { targets: vec!["y".into()], ..Columns::default() };
    /// let data = parse_csv(csv, "two.csv", &columns, Task::Classify)?;
    /// let config = TrainConfig {
    ///     mlp: Mlp::new(&[2, 4, 2], Activation::Relu)?,
    ///     task: Task::Classify,
    ///     init: Init::KaimingUniform,
    ///     optimizer: Optimizer::sgd(0.1),
    ///     schedule: Schedule::Constant,
    ///     batch: 2,
    ///     epochs: 1,
    ///     seed: 0,
    ///     loss_every: 1,
    ///     regularize: Default::default(),
    /// };
    /// let mut trainer = Trainer::new(&CpuBackend::<f32>::new(), config)?;
    /// let logits = trainer.outputs(&data, &[0, 1])?;
    /// assert_eq!(logits.len(), 2 * 2);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn outputs(&mut self, data: &Dataset, rows: &[usize]) -> Result<Vec<f64>> {
        self.check_data(data, Some(rows))?;
        self.forward(data, rows)
    }

    /// [`Trainer::outputs`] of data already checked.
    fn forward(&mut self, data: &Dataset, rows: &[usize]) -> Result<Vec<f64>> {
        let mut staging = std::mem::take(&mut self.staging);
        let mut out = Vec::with_capacity(rows.len() * self.config.mlp.classes());
        let result = (|| {
            for chunk in rows.chunks(EVAL_BATCH) {
                data.gather(chunk, &mut staging.batch);
                let eg = self.compiled(chunk.len(), Input::of(&data.features), false)?;
                Self::feed(eg, &mut staging)?;
                let values = eg.plan.run()?;
                out.extend(values.get(&eg.mlp.logits)?.iter().map(|v| v.as_f64()));
            }
            Ok(())
        })();
        self.staging = staging;
        result.map(|_| out)
    }

    /// The task's metrics on `data`, and its mean loss.
    pub fn evaluate(&mut self, data: &Dataset) -> Result<Evaluation> {
        self.check_data(data, None)?;
        let all: Vec<usize> = (0..data.len()).collect();
        let outputs = self.forward(data, &all)?;
        Ok(metrics::evaluate(&outputs, data))
    }

    /// The mean loss and the score on `data`; in a group, process 0's, said to every process
    /// (so that all keep the same best epoch, whatever their devices' rounding).
    fn validate(&mut self, data: &Dataset) -> Result<(f64, f64)> {
        let Some(group) = self.group.clone() else {
            let e = self.evaluate(data)?;
            return Ok((e.loss, e.score()));
        };
        let mut bytes = Vec::new();
        if group.rank() == 0 {
            let e = self.evaluate(data)?;
            bytes = [e.loss.to_le_bytes(), e.score().to_le_bytes()].concat();
        }
        group.broadcast(&mut bytes)?;
        let number = |at: usize| {
            bytes
                .get(at..at + 8)
                .map_or(f64::NAN, |b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        };
        Ok((number(0), number(8)))
    }

    /// Checks that every process of the group holds process 0's parameters and optimizer
    /// state, bit for bit (they apply the same sums, but devices that round differently
    /// would drift apart): an error on every process when one differs.
    fn check_group_agrees(&self, epoch: u64) -> Result<()> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        // FNV-1a over every value's bits.
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for (_, _, values, state) in self.store().read_all()? {
            for v in values.iter().chain(state.iter().flat_map(|s| &s.1)) {
                hash = (hash ^ v.to_bits()).wrapping_mul(0x100_0000_01b3);
            }
        }
        let mut first = hash.to_le_bytes().to_vec();
        group.broadcast(&mut first)?;
        let mut differs = vec![0.0f32; group.size()];
        differs[group.rank()] = f32::from(u8::from(first != hash.to_le_bytes()));
        group.sum(&mut differs)?;
        let odd: Vec<String> = (0..group.size())
            .filter(|&r| differs[r] > 0.0)
            .map(|r| r.to_string())
            .collect();
        if odd.is_empty() {
            return Ok(());
        }
        Err(Error::Ranks(format!(
            "after epoch {epoch} the parameters of process(es) {} differ from process 0's (devices that round \
             differently drift apart: run every process on one kind of device)",
            odd.join(", ")
        )))
    }

    /// The gradient of the mean loss over the first `n` examples of `data` for every
    /// parameter, by name (nothing is updated).
    pub fn gradients(&mut self, data: &Dataset, n: usize) -> Result<Vec<NamedValues>> {
        let n = n.min(data.len());
        if n == 0 {
            return Err(Error::invalid("examples", "0", "at least one example"));
        }
        self.check_data(data, Some(&(0..n).collect::<Vec<_>>()))?;
        let c = &self.config;
        let mlp = c.mlp.graph(n, c.init, c.seed, Input::of(&data.features), c.task);
        let grads = mlp.graph.backward(&mlp.loss)?;
        let params = mlp.params();
        let outputs: Vec<Tensor> = params.iter().map(|p| grads.of(p)).collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = outputs.iter().collect();
        let first = &mut self.devices[0];
        let plan = Plan::compile(&first.backend, &mlp.graph, &refs, &mut first.store)?;
        let mut compiled = Compiled { mlp, plan };
        let mut staging = Staging::default();
        data.gather(&(0..n).collect::<Vec<_>>(), &mut staging.batch);
        Self::feed(&mut compiled, &mut staging)?;
        let out = compiled.plan.run()?;
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

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    pub epoch: u64,
    /// Mean of the training losses read back during the epoch (NaN when none was read).
    #[serde(with = "nan_as_null")]
    pub loss: f64,
    /// The mean loss on the validation split.
    #[serde(with = "nan_as_null")]
    pub val_loss: f64,
    /// The validation score: accuracy (classes), mean accuracy (labels), or R² (regression).
    #[serde(with = "nan_as_null")]
    pub val_score: f64,
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
    /// The epoch with the best validation score so far, when the run keeps its best model
    /// ([`Regularize::patience`]).
    #[serde(default)]
    pub best: Option<BestEpoch>,
}

/// The epoch whose parameters a run keeps as its model.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BestEpoch {
    /// 1-based, as [`EpochRecord::epoch`].
    pub epoch: u64,
    pub val_score: f64,
}

impl Progress {
    /// Whether `patience` epochs have passed since the best one (the run is over).
    ///
    /// ```
    /// use shadergrad::train::{BestEpoch, Progress};
    /// let p = Progress { epoch: 5, best: Some(BestEpoch { epoch: 3, val_score: 0.9 }), ..Progress::default() };
    /// assert!(p.out_of_patience(Some(2)));
    /// assert!(!p.out_of_patience(Some(3)));
    /// assert!(!p.out_of_patience(None));
    /// ```
    pub fn out_of_patience(&self, patience: Option<u64>) -> bool {
        match (patience, self.best) {
            (Some(p), Some(best)) => self.epoch >= best.epoch + p,
            _ => false,
        }
    }
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
    train: &Dataset,
    val: &Dataset,
    progress: &mut Progress,
    stop: &AtomicBool,
    on: &mut dyn FnMut(Event<'_>, &Trainer<B>, &Progress),
) -> Result<bool> {
    trainer.check_data(train, None)?;
    trainer.check_data(val, None)?;
    if train.is_empty() {
        return Err(Error::invalid("training data", "no examples", "at least one example"));
    }
    let devices = trainer.devices.len();
    if trainer.config.mlp.norm == Norm::Batch && trainer.config.batch < 2 * devices {
        return Err(Error::invalid(
            "batch",
            trainer.config.batch.to_string(),
            if devices == 1 {
                "at least 2 examples with batch norm (one example has no variance)".to_string()
            } else {
                format!(
                    "at least 2 examples per device with batch norm on {devices} devices (one example has no variance)"
                )
            },
        ));
    }
    let batch = trainer.config.batch;
    let batches = train.len().div_ceil(batch);
    let patience = trainer.config.regularize.patience.filter(|_| !val.is_empty());
    while progress.epoch < trainer.config.epochs && !progress.out_of_patience(patience) {
        let order = epoch_order(train.len(), trainer.config.seed, progress.epoch);
        let start = Instant::now();
        let mut samples = 0usize;
        while progress.batch < batches {
            // In a group every process stops at the same step: the one after any asked.
            match trainer.group {
                Some(_) if trainer.group_stopped => return Ok(false),
                Some(_) => trainer.stop_requested = stop.load(Ordering::SeqCst),
                None if stop.load(Ordering::SeqCst) => return Ok(false),
                None => {}
            }
            let b = progress.batch;
            let indices = &order[b * batch..((b + 1) * batch).min(train.len())];
            // Every loss_every steps, and the epoch's last step, so every epoch reports a loss.
            let read = trainer.store().steps().is_multiple_of(trainer.config.loss_every.max(1)) || b + 1 == batches;
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
        let eval = if val.is_empty() {
            None
        } else {
            Some(trainer.validate(val)?)
        };
        let record = EpochRecord {
            epoch: progress.epoch + 1,
            loss: if progress.loss_count > 0 {
                progress.loss_sum / progress.loss_count as f64
            } else {
                f64::NAN
            },
            val_loss: eval.map_or(f64::NAN, |e| e.0),
            val_score: eval.map_or(f64::NAN, |e| e.1),
            samples_per_s: samples as f64 / seconds.max(1e-9),
            seconds,
        };
        trainer.check_group_agrees(record.epoch)?;
        progress.history.push(record.clone());
        // A score that is not a number (a diverged validation loss) is never the best.
        let better = |b: &BestEpoch| record.val_score > b.val_score || b.val_score.is_nan();
        if patience.is_some() && progress.best.is_none_or(|b| better(&b)) {
            progress.best = Some(BestEpoch {
                epoch: record.epoch,
                val_score: record.val_score,
            });
            trainer.best = Some(trainer.read_params()?);
        }
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
