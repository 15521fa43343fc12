//! The training commands end to end: train writes a model and a plot, eval and grads read it,
//! Ctrl-C saves and resume continues, and bad data, corrupt models and diverging runs fail with
//! a message and a non-zero exit, writing nothing over what was saved.

use std::path::Path;
use std::process::Command;

mod common;

#[cfg(unix)]
use common::cli::{crash_after_first_epoch, interrupt_after_first_epoch};
use common::cli::{run as shadergrad, temp, text, LONG};

const SMALL: &[&str] = &["--hidden", "32", "--epochs", "2", "--batch", "64"];

#[test]
fn train_then_eval_and_grads() {
    let dir = temp("train");
    let mut args = vec!["train", "--json", "--plot", "curve.png"];
    args.extend(SMALL);
    let o = shadergrad(&dir, &args, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let epochs: Vec<&str> = stdout.lines().filter(|l| l.contains("\"record\":\"epoch\"")).collect();
    assert_eq!(epochs.len(), 2, "one JSON record per epoch: {stdout}");
    assert!(
        stdout.lines().last().unwrap().contains("\"record\":\"summary\""),
        "{stdout}"
    );
    for line in epochs {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            record["val_accuracy"].as_f64().is_some() && record["device"].is_string(),
            "{line}"
        );
    }
    assert!(
        stdout.contains("\"val_accuracy\"") && stdout.contains("\"samples_per_s\""),
        "{stdout}"
    );
    assert!(dir.join("model.safetensors").exists());
    assert!(std::fs::read(dir.join("curve.png")).unwrap().starts_with(b"\x89PNG"));

    let o = shadergrad(&dir, &["eval", "--model", "model.safetensors", "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    let accuracy = json["accuracy"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&accuracy) && json["count"] == 1000, "{json}");
    assert!(json["confusion"][0].is_array(), "{json}");
    let o = shadergrad(&dir, &["eval", "--model", "model.safetensors"], &[]);
    assert!(
        text(&o).contains("confusion (rows: label, columns: prediction)"),
        "{}",
        text(&o)
    );
    // A file name with quotes, a backslash and non-ASCII still gives valid JSON, naming it.
    let odd = r#"my "best" model\ñ.safetensors"#;
    std::fs::copy(dir.join("model.safetensors"), dir.join(odd)).unwrap();
    let o = shadergrad(&dir, &["eval", "--model", odd, "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(v["model"], odd);
    assert_eq!(v["count"], 1000);

    let o = shadergrad(
        &dir,
        &[
            "grads",
            "--model",
            "model.safetensors",
            "--batch",
            "16",
            "--out",
            "g.safetensors",
            "--backend",
            "cpu",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let g = shadergrad::model::Model::load(&dir.join("g.safetensors")).unwrap();
    assert_eq!(
        g.params.keys().collect::<Vec<_>>(),
        ["0.bias", "0.weight", "2.bias", "2.weight"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_diverging_run_stops_and_keeps_the_saved_model() {
    let dir = temp("nan");
    std::fs::write(dir.join("model.safetensors"), b"the previous model").unwrap();
    let mut args = vec![
        "train",
        "--lr",
        "1e30",
        "--optimizer",
        "sgd",
        "--loss-every",
        "1",
        "--backend",
        "cpu",
    ];
    args.extend(SMALL);
    let o = shadergrad(&dir, &args, &[]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("non-finite") && t.contains("at step") && t.contains("was not overwritten")
            || t.contains("keeps the last good"),
        "{t}"
    );
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        b"the previous model"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_data_and_corrupt_models_fail_with_a_message() {
    let dir = temp("bad");
    std::fs::write(
        dir.join("x-images-idx3-ubyte"),
        [0u8, 0, 8, 3, 0, 0, 0, 9, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2],
    )
    .unwrap();
    std::fs::write(
        dir.join("x-labels-idx1-ubyte"),
        [0u8, 0, 8, 1, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    )
    .unwrap();
    let o = shadergrad(&dir, &["train", "--data", "."], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("x-images-idx3-ubyte") && text(&o).contains("claims"),
        "{}",
        text(&o)
    );

    std::fs::write(dir.join("model.safetensors"), b"not a checkpoint at all").unwrap();
    let o = shadergrad(&dir, &["eval", "--model", "model.safetensors"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("model.safetensors") && text(&o).contains("not a safetensors file"),
        "{}",
        text(&o)
    );

    let o = shadergrad(
        &dir,
        &["train", "--epochs", "1"],
        &[("SHADERGRAD_ADAPTER", "no-such-gpu")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("no GPU adapter matches SHADERGRAD_ADAPTER=\"no-such-gpu\""),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn ctrl_c_saves_and_resume_continues() {
    let dir = temp("sigint");
    let rest = interrupt_after_first_epoch(&dir, LONG);
    assert!(
        rest.contains("interrupted at epoch") && rest.contains("--resume model.safetensors"),
        "{rest}"
    );

    let o = shadergrad(
        &dir,
        &[
            "train",
            "--resume",
            "model.safetensors",
            "--epochs",
            "3",
            "--backend",
            "cpu",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming at epoch"), "{}", text(&o));
    assert!(text(&o).contains("epoch   3/3"), "{}", text(&o));
    let o = shadergrad(&dir, &["train", "--resume", "model.safetensors", "--lr", "0.5"], &[]);
    assert!(!o.status.success() && text(&o).contains("--lr"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn checkpoints_are_written_at_most_once_per_checkpoint_every() {
    // Every epoch: a crash after the first leaves it saved, and it resumes from there.
    let dir = temp("checkpoint-every");
    crash_after_first_epoch(&dir, &[LONG, &["--checkpoint-every", "0"]].concat());
    let saved = shadergrad::checkpoint::Checkpoint::load(&dir.join("model.safetensors")).unwrap();
    let at = saved.training.unwrap().progress;
    assert!(at.epoch >= 1, "saved at epoch {} batch {}", at.epoch, at.batch);
    let o = shadergrad(&dir, &["train", "--resume", "model.safetensors", "--epochs", "3"], &[]);
    assert!(
        o.status.success() && text(&o).contains("resuming at epoch"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // By default at most once a minute: a crash in the first seconds loses the run and writes
    // nothing, while a run that ends writes its model once, at the end.
    let dir = temp("checkpoint-default");
    crash_after_first_epoch(&dir, LONG);
    assert_eq!(files(&dir).len(), 0, "{:?}", files(&dir).keys());
    let o = shadergrad(
        &dir,
        &["train", "--hidden", "8", "--epochs", "3", "--backend", "cpu"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let saved = shadergrad::checkpoint::Checkpoint::load(&dir.join("model.safetensors")).unwrap();
    assert_eq!(saved.training.unwrap().progress.epoch, 3);
    let o = shadergrad(&dir, &[LONG, &["--checkpoint-every", "soon"]].concat(), &[]);
    assert!(
        !o.status.success() && text(&o).contains("--checkpoint-every"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The files in `dir`, by name, with their bytes.
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn resume_continues_in_its_own_file_and_nothing_saved_is_overwritten_unasked() {
    // Another run's model sits in the default name; a run with --out is interrupted, and
    // resuming as its message says continues in its own file, leaving the other alone.
    let dir = temp("resume-own");
    std::fs::write(dir.join("model.safetensors"), b"another run's model").unwrap();
    let rest = interrupt_after_first_epoch(&dir, &[LONG, &["--out", "long.safetensors"]].concat());
    assert!(rest.contains("--resume long.safetensors"), "{rest}");
    let interrupted = std::fs::read(dir.join("long.safetensors")).unwrap();
    let resume = ["train", "--resume", "long.safetensors", "--epochs", "3"];
    let o = shadergrad(&dir, &resume, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("saved long.safetensors"), "{}", text(&o));
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        b"another run's model"
    );
    assert_ne!(std::fs::read(dir.join("long.safetensors")).unwrap(), interrupted);
    let saved = shadergrad::checkpoint::Checkpoint::load(&dir.join("long.safetensors")).unwrap();
    assert_eq!(
        saved.training.unwrap().progress.epoch,
        3,
        "long.safetensors holds the whole run"
    );
    assert!(dir.join("long.svg").exists(), "the picture is named after the model");

    // A finished run has nothing left to do, and says so without touching a file; a higher
    // --epochs trains on.
    let before = files(&dir);
    let o = shadergrad(&dir, &resume, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("long.safetensors: the run has trained 3 of 3 epochs: nothing left to do"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("saved"), "{}", text(&o));
    assert_eq!(files(&dir), before, "nothing written");
    let o = shadergrad(&dir, &["train", "--resume", "long.safetensors", "--epochs", "4"], &[]);
    assert!(o.status.success() && text(&o).contains("epoch   4/4"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).unwrap();

    // Runs that name no file never replace one: the second takes the next free name.
    let dir = temp("defaults");
    let quick = ["train", "--hidden", "8", "--epochs", "1", "--backend", "cpu"];
    let o = shadergrad(&dir, &quick, &[]);
    assert!(
        o.status.success() && text(&o).contains("saved model.safetensors and model.svg"),
        "{}",
        text(&o)
    );
    let first = files(&dir);
    let o = shadergrad(&dir, &quick, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("model.safetensors holds another run, so this one is saved as model-2.safetensors")
            && text(&o).contains("saved model-2.safetensors and model-2.svg"),
        "{}",
        text(&o)
    );
    let second = files(&dir);
    for (name, bytes) in &first {
        assert_eq!(&second[name], bytes, "{name} kept");
    }
    assert!(second.contains_key("model-2.safetensors.resume"), "{:?}", second.keys());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn regularisation_flags_train_save_the_whole_stack_and_refuse_bad_values() {
    let dir = temp("regularise");
    let args = [
        "train",
        "--hidden",
        "32",
        "--epochs",
        "3",
        "--backend",
        "cpu",
        "--validation",
        "500",
        "--dropout",
        "0.2",
        "--norm",
        "layer",
        "--label-smoothing",
        "0.05",
        "--augment",
        "shift:1",
        "--patience",
        "2",
    ];
    let o = shadergrad(&dir, &args, &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("784-32-10 relu, layer norm, dropout 0.2")
            && out.contains("images shifted by up to 1 pixels, label smoothing 0.05, patience 2"),
        "{out}"
    );
    assert!(out.contains("(the best validation epoch, "), "{out}");
    // The file holds the stack by nn.Sequential index: Linear 0, LayerNorm 1, ReLU 2,
    // Dropout 3, Linear 4.
    let model = shadergrad::model::Model::load(&dir.join("model.safetensors")).unwrap();
    assert_eq!(
        model.params.keys().collect::<Vec<_>>(),
        ["0.bias", "0.weight", "1.bias", "1.weight", "4.bias", "4.weight"]
    );
    assert_eq!(
        model.info.mlp.torch(),
        "nn.Sequential(nn.Linear(784, 32), nn.LayerNorm(32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))"
    );
    // eval rebuilds the stack from the file alone, and gives the same figures twice.
    let eval = |dir: &Path| {
        text(&shadergrad(
            dir,
            &["eval", "--model", "model.safetensors", "--json"],
            &[],
        ))
    };
    let (a, b) = (eval(&dir), eval(&dir));
    assert!(a.contains("\"accuracy\""), "{a}");
    assert_eq!(a, b, "evaluating twice gives identical results (dropout off)");

    // A resume may not change the stack or the regularisation.
    for (flag, value) in [("--dropout", "0.3"), ("--norm", "none"), ("--augment", "off")] {
        let o = shadergrad(&dir, &["train", "--resume", "model.safetensors", flag, value], &[]);
        assert!(!o.status.success() && text(&o).contains(flag), "{flag}: {}", text(&o));
    }
    // Bad values name the flag and the value.
    for (flag, value) in [
        ("--dropout", "1"),
        ("--dropout", "-0.5"),
        ("--label-smoothing", "1.5"),
        ("--label-smoothing", "-0.1"),
        ("--augment", "rotate:5"),
        ("--norm", "group"),
        ("--patience", "0"),
    ] {
        let o = shadergrad(&dir, &["train", "--backend", "cpu", &format!("{flag}={value}")], &[]);
        let out = text(&o);
        assert!(
            !o.status.success() && out.contains(flag) && out.contains(value),
            "{flag} {value}: {out}"
        );
    }
    // Batch norm: PyTorch's buffer names, and no batches of one.
    let o = shadergrad(
        &dir,
        &[
            "train",
            "--hidden",
            "16",
            "--epochs",
            "1",
            "--backend",
            "cpu",
            "--norm",
            "batch",
            "--out",
            "bn.safetensors",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let model = shadergrad::model::Model::load(&dir.join("bn.safetensors")).unwrap();
    assert_eq!(
        model.params.keys().collect::<Vec<_>>(),
        [
            "0.bias",
            "0.weight",
            "1.bias",
            "1.num_batches_tracked",
            "1.running_mean",
            "1.running_var",
            "1.weight",
            "3.bias",
            "3.weight"
        ]
    );
    assert_eq!(
        model.params["1.num_batches_tracked"],
        (vec![], vec![110.0]),
        "7,000 digits at batch 64: 110 steps"
    );
    let o = shadergrad(
        &dir,
        &["train", "--backend", "cpu", "--norm", "batch", "--batch", "1"],
        &[],
    );
    assert!(
        !o.status.success() && text(&o).contains("--norm batch with --batch"),
        "{}",
        text(&o)
    );
    // Shifts need images; label smoothing needs classes.
    std::fs::write(dir.join("t.csv"), "a,b,y\n0,1,0\n1,0,1\n1,1,0\n0,0,1\n").unwrap();
    let csv = ["train", "--data", "t.csv", "--target", "y", "--backend", "cpu"];
    let o = shadergrad(
        &dir,
        &[&csv[..], &["--task", "classify", "--augment", "shift:2"]].concat(),
        &[],
    );
    assert!(!o.status.success() && text(&o).contains("--augment"), "{}", text(&o));
    let o = shadergrad(
        &dir,
        &[&csv[..], &["--task", "regress", "--label-smoothing", "0.1"]].concat(),
        &[],
    );
    assert!(
        !o.status.success() && text(&o).contains("--label-smoothing"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_headless_run_prints_no_loader_errors() {
    // Without XDG_RUNTIME_DIR the Vulkan loader prints `error: XDG_RUNTIME_DIR is invalid or not
    // set`; the command line gives it a private directory first. Auto on a software GPU says it
    // uses the CPU backend, in one line naming the adapter and `--backend gpu`.
    let dir = temp("headless");
    for backend in ["gpu", "auto"] {
        let o = Command::new(env!("CARGO_BIN_EXE_shadergrad"))
            .current_dir(&dir)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("SHADERGRAD_BACKEND")
            .env_remove("SHADERGRAD_ADAPTER")
            .args(["train", "--hidden", "8", "--epochs", "1", "--backend", backend])
            .output()
            .unwrap();
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        assert!(
            !out.contains("XDG_RUNTIME_DIR") && !out.contains("error"),
            "{backend}: {out}"
        );
        let software = out.contains("[Vulkan, Cpu]") || out.contains("is a software GPU");
        if backend == "auto" && software {
            let notes: Vec<&str> = out.lines().filter(|l| l.contains("software GPU")).collect();
            assert!(notes.len() == 1 && notes[0].contains("--backend gpu"), "{out}");
            assert!(out.contains("on cpu"), "{out}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn devices_split_each_batch_and_bad_device_lists_are_refused() {
    // Two CPU replicas and two logical devices on lavapipe train the same epochs as one
    // device: the JSON records agree to f32 rounding, each says how many devices it used, and
    // the run reports its all-reduce.
    let dir = temp("devices");
    let run = |backend: &str, devices: &str| {
        let o = shadergrad(
            &dir,
            &[
                "train",
                "--json",
                "--hidden",
                "24",
                "--epochs",
                "1",
                "--batch",
                "63",
                "--backend",
                backend,
                "--devices",
                devices,
            ],
            &[],
        );
        assert!(o.status.success(), "{}", text(&o));
        let line = String::from_utf8_lossy(&o.stdout).lines().next().unwrap().to_string();
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        (record, text(&o))
    };
    let (one, _) = run("cpu", "1");
    for (backend, devices) in [("cpu", "2"), ("gpu", "2")] {
        let (many, said) = run(backend, devices);
        assert_eq!(many["devices"], 2, "{many}");
        for key in ["loss", "val_loss", "val_accuracy"] {
            let (a, b) = (one[key].as_f64().unwrap(), many[key].as_f64().unwrap());
            assert!((a - b).abs() <= 1e-4 * a.abs(), "{backend} {key}: {a} against {b}");
        }
        assert!(said.contains("on 2 × ") && said.contains("all-reduce of"), "{said}");
    }
    let bad = temp("devices-bad");
    for (devices, batch, says) in [
        ("0,0", "64", "each adapter once"),
        (
            "0,no-such-gpu",
            "64",
            "no GPU adapter matches --devices=\"no-such-gpu\"",
        ),
        ("3", "2", "at least one example for each of the 3 devices"),
        ("none", "64", "--devices"),
    ] {
        let o = shadergrad(
            &bad,
            &["train", "--backend", "gpu", "--devices", devices, "--batch", batch],
            &[],
        );
        assert!(!o.status.success());
        assert!(text(&o).contains(says), "--devices {devices}: {}", text(&o));
    }
    assert_eq!(
        std::fs::read_dir(&bad).unwrap().count(),
        0,
        "a refused run writes nothing"
    );
}

#[test]
fn a_pipelined_run_trains_the_same_model_on_both_backends() {
    for backend in ["cpu", "gpu"] {
        let dir = temp(&format!("pipeline-{backend}"));
        let run = |out: &str, extra: &[&str]| {
            let mut args = vec![
                "train",
                "--json",
                "--backend",
                backend,
                "--out",
                out,
                "--loss-every",
                "3",
            ];
            args.extend(SMALL);
            args.extend(extra);
            let o = shadergrad(&dir, &args, &[]);
            assert!(o.status.success(), "{}", text(&o));
            let losses: Vec<(u64, u64)> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .filter(|r| r["record"] == "epoch")
                .map(|r| {
                    let bits = |k: &str| r[k].as_f64().unwrap().to_bits();
                    (bits("loss"), bits("val_loss"))
                })
                .collect();
            let model = shadergrad::model::Model::load(&dir.join(out)).unwrap();
            (losses, model.params)
        };
        let (waiting, w) = run("waiting.safetensors", &[]);
        let (pipelined, p) = run("pipelined.safetensors", &["--pipeline"]);
        assert_eq!(waiting.len(), 2, "a record per epoch");
        assert_eq!(waiting, pipelined, "{backend}: epoch losses");
        assert_eq!(w, p, "{backend}: every parameter");
        println!("  {backend}: --pipeline trained the same model, epoch losses bit for bit");
    }
}

#[test]
fn mixed_precision_trains_where_offered_and_is_refused_by_name_elsewhere() {
    // Where the adapter has f16 cooperative matrices the run trains and says so; elsewhere (Mesa
    // 22.3's lavapipe) it fails naming the adapter and what it lacks. Either way a refused run
    // writes nothing, and the CPU backend or several devices are refused outright.
    let dir = temp("mixed");
    let offered = shadergrad::backend::wgpu::coop_shape(&shadergrad::backend::wgpu::adapters()[0]);
    let o = shadergrad(
        &dir,
        &[
            "train",
            "--mixed-precision",
            "--backend",
            "gpu",
            "--hidden",
            "24",
            "--epochs",
            "1",
        ],
        &[],
    );
    match offered {
        Ok(shape) => {
            assert!(o.status.success(), "{}", text(&o));
            let tile = format!("f16 products on {}×{} cooperative matrices", shape.tile, shape.tile);
            assert!(text(&o).contains(&tile), "{}", text(&o));
        }
        Err(why) => {
            assert!(!o.status.success());
            assert!(
                text(&o).contains("cannot run the mixed-precision") && text(&o).contains(&why),
                "{}",
                text(&o)
            );
            assert_eq!(
                std::fs::read_dir(&dir).unwrap().count(),
                0,
                "a refused run writes nothing"
            );
        }
    }
    let bad = temp("mixed-bad");
    for (flags, says) in [
        (["--backend", "cpu"], "gpu or auto with --mixed-precision"),
        (["--devices", "2"], "one device: not with --devices"),
    ] {
        let o = shadergrad(&bad, &[&["train", "--mixed-precision"], &flags[..]].concat(), &[]);
        assert!(!o.status.success());
        assert!(text(&o).contains(says), "{flags:?}: {}", text(&o));
    }
    assert_eq!(
        std::fs::read_dir(&bad).unwrap().count(),
        0,
        "a refused run writes nothing"
    );
}
