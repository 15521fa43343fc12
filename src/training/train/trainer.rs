//! The trainer: an MLP's parameters on one device or several, its compiled steps, and one
//! training step, evaluation, forward pass or gradient at a time (epochs are [`fit`](super::fit)'s).

use std::collections::HashMap;
use std::rc::Rc;

use crate::engine::backend::Backend;
use crate::engine::element::Element;
use crate::engine::error::{Error, Result};
use crate::engine::graph::Tensor;
use crate::engine::plan::{ParamStore, Plan, Submitted};
use crate::training::data::{Dataset, Targets};
use crate::training::group::ProcessGroup;
use crate::training::io::Tensors;
use crate::training::metrics::{self, Evaluation};
use crate::training::nn::Input;

use super::compiled::{augment_stream, compile, Compiled, Feed, FeedKey, Staging, EVAL_BATCH};
use super::config::{Augment, TrainConfig};
use super::in_flight::InFlight;
use super::replica::{shares, ReduceTime, Replica};

/// A named tensor read back from a device: `(name, shape, values)`.
pub type NamedValues = (String, Vec<usize>, Vec<f64>);

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
    pub(super) config: TrainConfig,
    /// One copy of the model per device, the first the one evaluated and saved (several only
    /// when training data-parallel, see [`Trainer::replicated`]).
    pub(super) devices: Vec<Replica<B>>,
    /// Set when the first device's parameters changed outside a step (a checkpoint restored
    /// there): the other replicas copy them before the next step.
    pub(super) replicas_stale: bool,
    /// Host time spent summing the replicas' gradients and writing the sums back.
    pub(super) reduce: ReduceTime,
    /// The other processes training this model, when there are any ([`Trainer::join`]).
    pub(super) group: Option<Rc<dyn ProcessGroup>>,
    /// This process wants the run to stop (Ctrl-C): said to the group with the next step.
    pub(super) stop_requested: bool,
    /// Some process of the group wanted to stop, as the last step's collective said.
    pub(super) group_stopped: bool,
    pub(super) evals: HashMap<(usize, FeedKey), Compiled<B>>,
    /// The current batch on its way to the device (kept to reuse its memory).
    pub(super) staging: Staging<B::Elem>,
    /// The parameters of the best validation epoch, when the run keeps them.
    pub(crate) best: Option<Tensors>,
    /// Whether [`fit`] submits each step without waiting for it ([`Trainer::set_pipelined`]).
    pub(super) pipelined: bool,
    /// The step [`Trainer::submit_step`] left running, its loss not yet read.
    pub(super) in_flight: Option<InFlight<B>>,
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
            pipelined: false,
            in_flight: None,
        })
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
    pub fn step_report(&self) -> Option<crate::engine::plan::PlanReport> {
        let share = self.config.batch.div_ceil(self.devices.len());
        self.devices[0]
            .steps
            .iter()
            .find(|((b, _), _)| *b == share)
            .map(|(_, s)| s.plan.report().clone())
    }

    /// The first device's plan for `batch` examples of `feed`: a training step's, or an
    /// evaluation's (which reads no weights).
    pub(super) fn compiled(&mut self, batch: usize, feed: Feed, training: bool) -> Result<&mut Compiled<B>> {
        let first = &mut self.devices[0];
        if training {
            return first.step_plan(&self.config, 0, batch, feed);
        }
        let feed = Feed {
            weighted: false,
            ..feed
        };
        let key = (batch, feed.key());
        if !self.evals.contains_key(&key) {
            let compiled = compile(
                &first.backend,
                &mut first.store,
                &self.config,
                self.config.seed,
                batch,
                feed,
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
        Ok(self.compiled(batch, Feed::of(data), true)?.plan.describe())
    }

    /// Refuses data the model does not fit: another number of features, another task, or
    /// targets the outputs do not cover (among `rows`, or all of them).
    pub(super) fn check_data(&self, data: &Dataset, rows: Option<&[usize]>) -> Result<()> {
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
    pub(super) fn feed(c: &mut Compiled<B>, s: &mut Staging<B::Elem>) -> Result<()> {
        match c.mlp.input {
            Input::Bytes { .. } => c.plan.set_input_bytes(&c.mlp.x, &s.batch.bytes)?,
            Input::Floats => c
                .plan
                .set_input(&c.mlp.x, B::Elem::from_f32s(&s.batch.floats, &mut s.x))?,
        }
        c.plan
            .set_input(&c.mlp.targets, B::Elem::from_f32s(&s.batch.targets, &mut s.y))?;
        if let Some(weights) = &c.mlp.weights {
            c.plan
                .set_input(weights, B::Elem::from_f32s(&s.batch.weights, &mut s.w))?;
        }
        Ok(())
    }

    /// One training step on the examples at `indices`: upload the batch, forward, loss,
    /// backward, update, all in one submission (on several devices, one submission up to the
    /// gradients and one for the update on each). Reads the loss back only when `read_loss`; a
    /// non-finite loss is an error naming the step and the first node that went non-finite.
    pub fn step(&mut self, data: &Dataset, indices: &[usize], read_loss: bool) -> Result<Option<f64>> {
        if let Some(late) = &self.in_flight {
            return Err(Error::invalid(
                "Trainer::step",
                format!("called with step {} still in flight", late.t),
                "Trainer::flush first, after Trainer::submit_step",
            ));
        }
        let (mut staging, t, lr) = self.stage(data, indices)?;
        let feed = Feed::of(data);
        let shared = self.devices.len() > 1 || self.group.is_some();
        let result = if shared {
            self.step_shared(&staging, indices.len(), feed, t, lr).map(Some)
        } else {
            self.submit_one(&mut staging, indices.len(), feed, (t, lr), read_loss)
                .and_then(|run| run.map(|(run, loss)| run.wait()?.scalar(&loss)).transpose())
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
                        let key = (examples, feed.key());
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

    /// Feeds the batch in `staging` (`rows` examples) to the one device's step plan, sets step
    /// `t` and its learning rate, and submits the step: with `read_loss`, the run and the loss
    /// tensor to read from it once it is done.
    pub(super) fn submit_one(
        &mut self,
        staging: &mut Staging<B::Elem>,
        rows: usize,
        feed: Feed,
        (t, lr): (u64, f64),
        read_loss: bool,
    ) -> Result<Option<(Submitted<B>, Tensor)>> {
        let sg = self.compiled(rows, feed, true)?;
        Self::feed(sg, staging)?;
        sg.plan.set_step(t, lr)?;
        if read_loss {
            Ok(Some((sg.plan.submit()?, sg.mlp.loss.clone())))
        } else {
            sg.plan.run_without_readback()?;
            Ok(None)
        }
    }

    /// The next step's number and learning rate, and its batch gathered (and shifted) on the
    /// host, ready to feed.
    pub(super) fn stage(&mut self, data: &Dataset, indices: &[usize]) -> Result<(Staging<B::Elem>, u64, f64)> {
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
        Ok((staging, t, lr))
    }

    /// Names the first node of the step's graph that produces NaN or Inf on this batch.
    pub(super) fn non_finite(&mut self, key: (usize, FeedKey), t: u64, loss: f64, s: &mut Staging<B::Elem>) -> Error {
        let first = &mut self.devices[0];
        let backend = first.backend.clone();
        let Some(sg) = first.steps.get(&key) else {
            return Error::NonFinite(format!("the loss is {loss} at step {t}"));
        };
        let (graph, lt) = (sg.mlp.graph.clone(), sg.mlp.loss.clone());
        // What each input holds: a byte input's packed words, fed to the input that holds them.
        let (x_input, x) = match sg.mlp.input {
            Input::Bytes { .. } => {
                crate::engine::element::pack_bytes(&s.batch.bytes, &mut s.x);
                (graph.tensor(graph.node(sg.mlp.x.id()).inputs[0]), &s.x[..])
            }
            Input::Floats => (sg.mlp.x.clone(), B::Elem::from_f32s(&s.batch.floats, &mut s.x)),
        };
        let targets = sg.mlp.targets.clone();
        let mut feeds: Vec<(&Tensor, &[B::Elem])> = vec![
            (&x_input, x),
            (&targets, B::Elem::from_f32s(&s.batch.targets, &mut s.y)),
        ];
        let weights = sg.mlp.weights.clone();
        if let Some(w) = &weights {
            feeds.push((w, B::Elem::from_f32s(&s.batch.weights, &mut s.w)));
        }
        let found = crate::engine::check::first_non_finite(&backend, &graph, &[&lt], &mut first.store, &feeds);
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
    /// [`Model::predict`](crate::training::model::Model::predict) turns these into classes, probabilities
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
    pub(super) fn forward(&mut self, data: &Dataset, rows: &[usize]) -> Result<Vec<f64>> {
        let mut staging = std::mem::take(&mut self.staging);
        let mut out = Vec::with_capacity(rows.len() * self.config.mlp.classes());
        let result = (|| {
            for chunk in rows.chunks(EVAL_BATCH) {
                data.gather(chunk, &mut staging.batch);
                let eg = self.compiled(chunk.len(), Feed::of(data), false)?;
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
