//! The command line on a user's own data: train on a CSV for each task, eval the held-out
//! split or a labelled file, predict from a CSV whose columns are in another order (as a CSV
//! table, JSON lines, or into a file) and from images; bad input fails with a message and
//! leaves no half-written file.

use std::path::Path;

mod common;

use common::cli::{refuses as fails, succeeds, temp};

/// Runs `args` and expects success; returns stdout.
fn ok(dir: &Path, args: &str) -> String {
    succeeds(dir, args).0
}

/// 300 rows of two features on unlike scales and three kinds of targets: `kind` (3, 7 or 9,
/// by region), `size` (a smooth function of both, in the hundreds) and two 0/1 labels. With
/// `reversed`, the columns come in the opposite order.
fn table(rows: usize, reversed: bool) -> String {
    let mut header = ["width", "height", "kind", "size", "tall", "wide"];
    let mut out = Vec::new();
    let mut state = 7u64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    for _ in 0..rows {
        let (u, v) = (uniform(), uniform());
        let kind = if u > 0.2 {
            3
        } else if v > 0.0 {
            7
        } else {
            9
        };
        let mut row = [
            format!("{}", 40.0 + 20.0 * u),
            format!("{}", 0.1 * v),
            kind.to_string(),
            format!("{}", 500.0 + 200.0 * u - 100.0 * v * v),
            ((v > 0.3) as u8).to_string(),
            ((u + v > 0.0) as u8).to_string(),
        ];
        if reversed {
            row.reverse();
        }
        out.push(row.join(","));
    }
    if reversed {
        header.reverse();
    }
    format!("{}\n{}\n", header.join(","), out.join("\n"))
}

/// Small and quick: what every `train` here adds to its flags.
const FAST: &str = "--hidden 16 --backend cpu --plot curve.svg --optimizer adam --lr 0.01";

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `eval --json` of `model` (with `extra` flags), on the CPU.
fn eval_json(dir: &Path, model: &str, extra: &str) -> serde_json::Value {
    let out = ok(dir, &format!("eval --model {model} --json --backend cpu {extra}"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Column `j` of every row of a `table` (header skipped).
fn column(table: &str, j: usize) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(j).unwrap().to_string())
        .collect()
}

#[test]
fn classify_a_csv_then_eval_and_predict_by_column_name() {
    let dir = temp("classify");
    std::fs::write(dir.join("shapes.csv"), table(300, false)).unwrap();
    std::fs::write(dir.join("new.csv"), table(20, true)).unwrap();
    let train = "train --data shapes.csv --target kind --drop size,tall,wide";
    fails(
        &dir,
        &format!("{train} {FAST}"),
        &["--task", "classify, regress or multilabel"],
    );
    let epochs = json_lines(&ok(
        &dir,
        &format!("{train} --task classify --json --out shapes.safetensors {FAST}"),
    ));
    // The last epoch's record (a summary record follows it).
    let last = epochs.iter().rev().find(|r| r["record"] == "epoch").unwrap();
    // 300 rows, 37 held out: 5 steps an epoch at batch 64, so 20 epochs make the 100 steps.
    assert_eq!(last["epoch"], 20, "{last}");
    assert!(last["val_accuracy"].as_f64().unwrap() > 0.85, "{last}");
    assert!(dir.join("shapes.safetensors").exists() && dir.join("shapes.safetensors.resume").exists());

    // eval: the held-out split the run recorded, then a labelled file named by --data.
    let e = eval_json(&dir, "shapes.safetensors", "");
    assert_eq!(
        (e["task"].as_str(), e["count"].as_u64()),
        (Some("classify"), Some(37)),
        "{e}"
    );
    assert_eq!(e["labels"], serde_json::json!([3, 7, 9]), "{e}");
    assert_eq!(
        e["accuracy"], last["val_accuracy"],
        "eval of the held-out split is the run's last validation"
    );
    assert_eq!(eval_json(&dir, "shapes.safetensors", "--data new.csv")["count"], 20);

    // predict: columns matched by name in the reversed file, targets present but ignored.
    let predict = "predict --model shapes.safetensors --data new.csv --backend cpu";
    let csv = ok(&dir, predict);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("row,class,p_3,p_7,p_9"));
    let truth = column(&table(20, true), 3);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 20);
    let right = rows.iter().zip(&truth).filter(|(r, t)| r[1] == t.as_str()).count();
    assert!(right >= 16, "{right} of 20 right:\n{csv}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], i.to_string(), "input order");
        let p: f64 = r[2..].iter().map(|v| v.parse::<f64>().unwrap()).sum();
        assert!((p - 1.0).abs() < 1e-5, "probabilities sum to {p}");
    }
    let json = json_lines(&ok(&dir, &format!("{predict} --json")));
    assert_eq!(json.len(), 20);
    for (i, (j, r)) in json.iter().zip(&rows).enumerate() {
        assert_eq!(j["row"], i);
        assert_eq!(j["class"].to_string(), r[1], "JSON and CSV agree on the class");
        assert_eq!(j["probabilities"].as_array().unwrap().len(), 3);
    }
    assert_eq!(ok(&dir, &format!("{predict} --out p.csv")), "");
    assert_eq!(std::fs::read_to_string(dir.join("p.csv")).unwrap(), csv);

    // A file without a feature the model needs: an error naming it, and no output file.
    std::fs::write(dir.join("no-height.csv"), "width,kind\n1,3\n").unwrap();
    fails(
        &dir,
        "predict --model shapes.safetensors --data no-height.csv --out q.csv --backend cpu",
        &["no-height.csv", "no column `height`"],
    );
    assert!(!dir.join("q.csv").exists());
    // Resuming with another task is refused: the model was trained to classify.
    fails(
        &dir,
        "train --resume shapes.safetensors --task regress",
        &["--task", "the checkpoint's"],
    );
    // Images for a model of table features.
    std::fs::write(dir.join("x.pgm"), b"P2 1 1 255\n0\n").unwrap();
    fails(
        &dir,
        "predict --model shapes.safetensors x.pgm",
        &["not trained on images"],
    );
}

#[test]
fn regress_and_label_a_csv_then_eval_and_predict() {
    let dir = temp("regress");
    std::fs::write(dir.join("shapes.csv"), table(300, false)).unwrap();
    std::fs::write(dir.join("new.csv"), table(10, true)).unwrap();
    ok(
        &dir,
        &format!(
            "train --data shapes.csv --target size --task regress --drop kind,tall,wide --out size.safetensors {FAST}"
        ),
    );
    let e = eval_json(&dir, "size.safetensors", "");
    assert_eq!(e["task"], "regress", "{e}");
    assert!(e["r2"].as_f64().unwrap() > 0.9, "{e}");
    assert!(
        e["rmse"].as_f64().unwrap() > 0.0 && e["mae"].as_f64().unwrap() > 0.0,
        "{e}"
    );
    // Predictions come back in the targets' units (hundreds), not standard units.
    let json = json_lines(&ok(
        &dir,
        "predict --model size.safetensors --data new.csv --json --backend cpu",
    ));
    for (j, t) in json.iter().zip(column(&table(10, true), 2)) {
        let (v, t) = (j["values"][0].as_f64().unwrap(), t.parse::<f64>().unwrap());
        assert!((v - t).abs() < 40.0, "predicted {v} for {t}");
    }

    ok(&dir, &format!("train --data shapes.csv --target tall --target wide --task multilabel --drop kind,size --out labels.safetensors {FAST}"));
    let e = eval_json(&dir, "labels.safetensors", "");
    assert_eq!(e["task"], "multilabel", "{e}");
    assert!(e["accuracy"].as_f64().unwrap() > 0.85, "{e}");
    let predict = "predict --model labels.safetensors --data new.csv --backend cpu";
    assert_eq!(ok(&dir, predict).lines().next(), Some("row,tall,wide,p_tall,p_wide"));
    let json = json_lines(&ok(&dir, &format!("{predict} --json")));
    assert_eq!(json[0]["labels"].as_array().unwrap().len(), 2, "{}", json[0]);

    // Labels that are not 0/1, and a regression target that is not a number: named where.
    std::fs::write(dir.join("bad.csv"), "a,tall\n1,0\n2,3\n").unwrap();
    fails(
        &dir,
        "train --data bad.csv --target tall --task multilabel",
        &["bad.csv", "row 2 (line 3), column `tall`: `3` is not 0 or 1"],
    );
    std::fs::write(dir.join("bad.csv"), "a,size\n1,0\n2,big\n").unwrap();
    fails(
        &dir,
        "train --data bad.csv --target size --task regress",
        &["row 2 (line 3), column `size`: `big` is not a number"],
    );
    // A file's model refuses another file's features.
    fails(
        &dir,
        "eval --model size.safetensors --data bad.csv",
        &["bad.csv", "no column `width`"],
    );
}

#[test]
fn predict_digits_from_images_of_the_models_size() {
    let dir = temp("images");
    ok(
        &dir,
        "train --hidden 16 --epochs 1 --backend cpu --out digits.safetensors --plot d.svg",
    );
    // A blank 28×28 PGM and a 5×7 one.
    let mut pgm = b"P5 28 28 255\n".to_vec();
    pgm.extend(vec![0u8; 784]);
    std::fs::write(dir.join("blank.pgm"), &pgm).unwrap();
    std::fs::write(dir.join("small.pgm"), [b"P5 5 7 255\n".as_slice(), &[9u8; 35]].concat()).unwrap();
    let json = json_lines(&ok(
        &dir,
        "predict --model digits.safetensors blank.pgm blank.pgm --json --backend cpu",
    ));
    assert_eq!(json.len(), 2);
    // Each prediction carries the file it is of.
    assert_eq!(
        (&json[0]["file"], &json[1]["file"]),
        (&"blank.pgm".into(), &"blank.pgm".into())
    );
    assert_eq!(
        (&json[0]["class"], &json[0]["probabilities"]),
        (&json[1]["class"], &json[1]["probabilities"])
    );
    assert!((0..10).contains(&json[0]["class"].as_i64().unwrap()));
    fails(
        &dir,
        "predict --model digits.safetensors small.pgm",
        &["small.pgm", "5×7 pixels", "28×28 images"],
    );
}
