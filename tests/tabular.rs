//! Your own data: the CSV, NPY and NPZ loaders, each task (classify, regress, multilabel)
//! trained on both backends, a saved model predicting what its trainer computed (from a CSV
//! whose columns are in another order), and each bad table, array or model input refused with
//! a message naming the file, row, column or shape.

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use shadergrad::backend::{cpu::CpuBackend, Backend};
use shadergrad::data::{
    npy,
    table::{parse_csv, Columns},
    Dataset, Features, Source, Targets, Task,
};
use shadergrad::model::{Model, ModelInfo, Predictions};
use shadergrad::nn::{Activation, Init, Mlp};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::train::{fit, Progress, TrainConfig, Trainer};

fn columns(targets: &[&str]) -> Columns {
    Columns {
        targets: targets.iter().map(|t| t.to_string()).collect(),
        ..Columns::default()
    }
}

fn temp(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("sg-tab-{tag}-"))
        .tempdir()
        .unwrap()
}

/// A CSV of `header` and `rows`, each value written so it reads back exactly.
fn csv_text(header: &[&str], rows: &[Vec<f64>]) -> String {
    let mut s = header.join(",") + "\n";
    for r in rows {
        s += &r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",");
        s += "\n";
    }
    s
}

/// 240 examples of four features on unlike scales (so standardising matters), with targets
/// for `task` that the features decide: classes 3, 7 and 9 by two linear boundaries; two
/// values to regress (one linear, in the thousands, one curved); three 0/1 labels.
fn synthetic(task: Task) -> (Vec<&'static str>, Vec<Vec<f64>>) {
    let mut rng = common::Rng::new(11);
    let mut rows = Vec::new();
    for _ in 0..240 {
        let z = rng.vec(4, -1.0, 1.0);
        let x = [100.0 * z[0] + 50.0, 0.01 * z[1], z[2] - 3.0, 10.0 * z[3]];
        let mut row = x.to_vec();
        match task {
            Task::Classify => row.push(if z[0] + z[1] > 0.3 {
                3.0
            } else if z[2] - z[3] > 0.0 {
                7.0
            } else {
                9.0
            }),
            Task::Regress => {
                row.push(1000.0 + 400.0 * z[0] - 300.0 * z[1]);
                row.push(z[2] * z[2] + 0.5 * z[3]);
            }
            Task::Multilabel => {
                row.push((z[0] > 0.0) as u8 as f64);
                row.push((z[1] + z[2] > 0.0) as u8 as f64);
                row.push((z[3] > 0.4) as u8 as f64);
            }
        }
        rows.push(row);
    }
    let header = match task {
        Task::Classify => vec!["a", "b", "c", "d", "species"],
        Task::Regress => vec!["a", "b", "c", "d", "price", "bend"],
        Task::Multilabel => vec!["a", "b", "c", "d", "red", "round", "big"],
    };
    (header, rows)
}

fn targets_of(task: Task) -> &'static [&'static str] {
    match task {
        Task::Classify => &["species"],
        Task::Regress => &["price", "bend"],
        Task::Multilabel => &["red", "round", "big"],
    }
}

fn config(task: Task, outputs: usize, epochs: u64) -> TrainConfig {
    TrainConfig {
        mlp: Mlp::new(&[4, 32, outputs], Activation::Relu).unwrap(),
        task,
        init: Init::KaimingUniform,
        optimizer: Optimizer::adam(0.01),
        schedule: Schedule::Constant,
        batch: 32,
        epochs,
        seed: 0,
        loss_every: 1,
        regularize: Default::default(),
    }
}

/// The synthetic CSV for `task` written in `dir`, as a source.
fn csv_source(dir: &Path, task: Task) -> Source {
    let (header, rows) = synthetic(task);
    let path = dir.join(format!("{}.csv", task.name()));
    std::fs::write(&path, csv_text(&header, &rows)).unwrap();
    Source::Csv {
        path,
        columns: columns(targets_of(task)),
    }
}

/// Trains on the source's training split (40 held out, standardised) and returns the trainer,
/// the splits and the per-epoch (loss, validation score).
fn train<B: Backend>(
    backend: &B,
    source: &Source,
    task: Task,
    epochs: u64,
) -> (Trainer<B>, Dataset, Dataset, Vec<(f64, f64)>) {
    let data = source.load(task).unwrap();
    let (train, val) = source.split(&data, 40, 0, true);
    let mut trainer = Trainer::new(backend, config(task, data.outputs(), epochs)).unwrap();
    let mut progress = Progress::default();
    let done = fit(
        &mut trainer,
        &train,
        &val,
        &mut progress,
        &AtomicBool::new(false),
        &mut |_, _, _| {},
    )
    .unwrap();
    assert!(done);
    let history = progress.history.iter().map(|r| (r.loss, r.val_score)).collect();
    (trainer, train, val, history)
}

#[test]
fn the_csv_loader_reads_the_named_columns_and_keeps_the_class_labels() {
    let text = b"id, b ,a,species\n17,0.5,1,9\n18,-2,2.5e1,3\n19,3,-4,7\n20,1,1,9\n";
    let mut cols = columns(&["species"]);
    cols.drop = vec!["id".into()];
    let d = parse_csv(text, "pets.csv", &cols, Task::Classify).unwrap();
    assert_eq!(d.feature_names, ["b", "a"], "file order, names trimmed, `id` dropped");
    assert_eq!(
        d.features,
        Features::Floats(vec![0.5, 1.0, -2.0, 25.0, 3.0, -4.0, 1.0, 1.0])
    );
    assert_eq!(
        d.targets,
        Targets::Classes {
            ids: vec![2, 0, 1, 2],
            labels: vec![3.0, 7.0, 9.0],
            names: vec![]
        },
        "classes 3, 7, 9 become ids 0, 1, 2 and keep their labels"
    );
    // --features picks and orders; several targets to regress.
    cols.features = Some(vec!["a".into(), "id".into()]);
    let d = parse_csv(
        text,
        "pets.csv",
        &Columns {
            drop: vec![],
            ..cols.clone()
        },
        Task::Classify,
    )
    .unwrap();
    assert_eq!(d.feature_names, ["a", "id"]);
    let d = parse_csv(text, "pets.csv", &columns(&["a", "b"]), Task::Regress).unwrap();
    assert_eq!(
        (d.feature_names.clone(), d.outputs()),
        (vec!["id".into(), "species".into()], 2)
    );
    assert_eq!(
        d.targets,
        Targets::Values {
            values: vec![1.0, 0.5, 25.0, -2.0, -4.0, 3.0, 1.0, 1.0],
            k: 2
        }
    );
}

#[test]
fn the_npy_reader_takes_every_dtype_both_byte_orders_and_fortran_order() {
    let f32s: Vec<u8> = [1.5f32, -2.0, 3.25].iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(
        npy::parse(&common::npy("<f4", false, &[3], &f32s), "a").unwrap().values,
        [1.5, -2.0, 3.25]
    );
    let be: Vec<u8> = [7i16, -3].iter().flat_map(|v| v.to_be_bytes()).collect();
    assert_eq!(
        npy::parse(&common::npy(">i2", false, &[2], &be), "b").unwrap().values,
        [7.0, -3.0]
    );
    let i64s: Vec<u8> = [-9i64, 1 << 40].iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(
        npy::parse(&common::npy("<i8", false, &[2], &i64s), "c").unwrap().values,
        [-9.0, (1u64 << 40) as f64]
    );
    assert_eq!(
        npy::parse(&common::npy("|u1", false, &[2], &[255, 4]), "d")
            .unwrap()
            .values,
        [255.0, 4.0]
    );
    assert_eq!(
        npy::parse(&common::npy("|b1", false, &[2], &[1, 0]), "e")
            .unwrap()
            .values,
        [1.0, 0.0]
    );
    // [[1, 2, 3], [4, 5, 6]] stored column by column reads as rows.
    let cols: Vec<u8> = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let a = npy::parse(&common::npy("<f8", true, &[2, 3], &cols), "f").unwrap();
    assert_eq!((a.shape, a.values), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
}

#[test]
fn npy_pairs_and_npz_archives_load_the_same_data_set() {
    let dir = temp("npy");
    let x = [0.5, 1.0, -1.0, 2.0, 3.0, 0.0, 4.0, -4.0];
    let y = [1.0, 0.0, 1.0, 2.0];
    let (xb, yb) = (common::npy_f64(&[4, 2], &x), common::npy_f64(&[4], &y));
    std::fs::write(dir.path().join("x.npy"), &xb).unwrap();
    std::fs::write(dir.path().join("y.npy"), &yb).unwrap();
    let pair = npy::load_dataset(
        &dir.path().join("x.npy"),
        Some(&dir.path().join("y.npy")),
        Task::Classify,
    )
    .unwrap();
    assert_eq!(pair.features, Features::Floats(x.iter().map(|&v| v as f32).collect()));
    assert_eq!(pair.feature_names, ["x0", "x1"]);
    for deflate in [false, true] {
        let path = dir.path().join(format!("xy{deflate}.npz"));
        std::fs::write(&path, common::npz(&[("x", &xb), ("y", &yb)], deflate)).unwrap();
        let archived = npy::load_dataset(&path, None, Task::Classify).unwrap();
        assert_eq!(archived, pair, "npz (deflated: {deflate}) and the .npy pair agree");
    }
    // The same numbers as targets [n, k] to regress or label.
    let labels = npy::dataset(
        &npy::parse(&xb, "x").unwrap(),
        &npy::parse(
            &common::npy_f64(&[4, 2], &[0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]),
            "y",
        )
        .unwrap(),
        Task::Multilabel,
        "x and y",
    )
    .unwrap();
    assert_eq!(
        (labels.outputs(), labels.target_names.clone()),
        (2, vec!["y0".into(), "y1".into()])
    );
}

/// Every task learns on both backends, and the GPU's first epoch matches the CPU's: the same
/// data, initial weights and batches in f32, so the first epoch's mean loss agrees to 1e-4
/// relative (reduction order is the only difference; later epochs may drift further apart).
#[test]
fn each_task_trains_on_both_backends() {
    let dir = temp("tasks");
    let gpu = common::gpu();
    let cpu = CpuBackend::<f32>::new();
    for task in [Task::Classify, Task::Regress, Task::Multilabel] {
        let source = csv_source(dir.path(), task);
        let (_, _, _, on_cpu) = train(&cpu, &source, task, 12);
        let (_, _, _, on_gpu) = train(&gpu, &source, task, 12);
        for (backend, h) in [("cpu", &on_cpu), ("gpu", &on_gpu)] {
            let (first, last) = (h[0], h[h.len() - 1]);
            println!(
                "{} on {backend}: loss {:.4} → {:.4}, validation score {:.3}",
                task.name(),
                first.0,
                last.0,
                last.1
            );
            assert!(
                last.0 < 0.5 * first.0,
                "{} on {backend}: the loss fell from {} to {}",
                task.name(),
                first.0,
                last.0
            );
            let want = match task {
                Task::Classify => 0.85,   // accuracy on 40 held-out rows
                Task::Regress => 0.8,     // R²
                Task::Multilabel => 0.85, // mean accuracy of three labels
            };
            assert!(
                last.1 > want,
                "{} on {backend}: validation score {} under {want}",
                task.name(),
                last.1
            );
        }
        common::assert_near(task.name(), "gpu", on_gpu[0].0, on_cpu[0].0, 1e-4 * on_cpu[0].0.abs());
    }
}

/// softmax, sigmoid, or standard units back to original ones: what `predict` must give for
/// the trainer's outputs.
fn expected(task: Task, outputs: &[f64], k: usize, model: &Model) -> Vec<Vec<f64>> {
    outputs
        .chunks(k)
        .map(|row| match task {
            Task::Classify => {
                let max = row.iter().copied().fold(f64::MIN, f64::max);
                let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
                row.iter().map(|v| (v - max).exp() / sum).collect()
            }
            Task::Regress => {
                let s = model
                    .info
                    .scaling
                    .targets
                    .as_ref()
                    .expect("regression targets are standardised");
                row.iter().enumerate().map(|(j, &z)| z * s.std[j] + s.mean[j]).collect()
            }
            Task::Multilabel => row.iter().map(|&z| 1.0 / (1.0 + (-z).exp())).collect(),
        })
        .collect()
}

/// Train → save → load → predict on the held-out rows of a CSV whose columns are reversed
/// (targets included, which predict ignores): the predictions are the trainer's own forward
/// pass, through softmax, sigmoid or the target scaling, to 1e-6 relative (the same f32
/// forward on the same standardised f32 inputs; only the final transform is recomputed in f64).
#[test]
fn a_saved_model_predicts_what_its_trainer_computed_from_columns_in_any_order() {
    let dir = temp("roundtrip");
    let cpu = CpuBackend::<f32>::new();
    let gpu = common::gpu();
    for task in [Task::Classify, Task::Regress, Task::Multilabel] {
        let source = csv_source(dir.path(), task);
        let (mut trainer, train_set, val, _) = train(&cpu, &source, task, 4);
        let path = dir.path().join(format!("{}.safetensors", task.name()));
        trainer.model(&train_set).unwrap().save(&path).unwrap();
        let model = Model::load(&path).unwrap();

        // The held-out rows, original units, columns reversed.
        let data = source.load(task).unwrap();
        let (header, rows) = synthetic(task);
        let (_, raw_val) = data.split_stratified(40, 0);
        let Features::Floats(raw) = &raw_val.features else {
            unreachable!()
        };
        let n = raw_val.len();
        let reversed_header: Vec<&str> = header.iter().rev().copied().collect();
        let reversed_rows: Vec<Vec<f64>> = raw
            .chunks(4)
            .map(|r| {
                // Unused target columns hold 0: predict must not read them.
                let mut row = vec![0.0; header.len() - 4];
                row.extend(r.iter().rev().map(|&v| v as f64));
                row
            })
            .collect();
        assert_eq!(rows[0].len(), header.len());
        let shuffled = dir.path().join(format!("{}-new.csv", task.name()));
        std::fs::write(&shuffled, csv_text(&reversed_header, &reversed_rows)).unwrap();

        let features = model.read_features(&shuffled).unwrap();
        let k = model.info.mlp.classes();
        let all: Vec<usize> = (0..n).collect();
        let want = expected(task, &trainer.outputs(&val, &all).unwrap(), k, &model);
        for (backend, got) in [
            ("cpu", model.predict(&cpu, &features).unwrap()),
            ("gpu", model.predict(&gpu, &features).unwrap()),
        ] {
            let (got, tol) = match &got {
                Predictions::Classes {
                    classes, probabilities, ..
                } => {
                    for (c, p) in classes.iter().zip(probabilities) {
                        let best = (0..k).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
                        assert_eq!(*c, model.info.classes[best], "the class is the original label");
                        assert!([3.0, 7.0, 9.0].contains(c));
                    }
                    (probabilities.clone(), 1e-6)
                }
                Predictions::Values(v) => (v.clone(), 1e-6),
                Predictions::Labels { labels, probabilities } => {
                    for (l, p) in labels.iter().zip(probabilities) {
                        assert_eq!(l, &p.iter().map(|&q| (q > 0.5) as u8).collect::<Vec<_>>());
                    }
                    (probabilities.clone(), 1e-6)
                }
            };
            // The GPU's forward differs from the CPU trainer's in summation order only.
            let (abs, rel) = if backend == "cpu" { (1e-9, tol) } else { (1e-6, 1e-5) };
            common::assert_close(
                &format!("{} predictions on {backend}", task.name()),
                &got.concat(),
                &want.concat(),
                abs,
                rel,
                None,
            );
        }
    }
}

/// The error `parse_csv` gives for `text`, which must contain each of `wants`.
fn refuse_csv(text: &str, targets: &[&str], task: Task, wants: &[&str]) {
    let err = parse_csv(text.as_bytes(), "data.csv", &columns(targets), task)
        .unwrap_err()
        .to_string();
    println!("  refused: {err}");
    for w in wants {
        assert!(err.contains(w), "expected `{w}` in: {err}");
    }
    assert!(err.contains("data.csv"), "the error names the file: {err}");
}

#[test]
fn bad_tables_are_refused_naming_the_row_the_column_and_the_text() {
    let c = Task::Classify;
    refuse_csv(
        "a,b,y\n1,2,0\n1,2\n",
        &["y"],
        c,
        &["row 2 (line 3) has 2 cells", "3 columns"],
    );
    refuse_csv("", &["y"], c, &["is empty"]);
    refuse_csv("a,b,y\n", &["y"], c, &["a header but no rows"]);
    refuse_csv(
        "a,b,a,y\n1,2,3,0\n",
        &["y"],
        c,
        &["`a` appears twice (columns 1 and 3)"],
    );
    refuse_csv(
        "a,b,y\n1,2,0\n",
        &["label"],
        c,
        &["no target column `label`", "a, b, y"],
    );
    refuse_csv(
        "a,b,y\n1,2,0\n1,2,inf\n",
        &["y"],
        Task::Regress,
        &["row 2 (line 3), column `y`: `inf`"],
    );
    refuse_csv(
        "a,b,y\n1,2,0\n1,2,2.5\n",
        &["y"],
        c,
        &["row 2 (line 3), column `y`: 2.5 is not a whole number"],
    );
    refuse_csv(
        "a,y,z\n1,0,1\n1,2,0\n",
        &["y", "z"],
        Task::Multilabel,
        &["row 2 (line 3), column `y`: `2` is not 0 or 1"],
    );
    // A flag's fault rather than the file's: named by what the flag set.
    let err = parse_csv(b"a,y,z\n1,0,1\n", "data.csv", &columns(&["y", "z"]), c)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"y,z\" for targets: one target column for classification"),
        "{err}"
    );
    let mut cols = columns(&["y"]);
    cols.drop = vec!["q".into()];
    let err = parse_csv(b"a,y\n1,0\n", "data.csv", &cols, c).unwrap_err().to_string();
    assert!(err.contains("no column `q`"), "{err}");
    let err = parse_csv(
        b"a,y\n1,0\n",
        "data.csv",
        &Columns {
            features: Some(vec!["y".into()]),
            ..columns(&["y"])
        },
        c,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not also targets"), "{err}");
}

/// The error `npy::dataset` gives for features `x` and targets `y`.
fn refuse_arrays(x: &[u8], y: &[u8], task: Task, wants: &str) {
    let parsed = |b: &[u8], n| npy::parse(b, n);
    let err = match (parsed(x, "x.npy"), parsed(y, "y.npy")) {
        (Ok(x), Ok(y)) => npy::dataset(&x, &y, task, "x.npy and y.npy").unwrap_err(),
        (Err(e), _) | (_, Err(e)) => e,
    }
    .to_string();
    println!("  refused: {err}");
    assert!(err.contains(wants), "expected `{wants}` in: {err}");
}

#[test]
fn bad_arrays_are_refused_naming_the_shape_the_dtype_or_the_element() {
    let x = common::npy_f64(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let y = common::npy_f64(&[3], &[0.0, 1.0, 0.0]);
    let c = Task::Classify;
    refuse_arrays(
        &x,
        &common::npy_f64(&[2], &[0.0, 1.0]),
        c,
        "the features have 3 examples (shape [3, 2]) but the targets 2",
    );
    refuse_arrays(&x, &common::npy_f64(&[3, 1, 1], &[0.0; 3]), c, "not [n] or [n, k]");
    refuse_arrays(
        &x,
        &common::npy_f64(&[3, 2], &[0.0; 6]),
        c,
        "one class per example, [n]",
    );
    refuse_arrays(&x, &common::npy("<c8", false, &[3], &[0; 24]), c, "dtype `<c8`");
    refuse_arrays(&x, &common::npy("<U3", false, &[3], &[0; 36]), c, "dtype `<U3`");
    refuse_arrays(
        &common::npy_f64(&[3, 2], &[1.0, 2.0, 3.0, f64::NAN, 5.0, 6.0]),
        &y,
        c,
        "feature x[1, 1] is NaN",
    );
    refuse_arrays(
        &x,
        &common::npy_f64(&[3], &[0.0, f64::INFINITY, 0.0]),
        Task::Regress,
        "target y[1] is inf",
    );
    refuse_arrays(
        &x,
        &common::npy_f64(&[3], &[0.0, 1.5, 0.0]),
        c,
        "target y[1]: 1.5 is not a whole number",
    );
    refuse_arrays(
        &x,
        &common::npy_f64(&[3, 1], &[0.0, 1.0, 3.0]),
        Task::Multilabel,
        "target y[2, 0] is 3, not 0 or 1",
    );
    refuse_arrays(
        &common::npy_f64(&[0, 2], &[]),
        &common::npy_f64(&[0], &[]),
        c,
        "no examples",
    );
    // Lying and malformed headers, before anything is allocated for them.
    let err = |bytes: &[u8]| npy::parse(bytes, "f.npy").unwrap_err().to_string();
    assert!(err(&common::npy("<f4", false, &[1_000_000_000], &[0; 8])).contains("truncated"));
    assert!(err(&common::npy("<f4", false, &[u32::MAX as usize, 1 << 20], &[])).contains("absurdly large"));
    assert!(err(&common::npy("<f4", false, &[1], &[0; 8])).contains("more data"));
    assert!(err(b"PK\x03\x04 not npy").contains("does not start"));
    let e = npy::parse_npz(&common::npz(&[("features", &x)], false), "a.npz")
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds no array named x"), "{e}");
    let e = npy::parse_npz(b"not a zip", "a.npz").unwrap_err().to_string();
    assert!(e.contains("not an .npz"), "{e}");
}

#[test]
fn inputs_that_do_not_fit_the_model_are_refused_naming_what_differs() {
    let dir = temp("fit");
    let cpu = CpuBackend::<f32>::new();
    let source = csv_source(dir.path(), Task::Regress);
    let (mut trainer, train_set, _, _) = train(&cpu, &source, Task::Regress, 1);
    let model = trainer.model(&train_set).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let err = |r: shadergrad::Result<Features>| r.unwrap_err().to_string();
    // A CSV without one of the model's features names it.
    let e = err(model.read_features(&write("three.csv", b"d,a,b\n1,2,3\n")));
    assert!(e.contains("three.csv") && e.contains("no column `c`"), "{e}");
    // Arrays of another width name both shapes.
    let e = err(model.read_features(&write("wide.npy", &common::npy_f64(&[2, 3], &[0.0; 6]))));
    assert!(e.contains("shape [2, 3], not [n, 4]"), "{e}");
    let e = err(model.read_features(&write("x.txt", b"1,2,3,4\n")));
    assert!(e.contains("not a .csv, .npy or .npz"), "{e}");
    // A model of features is given images; images of another size are refused naming both.
    let pgm = write("five.pgm", b"P5 5 7 255\n\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22");
    let e = err(model.read_images(std::slice::from_ref(&pgm)));
    assert!(e.contains("not trained on images"), "{e}");
    let digits = Model {
        info: ModelInfo::assumed(&Mlp::new(&[784, 8, 10], Activation::Relu).unwrap()),
        params: Default::default(),
        steps: 0,
    };
    let e = err(digits.read_images(&[pgm]));
    assert!(
        e.contains("five.pgm: is 5×7 pixels (width × height) but the model takes 28×28 images"),
        "{e}"
    );
    // A data set of another task or width, for a trainer or for predict.
    let classes = parse_csv(b"a,b,c,d,y\n1,2,3,4,0\n", "c.csv", &columns(&["y"]), Task::Classify).unwrap();
    let e = trainer.evaluate(&classes).unwrap_err().to_string();
    assert!(
        e.contains("targets for classify") && e.contains("targets for regress, the model's task"),
        "{e}"
    );
    let e = model
        .predict(&cpu, &Features::Floats(vec![1.0; 6]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("6 values") && e.contains("4 features"), "{e}");
}
