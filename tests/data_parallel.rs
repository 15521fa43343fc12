//! Data-parallel training in one process: a batch split across replicas gives one device's
//! losses to within f32 rounding, the replicas' parameters stay identical bit for bit, uneven
//! and tiny last batches work, a restored checkpoint reaches every replica, and bad device
//! lists are refused with the adapters named. On the CPU backend and on lavapipe (two logical
//! devices on one adapter).

mod common;

use std::sync::atomic::AtomicBool;

use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::wgpu::WgpuBackend;
use shadergrad::backend::Backend;
use shadergrad::data::Dataset;
use shadergrad::group::ProcessGroup;
use shadergrad::optim::Optimizer;
use shadergrad::train::{fit, Progress, TrainConfig, Trainer};
use shadergrad::{Device, Devices};

fn config(optimizer: Optimizer, batch: usize, epochs: u64) -> TrainConfig {
    common::digits_config(&[48, 24], optimizer, batch, epochs, 11)
}

/// Losses of `n` steps over consecutive batches of `sizes` examples (cycled).
fn losses<B: Backend>(t: &mut Trainer<B>, digits: &Dataset, sizes: &[usize], n: usize) -> Vec<f64> {
    let mut start = 0;
    (0..n)
        .map(|s| {
            let size = sizes[s % sizes.len()];
            let batch: Vec<usize> = (start..start + size).collect();
            start += size;
            t.step(digits, &batch, true).unwrap().unwrap()
        })
        .collect()
}

/// Every replica holds the first one's parameters and optimizer state, bit for bit.
fn assert_replicas_identical<B: Backend>(t: &Trainer<B>) {
    let first = t.store().read_all().unwrap();
    for d in 1..t.devices() {
        let other = t.replica_store(d).unwrap().read_all().unwrap();
        assert_eq!(first.len(), other.len());
        for ((name, _, a, sa), (_, _, b, sb)) in first.iter().zip(&other) {
            assert!(
                a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{name} differs on device {d}"
            );
            assert_eq!(sa, sb, "optimizer state of {name} on device {d}");
        }
        assert_eq!(t.store().steps(), t.replica_store(d).unwrap().steps());
    }
}

/// The largest relative difference between two loss curves.
fn worst(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs())
        .fold(0.0, f64::max)
}

/// N replicas against one device, 20 steps with Adam (state kept per replica) on batches of
/// 64 and of 37 (shares 19+18, 13+12+12): f32 sums of the gradient in another order, so the
/// losses agree to 1e-5 relative (measured: ~1e-7).
fn same_losses_as_one_device<B: Backend>(backends: &[B]) {
    let digits = Dataset::bundled_digits().unwrap();
    let cfg = config(Optimizer::adam(2e-3), 64, 1);
    let sizes = [64, 37];
    let mut one = Trainer::new(&backends[0], cfg.clone()).unwrap();
    let want = losses(&mut one, &digits, &sizes, 20);
    let mut many = Trainer::replicated(backends, cfg).unwrap();
    let got = losses(&mut many, &digits, &sizes, 20);
    let rel = worst(&want, &got);
    println!(
        "  {} replicas on {}: 20 losses within {rel:.1e} relative of one device ({:.4} -> {:.4}); \
         all-reduce {} steps, {} values, {:.2} ms per step",
        backends.len(),
        backends[0].describe(),
        want[0],
        want[19],
        many.reduce_time().steps,
        many.reduce_time().values,
        many.reduce_time().seconds / many.reduce_time().steps as f64 * 1e3
    );
    assert!(rel <= 1e-5, "losses {want:?} against {got:?}");
    assert!(want[19] < want[0], "the run learns");
    assert_eq!(many.reduce_time().steps, 20);
    assert_replicas_identical(&many);
}

#[test]
fn cpu_replicas_give_one_devices_losses_and_stay_identical() {
    same_losses_as_one_device(&[CpuBackend::<f32>::new(), CpuBackend::new()]);
    same_losses_as_one_device(&[CpuBackend::<f32>::new(), CpuBackend::new(), CpuBackend::new()]);
}

/// Two logical devices on lavapipe, each its own wgpu device.
fn two_gpus() -> Vec<WgpuBackend> {
    common::gpu(); // fails with install instructions when there is no adapter
    match Device::several("gpu", "2").unwrap() {
        Devices::Gpu(v) => v,
        Devices::Cpu(_) => unreachable!("--backend gpu gives GPUs"),
    }
}

#[test]
fn gpu_replicas_give_one_devices_losses_and_stay_identical() {
    let gpus = two_gpus();
    assert_eq!(gpus.len(), 2);
    same_losses_as_one_device(&gpus);
}

/// A whole run through `fit` with a last batch of one example on two devices (one share
/// empty): the same epoch losses as one device, and identical replicas.
fn uneven_epochs<B: Backend>(backends: &[B]) {
    let digits = Dataset::bundled_digits().unwrap();
    let (train, val) = digits.split(100, 5);
    let train = train.subset(&(0..97).collect::<Vec<_>>()); // 3 batches of 32, then 1
    let cfg = config(Optimizer::sgd(0.05), 32, 2);
    let run = |t: &mut Trainer<B>| {
        let mut p = Progress::default();
        let done = fit(t, &train, &val, &mut p, &AtomicBool::new(false), &mut |_, _, _| {}).unwrap();
        assert!(done);
        p
    };
    let one = run(&mut Trainer::new(&backends[0], cfg.clone()).unwrap());
    let mut many = Trainer::replicated(backends, cfg).unwrap();
    let two = run(&mut many);
    assert_eq!(many.store().steps(), 8);
    assert_replicas_identical(&many);
    for (a, b) in one.history.iter().zip(&two.history) {
        assert!((a.loss - b.loss).abs() <= 1e-5 * a.loss, "{a:?} against {b:?}");
        assert!(
            (a.val_loss - b.val_loss).abs() <= 1e-5 * a.val_loss,
            "{a:?} against {b:?}"
        );
    }
}

#[test]
fn uneven_last_batches_on_the_cpu_and_the_gpu() {
    uneven_epochs(&[CpuBackend::<f32>::new(), CpuBackend::new()]);
    uneven_epochs(&two_gpus());
}

#[test]
fn a_restored_checkpoint_reaches_every_replica() {
    // A run saved after 3 steps and continued for 2 against a fresh replicated trainer that
    // restores the save and takes the same 2 steps: bit for bit, which it could not be if the
    // second replica kept its initial parameters or optimizer state.
    let digits = Dataset::bundled_digits().unwrap();
    let cfg = config(Optimizer::adam(1e-3), 40, 1);
    let cpu = [CpuBackend::<f32>::new(), CpuBackend::new()];
    let batch = |s: usize| (s * 40..(s + 1) * 40).collect::<Vec<usize>>();
    let mut a = Trainer::replicated(&cpu, cfg.clone()).unwrap();
    for s in 0..3 {
        a.step(&digits, &batch(s), false).unwrap();
    }
    let saved = a.checkpoint(&digits, Some(&Progress::default())).unwrap();
    let mut b = Trainer::replicated(&cpu, cfg).unwrap();
    b.restore(&saved).unwrap();
    for s in 3..5 {
        let want = a.step(&digits, &batch(s), true).unwrap().unwrap();
        let got = b.step(&digits, &batch(s), true).unwrap().unwrap();
        assert_eq!(want.to_bits(), got.to_bits(), "step {}", s + 1);
    }
    assert_eq!(b.store().steps(), 5);
    assert_replicas_identical(&b);
}

#[test]
fn too_small_batches_and_bad_device_lists_are_refused() {
    let cpu = [CpuBackend::<f32>::new(), CpuBackend::new(), CpuBackend::new()];
    let err = Trainer::replicated(&cpu, config(Optimizer::sgd(0.1), 2, 1))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("batch") && err.contains("3 devices"), "{err}");
    assert!(Trainer::<CpuBackend<f32>>::replicated(&[], config(Optimizer::sgd(0.1), 2, 1)).is_err());

    common::gpu();
    let err = Device::several("gpu", "0,0").err().unwrap().to_string();
    assert!(
        err.contains("--devices") && err.contains("each adapter once") && err.contains("llvmpipe"),
        "{err}"
    );
    let err = Device::several("gpu", "0,no-such-gpu").err().unwrap().to_string();
    assert!(
        err.contains("--devices=\"no-such-gpu\"") && err.contains("0: llvmpipe"),
        "{err}"
    );
    let err = Device::several("cpu", "0,1").err().unwrap().to_string();
    assert!(err.contains("no adapters to name"), "{err}");
    for bad in ["0", "", ","] {
        let err = Device::several("cpu", bad).err().unwrap().to_string();
        assert!(err.contains("--devices"), "{bad:?}: {err}");
    }
}

#[test]
fn batch_norm_and_dropout_train_on_replicas_with_identical_weights() {
    // Each replica normalises by its own share's statistics and draws its own dropout masks
    // (as DDP without SyncBatchNorm does), so the losses are not one device's; the trainable
    // parameters are still the same on both, and only the running statistics differ.
    let digits = Dataset::bundled_digits().unwrap();
    let mut cfg = config(Optimizer::adam(2e-3), 64, 1);
    cfg.mlp = cfg
        .mlp
        .with_norm(shadergrad::nn::Norm::Batch)
        .with_dropout(0.2)
        .unwrap();
    let mut t = Trainer::replicated(&[CpuBackend::<f32>::new(), CpuBackend::new()], cfg).unwrap();
    let l = losses(&mut t, &digits, &[64], 15);
    assert!(l[14] < l[0], "{l:?}");
    let (a, b) = (
        t.store().read_all().unwrap(),
        t.replica_store(1).unwrap().read_all().unwrap(),
    );
    for ((name, _, x, _), (_, _, y, _)) in a.iter().zip(&b) {
        if name.contains("running") {
            assert_ne!(x, y, "{name}: each replica's own statistics");
        } else {
            assert_eq!(x, y, "{name}");
        }
    }
}

/// Processes as threads: a [`ProcessGroup`] whose collectives meet at a barrier, so the
/// trainer's group logic (shares by rank, one sum a step, stopping together, evaluating on
/// process 0, checking the parameters agree) is tested without MPI.
struct Threads {
    rank: usize,
    shared: std::sync::Arc<Meeting>,
}

struct Meeting {
    size: usize,
    barrier: std::sync::Barrier,
    sum: std::sync::Mutex<Vec<f32>>,
    bytes: std::sync::Mutex<Vec<u8>>,
}

impl ProcessGroup for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.shared.size
    }
    fn sum(&self, values: &mut [f32]) -> shadergrad::Result<()> {
        let m = &self.shared;
        if self.rank == 0 {
            *m.sum.lock().unwrap() = vec![0.0; values.len()];
        }
        m.barrier.wait();
        for (t, v) in m.sum.lock().unwrap().iter_mut().zip(values.iter()) {
            *t += v;
        }
        m.barrier.wait();
        values.copy_from_slice(&m.sum.lock().unwrap());
        m.barrier.wait();
        Ok(())
    }
    fn broadcast(&self, bytes: &mut Vec<u8>) -> shadergrad::Result<()> {
        let m = &self.shared;
        if self.rank == 0 {
            *m.bytes.lock().unwrap() = bytes.clone();
        }
        m.barrier.wait();
        bytes.clone_from(&m.bytes.lock().unwrap());
        m.barrier.wait();
        Ok(())
    }
}

/// `fit` on `ranks` threads, each a process with `devices` CPU replicas; process 1 asks to
/// stop after `stop_after` steps when given. Every process's progress and parameters.
fn fit_in_group(
    ranks: usize,
    devices: usize,
    cfg: &TrainConfig,
    stop_after: Option<usize>,
) -> Vec<(bool, Progress, Vec<u64>)> {
    let meeting = std::sync::Arc::new(Meeting {
        size: ranks,
        barrier: std::sync::Barrier::new(ranks),
        sum: Default::default(),
        bytes: Default::default(),
    });
    let handles: Vec<_> = (0..ranks)
        .map(|rank| {
            let (cfg, shared) = (cfg.clone(), meeting.clone());
            std::thread::spawn(move || {
                let digits = Dataset::bundled_digits().unwrap();
                let (train, val) = digits.split(200, 5);
                let train = train.subset(&(0..301).collect::<Vec<_>>());
                let cpus: Vec<CpuBackend<f32>> = (0..devices).map(|_| CpuBackend::new()).collect();
                let mut t = Trainer::replicated(&cpus, cfg).unwrap();
                t.join(std::rc::Rc::new(Threads { rank, shared })).unwrap();
                let mut p = Progress::default();
                let stop = AtomicBool::new(false);
                let mut steps = 0;
                let done = fit(&mut t, &train, &val, &mut p, &stop, &mut |e, _, _| {
                    if let shadergrad::train::Event::Step { .. } = e {
                        steps += 1;
                        if rank == 1 && Some(steps) == stop_after {
                            stop.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                })
                .unwrap();
                let params = common::param_bits(t.store());
                (done, p, params)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn processes_of_a_group_train_as_one_device_and_stop_together() {
    // 301 examples at batch 40: the last batch of 21 gives 3 processes × 2 devices shares of
    // 4 and 3; Adam state per process. One device's epochs to 1e-5 (f32 sums in another order).
    let cfg = config(Optimizer::adam(2e-3), 40, 2);
    let one = fit_in_group(1, 1, &cfg, None);
    for (ranks, devices) in [(2, 1), (3, 2)] {
        let group = fit_in_group(ranks, devices, &cfg, None);
        for (done, p, params) in &group {
            assert!(done);
            assert_eq!(params, &group[0].2, "every process holds the same parameters");
            for (a, b) in one[0].1.history.iter().zip(&p.history) {
                assert!(
                    (a.loss - b.loss).abs() <= 1e-5 * a.loss,
                    "{ranks}×{devices}: {a:?} against {b:?}"
                );
                assert!(
                    (a.val_loss - b.val_loss).abs() <= 1e-5 * a.val_loss,
                    "{a:?} against {b:?}"
                );
            }
        }
    }
    // Process 1 asks to stop after its 3rd step: the request travels with the 4th step's sum,
    // and every process stops after that one, at the same place.
    for (done, p, _) in fit_in_group(2, 1, &cfg, Some(3)) {
        assert!(!done);
        assert_eq!((p.epoch, p.batch), (0, 4), "{p:?}");
    }
}
