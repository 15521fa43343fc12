//! Data parallelism: replicas of the model on several devices, and processes of a group,
//! each computing its share of a batch's gradients, summed before one update on all.

use std::rc::Rc;
use std::time::Instant;

use crate::engine::backend::Backend;
use crate::engine::element::Element;
use crate::engine::error::{Error, Result};
use crate::training::data::Dataset;
use crate::training::group::ProcessGroup;

use super::compiled::{Feed, Staging};
use super::config::TrainConfig;
use super::replica::{shares, Replica};
use super::trainer::Trainer;

impl<B: Backend> Trainer<B> {
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
    /// let mut two = Trainer::replicated(&[CpuBackend::<f32>::new(), CpuBackend::new()], config)?; // 17 + 16
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
    /// [`fit`](super::fit) then stops every process at the same step when any one is asked to stop, and
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

    /// A step of the batch in `staging` (`examples` of them) split across the devices (and the
    /// processes of the group, each taking its devices' shares): each computes its share's
    /// gradients, the host sums them weighted by share (its part of the examples, or of their
    /// weights), the group sums the hosts' sums, and every device applies the total. Returns the
    /// mean loss over the batch.
    pub(super) fn step_shared(
        &mut self,
        staging: &Staging<B::Elem>,
        examples: usize,
        feed: Feed,
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
        let key = feed.key();
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
            let sg = replica.step_plan(&self.config, rank * local + r, size, feed)?;
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
        let batch_weight: f64 = staging.batch.weights.iter().map(|&w| w as f64).sum();
        for (d, replica) in self.devices.iter().enumerate() {
            if parts[d].is_empty() && (d > 0 || parts.iter().any(|p| !p.is_empty())) {
                continue;
            }
            // The share's part of the batch's mean loss: its examples' part, or with example
            // weights its weights' part (each share's loss is its own weighted mean).
            let weight = if feed.weighted {
                let own: f64 = staging.batch.weights[parts[d].clone()].iter().map(|&w| w as f64).sum();
                if batch_weight > 0.0 {
                    own / batch_weight
                } else {
                    0.0
                }
            } else {
                parts[d].len() as f64 / examples as f64
            };
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

    /// The mean loss and the score on `data`; in a group, process 0's, said to every process
    /// (so that all keep the same best epoch, whatever their devices' rounding).
    pub(super) fn validate(&mut self, data: &Dataset) -> Result<(f64, f64)> {
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
    pub(super) fn check_group_agrees(&self, epoch: u64) -> Result<()> {
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
}
