//! What the command line writes and says, as a new user meets it: files a colleague can read,
//! output paths checked before any work, messages that say what is missing and suggest what was
//! meant, a wrong task refused, a run without validation, JSON lines that end with a summary,
//! predictions that carry their ids, the software-GPU notice where it belongs, round ticks and a
//! legend beside the curves, circuits whose labels no wire crosses, and images unlike the
//! training ones named.

mod common;

use std::path::Path;
use std::process::Output;

use common::cli::{blank_digit, run, temp, text};
#[cfg(unix)]
use common::cli::{interrupt_after_first_epoch, LONG};

/// `shadergrad args` in `dir`; it must succeed. Returns what it printed.
fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args, &[]);
    assert!(o.status.success(), "shadergrad {}: {}", args.join(" "), text(&o));
    text(&o)
}

/// `shadergrad args` in `dir`; it must fail, saying each of `wants`, panicking nowhere.
fn fails(dir: &Path, args: &[&str], wants: &[&str]) -> Output {
    let o = run(dir, args, &[]);
    let t = text(&o);
    assert!(!o.status.success(), "shadergrad {} should fail: {t}", args.join(" "));
    assert!(!t.contains("panicked"), "{t}");
    for w in wants {
        assert!(t.contains(w), "expected `{w}` in: {t}");
    }
    println!("  refused: {}", t.lines().next().unwrap_or_default());
    o
}

/// A quick run on the digits (one epoch unless said).
const QUICK: &[&str] = &["train", "--hidden", "8", "--backend", "cpu"];

/// A small table: `x`, `y` and a regression target `v` of whole numbers, each row's its own.
fn regression_table(dir: &Path) {
    let mut csv = String::from("x,y,v\n");
    for i in 0..60 {
        let (x, y) = (i % 7, i % 5);
        csv += &format!("{x},{y},{}\n", 100 * x + 10 * y + i);
    }
    std::fs::write(dir.join("t.csv"), csv).unwrap();
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn files_get_the_mode_an_ordinary_write_gives() {
    let dir = temp("modes");
    std::fs::write(dir.join("data.pgm"), blank_digit()).unwrap();
    let under = |umask: &str, args: &str| {
        let o = std::process::Command::new("sh")
            .current_dir(&dir)
            .args([
                "-c",
                &format!("umask {umask}; exec \"$0\" {args}"),
                env!("CARGO_BIN_EXE_shadergrad"),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    under("022", "train --hidden 8 --epochs 1 --backend cpu --out m.safetensors");
    under(
        "022",
        "predict --model m.safetensors --out p.csv --backend cpu data.pgm",
    );
    for f in ["m.safetensors", "m.safetensors.resume", "m.svg", "p.csv"] {
        assert_eq!(mode(&dir.join(f)), 0o644, "{f} under umask 022");
    }
    under(
        "077",
        "train --hidden 8 --epochs 1 --backend cpu --out private.safetensors",
    );
    assert_eq!(mode(&dir.join("private.safetensors")), 0o600, "the umask is respected");
    // A file the user gave a mode of their own keeps it when it is written again.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("m.safetensors"), std::fs::Permissions::from_mode(0o640)).unwrap();
    under("022", "train --hidden 8 --epochs 1 --backend cpu --out m.safetensors");
    assert_eq!(mode(&dir.join("m.safetensors")), 0o640);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn every_output_path_is_checked_before_any_work() {
    let dir = temp("paths");
    std::fs::write(dir.join("data.pgm"), blank_digit()).unwrap();
    ok(&dir, &[QUICK, &["--epochs", "1", "--out", "m.safetensors"]].concat());
    for (args, flag, place) in [
        (
            vec!["train", "--out", "/nonexistent/dir/m.safetensors"],
            "--out",
            "/nonexistent/dir",
        ),
        (
            vec!["train", "--plot", "/nonexistent/dir/curve.svg"],
            "--plot",
            "/nonexistent/dir",
        ),
        (vec!["train", "--out", "."], "--out", "is a directory"),
        (
            vec![
                "predict",
                "--model",
                "m.safetensors",
                "--out",
                "/nonexistent/p.csv",
                "data.pgm",
            ],
            "--out",
            "/nonexistent",
        ),
        (
            vec![
                "grads",
                "--model",
                "m.safetensors",
                "--out",
                "/nonexistent/g.safetensors",
            ],
            "--out",
            "/nonexistent",
        ),
        (
            vec!["grad", "x*y", "--at", "x=1,y=2", "--svg", "/nonexistent/c.svg"],
            "--svg",
            "/nonexistent",
        ),
    ] {
        let o = fails(&dir, &args, &[flag, place, "can be written"]);
        assert!(!text(&o).contains("epoch"), "nothing trained: {}", text(&o));
    }
}

#[test]
fn messages_say_what_is_missing_and_suggest_what_was_meant() {
    let dir = temp("messages");
    regression_table(&dir);
    let o = fails(
        &dir,
        &["train", "--data", "t.csv", "--target", "v"],
        &["--task is required", "classify, regress or multilabel"],
    );
    assert!(!text(&o).contains("\"none\""), "{}", text(&o));
    fails(
        &dir,
        &["train", "--epoch", "5"],
        &["similar argument exists: '--epochs'"],
    );
    fails(
        &dir,
        &["train", "--task", "clasify"],
        &["similar value exists: 'classify'"],
    );
    fails(
        &dir,
        &["train", "--norm", "layers"],
        &["--norm", "layers", "possible values"],
    );

    // A table model: grads works on its own training split; eval says which rows; once the
    // file has moved, both say so and ask for --data.
    let table = [
        "train",
        "--data",
        "t.csv",
        "--target",
        "v",
        "--task",
        "regress",
        "--hidden",
        "8",
        "--epochs",
        "2",
        "--backend",
        "cpu",
    ];
    ok(&dir, &table);
    let said = ok(
        &dir,
        &[
            "grads",
            "--model",
            "model.safetensors",
            "--out",
            "g.safetensors",
            "--backend",
            "cpu",
            "--batch",
            "8",
        ],
    );
    assert!(said.contains("the training split of t.csv"), "{said}");
    let said = ok(&dir, &["eval", "--model", "model.safetensors", "--backend", "cpu"]);
    assert!(
        said.contains("held out from its training") && said.contains("t.csv") && said.contains("seed 0"),
        "{said}"
    );
    std::fs::rename(dir.join("t.csv"), dir.join("moved.csv")).unwrap();
    for cmd in [
        vec!["eval", "--model", "model.safetensors"],
        vec!["grads", "--model", "model.safetensors", "--out", "g2.safetensors"],
    ] {
        fails(
            &dir,
            &cmd,
            &[
                "--data is required",
                "t.csv, the data it was trained on, is not there any more",
            ],
        );
    }
    // Help gives each command's real default.
    let help = ok(&dir, &["eval", "--help"]);
    assert!(
        help.contains("[default: the examples held out from the model's training"),
        "{help}"
    );
    assert!(!help.contains("[default: the 8,000 bundled digits]"), "{help}");
}

#[test]
fn a_target_that_is_not_a_set_of_classes_is_refused() {
    let dir = temp("wrong-task");
    regression_table(&dir);
    fails(
        &dir,
        &[
            "train",
            "--data",
            "t.csv",
            "--target",
            "v",
            "--task",
            "classify",
            "--backend",
            "cpu",
        ],
        &["t.csv", "`v`", "60 distinct values in 60 rows", "--task regress"],
    );
    std::fs::write(dir.join("half.csv"), "x,y\n1,0.5\n2,1.5\n3,2.5\n4,3.5\n").unwrap();
    fails(
        &dir,
        &[
            "train",
            "--data",
            "half.csv",
            "--target",
            "y",
            "--task",
            "classify",
            "--backend",
            "cpu",
        ],
        &["half.csv", "0.5 is not a whole number", "--task regress"],
    );
    std::fs::write(dir.join("one.csv"), "x,y\n1,5\n2,5\n3,5\n4,5\n").unwrap();
    fails(
        &dir,
        &[
            "train",
            "--data",
            "one.csv",
            "--target",
            "y",
            "--task",
            "classify",
            "--backend",
            "cpu",
        ],
        &["one.csv", "one class only"],
    );
    assert!(!dir.join("model.safetensors").exists(), "a refused run writes nothing");
}

#[test]
fn validation_0_means_no_validation() {
    let dir = temp("no-validation");
    let o = run(
        &dir,
        &[QUICK, &["--validation", "0", "--json", "--epochs", "2"]].concat(),
        &[],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(!t.contains("NaN") && !t.contains("validation loss"), "{t}");
    assert!(t.contains("no validation split"), "{t}");
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            record.get("val_loss").is_none() && record.get("val_accuracy").is_none(),
            "{line}"
        );
    }
    fails(
        &dir,
        &[QUICK, &["--validation", "0", "--patience", "2"]].concat(),
        &["--patience", "--validation 0"],
    );
    fails(
        &dir,
        &["eval", "--model", "model.safetensors"],
        &["--data is required", "--validation 0"],
    );
}

#[test]
fn json_is_one_object_per_line_and_train_ends_with_a_summary() {
    let dir = temp("json");
    let out = ok(&dir, &[QUICK, &["--json", "--epochs", "2"]].concat());
    let records: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3, "two epochs and a summary: {out}");
    let summary = &records[2];
    assert_eq!(summary["record"], "summary");
    assert_eq!(summary["model"], "model.safetensors");
    assert_eq!(summary["resume"], "model.safetensors.resume");
    assert_eq!(summary["epochs"], 2);
    assert!(
        summary["best_epoch"].as_u64().is_some() && summary["seconds"].as_f64().is_some(),
        "{summary}"
    );
    assert!(
        summary["val_accuracy"].as_f64().is_some() && summary["best_val_accuracy"].as_f64().is_some(),
        "{summary}"
    );
    for flag in ["train", "predict", "bench"] {
        let help = ok(&dir, &[flag, "--help"]);
        assert!(help.contains("One JSON object per line"), "{flag}: {help}");
    }
}

#[test]
fn the_software_gpu_notice_is_said_once_by_train_alone() {
    let dir = temp("notice");
    let auto = ["train", "--hidden", "8", "--epochs", "1", "--backend", "auto"];
    let o = run(&dir, &auto, &[("SHADERGRAD_ADAPTER", "")]);
    assert!(o.status.success(), "{}", text(&o));
    let notes: Vec<String> = text(&o)
        .lines()
        .filter(|l| l.contains("software GPU"))
        .map(String::from)
        .collect();
    let software = shadergrad::backend::wgpu::adapters()
        .iter()
        .all(|a| a.get_info().device_type == wgpu::DeviceType::Cpu);
    if software {
        assert_eq!(notes.len(), 1, "{}", text(&o));
        assert!(notes[0].len() < 130, "short: {}", notes[0]);
    }
    for args in [
        vec!["eval", "--model", "model.safetensors"],
        vec!["predict", "--model", "model.safetensors", "x.pgm"],
    ] {
        std::fs::write(dir.join("x.pgm"), blank_digit()).unwrap();
        let o = run(&dir, &args, &[]);
        assert!(o.status.success() && !text(&o).contains("software GPU"), "{}", text(&o));
    }
}

/// A `<text>` element of an SVG: `(x, y, anchor, text)`.
type SvgText = (f64, f64, String, String);

/// The `<text>` elements of an SVG.
fn svg_texts(svg: &str) -> Vec<SvgText> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[at..at + tag[at..].find('"')?].to_string())
    };
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let (tag, rest) = t.split_once('>')?;
            let body = rest.split("</text>").next()?.to_string();
            let x = attr(tag, "x")?.parse().ok()?;
            let y = attr(tag, "y")?.parse().ok()?;
            Some((x, y, attr(tag, "text-anchor").unwrap_or_else(|| "start".into()), body))
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn plots_have_round_ticks_a_legend_outside_and_are_written_on_ctrl_c_too() {
    let dir = temp("plots");
    ok(&dir, &["train", "--hidden", "16", "--epochs", "7", "--backend", "cpu"]);
    let svg = std::fs::read_to_string(dir.join("model.svg")).unwrap();
    let texts = svg_texts(&svg);
    // The plotted area's bottom is the x axis; the tick labels of each y axis sit at its left
    // (anchor end) and right (x past the right axis).
    let numbers = |pick: &dyn Fn(&SvgText) -> bool| -> Vec<f64> {
        texts
            .iter()
            .filter(|t| pick(t))
            .filter_map(|t| t.3.parse().ok())
            .collect()
    };
    let left = numbers(&|t| t.2 == "end" && t.0 < 100.0);
    let right = numbers(&|t| t.2 == "start" && t.0 > 600.0 && t.1 > 40.0);
    for (name, ticks) in [("loss", &left), ("accuracy", &right)] {
        assert!(ticks.len() >= 3, "{name}: {ticks:?}");
        let step = ticks[0] - ticks[1];
        let round = [1.0, 2.0, 5.0].iter().any(|u| {
            let m = step.abs() / u;
            (m.log10() - m.log10().round()).abs() < 1e-9
        });
        assert!(round, "{name} ticks {ticks:?} are not 1, 2 or 5 × 10ⁿ apart");
        for w in ticks.windows(2) {
            assert!(((w[0] - w[1]) - step).abs() < 1e-9, "{name}: {ticks:?}");
        }
        for t in ticks {
            assert!(
                ((t / step) - (t / step).round()).abs() < 1e-6,
                "{name}: {t} is no multiple of {step}"
            );
        }
    }
    let epochs = numbers(&|t| t.2 == "middle" && t.1 > 360.0 && t.1 < 390.0);
    assert!(
        !epochs.is_empty() && epochs.iter().all(|e| e.fract() == 0.0),
        "integer epoch ticks: {epochs:?}"
    );
    // The legend's names sit below the x axis's label, outside the plotted area.
    let axis_label_y = texts.iter().find(|t| t.3 == "epoch").map(|t| t.1).unwrap();
    for name in ["training loss", "validation loss", "validation accuracy %"] {
        let y = texts
            .iter()
            .find(|t| t.3 == name)
            .map(|t| t.1)
            .unwrap_or_else(|| panic!("{name} in {svg}"));
        assert!(y > axis_label_y, "{name} at y {y}, not below the plotted area");
    }

    // Interrupted, a run still draws its curves so far.
    let dir = temp("plots-interrupted");
    let rest = interrupt_after_first_epoch(&dir, LONG);
    assert!(dir.join("model.svg").exists(), "the plot of an interrupted run: {rest}");
}

/// Whether the segment `a`–`b` passes through the rectangle `[x0, x1] × [y0, y1]`.
fn crosses(a: (f64, f64), b: (f64, f64), [x0, y0, x1, y1]: [f64; 4]) -> bool {
    (0..=200).any(|i| {
        let t = i as f64 / 200.0;
        let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        x > x0 && x < x1 && y > y0 && y < y1
    })
}

#[test]
fn no_wire_crosses_a_label_of_a_circuit() {
    let dir = temp("circuits");
    for (expr, at) in [
        ("(x + sigmoid(y)) / (sigmoid(x) + (x + y)^2)", "x=3,y=-4"),
        ("1/(1+exp(-(w0*x0 + w1*x1 + w2)))", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"),
        ("(x + sigmoid(y)) / (x^2 + y)", "x=3,y=-4"),
    ] {
        ok(&dir, &["grad", expr, "--at", at, "--svg", "c.svg"]);
        let svg = std::fs::read_to_string(dir.join("c.svg")).unwrap();
        let wires: Vec<Vec<(f64, f64)>> = svg
            .split("<polyline points=\"")
            .skip(1)
            .map(|p| {
                p[..p.find('"').unwrap()]
                    .split(' ')
                    .map(|xy| {
                        let (x, y) = xy.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect();
        // Value and gradient labels: centred numbers, 12-pixel monospace (7.2 pixels a character).
        let labels: Vec<(String, [f64; 4])> = svg_texts(&svg)
            .into_iter()
            .filter(|t| t.2 == "middle" && t.3.parse::<f64>().is_ok())
            .map(|(x, y, _, s)| {
                let half = 3.6 * s.chars().count() as f64;
                (s, [x - half, y - 9.0, x + half, y + 1.0])
            })
            .collect();
        assert!(labels.len() >= 6, "{expr}: {svg}");
        for (text, rect) in &labels {
            for wire in &wires {
                for seg in wire.windows(2) {
                    assert!(
                        !crosses(seg[0], seg[1], *rect),
                        "{expr}: a wire {seg:?} crosses the label {text} at {rect:?}"
                    );
                }
            }
        }
        println!("  {expr}: {} labels, {} wires, none crossed", labels.len(), wires.len());
    }
}

#[test]
fn images_unlike_the_training_ones_are_named() {
    let dir = temp("inverted");
    ok(
        &dir,
        &[
            "train",
            "--hidden",
            "32",
            "--epochs",
            "2",
            "--backend",
            "cpu",
            "--out",
            "digits.safetensors",
        ],
    );
    let digits = shadergrad::data::Digits::bundled().unwrap();
    let seven: Vec<u8> = digits.images[..784].to_vec();
    let pgm = |pixels: &[u8]| [b"P5 28 28 255\n".as_slice(), pixels].concat();
    std::fs::write(dir.join("digit.pgm"), pgm(&seven)).unwrap();
    std::fs::write(
        dir.join("inverted.pgm"),
        pgm(&seven.iter().map(|p| 255 - p).collect::<Vec<_>>()),
    )
    .unwrap();
    let o = run(
        &dir,
        &["predict", "--model", "digits.safetensors", "digit.pgm", "inverted.pgm"],
        &[],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let warnings: Vec<&str> = t.lines().filter(|l| l.starts_with("warning")).collect();
    assert_eq!(warnings.len(), 1, "one warning: {t}");
    assert!(
        warnings[0].contains("inverted.pgm") && !warnings[0].contains("digit.pgm"),
        "{t}"
    );
    assert!(t.lines().any(|l| l.starts_with("file,class")), "{t}");
    let o = run(&dir, &["predict", "--model", "digits.safetensors", "digit.pgm"], &[]);
    assert!(!text(&o).contains("warning"), "{}", text(&o));
}
