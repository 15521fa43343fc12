//! Training end to end on the bundled digits: CPU and GPU agree step by step, a short run learns,
//! an interrupted run resumes bit for bit on the CPU (from a model file and the resume file
//! beside it), and model files round-trip, refuse corruption and load PyTorch's.

mod common;

use std::sync::atomic::AtomicBool;

use common::gpu;
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::Backend;
use shadergrad::checkpoint::Checkpoint;
use shadergrad::data::Dataset;
use shadergrad::model::Model;
use shadergrad::nn::{BatchNorm, Mode, Norm};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::train::{fit, Augment, Event, Progress, Regularize, TrainConfig, Trainer};
use shadergrad::Element;

fn config(hidden: &[usize], optimizer: Optimizer, batch: usize, epochs: u64) -> TrainConfig {
    common::digits_config(hidden, optimizer, batch, epochs, 3)
}

fn steps<B: Backend>(b: &B, cfg: &TrainConfig, digits: &Dataset, n: usize) -> Vec<f64> {
    let mut t = Trainer::new(b, cfg.clone()).unwrap();
    (0..n)
        .map(|s| {
            let batch: Vec<usize> = (s * cfg.batch..(s + 1) * cfg.batch).collect();
            t.step(digits, &batch, true).unwrap().unwrap()
        })
        .collect()
}

#[test]
fn twenty_steps_give_the_same_losses_on_cpu_and_gpu() {
    // Same initial weights (same seed), same batches, and with regularisation the same dropout
    // masks and image shifts (counters, not a generator's state). f32 on both sides, different
    // summation orders: the losses agree to 1e-4 relative after 20 updates (measured drift ~1e-6).
    let digits = Dataset::bundled_digits().unwrap();
    let mut regularised = config(&[64, 32], Optimizer::adam(1e-3), 32, 1);
    regularised.mlp = regularised.mlp.with_dropout(0.3).unwrap().with_norm(Norm::Layer);
    regularised.regularize = Regularize {
        label_smoothing: 0.1,
        augment: Augment::Shift { pixels: 2 },
        patience: None,
    };
    let mut batch_norm = config(&[64, 32], Optimizer::momentum(0.05), 32, 1);
    batch_norm.mlp = batch_norm.mlp.with_norm(Norm::Batch);
    let configs = [
        config(&[64, 32], Optimizer::momentum(0.05), 32, 1),
        config(&[64, 32], Optimizer::adam(1e-3), 32, 1),
        regularised,
        batch_norm,
    ];
    for cfg in configs {
        let opt = cfg.optimizer;
        let cpu = steps(&CpuBackend::<f32>::new(), &cfg, &digits, 20);
        let gpu = steps(&gpu(), &cfg, &digits, 20);
        for (i, (a, b)) in cpu.iter().zip(&gpu).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * a.abs(),
                "{} step {i}: cpu {a} vs gpu {b}",
                opt.name()
            );
        }
        println!(
            "  {} {}: 20 steps, cpu {:.5} → {:.5}, gpu {:.5} → {:.5}",
            cfg.mlp.describe(),
            opt.name(),
            cpu[0],
            cpu[19],
            gpu[0],
            gpu[19]
        );
    }
}

#[test]
fn a_short_run_on_real_digits_learns() {
    let digits = Dataset::bundled_digits().unwrap();
    let (train, val) = digits.split(1000, 0);
    let train = train.subset(&(0..2000).collect::<Vec<_>>());
    let cfg = config(&[64], Optimizer::momentum(0.05), 32, 2);
    let mut t = Trainer::new(&gpu(), cfg).unwrap();
    let before = t.evaluate(&val).unwrap().score();
    let mut p = Progress::default();
    let done = fit(&mut t, &train, &val, &mut p, &AtomicBool::new(false), &mut |_, _, _| {}).unwrap();
    assert!(done);
    let (e1, e2) = (&p.history[0], &p.history[1]);
    println!(
        "  accuracy {:.1}% → {:.1}% → {:.1}%, loss {:.3} → {:.3}",
        100.0 * before,
        100.0 * e1.val_score,
        100.0 * e2.val_score,
        e1.loss,
        e2.loss
    );
    assert!(e2.loss < e1.loss, "the loss falls");
    assert!(
        e2.val_score > 0.85 && e2.val_score > before + 0.5,
        "accuracy rises from chance to > 85%"
    );
}

#[test]
fn an_interrupted_run_resumes_bit_for_bit_on_the_cpu() {
    assert_resumes_bit_for_bit(config(&[32], Optimizer::adam(1e-3), 50, 3));
}

#[test]
fn a_regularised_run_resumes_bit_for_bit_on_the_cpu() {
    // Dropout masks and image shifts come from counters of the step, label smoothing is a
    // constant, and the best epoch's parameters travel in the model file with the latest in the
    // resume file: a resumed run draws what it would have drawn and ends where it would have.
    let mut cfg = config(&[32, 16], Optimizer::adam(1e-3), 50, 3);
    cfg.mlp = cfg.mlp.with_dropout(0.2).unwrap().with_norm(Norm::Layer);
    cfg.regularize = Regularize {
        label_smoothing: 0.1,
        augment: Augment::Shift { pixels: 2 },
        patience: Some(2),
    };
    assert_resumes_bit_for_bit(cfg);
}

#[test]
fn a_batch_norm_run_resumes_bit_for_bit_on_the_cpu() {
    // The running statistics are buffers saved in the model file, updated every step.
    let mut cfg = config(&[32, 16], Optimizer::momentum(0.05), 50, 3);
    cfg.mlp = cfg.mlp.with_norm(Norm::Batch);
    assert_resumes_bit_for_bit(cfg);
}

#[test]
fn batch_norm_running_statistics_follow_pytorch_on_both_backends() {
    // One training step of a BatchNorm1d on a [5, 3] batch: running = 0.9·running + 0.1·stat,
    // with the batch mean and the unbiased variance (PyTorch's), from mean 0 and variance 1;
    // in evaluation, (x − running_mean)/√(running_var + 1e-5)·weight + bias. f32 on both
    // backends: 1e-6 relative.
    let x: Vec<f64> = (0..15).map(|i| ((i * 7) % 11) as f64 * 0.5 - 1.0).collect();
    let (rows, cols) = (5, 3);
    let mut want_mean = vec![0.0; cols];
    let mut want_var = vec![0.0; cols];
    for j in 0..cols {
        let col: Vec<f64> = (0..rows).map(|r| x[r * cols + j]).collect();
        let mean = col.iter().sum::<f64>() / rows as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (rows - 1) as f64;
        want_mean[j] = 0.1 * mean;
        want_var[j] = 0.9 + 0.1 * var;
    }
    fn run<B: Backend>(b: &B, x: &[f64], train: bool) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let g = shadergrad::Graph::new();
        let input = g.input("x", [5, 3]);
        let bn = BatchNorm::new(&g, "1", 3);
        let mut updates = Vec::new();
        let mode = if train {
            Mode::Train {
                label_smoothing: 0.0,
                weighted: false,
            }
        } else {
            Mode::Eval
        };
        let y = bn.forward(&input, mode, &mut updates);
        let step = g.group("updates", &updates);
        let mut store = shadergrad::ParamStore::new(b);
        let mut plan = shadergrad::Plan::compile(b, &g, &[&y, &step], &mut store).unwrap();
        let xs: Vec<B::Elem> = x.iter().map(|&v| B::Elem::from_f64(v)).collect();
        plan.set_input(&input, &xs).unwrap();
        let out = plan.run().unwrap();
        let y = out.get(&y).unwrap().iter().map(|v| v.as_f64()).collect();
        (
            y,
            store.read("1.running_mean").unwrap(),
            store.read("1.running_var").unwrap(),
        )
    }
    for (name, (_, mean, var)) in [
        ("cpu", run(&CpuBackend::<f32>::new(), &x, true)),
        ("gpu", run(&gpu(), &x, true)),
    ] {
        for j in 0..cols {
            assert!(
                (mean[j] - want_mean[j]).abs() <= 1e-6 * (1.0 + want_mean[j].abs()),
                "{name} running_mean {mean:?} vs {want_mean:?}"
            );
            assert!(
                (var[j] - want_var[j]).abs() <= 1e-6 * want_var[j],
                "{name} running_var {var:?} vs {want_var:?}"
            );
        }
        println!("  {name}: running_mean {mean:.6?}, running_var {var:.6?} after one step");
    }
    // Evaluation reads the running statistics as they start (0 and 1): y = x/√(1 + 1e-5).
    let (y, mean, _) = run(&CpuBackend::<f32>::new(), &x, false);
    assert_eq!(mean, [0.0; 3], "evaluation updates nothing");
    for (y, x) in y.iter().zip(&x) {
        assert!((y - x / (1.0f64 + 1e-5).sqrt()).abs() <= 1e-6 * (1.0 + x.abs()));
    }
}

fn assert_resumes_bit_for_bit(cfg: TrainConfig) {
    let digits = Dataset::bundled_digits().unwrap();
    let (train, val) = digits.split(200, 1);
    let train = train.subset(&(0..600).collect::<Vec<_>>());
    let cpu = CpuBackend::<f32>::new();

    let mut whole = Trainer::new(&cpu, cfg.clone()).unwrap();
    let mut p = Progress::default();
    fit(
        &mut whole,
        &train,
        &val,
        &mut p,
        &AtomicBool::new(false),
        &mut |_, _, _| {},
    )
    .unwrap();
    let reference = whole.checkpoint(&train, None).unwrap();

    // Stop mid-epoch 2 (after 17 steps), save, load into a fresh trainer, finish.
    let mut first = Trainer::new(&cpu, cfg.clone()).unwrap();
    let mut progress = Progress::default();
    let stop = AtomicBool::new(false);
    let mut count = 0;
    let finished = fit(&mut first, &train, &val, &mut progress, &stop, &mut |event, _, _| {
        if let Event::Step { .. } = event {
            count += 1;
            if count == 17 {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    })
    .unwrap();
    assert!(!finished && progress.epoch == 1 && progress.batch == 5, "{progress:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resume.safetensors");
    first.checkpoint(&train, Some(&progress)).unwrap().save(&path).unwrap();
    let saved = Checkpoint::load(&path).unwrap();

    let state = saved.training.clone().expect("the run is recorded, in the resume file");
    assert_eq!(state.config, cfg, "the configuration comes back as it was");
    let mut resumed_progress = state.progress;
    let mut second = Trainer::new(&cpu, cfg).unwrap();
    second.restore(&saved).unwrap();
    fit(
        &mut second,
        &train,
        &val,
        &mut resumed_progress,
        &AtomicBool::new(false),
        &mut |_, _, _| {},
    )
    .unwrap();
    let resumed = second.checkpoint(&train, None).unwrap();
    for (name, (_, want)) in &reference.model.params {
        let got = &resumed.model.params[name].1;
        assert!(
            want.iter().zip(got).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name} differs after resume"
        );
    }
    for (name, (_, want)) in &reference.state {
        assert_eq!(want, &resumed.state[name].1, "optimizer state {name}");
    }
    let losses = |p: &Progress| p.history.iter().map(|r| r.loss.to_bits()).collect::<Vec<_>>();
    assert_eq!(losses(&p), losses(&resumed_progress), "per-epoch losses");
    assert_eq!(p.best, resumed_progress.best, "the best epoch");
    println!(
        "  {}: resumed at epoch 2 batch 5, {} epochs bit for bit, best epoch {:?}",
        reference.model.info.mlp.describe(),
        p.history.len(),
        p.best.map(|b| b.epoch)
    );
}

#[test]
fn dropout_is_off_in_evaluation_and_a_patient_run_keeps_its_best_epoch() {
    let digits = Dataset::bundled_digits().unwrap();
    let (train, val) = digits.split(300, 2);
    let train = train.subset(&(0..500).collect::<Vec<_>>());
    let mut cfg = config(&[32], Optimizer::sgd(0.5), 50, 12);
    cfg.mlp = cfg.mlp.with_dropout(0.5).unwrap();
    // A learning rate this high makes validation scores wander: some epoch is worse than an
    // earlier one, so the best is kept and, with patience 2, the run stops early.
    cfg.regularize.patience = Some(2);
    let cpu = CpuBackend::<f32>::new();
    let mut t = Trainer::new(&cpu, cfg.clone()).unwrap();
    let mut p = Progress::default();
    let mut saved = Vec::new();
    fit(&mut t, &train, &val, &mut p, &AtomicBool::new(false), &mut |e, t, p| {
        if let Event::Epoch(_) = e {
            saved.push(t.checkpoint(&train, Some(p)).unwrap());
        }
    })
    .unwrap();
    let a = t.evaluate(&val).unwrap();
    let b = t.evaluate(&val).unwrap();
    assert_eq!(
        a.loss.to_bits(),
        b.loss.to_bits(),
        "evaluating twice gives the same loss"
    );
    assert_eq!(a.score(), b.score());
    let best = p.best.expect("a validation run with patience keeps a best epoch");
    let scores: Vec<f64> = p.history.iter().map(|r| r.val_score).collect();
    let top = scores.iter().copied().fold(f64::MIN, f64::max);
    assert_eq!(best.val_score, top, "the best epoch has the best score: {scores:?}");
    assert_eq!(scores[best.epoch as usize - 1], top);
    if p.history.len() < 12 {
        assert_eq!(
            p.history.len() as u64,
            best.epoch + 2,
            "stopped 2 epochs after the best: {scores:?}"
        );
    }
    // The last checkpoint's model is the best epoch's parameters: evaluating it gives the best score.
    let last = saved.last().unwrap();
    let mut reloaded = last.model.trainer(&cpu).unwrap();
    let score = reloaded.evaluate(&val).unwrap().score();
    assert_eq!(score, best.val_score, "the saved model is the best epoch's");
    println!(
        "  validation scores {:?}: best epoch {} kept, {} epochs run",
        scores.iter().map(|s| (s * 1000.0).round() / 10.0).collect::<Vec<_>>(),
        best.epoch,
        p.history.len()
    );
}

#[test]
fn checkpoints_round_trip_and_refuse_corruption() {
    let cpu = CpuBackend::<f32>::new();
    let digits = Dataset::bundled_digits().unwrap();
    let t = Trainer::new(&cpu, config(&[16], Optimizer::momentum(0.1), 8, 1)).unwrap();
    let model = t.model(&digits).unwrap();
    let bytes = model.to_bytes().unwrap();
    let (back, _) = Model::from_bytes(&bytes, "m.safetensors".as_ref()).unwrap();
    assert_eq!(back.params, model.params);
    assert_eq!(back.info, model.info);
    // The file holds the model's tensors and nothing else (PyTorch's strict load_state_dict).
    assert_eq!(
        back.params.keys().collect::<Vec<_>>(),
        ["0.bias", "0.weight", "2.bias", "2.weight"]
    );

    // One flipped bit in the data: the checksum catches it.
    let mut bad = bytes.clone();
    let last = bad.len() - 3;
    bad[last] ^= 0x10;
    let err = Model::from_bytes(&bad, "m.safetensors".as_ref()).unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");

    // Truncated: not a safetensors file any more.
    let err = Model::from_bytes(&bytes[..bytes.len() / 2], "m.safetensors".as_ref()).unwrap_err();
    assert!(err.to_string().contains("m.safetensors"), "{err}");
}

#[test]
fn a_pytorch_state_dict_without_metadata_loads() {
    // What `safetensors.torch.save_file(model.state_dict(), path)` writes for
    // nn.Sequential(Linear(4, 3), ReLU(), Linear(3, 2)): F32 tensors, no shadergrad metadata.
    let tensors: Vec<(&str, Vec<usize>, Vec<f32>)> = vec![
        ("0.weight", vec![3, 4], (0..12).map(|i| i as f32 * 0.1).collect()),
        ("0.bias", vec![3], vec![0.1, 0.2, 0.3]),
        ("2.weight", vec![2, 3], vec![1.0, -1.0, 0.5, 0.25, 0.0, -0.5]),
        ("2.bias", vec![2], vec![0.0, 1.0]),
    ];
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, s, d)| {
            (
                n.to_string(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), bytemuck::cast_slice(d))
                    .unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    let (model, _) = Model::from_bytes(&bytes, "torch.safetensors".as_ref()).unwrap();
    assert_eq!(model.info.mlp.sizes, vec![4, 3, 2]);
    assert_eq!(model.params["2.bias"].1, vec![0.0, 1.0]);
}

#[test]
fn a_checkpoint_of_another_shape_is_refused_with_both_shapes() {
    let views = vec![(
        "0.weight".to_string(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 3], bytemuck::cast_slice(&[0f32; 6]))
            .unwrap(),
    )];
    let mut meta = std::collections::HashMap::new();
    meta.insert("sizes".to_string(), "3,4".to_string());
    let bytes = safetensors::serialize(views, Some(meta)).unwrap();
    let err = Model::from_bytes(&bytes, "x.safetensors".as_ref())
        .unwrap_err()
        .to_string();
    assert!(err.contains("[2, 3]") && err.contains("[4, 3]"), "{err}");
}

/// Losses of the first 20 CPU steps of the default model (784-256-256-10, batch 64, cosine),
/// recorded as f64 bits before the executor was rebuilt as passes (commit 13df300): the same
/// kernels in the same order must give the same bits.
const RECORDED_MOMENTUM: [u64; 20] = [
    0x40026dcf00000000,
    0x4002699d80000000,
    0x40026a5c60000000,
    0x40024eafc0000000,
    0x40023cbfc0000000,
    0x4002351fe0000000,
    0x400254a3e0000000,
    0x4002255de0000000,
    0x4001ecc460000000,
    0x4001efb680000000,
    0x4001d47840000000,
    0x4001e991a0000000,
    0x4001bc1240000000,
    0x400182ca40000000,
    0x4001463b00000000,
    0x4001584720000000,
    0x400131d4e0000000,
    0x400138f920000000,
    0x4001243ac0000000,
    0x4000d46480000000,
];
const RECORDED_ADAM: [u64; 20] = [
    0x40026dcf00000000,
    0x40023f9b60000000,
    0x40020b18a0000000,
    0x4001bb0400000000,
    0x4001831bc0000000,
    0x40010447c0000000,
    0x4001572ba0000000,
    0x400097f420000000,
    0x3ffead1fe0000000,
    0x3ffea6f2a0000000,
    0x3ffd544f60000000,
    0x3ffd529300000000,
    0x3ffb273720000000,
    0x3ffab36fc0000000,
    0x3ff85e89e0000000,
    0x3ff75b6ec0000000,
    0x3ff7645920000000,
    0x3ff7246be0000000,
    0x3ff69ead80000000,
    0x3ff6066880000000,
];

#[test]
fn cpu_losses_are_bit_for_bit_those_recorded_before() {
    let digits = Dataset::bundled_digits().unwrap();
    let order = shadergrad::data::epoch_order(digits.len(), 0, 0);
    for (opt, recorded) in [
        (Optimizer::momentum(0.05), RECORDED_MOMENTUM),
        (Optimizer::adam(1e-3), RECORDED_ADAM),
    ] {
        let mut cfg = config(&[256, 256], opt, 64, 1);
        cfg.seed = 0;
        cfg.schedule = Schedule::Cosine {
            total: 40,
            min_factor: 0.0,
        };
        let mut t = Trainer::new(&CpuBackend::<f32>::new(), cfg).unwrap();
        for (s, want) in recorded.iter().enumerate() {
            let loss = t.step(&digits, &order[s * 64..(s + 1) * 64], true).unwrap().unwrap();
            assert_eq!(
                loss.to_bits(),
                *want,
                "{} step {s}: loss {loss} vs recorded {}",
                opt.name(),
                f64::from_bits(*want)
            );
        }
        println!(
            "  {}: 20 CPU losses bit for bit as recorded ({:.6} → {:.6})",
            opt.name(),
            f64::from_bits(recorded[0]),
            f64::from_bits(recorded[19])
        );
    }
}
