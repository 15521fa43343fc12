//! Faults and long runs: GPU errors and device loss come back as errors (never wgpu's panic),
//! a rebuilt device resumes from a checkpoint, anomaly mode names the first non-finite node,
//! and failed writes keep the previous file. (The soak test is in tests/soak.rs, alone in its
//! process so its memory figures are its own.)

mod common;

use std::io::Write;

use common::gpu;
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::wgpu::WgpuBackend;
use shadergrad::backend::Backend;
use shadergrad::check::first_non_finite;
use shadergrad::data::Digits;
use shadergrad::nn::{Activation, Init, Mlp};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::train::{Progress, TrainConfig, Trainer};
use shadergrad::{Error, Graph, ParamStore};

fn config(batch: usize) -> TrainConfig {
    TrainConfig {
        mlp: Mlp::new(&[784, 32, 10], Activation::Relu).unwrap(),
        task: shadergrad::data::Task::Classify,
        init: Init::KaimingUniform,
        optimizer: Optimizer::adam(1e-3),
        schedule: Schedule::Constant,
        batch,
        epochs: 1,
        seed: 9,
        loss_every: 1,
        regularize: Default::default(),
    }
}

#[test]
fn a_lost_device_is_an_error_and_a_new_device_resumes_from_the_checkpoint() {
    let digits = Digits::bundled().unwrap().into_dataset();
    let batch: Vec<usize> = (0..16).collect();
    // A device of its own: it is about to be destroyed.
    let first = WgpuBackend::new().expect("a GPU adapter (see README: mesa-vulkan-drivers)");
    let mut trainer = Trainer::new(&first, config(16)).unwrap();
    for _ in 0..3 {
        trainer.step(&digits, &batch, true).unwrap();
    }
    let progress = Progress::default();
    let checkpoint = trainer.checkpoint(&digits, Some(&progress)).unwrap();
    let steps = trainer.store().steps();

    first.context().device.destroy();
    let err = trainer
        .step(&digits, &batch, true)
        .expect_err("a destroyed device fails the next step");
    println!("  after device.destroy(): {err}");
    assert!(matches!(err, Error::DeviceLost { .. } | Error::Gpu { .. }), "{err:?}");

    // Rebuild on a new device from the checkpoint; the next step matches the CPU's from the same state.
    let second = WgpuBackend::new().unwrap();
    let mut resumed = Trainer::new(&second, config(16)).unwrap();
    resumed.restore(&checkpoint).unwrap();
    assert_eq!(
        resumed.store().steps(),
        steps,
        "the optimizer's step count comes back too"
    );
    let mut reference = Trainer::new(&CpuBackend::<f32>::new(), config(16)).unwrap();
    reference.restore(&checkpoint).unwrap();
    let a = resumed.step(&digits, &batch, true).unwrap().unwrap();
    let b = reference.step(&digits, &batch, true).unwrap().unwrap();
    assert!((a - b).abs() < 1e-4 * b.abs(), "resumed gpu {a} vs cpu {b}");
}

#[test]
fn gpu_validation_errors_are_results_not_panics() {
    let gpu = gpu();
    let ctx = gpu.context();
    let err = ctx
        .scoped(
            || "compiling a broken shader".into(),
            || {
                ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some("broken"),
                    source: wgpu::ShaderSource::Wgsl("fn main( {".into()),
                })
            },
        )
        .expect_err("a WGSL syntax error is caught by the error scope");
    assert!(err.to_string().contains("compiling a broken shader"), "{err}");
    // The device is still usable afterwards.
    let b = gpu.alloc(4, "after").unwrap();
    gpu.upload(&b, &[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(gpu.download(&[&b]).unwrap()[0], vec![1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn anomaly_mode_names_the_first_node_that_goes_non_finite() {
    let g = Graph::new();
    let x = g.input("x", [3]);
    let shifted = x.add_scalar(-1.0).named("shifted");
    let logged = shifted.log().named("log of x - 1"); // NaN where x < 1
    let loss = logged.exp().sum().named("loss");
    for found in [
        first_non_finite(
            &CpuBackend::<f32>::new(),
            &g,
            &[&loss],
            &mut ParamStore::new(&CpuBackend::new()),
            &[(&x, &[2.0, 0.5, 3.0])],
        )
        .unwrap(),
        first_non_finite(
            &gpu(),
            &g,
            &[&loss],
            &mut ParamStore::new(&gpu()),
            &[(&x, &[2.0, 0.5, 3.0])],
        )
        .unwrap(),
    ] {
        let nf = found.expect("a NaN is found");
        println!("  anomaly: {nf}");
        assert_eq!(nf.name, "log of x - 1");
        assert_eq!(nf.index, 1);
    }
}

#[test]
fn a_non_finite_loss_stops_training_and_names_the_step_and_the_node() {
    let digits = Digits::bundled().unwrap().into_dataset();
    let mut config = config(8);
    config.optimizer = Optimizer::sgd(1e30); // diverges at once
    let mut trainer = Trainer::new(&CpuBackend::<f32>::new(), config).unwrap();
    let batch: Vec<usize> = (0..8).collect();
    let mut err = None;
    for _ in 0..20 {
        if let Err(e) = trainer.step(&digits, &batch, true) {
            err = Some(e);
            break;
        }
    }
    let err = err.expect("the loss goes non-finite within 20 steps").to_string();
    println!("  {err}");
    assert!(
        err.contains("at step")
            && (err.contains("first non-finite value comes from") || err.contains("an earlier update diverged")),
        "{err}"
    );
    // The pixels and labels are finite bytes: blaming an input (their packed words can read as
    // NaN when taken for numbers) would send the user after the wrong thing.
    assert!(!err.contains("(input)"), "{err}");
}

#[test]
fn a_failed_write_keeps_the_previous_file() {
    let dir = std::env::temp_dir().join(format!("sg-atomic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    shadergrad::io::write_atomic(&path, b"the good checkpoint").unwrap();
    // A writer that fails half way (as a full disk would): the old file stays, no temp is left.
    let err = shadergrad::io::write_atomic_with(&path, |f| {
        f.write_all(b"half a new checkp")?;
        Err(std::io::Error::other("No space left on device"))
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("model.safetensors") && err.to_string().contains("No space left"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"the good checkpoint");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary file is left behind"
    );
    // A directory that does not exist: a clear error, nothing written.
    let err = shadergrad::io::write_atomic(&dir.join("missing/model.safetensors"), b"x").unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Plans hold `Rc` graph handles, so the compiler refuses to send one to another thread;
/// devices (and so GPU buffers) are shared across threads safely.
#[test]
fn devices_are_shared_across_threads() {
    let gpu = gpu();
    std::thread::scope(|s| {
        for t in 0..4 {
            let gpu = gpu.clone();
            s.spawn(move || {
                let b = gpu.alloc(8, "threaded").unwrap();
                let data: Vec<f32> = (0..8).map(|i| (i + t) as f32).collect();
                gpu.upload(&b, &data).unwrap();
                assert_eq!(gpu.download(&[&b]).unwrap()[0], data);
            });
        }
    });
}
