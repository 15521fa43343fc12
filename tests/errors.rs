//! Bad input gets a clear, typed error that names what is at fault; never a panic.

mod common;

use common::gpu;
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::{Backend, Kernel, Params};
use shadergrad::data::Digits;
use shadergrad::nn::{Activation, Init, Mlp};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::train::{TrainConfig, Trainer};
use shadergrad::{Error, Graph, ParamStore, Plan, UnaryOp};

#[test]
fn wrong_shapes_name_both_tensors_both_shapes_and_the_line() {
    let g = Graph::new();
    let a = g.input("activations", [4, 3]);
    let w = g.input("weights", [5, 2]);
    let _ = a.matmul(&w); // line of the mistake
    let line = line!() - 1;
    let err = g.check().unwrap_err().to_string();
    println!("  {err}");
    assert!(
        err.contains("activations has shape [4, 3]") && err.contains("weights has shape [5, 2]"),
        "{err}"
    );
    assert!(err.contains(&format!("errors.rs:{line}")), "{err}");
    // backward and compile report it too.
    let loss = a.sum();
    assert!(g.backward(&loss).is_err());
    assert!(Plan::compile(
        &CpuBackend::<f32>::new(),
        &g,
        &[&loss],
        &mut ParamStore::new(&CpuBackend::new())
    )
    .is_err());
    // Elementwise ops and biases too.
    let g = Graph::new();
    let x = g.input("x", [2, 3]);
    let y = g.input("y", [3, 2]);
    let _ = &x + &y;
    assert!(g
        .check()
        .unwrap_err()
        .to_string()
        .contains("x has shape [2, 3] but y has shape [3, 2]"));
    let g = Graph::new();
    let x = g.input("x", [2, 3]);
    let b = g.input("b", [2]);
    let _ = x.bias_add(&b);
    assert!(g
        .check()
        .unwrap_err()
        .to_string()
        .contains("the bias must be a vector [cols]"));
}

#[test]
fn kernel_launches_with_wrong_buffer_sizes_are_refused_on_both_backends() {
    fn check<B: Backend>(b: &B) {
        let x = b.alloc(10, "x").unwrap();
        let y = b.alloc(9, "y").unwrap();
        let err = b
            .prepare(Kernel::Unary(UnaryOp::Relu), Params::dims(&[10]), &[&x, &y])
            .err()
            .expect("refused");
        assert!(
            matches!(
                err,
                Error::KernelBuffer {
                    index: 1,
                    expected: 10,
                    got: 9,
                    ..
                }
            ),
            "{err}"
        );
        println!("  {err}");
        let err = b
            .prepare(Kernel::Unary(UnaryOp::Relu), Params::dims(&[10]), &[&x])
            .err()
            .expect("refused");
        assert!(err.to_string().contains("takes 2 buffers"), "{err}");
    }
    check(&CpuBackend::<f32>::new());
    check(&gpu());
}

#[test]
fn a_tensor_larger_than_the_device_allows_is_refused_with_the_size_and_the_limit() {
    let gpu = gpu();
    let limit = gpu.context().max_binding_bytes();
    let values = (limit / 4 + 1) as usize;
    let err = gpu.alloc(values, "huge").expect_err("refused before allocating");
    println!("  {err}");
    assert!(matches!(err, Error::TooLarge { .. }));
    assert!(
        err.to_string().contains("`huge`") && err.to_string().contains(&limit.to_string()),
        "{err}"
    );
}

#[test]
fn uploads_of_the_wrong_length_and_foreign_tensors_are_refused() {
    let g = Graph::new();
    let x = g.input("x", [2, 2]);
    let y = x.relu();
    let cpu = CpuBackend::<f32>::new();
    let mut plan = Plan::compile(&cpu, &g, &[&y], &mut ParamStore::new(&cpu)).unwrap();
    let err = plan.set_input(&x, &[1.0; 3]).unwrap_err().to_string();
    assert!(
        err.contains("`x` of shape [2, 2]") && err.contains("expected 4 values, got 3"),
        "{err}"
    );
    let other = Graph::new().input("x", [2, 2]);
    assert!(plan.set_input(&other, &[1.0; 4]).is_err());
    let err = plan.set_input(&y, &[1.0; 4]).unwrap_err().to_string();
    assert!(err.contains("not an input"), "{err}");
}

#[test]
fn parameters_keep_their_shapes_across_plans() {
    let cpu = CpuBackend::<f32>::new();
    let mut store = ParamStore::new(&cpu);
    let g = Graph::new();
    let w = g.param("w", [2, 3], vec![0.0; 6]);
    Plan::compile(&cpu, &g, &[&w.sum()], &mut store).unwrap();
    let g2 = Graph::new();
    let w2 = g2.param("w", [3, 2], vec![0.0; 6]);
    let err = Plan::compile(&cpu, &g2, &[&w2.sum()], &mut store)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("[2, 3]") && err.contains("[3, 2]"), "{err}");
}

#[test]
fn training_refuses_labels_outside_the_classes_and_data_of_another_size() {
    let mut digits = Digits::bundled().unwrap();
    digits.labels[3] = 11;
    let digits = digits.into_dataset();
    let config = TrainConfig {
        mlp: Mlp::new(&[784, 8, 10], Activation::Relu).unwrap(),
        task: shadergrad::data::Task::Classify,
        init: Init::Xavier,
        optimizer: Optimizer::sgd(0.1),
        schedule: Schedule::Constant,
        batch: 4,
        epochs: 1,
        seed: 0,
        loss_every: 1,
        regularize: Default::default(),
    };
    let mut t = Trainer::new(&CpuBackend::<f32>::new(), config.clone()).unwrap();
    let err = t.step(&digits, &[0, 1, 2, 3], true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "label 11 at position 3 is outside the 10 classes 0..10"
    );
    let err = t.step(&digits, &[0, 1, 8000, 3], true).unwrap_err().to_string();
    assert!(err.contains("8000"), "{err}");
    let small = Digits {
        images: vec![0; 8],
        labels: vec![1, 2],
        rows: 2,
        cols: 2,
    }
    .into_dataset();
    let err = t.evaluate(&small).unwrap_err().to_string();
    assert!(err.contains("2×2 images") && err.contains("784 values"), "{err}");
}

#[test]
fn bad_names_are_refused_with_the_choices() {
    let err = shadergrad::Device::named("tpu").err().expect("refused").to_string();
    assert!(err.contains("gpu, cpu, auto"), "{err}");
    let err = shadergrad::nn::activation("swish").unwrap_err().to_string();
    assert!(err.contains("relu"), "{err}");
    // Optimizer and schedule names are flags of the command line, which names the flag too.
    for (flag, value, choice) in [("--optimizer", "rmsprop", "adam"), ("--schedule", "linear", "cosine")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadergrad"))
            .args(["train", "--backend", "cpu", "--show-plan", flag, value])
            .output()
            .expect("run shadergrad");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} {value} is refused");
        assert!(err.contains(flag) && err.contains(choice), "{err}");
    }
}

#[test]
fn byte_inputs_refuse_wrong_lengths_and_the_wrong_feeding_call() {
    let g = Graph::new();
    let pixels = g.byte_input("pixels", [2, 3], 1.0 / 255.0);
    let plain = g.input("plain", [6]);
    let total = pixels.sum() + plain.sum();
    let cpu = CpuBackend::<f32>::new();
    let mut plan = Plan::compile(&cpu, &g, &[&total], &mut ParamStore::new(&cpu)).unwrap();
    let err = plan.set_input_bytes(&pixels, &[1, 2, 3]).unwrap_err().to_string();
    assert!(
        err.contains("`pixels`") && err.contains("expected 6 values, got 3"),
        "{err}"
    );
    let err = plan.set_input(&pixels, &[0.0; 6]).unwrap_err().to_string();
    assert!(err.contains("set_input_bytes"), "{err}");
    let err = plan.set_input_bytes(&plain, &[0; 6]).unwrap_err().to_string();
    assert!(err.contains("`plain` is not a byte input"), "{err}");
    // Fed properly, the bytes arrive scaled.
    plan.set_input_bytes(&pixels, &[255, 0, 0, 0, 0, 255]).unwrap();
    plan.set_input(&plain, &[0.5; 6]).unwrap();
    let value = plan.run().unwrap().scalar(&total).unwrap();
    assert!((value - 5.0).abs() < 1e-6, "{value}");
}
