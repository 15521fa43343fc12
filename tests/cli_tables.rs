//! The command line on a real table (text classes, categories, missing cells, an index and a
//! name column): `inspect` says what each column is and becomes; `train` says what it left out;
//! `predict` gives the classes as written, names the probability columns by them, carries the
//! rows' ids and counts unseen categories; `eval` reads a labelled table; `--class-weight`
//! trains on both backends, is recorded, and a resume cannot change it.

mod common;

use common::cli::{refuses as fails, succeeds as ok, temp};
use common::tables::messy;

const FAST: &str = "--hidden 16 --epochs 3 --plot curve.svg --optimizer adam --lr 0.01";

#[test]
fn inspect_says_what_each_column_is_and_becomes() {
    let dir = temp("inspect");
    std::fs::write(dir.join("messy.csv"), messy(200, 7)).unwrap();
    let (out, _) = ok(&dir, "inspect messy.csv --target species");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} in {out}"))
            .to_string()
    };
    assert!(
        out.starts_with("messy.csv: 200 rows, 9 columns; a model of it takes 13 inputs"),
        "{out}"
    );
    assert!(
        line("(no").contains("index") && line("(no").contains("left out: it is the index"),
        "{out}"
    );
    assert!(line("name").contains("identifier") && line("name").contains("--features keeps it"));
    assert!(line("island").contains("one-hot: Biscoe, Dream, Torgersen (+ other"));
    assert!(line("sex").contains("(+ missing)"));
    assert!(line("bill").contains("numeric") && line("bill").contains(" 50 ") && line("bill").contains("median"));
    assert!(line("count").ends_with("number"));
    assert!(line("notes").contains("empty") && line("notes").contains("every cell is missing"));
    assert!(line("species").ends_with("target"));
    let (json, _) = ok(&dir, "inspect messy.csv --target species --categorical count --json");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["rows"], 200);
    let count = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "count")
        .unwrap();
    assert_eq!(count["type"], "categorical");
    fails(
        &dir,
        "inspect messy.csv --target kind",
        &["messy.csv", "no target column `kind`"],
    );
}

#[test]
fn a_real_table_trains_evaluates_and_predicts_with_its_own_words() {
    let dir = temp("real-table");
    std::fs::write(dir.join("messy.csv"), messy(300, 8)).unwrap();
    let (_, err) = ok(
        &dir,
        &format!("train --data messy.csv --target species --task classify --backend cpu {FAST}"),
    );
    for said in [
        "messy.csv: column `name` is left out: it looks like an identifier (300 distinct values in 300 rows); --features keeps it",
        "messy.csv: column `` is left out: it is the index pandas or R writes (row numbers)",
        "messy.csv: column `notes` is left out: every cell is missing",
    ] {
        assert!(err.contains(said), "`{said}` in: {err}");
    }
    // New rows, columns in another order, an island and a sex never seen, a missing bill.
    std::fs::write(
        dir.join("new.csv"),
        ",species,bill,count,ticket,sex,island,name\n0,,38.5,1,1st class,male,Biscoe,a\n1,,NA,2,3rd class,unknown,Mars,b\n",
    )
    .unwrap();
    let (csv, err) = ok(&dir, "predict --model model.safetensors new.csv --backend cpu");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(",class,p_Adelie,p_Chinstrap,p_Gentoo"), "{csv}");
    for (line, id) in lines.zip(["0", "1"]) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], id);
        assert!(["Adelie", "Chinstrap", "Gentoo"].contains(&cells[1]), "{line}");
        let p: f64 = cells[2..].iter().map(|c| c.parse::<f64>().unwrap()).sum();
        assert!((p - 1.0).abs() < 1e-5, "{line}");
    }
    assert!(
        err.contains("2 cells held categories without an input of their own (island: 1, sex: 1)"),
        "{err}"
    );
    let (named, _) = ok(
        &dir,
        "predict --model model.safetensors new.csv --id name --backend cpu",
    );
    assert!(
        named.starts_with("name,class,p_Adelie") && named.contains("\nb,"),
        "{named}"
    );
    let (json, _) = ok(
        &dir,
        "predict --model model.safetensors new.csv --json --id name --backend cpu",
    );
    assert!(
        json.starts_with("{\"name\":\"a\",\"class\":"),
        "the id comes first: {json}"
    );
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert!(
        first["class"].is_string() && first["probabilities"].as_array().unwrap().len() == 3,
        "{first}"
    );
    // Evaluating a labelled table, and the held-out rows the model recorded.
    std::fs::write(dir.join("more.csv"), messy(60, 9)).unwrap();
    let (eval, _) = ok(
        &dir,
        "eval --model model.safetensors --data more.csv --json --backend cpu",
    );
    let v: serde_json::Value = serde_json::from_str(&eval).unwrap();
    assert_eq!(
        (&v["count"], &v["labels"][0]),
        (&serde_json::json!(60), &serde_json::json!("Adelie")),
        "{v}"
    );
    let (held, _) = ok(&dir, "eval --model model.safetensors --json --backend cpu");
    let v: serde_json::Value = serde_json::from_str(&held).unwrap();
    assert!(v["accuracy"].as_f64().unwrap() > 0.5, "{v}");
    // Exported as ONNX: the model's columns as its inputs (onnxruntime checks the answers in
    // python/tests/test_onnx.py).
    let (_, said) = ok(&dir, "export --model model.safetensors --out model.onnx");
    assert!(
        said.starts_with("wrote model.onnx: 13-16-3 relu (classify) from 5 columns"),
        "{said}"
    );
    let onnx = std::fs::read(dir.join("model.onnx")).unwrap();
    let graph = <shadergrad::onnx::proto::ModelProto as prost::Message>::decode(&onnx[..])
        .unwrap()
        .graph
        .unwrap();
    let inputs: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(inputs, ["island", "sex", "ticket", "count", "bill"]);
    fails(
        &dir,
        "export --model nothing.safetensors --out x.onnx",
        &["nothing.safetensors"],
    );
    // A table without one of the model's columns is refused, naming it.
    std::fs::write(dir.join("short.csv"), "bill,count,ticket,sex\n40,1,1st class,male\n").unwrap();
    fails(
        &dir,
        "predict --model model.safetensors short.csv --backend cpu",
        &["short.csv", "no column `island`"],
    );
}

#[test]
fn missing_markers_and_categorical_columns_follow_the_flags() {
    let dir = temp("flags");
    // `-` marks a missing count; without --na it would make the column text.
    let mut t = messy(200, 10);
    t = t.replacen(",3,", ",-,", 5);
    std::fs::write(dir.join("t.csv"), &t).unwrap();
    let (out, _) = ok(&dir, "inspect t.csv --target species --na -,NA,?");
    let count = out.lines().find(|l| l.starts_with("count")).unwrap();
    assert!(count.contains("numeric") && count.contains("median"), "{count}");
    let (out, _) = ok(&dir, "inspect t.csv --target species");
    let count = out.lines().find(|l| l.starts_with("count")).unwrap();
    assert!(count.contains("categorical"), "{count}");
    ok(
        &dir,
        &format!("train --data t.csv --target species --task classify --categorical count --na -,NA,? --backend cpu --out m.safetensors {FAST}"),
    );
    let model = shadergrad::model::Model::load(&dir.join("m.safetensors")).unwrap();
    let inputs = &model.info.inputs;
    assert!(
        inputs.contains(&"count=2".to_string()) && inputs.contains(&"count (missing)".to_string()),
        "{inputs:?}"
    );
    let (out, _) = ok(&dir, "predict --model m.safetensors t.csv --backend cpu");
    assert_eq!(out.lines().count(), 201);
}

#[test]
fn class_weights_train_on_both_backends_and_a_resume_keeps_them() {
    let dir = temp("class-weight");
    std::fs::write(dir.join("messy.csv"), messy(200, 11)).unwrap();
    for backend in ["cpu", "gpu"] {
        let (_, err) = ok(
            &dir,
            &format!("train --data messy.csv --target species --task classify --class-weight balanced --backend {backend} --out {backend}.safetensors {FAST}"),
        );
        let line = err
            .lines()
            .find(|l| l.starts_with("class weights (balanced): Adelie "))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(line.contains(", Chinstrap ") && line.contains(", Gentoo "), "{line}");
    }
    let (_, err) = ok(
        &dir,
        &format!("train --data messy.csv --target species --task classify --class-weight Gentoo=0.5 --backend cpu --out given.safetensors {FAST}"),
    );
    assert!(
        err.contains("class weights: Adelie 1, Chinstrap 1, Gentoo 0.5"),
        "{err}"
    );
    fails(
        &dir,
        "train --resume cpu.safetensors --class-weight Gentoo=2 --epochs 4",
        &["--class-weight", "the settings of the run saved in cpu.safetensors"],
    );
    ok(
        &dir,
        "train --resume cpu.safetensors --class-weight balanced --epochs 4 --backend cpu",
    );
    fails(
        &dir,
        "train --data messy.csv --target species --task classify --class-weight Emperor=2",
        &["--class-weight", "Emperor=2", "Adelie, Chinstrap, Gentoo"],
    );
    fails(
        &dir,
        "train --data messy.csv --target bill --task regress --class-weight balanced",
        &["--class-weight", "no class weights for regress"],
    );
}
