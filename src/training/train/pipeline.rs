//! The pipelined training loop: each step is submitted without waiting for it and its loss is
//! read one step later, so that the host gathers and uploads the next batch while the device
//! computes the current one (on a fast GPU a small MLP's step is shorter than the host's share of
//! it: gathering, uploading, submitting, waiting and reading back).

use crate::engine::backend::Backend;
use crate::engine::error::Result;
use crate::training::data::Dataset;

use super::compiled::Feed;
use super::in_flight::{InFlight, LateLoss};
use super::trainer::Trainer;

impl<B: Backend> Trainer<B> {
    /// Makes [`fit`](super::fit) train with [`Trainer::submit_step`] (off by default): the same
    /// steps in the same order, so the same parameters bit for bit, each loss (and a
    /// non-finite one's error) reported one step late.
    ///
    /// ```
    /// use std::sync::atomic::AtomicBool;
    /// use shadergrad::{backend::cpu::CpuBackend, data::{Dataset, Task}, nn::{Activation, Init, Mlp}, optim::{Optimizer, Schedule}};
    /// use shadergrad::train::{fit, Progress, TrainConfig, Trainer};
    /// let digits = Dataset::bundled_digits()?.subset(&(0..256).collect::<Vec<_>>());
    /// let config = TrainConfig {
    ///     mlp: Mlp::new(&[784, 16, 10], Activation::Relu)?,
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
    /// trainer.set_pipelined(true);
    /// let mut progress = Progress::default();
    /// let no_validation = digits.subset(&[]);
    /// fit(&mut trainer, &digits, &no_validation, &mut progress, &AtomicBool::new(false), &mut |_, _, _| {})?;
    /// assert_eq!(progress.history[0].loss.is_finite(), true); // every step's loss, read a step late
    /// assert_eq!(trainer.store().steps(), 4);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn set_pipelined(&mut self, on: bool) {
        self.pipelined = on;
    }

    /// [`Trainer::step`] without waiting for it: the step is submitted, then the step submitted
    /// before it is waited for, and its loss returned (when it read one). The device computes
    /// this step while the caller gathers the next batch; [`Trainer::flush`] waits for the last.
    /// The CPU backend runs each step as it is submitted, so only the reporting is late there.
    /// On several devices or in a process group, where each step sums gradients on the host,
    /// this is [`Trainer::step`], its own loss returned.
    ///
    /// ```
    /// use shadergrad::{backend::cpu::CpuBackend, data::{Dataset, Task}, nn::{Activation, Init, Mlp}, optim::{Optimizer, Schedule}};
    /// use shadergrad::train::{LateLoss, TrainConfig, Trainer};
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
    /// let cpu = CpuBackend::<f32>::new();
    /// let (mut waiting, mut pipelined) = (Trainer::new(&cpu, config.clone())?, Trainer::new(&cpu, config)?);
    /// let batches: Vec<Vec<usize>> = (0..3).map(|b| (b * 64..(b + 1) * 64).collect()).collect();
    /// let mut losses = Vec::new();
    /// for batch in &batches {
    ///     losses.push(waiting.step(&digits, batch, true)?.unwrap());
    /// }
    /// assert_eq!(pipelined.submit_step(&digits, &batches[0], true)?, None); // nothing before it
    /// let second = pipelined.submit_step(&digits, &batches[1], true)?;
    /// assert_eq!(second, Some(LateLoss { step: 1, loss: losses[0] }));
    /// pipelined.submit_step(&digits, &batches[2], true)?;
    /// assert_eq!(pipelined.flush()?, Some(LateLoss { step: 3, loss: losses[2] }));
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn submit_step(&mut self, data: &Dataset, indices: &[usize], read_loss: bool) -> Result<Option<LateLoss>> {
        if self.devices.len() > 1 || self.group.is_some() {
            let t = self.store().steps() + 1;
            let loss = self.step(data, indices, read_loss)?;
            return Ok(loss.map(|loss| LateLoss { step: t, loss }));
        }
        let (mut staging, t, lr) = self.stage(data, indices)?;
        let feed = Feed::of(data);
        let run = match self.submit_one(&mut staging, indices.len(), feed, (t, lr), read_loss) {
            Ok(run) => run,
            Err(e) => {
                self.staging = staging;
                return Err(e);
            }
        };
        self.devices[0].store.set_steps(t);
        let this = InFlight {
            t,
            key: (indices.len(), feed.key()),
            run,
            staging,
        };
        match self.in_flight.replace(this) {
            Some(before) => self.settle(before),
            None => Ok(None),
        }
    }

    /// Waits for the step [`Trainer::submit_step`] left running, if any, and returns its loss
    /// (when it read one); an error when that loss is not finite, naming the step and the first
    /// node that went non-finite.
    pub fn flush(&mut self) -> Result<Option<LateLoss>> {
        match self.in_flight.take() {
            Some(last) => self.settle(last),
            None => Ok(None),
        }
    }

    /// Waits for `step` and reads its loss; its batch's memory gathers the next batch.
    fn settle(&mut self, mut step: InFlight<B>) -> Result<Option<LateLoss>> {
        let result = match step.run.take() {
            None => Ok(None),
            Some((run, loss)) => match run.wait().and_then(|outputs| outputs.scalar(&loss)) {
                Ok(loss) if loss.is_finite() => Ok(Some(LateLoss { step: step.t, loss })),
                Ok(loss) => Err(self.non_finite(step.key, step.t, loss, &mut step.staging)),
                Err(e) => Err(e),
            },
        };
        self.staging = step.staging;
        result
    }
}
