//! Example weights in training: a weight of 2 trains as the example twice (every task, exactly
//! in f64), weighted steps agree on the CPU and the GPU, replicas split a weighted batch as one
//! device takes it, class weights weigh each example by its class, and bad weights are refused.

mod common;

use common::{gpu, Rng};
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::Backend;
use shadergrad::data::table::{parse_csv, Columns};
use shadergrad::data::{ClassWeight, Dataset, Task};
use shadergrad::nn::{Activation, Init, Mlp};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::train::{TrainConfig, Trainer};
use shadergrad::Error;

const ROWS: usize = 48;

/// A table of `ROWS` rows of 3 features and the task's targets: 3 classes (`a`, `b`, `c`), 2
/// values, or 2 yes/no labels.
fn table(task: Task) -> Dataset {
    let mut rng = Rng::new(17);
    let (header, targets) = match task {
        Task::Classify => ("x0,x1,x2,y", vec!["y"]),
        Task::Regress => ("x0,x1,x2,u,v", vec!["u", "v"]),
        Task::Multilabel => ("x0,x1,x2,u,v", vec!["u", "v"]),
    };
    let mut text = format!("{header}\n");
    for i in 0..ROWS {
        let x = rng.vec(3, -1.0, 1.0);
        let row: Vec<String> = x.iter().map(|v| format!("{v:.4}")).collect();
        let y = match task {
            Task::Classify => ["a", "b", "c"][i % 3].to_string(),
            Task::Regress => format!("{:.4},{:.4}", x[0] + x[1], x[2] * 2.0),
            Task::Multilabel => format!("{},{}", ["no", "yes"][(x[0] > 0.0) as usize], (x[1] > x[2]) as u8),
        };
        text += &format!("{},{y}\n", row.join(","));
    }
    let columns = Columns {
        targets: targets.into_iter().map(String::from).collect(),
        ..Columns::default()
    };
    parse_csv(text.as_bytes(), "weights.csv", &columns, task).unwrap()
}

fn config(data: &Dataset, batch: usize) -> TrainConfig {
    TrainConfig {
        mlp: Mlp::new(&[3, 8, data.outputs()], Activation::Tanh).unwrap(),
        task: data.task(),
        init: Init::KaimingUniform,
        optimizer: Optimizer::sgd(0.1),
        schedule: Schedule::Constant,
        batch,
        epochs: 1,
        seed: 5,
        loss_every: 1,
        regularize: Default::default(),
    }
}

/// Every parameter after one step of `batch` on `data`, and the step's loss.
fn after_step<B: Backend>(b: &B, data: &Dataset, batch: &[usize]) -> (f64, Vec<f64>) {
    let mut t = Trainer::new(b, config(data, batch.len())).unwrap();
    let loss = t.step(data, batch, true).unwrap().unwrap();
    (loss, params(&t))
}

/// Every parameter of `t`'s model, one after another.
fn params<B: Backend>(t: &Trainer<B>) -> Vec<f64> {
    t.store()
        .read_all()
        .unwrap()
        .into_iter()
        .flat_map(|(_, _, v, _)| v)
        .collect()
}

#[test]
fn a_weight_of_two_trains_as_the_example_twice_for_every_task() {
    // Rows 0..6 with row 1 weighing 2 and row 4 weighing 0, against rows 0, 1, 1, 2, 3, 5
    // unweighted: the same weighted mean, so the same loss and the same step, to f64 rounding
    // (the sums run in another order: 1e-12 relative).
    for task in [Task::Classify, Task::Regress, Task::Multilabel] {
        let data = table(task);
        let mut w = vec![1.0; ROWS];
        w[1] = 2.0;
        w[4] = 0.0;
        let weighted = data.clone().with_weights(w).unwrap();
        let cpu = CpuBackend::<f64>::new();
        let (loss_w, params_w) = after_step(&cpu, &weighted, &[0, 1, 2, 3, 4, 5]);
        let (loss_r, params_r) = after_step(&cpu, &data, &[0, 1, 1, 2, 3, 5]);
        assert!(
            (loss_w - loss_r).abs() <= 1e-12 * loss_r.abs(),
            "{task:?}: loss {loss_w} vs {loss_r}"
        );
        let worst = params_w
            .iter()
            .zip(&params_r)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1e-12, "{task:?}: parameters differ by {worst:e}");
        // And the weights matter: unweighted, the same six rows step elsewhere.
        let (loss_u, _) = after_step(&cpu, &data, &[0, 1, 2, 3, 4, 5]);
        assert!((loss_u - loss_w).abs() > 1e-6, "{task:?}: weights changed nothing");
        println!("  {task:?}: weighted {loss_w:.6} = repeated {loss_r:.6} (unweighted {loss_u:.6})");
    }
}

#[test]
fn weighted_steps_agree_on_the_cpu_and_the_gpu() {
    // Twenty fused weighted steps (the plan fuses the loss and its backward) in f32 on both
    // backends, sums in different orders: the losses agree to 1e-4 relative, as unweighted
    // steps do (tests/train.rs).
    for task in [Task::Classify, Task::Regress, Task::Multilabel] {
        let mut rng = Rng::new(3);
        let data = table(task);
        let w: Vec<f32> = (0..ROWS).map(|_| rng.uniform(0.0, 3.0) as f32).collect();
        let data = data.with_weights(w).unwrap();
        let cpu = losses(&CpuBackend::<f32>::new(), &data);
        let gpu = losses(&gpu(), &data);
        for (i, (a, b)) in cpu.iter().zip(&gpu).enumerate() {
            assert!((a - b).abs() <= 1e-4 * a.abs(), "{task:?} step {i}: cpu {a} vs gpu {b}");
        }
        println!(
            "  {task:?}: 20 weighted steps, cpu {:.5} → {:.5}, gpu {:.5} → {:.5}",
            cpu[0], cpu[19], gpu[0], gpu[19]
        );
    }
}

/// The losses of 20 steps of batches of 16 over `data`.
fn losses<B: Backend>(b: &B, data: &Dataset) -> Vec<f64> {
    let mut t = Trainer::new(b, config(data, 16)).unwrap();
    (0..20)
        .map(|s| {
            let start = (s * 16) % ROWS;
            let batch: Vec<usize> = (start..start + 16).collect();
            t.step(data, &batch, true).unwrap().unwrap()
        })
        .collect()
}

#[test]
fn replicas_split_a_weighted_batch_as_one_device_takes_it() {
    // Shares of 7 and 6 rows whose weights differ: each replica's loss is its share's weighted
    // mean, and the host weighs the shares by their weights (not their rows), so two CPU
    // replicas in f64 step as one device does, to rounding.
    let data = table(Task::Classify);
    let w: Vec<f32> = (0..ROWS).map(|i| if i < 7 { 3.0 } else { 0.5 }).collect();
    let data = data.with_weights(w).unwrap();
    let batch: Vec<usize> = (0..13).collect();
    let cpu = CpuBackend::<f64>::new();
    let (want, one) = after_step(&cpu, &data, &batch);
    let mut many = Trainer::replicated(&[cpu.clone(), cpu], config(&data, 13)).unwrap();
    let got = many.step(&data, &batch, true).unwrap().unwrap();
    let two = params(&many);
    assert!((got - want).abs() <= 1e-12 * want, "loss {got} vs one device's {want}");
    let worst = one.iter().zip(&two).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst <= 1e-12, "parameters differ by {worst:e}");
}

#[test]
fn class_weights_weigh_each_example_by_its_class() {
    // 6 rows: 1 of `a`, 2 of `b`, 3 of `c`.
    let columns = Columns {
        targets: vec!["y".into()],
        ..Columns::default()
    };
    let text = b"x,y\n1,a\n2,b\n3,b\n4,c\n5,c\n6,c\n";
    let mut data = parse_csv(text, "c.csv", &columns, Task::Classify).unwrap();
    // Balanced: n / (classes · count) = 6/3, 6/6, 6/9, and every class sums to 2.
    let by_class = data.weigh_classes(&ClassWeight::Balanced).unwrap();
    assert_eq!(by_class, [2.0, 1.0, 2.0 / 3.0]);
    let w = data.weights.clone().unwrap();
    for (class, rows) in [(0, 0..1), (1, 1..3), (2, 3..6)] {
        let sum: f32 = w[rows].iter().sum();
        assert!((sum - 2.0).abs() < 1e-6, "class {class} weighs {sum}");
    }
    // Given weights multiply what is there; classes not named weigh 1.
    let given: ClassWeight = "c=0.5".parse().unwrap();
    data.weigh_classes(&given).unwrap();
    let after = data.weights.clone().unwrap();
    assert_eq!(after[0], w[0]);
    assert_eq!(after[5], w[5] * 0.5);
    // Unknown classes, other tasks, bad weights: refused, saying what would do.
    let e = data.weigh_classes(&"d=2".parse().unwrap()).unwrap_err().to_string();
    assert!(e.contains("\"d=2\"") && e.contains("a, b, c"), "{e}");
    let values = parse_csv(b"x,y\n1,2\n", "r.csv", &columns, Task::Regress).unwrap();
    let e = ClassWeight::Balanced.of(&values.targets).unwrap_err().to_string();
    assert!(e.contains("classify"), "{e}");
    for bad in ["a=-1", "a", "=2", "a=2,a=3", "a=inf"] {
        let e = bad.parse::<ClassWeight>().unwrap_err();
        assert!(matches!(e, Error::InvalidValue { .. }), "{bad}: {e}");
    }
}

#[test]
fn bad_example_weights_are_refused_naming_the_example() {
    let data = table(Task::Regress);
    let e = data.clone().with_weights(vec![1.0; 3]).unwrap_err().to_string();
    assert!(e.contains(&ROWS.to_string()) && e.contains('3'), "{e}");
    let mut w = vec![1.0; ROWS];
    w[7] = f32::NAN;
    let e = data.clone().with_weights(w).unwrap_err().to_string();
    assert!(e.contains("example 7"), "{e}");
    let mut w = vec![1.0; ROWS];
    w[9] = -0.5;
    let e = data.clone().with_weights(w).unwrap_err().to_string();
    assert!(e.contains("example 9"), "{e}");
    let e = data.with_weights(vec![0.0; ROWS]).unwrap_err().to_string();
    assert!(e.contains("all 0"), "{e}");
}

#[test]
fn a_batch_whose_weights_are_all_zero_costs_nothing() {
    // A class weighted 0 can fill a batch: the loss is 0 (not 0/0) and nothing moves.
    let data = table(Task::Classify);
    let w: Vec<f32> = (0..ROWS).map(|i| if i < 4 { 0.0 } else { 1.0 }).collect();
    let data = data.with_weights(w).unwrap();
    zero_weight_step(&CpuBackend::<f32>::new(), &data);
    zero_weight_step(&gpu(), &data);
}

/// One step of rows that all weigh 0 on `b`: loss 0, parameters unchanged.
fn zero_weight_step<B: Backend>(b: &B, data: &Dataset) {
    let mut t = Trainer::new(b, config(data, 4)).unwrap();
    let before = t.store().read_all().unwrap();
    let loss = t.step(data, &[0, 1, 2, 3], true).unwrap().unwrap();
    assert_eq!(loss, 0.0, "{}", b.describe());
    assert_eq!(t.store().read_all().unwrap(), before, "{}", b.describe());
}
