//! The pipelined training loop (`Trainer::submit_step`, and `fit` after `set_pipelined`): the
//! same model bit for bit as waiting for every step, on the CPU and on lavapipe, with steps that
//! read no loss and an uneven last batch; a pipelined run stopped mid-epoch resumes to the same
//! model; a non-finite loss is named by its own step, a step late; `step` is refused while a
//! step is in flight; runs submitted back to back keep their own inputs and outputs.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::Backend;
use shadergrad::checkpoint::Checkpoint;
use shadergrad::data::Dataset;
use shadergrad::optim::Optimizer;
use shadergrad::train::{fit, Event, Progress, TrainConfig, Trainer};
use shadergrad::{Graph, ParamStore, Plan};

/// Digits to train on (500, so batches of 48 leave an uneven last one) and to validate on.
fn digits() -> (Dataset, Dataset) {
    let (train, val) = Dataset::bundled_digits().unwrap().split(200, 1);
    (train.subset(&(0..500).collect::<Vec<_>>()), val)
}

fn config() -> TrainConfig {
    let mut cfg = common::digits_config(&[32, 16], Optimizer::adam(2e-3), 48, 2, 5);
    cfg.loss_every = 3; // most steps read nothing back
    cfg
}

/// `fit` from scratch, or on from a checkpoint; stops after `stop_after` steps when given.
fn train<B: Backend>(
    backend: &B,
    pipelined: bool,
    from: Option<&Checkpoint>,
    stop_after: Option<usize>,
) -> (Trainer<B>, Progress) {
    let (train, val) = digits();
    let mut t = Trainer::new(backend, config()).unwrap();
    t.set_pipelined(pipelined);
    let mut progress = Progress::default();
    if let Some(saved) = from {
        t.restore(saved).unwrap();
        progress = saved.training.clone().unwrap().progress;
    }
    let stop = AtomicBool::new(false);
    let mut steps = 0;
    fit(&mut t, &train, &val, &mut progress, &stop, &mut |event, _, _| {
        if let Event::Step { .. } = event {
            steps += 1;
            if Some(steps) == stop_after {
                stop.store(true, Ordering::SeqCst);
            }
        }
    })
    .unwrap();
    (t, progress)
}

fn loss_bits(p: &Progress) -> Vec<(u64, u64)> {
    p.history
        .iter()
        .map(|r| (r.loss.to_bits(), r.val_loss.to_bits()))
        .collect()
}

#[test]
fn pipelined_training_gives_the_same_model_bit_for_bit_on_both_backends() {
    fn check<B: Backend>(backend: &B) {
        let (waiting, p) = train(backend, false, None, None);
        let (pipelined, q) = train(backend, true, None, None);
        assert_eq!(loss_bits(&p), loss_bits(&q), "{}: epoch losses", backend.describe());
        assert_eq!(
            common::param_bits(waiting.store()),
            common::param_bits(pipelined.store()),
            "{}: parameters",
            backend.describe()
        );
        assert_eq!(waiting.store().steps(), pipelined.store().steps());
        println!(
            "  {}: {} steps pipelined, epoch losses {:.6} → {:.6} and every parameter bit for bit",
            backend.describe(),
            pipelined.store().steps(),
            q.history[0].loss,
            q.history[1].loss
        );
    }
    check(&CpuBackend::<f32>::new());
    check(&common::gpu());
}

#[test]
fn a_pipelined_run_stopped_mid_epoch_resumes_to_the_same_model() {
    let cpu = CpuBackend::<f32>::new();
    let (whole, p) = train(&cpu, false, None, None);
    let (first, progress) = train(&cpu, true, None, Some(13));
    assert_eq!(
        (progress.epoch, progress.batch),
        (1, 2),
        "stopped after step 13 (11 steps an epoch)"
    );
    let (train_set, _) = digits();
    let saved = first.checkpoint(&train_set, Some(&progress)).unwrap();
    let (resumed, q) = train(&cpu, true, Some(&saved), None);
    assert_eq!(loss_bits(&p), loss_bits(&q), "epoch losses");
    assert_eq!(common::param_bits(whole.store()), common::param_bits(resumed.store()));
}

#[test]
fn a_non_finite_loss_is_named_by_its_own_step_a_step_late() {
    let (train, val) = digits();
    let failure = |pipelined: bool| {
        let mut cfg = config();
        cfg.optimizer = Optimizer::sgd(1e30);
        cfg.loss_every = 1;
        let mut t = Trainer::new(&CpuBackend::<f32>::new(), cfg).unwrap();
        t.set_pipelined(pipelined);
        let stop = AtomicBool::new(false);
        let e = fit(&mut t, &train, &val, &mut Progress::default(), &stop, &mut |_, _, _| {}).unwrap_err();
        (e.to_string(), t.store().steps())
    };
    let (waiting, at) = failure(false);
    let (pipelined, later) = failure(true);
    let step = |e: &str| {
        e.split("at step ")
            .nth(1)
            .and_then(|s| s.split([';', ' ']).next())
            .map(str::to_owned)
    };
    assert!(step(&waiting).is_some(), "{waiting}");
    assert_eq!(step(&waiting), step(&pipelined), "{waiting}\n{pipelined}");
    assert_eq!(later, at + 1, "the step after it had been submitted");
    println!("  waiting: {waiting}\n  pipelined: {pipelined}");
}

#[test]
fn step_is_refused_while_a_pipelined_step_is_in_flight() {
    let (train, _) = digits();
    let mut t = Trainer::new(&CpuBackend::<f32>::new(), config()).unwrap();
    let batch: Vec<usize> = (0..48).collect();
    assert_eq!(t.submit_step(&train, &batch, true).unwrap(), None);
    let e = t.step(&train, &batch, true).unwrap_err().to_string();
    assert!(
        e.contains("step 1 still in flight") && e.contains("Trainer::flush"),
        "{e}"
    );
    assert_eq!(t.flush().unwrap().map(|late| late.step), Some(1));
    assert!(t.step(&train, &batch, true).unwrap().is_some());
    assert_eq!(t.flush().unwrap(), None, "nothing in flight after a plain step");
}

#[test]
fn runs_submitted_back_to_back_keep_their_own_inputs_and_outputs() {
    fn check<B: Backend<Elem = f32>>(backend: &B) {
        // Long enough for several workgroups; each run's input differs everywhere.
        let n = 70_001;
        let g = Graph::new();
        let x = g.input("x", [n]);
        let y = x.relu();
        let mut plan = Plan::compile(backend, &g, &[&y], &mut ParamStore::new(backend)).unwrap();
        let input = |run: usize| -> Vec<f32> { (0..n).map(|i| (i % 7) as f32 - 3.0 + run as f32).collect() };
        let mut runs = Vec::new();
        for run in 0..3 {
            plan.set_input(&x, &input(run)).unwrap();
            runs.push(plan.submit().unwrap());
        }
        for (run, submitted) in runs.into_iter().enumerate() {
            let want: Vec<f32> = input(run).iter().map(|v| v.max(0.0)).collect();
            assert_eq!(
                submitted.wait().unwrap().get(&y).unwrap(),
                want,
                "{}: run {run}",
                backend.describe()
            );
        }
        // A read of nothing gives one empty vector per buffer asked for.
        let empty = backend.alloc(0, "empty").unwrap();
        let pending = backend.submit(&[], &[&empty, &empty]).unwrap();
        assert_eq!(backend.finish(pending).unwrap(), [Vec::<f32>::new(), Vec::new()]);
    }
    check(&CpuBackend::<f32>::new());
    check(&common::gpu());
}
