//! Real tables through the library: each column's kind inferred (numbers, categories, an
//! identifier, the index, an empty column) and recorded in the schema; text class labels;
//! categories rare or many sharing "other"; unseen and missing categories at prediction;
//! median fill with indicator columns; rows without a target left out; the same numbers on the
//! training and the predicting side; and bad tables refused naming the row, line and column.

mod common;

use std::path::Path;

use common::tables::messy;
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::data::table::{infer, load_split, parse_csv, read_csv, Columns, Encoding, Kind, Markers, Role, Schema};
use shadergrad::data::{Features, Source, Targets, Task};
use shadergrad::model::{Model, Predictions};
use shadergrad::nn::{Activation, Init, Mlp};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::train::{TrainConfig, Trainer};

fn species() -> Columns {
    Columns {
        targets: vec!["species".into()],
        ..Columns::default()
    }
}

fn temp(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("sg-tables-{tag}"))
        .tempdir()
        .unwrap()
}

#[test]
fn every_column_kind_is_inferred_and_what_it_becomes_is_recorded() {
    let table = read_csv(messy(200, 1).as_bytes(), "messy.csv", &Markers::new(None)).unwrap();
    let info = infer(&table, &species()).unwrap();
    let kinds: Vec<(&str, Kind)> = info.iter().map(|c| (c.name.as_str(), c.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("", Kind::Index),
            ("name", Kind::Identifier),
            ("island", Kind::Categorical),
            ("sex", Kind::Categorical),
            ("ticket", Kind::Categorical),
            ("count", Kind::Numeric),
            ("bill", Kind::Numeric),
            ("notes", Kind::Empty),
            ("species", Kind::Categorical),
        ]
    );
    assert_eq!(info[6].missing, 50, "NA, empty and ? cells are all missing");
    for c in ["", "name", "notes"] {
        let role = &info.iter().find(|i| i.name == c).unwrap().role;
        assert!(matches!(role, Role::Left(_)), "{c}: {role:?}");
    }

    let all: Vec<usize> = (0..200).collect();
    let schema = Schema::fit(&table, &info, &all, None, None);
    let encoding = |c: &str| {
        schema
            .features
            .iter()
            .find(|f| f.column == c)
            .map(|f| f.encoding.clone())
    };
    // Atlantis is seen twice, under MIN_COUNT: it shares "other".
    assert_eq!(
        encoding("island"),
        Some(Encoding::OneHot {
            categories: vec!["Biscoe".into(), "Dream".into(), "Torgersen".into()],
            other: true,
            missing: false,
        })
    );
    assert!(matches!(
        encoding("sex"),
        Some(Encoding::OneHot {
            missing: true,
            other: false,
            ..
        })
    ));
    assert!(matches!(
        encoding("count"),
        Some(Encoding::Number { indicator: false, .. })
    ));
    let Some(Encoding::Number { fill, indicator: true }) = encoding("bill") else {
        panic!("bill: {:?}", encoding("bill"))
    };
    let mut present: Vec<f32> = match table.column("bill").unwrap() {
        shadergrad::data::table::RawColumn::Numbers(v) => v.iter().copied().filter(|x| !x.is_nan()).collect(),
        other => panic!("{other:?}"),
    };
    present.sort_by(f32::total_cmp);
    let median = (present[74] + present[75]) / 2.0;
    assert_eq!(fill, median, "the fill is the training median");
    assert_eq!(schema.id.as_deref(), Some(""), "the index names the rows");
    assert_eq!(schema.width(), 4 + 3 + 3 + 1 + 2);

    // An integer column is a count unless the user says it is a category.
    let named = Columns {
        categorical: vec!["count".into()],
        ..species()
    };
    let info = infer(&table, &named).unwrap();
    assert_eq!(info[5].kind, Kind::Categorical);
    let schema = Schema::fit(&table, &info, &all, None, None);
    assert!(
        schema.input_names().contains(&"count=5".to_string()),
        "{:?}",
        schema.input_names()
    );
}

#[test]
fn text_labels_are_classes_in_sorted_order_and_yes_no_are_labels() {
    let data = parse_csv(messy(60, 2).as_bytes(), "messy.csv", &species(), Task::Classify).unwrap();
    let Targets::Classes { names, ids, .. } = &data.targets else {
        panic!()
    };
    assert_eq!(names, &["Adelie", "Chinstrap", "Gentoo"]);
    assert!(ids.iter().all(|&i| i < 3));
    let columns = Columns {
        targets: vec!["a".into(), "b".into()],
        ..Columns::default()
    };
    let labels = parse_csv(
        b"x,a,b\n1,yes,true\n2,no,FALSE\n3,Yes,1\n",
        "l.csv",
        &columns,
        Task::Multilabel,
    )
    .unwrap();
    let Targets::Labels { values, k: 2 } = &labels.targets else {
        panic!()
    };
    assert_eq!(values, &[1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
}

#[test]
fn categories_beyond_the_hundred_most_frequent_share_other() {
    // 130 categories: 120 seen 6 times, 10 seen 5 times, and 3 seen once.
    let mut text = String::from("kind,x,y\n");
    let mut rows = 0;
    for k in 0..133 {
        let times = match k {
            0..=119 => 6,
            120..=129 => 5,
            _ => 1,
        };
        for t in 0..times {
            text += &format!("k{k},{t},{}\n", (k + t) % 2);
            rows += 1;
        }
    }
    let table = read_csv(text.as_bytes(), "many.csv", &Markers::new(None)).unwrap();
    let columns = Columns {
        targets: vec!["y".into()],
        ..Columns::default()
    };
    let info = infer(&table, &columns).unwrap();
    let schema = Schema::fit(&table, &info, &(0..rows).collect::<Vec<_>>(), None, None);
    let Encoding::OneHot { categories, other, .. } = &schema.features[0].encoding else {
        panic!()
    };
    assert_eq!(categories.len(), 100);
    assert!(*other);
    assert!(
        categories.iter().all(|c| c[1..].parse::<usize>().unwrap() < 120),
        "the most frequent kept"
    );
}

#[test]
fn unseen_and_missing_categories_at_prediction_go_to_other_or_to_no_column_and_are_counted() {
    let dir = temp("unseen");
    let path = dir.path().join("messy.csv");
    std::fs::write(&path, messy(200, 3)).unwrap();
    let (model, _) = trained(&path);
    // Island Mars: unseen, to "other". Sex `unknown`: unseen, sex has no other: no column.
    // Ticket missing: training had no missing ticket, so no column, counted.
    let new = dir.path().join("new.csv");
    std::fs::write(
        &new,
        "species,bill,count,ticket,sex,island,name,\nAdelie,40,1,,unknown,Mars,q1,0\nGentoo,50,2,1st class,male,Biscoe,q2,1\n",
    )
    .unwrap();
    let rows = model.read_rows(&new, None).unwrap();
    let line = rows.unseen.line().expect("unseen categories are counted");
    assert!(line.starts_with("3 cells"), "{line}");
    for c in ["island: 1", "sex: 1", "ticket: 1"] {
        assert!(line.contains(c), "{c} in {line}");
    }
    let names = model.info.inputs.clone();
    let Features::Floats(v) = &rows.features else { panic!() };
    let at = |row: usize, input: &str| v[row * names.len() + names.iter().position(|n| n == input).unwrap()];
    assert_eq!(at(0, "island (other)"), 1.0);
    assert_eq!(at(0, "sex=male") + at(0, "sex=female") + at(0, "sex (missing)"), 0.0);
    assert_eq!(
        at(0, "ticket=1st class") + at(0, "ticket=2nd class") + at(0, "ticket=3rd class"),
        0.0
    );
    assert_eq!(
        (at(1, "island=Biscoe"), at(1, "island (other)"), at(1, "sex=male")),
        (1.0, 0.0, 1.0)
    );
    assert_eq!(
        rows.ids.as_ref().map(|(c, ids)| (c.as_str(), ids.clone())),
        Some(("", vec!["0".into(), "1".into()]))
    );
    // A table without a column the model takes is refused, naming it.
    std::fs::write(&new, "bill,count,ticket,sex\n40,1,1st class,male\n").unwrap();
    let e = model.read_rows(&new, None).unwrap_err().to_string();
    assert!(e.contains("no column `island`") && e.contains("new.csv"), "{e}");
}

/// A model trained for a few steps on `path` (species), saved and loaded, with its split.
fn trained(path: &Path) -> (Model, shadergrad::data::table::Split) {
    let split = load_split(path, &species(), Task::Classify, Some(40), 0, true).unwrap();
    let config = TrainConfig {
        mlp: Mlp::new(&[split.train.feature_count, 16, 3], Activation::Relu).unwrap(),
        task: Task::Classify,
        init: Init::KaimingUniform,
        optimizer: Optimizer::adam(0.01),
        schedule: Schedule::Constant,
        batch: 32,
        epochs: 1,
        seed: 0,
        loss_every: 1,
        regularize: Default::default(),
    };
    let mut trainer = Trainer::new(&CpuBackend::<f32>::new(), config).unwrap();
    for s in 0..5 {
        let batch: Vec<usize> = (s * 32..(s + 1) * 32).collect();
        trainer.step(&split.train, &batch, false).unwrap();
    }
    let saved = path.with_extension("safetensors");
    trainer.model(&split.train).unwrap().save(&saved).unwrap();
    (Model::load(&saved).unwrap(), split)
}

#[test]
fn predicting_rows_gives_the_numbers_and_outputs_training_had() {
    // The held-out rows of the file, written out raw, read through the model's preprocessing:
    // the same f32 inputs as the trainer's validation split, bit for bit, so the same
    // probabilities as the trainer's own forward pass.
    let dir = temp("same");
    let path = dir.path().join("messy.csv");
    let text = messy(200, 4);
    std::fs::write(&path, &text).unwrap();
    let (model, split) = trained(&path);
    let all = parse_csv(text.as_bytes(), "messy.csv", &species(), Task::Classify).unwrap();
    let (_, val_rows) = shadergrad::data::table::table_split(&all.targets, 40, 0);
    let lines: Vec<&str> = text.lines().collect();
    let mut held_out = format!("{}\n", lines[0]);
    for &i in &val_rows {
        held_out += &format!("{}\n", lines[i + 1]);
    }
    let new = dir.path().join("held-out.csv");
    std::fs::write(&new, held_out).unwrap();
    let rows = model.read_rows(&new, None).unwrap();
    let (Features::Floats(raw), Features::Floats(want)) = (&rows.features, &split.validation.features) else {
        panic!()
    };
    // Read rows are in the table's units; the model standardises them as training did.
    let mut got = raw.clone();
    model
        .info
        .scaling
        .features
        .as_ref()
        .expect("numbers are standardised")
        .apply_all(&mut got);
    assert_eq!(got.len(), want.len());
    assert!(
        got.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()),
        "inputs differ"
    );
    let cpu = CpuBackend::<f32>::new();
    let Predictions::Classes { names, .. } = model.predict(&cpu, &rows.features).unwrap() else {
        panic!()
    };
    let truth: Vec<String> = val_rows
        .iter()
        .map(|&i| lines[i + 1].rsplit(',').next().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), truth.len());
    assert!(names
        .iter()
        .all(|n| ["Adelie", "Chinstrap", "Gentoo"].contains(&n.as_str())));
    // And the model's own reading of its held-out split is that split.
    let held = model.held_out().unwrap_err().to_string();
    assert!(
        held.contains("recorded run"),
        "a model saved without a run has no split: {held}"
    );
}

#[test]
fn rows_without_a_target_are_left_out_and_counted_and_empty_features_named() {
    let dir = temp("missing-target");
    let mut text = messy(100, 5);
    text = text.replacen("Adelie\n", "NA\n", 3);
    let path = dir.path().join("t.csv");
    std::fs::write(&path, &text).unwrap();
    let split = load_split(&path, &species(), Task::Classify, Some(10), 0, true).unwrap();
    assert_eq!(split.rows, 97);
    assert_eq!(split.train.len() + split.validation.len(), 97);
    let notes = split.notes.join("\n");
    assert!(notes.contains("3 of 100 rows have no species"), "{notes}");
    assert!(
        notes.contains("column `notes` is left out: every cell is missing"),
        "{notes}"
    );
    assert!(
        notes.contains("column `name` is left out: it looks like an identifier"),
        "{notes}"
    );
    assert!(notes.contains("column `` is left out: it is the index"), "{notes}");
    // A numeric feature that is missing in every training row (but not in validation) is
    // left out and named.
    let table = read_csv(b"a,b,y\n1,NA,x\n2,NA,y\n3,5,x\n", "t.csv", &Markers::new(None)).unwrap();
    let columns = Columns {
        targets: vec!["y".into()],
        ..Columns::default()
    };
    let info = infer(&table, &columns).unwrap();
    let schema = Schema::fit(&table, &info, &[0, 1], None, None);
    assert_eq!(
        schema.left_out,
        [("b".to_string(), "missing in every training row".to_string())]
    );
}

#[test]
fn bad_tables_are_refused_naming_the_row_the_line_and_the_column() {
    let dir = temp("bad");
    let path = dir.path().join("bad.csv");
    // What train reads a table with: load_split.
    let refuse = |text: &[u8], task: Task, wants: &[&str]| {
        std::fs::write(&path, text).unwrap();
        let e = load_split(&path, &species(), task, None, 0, true)
            .unwrap_err()
            .to_string();
        for w in wants {
            assert!(e.contains(w), "`{w}` in: {e}");
        }
        println!("  refused: {e}");
    };
    refuse(
        b"a,species\n1,x\n2\n3,y\n",
        Task::Classify,
        &["bad.csv", "row 2 (line 3)", "has 1 cells"],
    );
    refuse(b"a,,species\n1,q,x\n2,r,y\n", Task::Classify, &["column 2 has no name"]);
    refuse(b"a,species\n1,x\n2,x\n3,x\n", Task::Classify, &["one class only (x)"]);
    let ids: String = (0..30).map(|i| format!("{i},c{i}\n")).collect();
    refuse(
        format!("a,species\n{ids}").as_bytes(),
        Task::Classify,
        &["30 distinct values in 30 rows", "--task regress"],
    );
    refuse(b"a,species\n1,x\n2,x\n", Task::Regress, &["row 1 (line 2)", "`x`"]);
    // A spreadsheet's export: a byte-order mark, CRLF line ends and a quoted cell holding a
    // comma and a line end: the faulty row's line is counted from the file's own lines.
    let excel = b"\xef\xbb\xbfa,b,species\r\n1,\"2,5\",x\r\n3,\"two\r\nlines\",y\r\ninf,6,x\r\n";
    refuse(
        excel,
        Task::Classify,
        &["row 3 (line 5)", "column `a`", "`inf` is not a finite number"],
    );
    let ragged = b"\xef\xbb\xbfa,species\r\n1,x\r\n\r\n2\r\n";
    refuse(ragged, Task::Classify, &["row 2 (line 4)"]);
    // Read as any other file when nothing is wrong: the mark is not part of the first name.
    let mut fine = b"\xef\xbb\xbfa,b,species\r\n".to_vec();
    for i in 0..10 {
        fine.extend(format!("{i},{},{}\r\n", ["\"2,5\"", "4"][i % 2], ["x", "y"][i / 5]).bytes());
    }
    let data = parse_csv(&fine, "fine.csv", &species(), Task::Classify).unwrap();
    assert_eq!(data.feature_names, ["a", "b=2,5", "b=4"]);
}

#[test]
fn a_column_of_numbers_and_text_is_read_as_categories_and_said_so() {
    let dir = temp("mixed");
    let mut text = String::from("code,x,species\n");
    for i in 0..40 {
        let code = if i == 17 {
            "twelve".to_string()
        } else {
            (i % 4).to_string()
        };
        text += &format!("{code},{i},{}\n", ["a", "b"][i % 2]);
    }
    let path = dir.path().join("mixed.csv");
    std::fs::write(&path, text).unwrap();
    let split = load_split(&path, &species(), Task::Classify, Some(8), 0, true).unwrap();
    let notes = split.notes.join("\n");
    assert!(
        notes.contains("column `code` holds numbers in 39 rows and text in 1, the first `twelve` in row 18 (line 19): read as categories"),
        "{notes}"
    );
    assert!(
        split.train.feature_names.iter().any(|n| n == "code=0"),
        "{:?}",
        split.train.feature_names
    );
}

#[test]
fn a_table_too_small_to_score_a_validation_split_says_so() {
    let dir = temp("tiny");
    let path = dir.path().join("tiny.csv");
    std::fs::write(&path, "a,y\n1,2\n2,3\n3,5\n4,4\n").unwrap();
    let source = Source::Csv {
        path,
        columns: Columns {
            targets: vec!["y".into()],
            ..Columns::default()
        },
    };
    let split = source.load_split(Task::Regress, None, 0, true).unwrap();
    assert_eq!((split.train.len(), split.validation.len()), (4, 0));
    assert!(
        split
            .notes
            .iter()
            .any(|n| n.contains("too few to hold out a validation split")),
        "{:?}",
        split.notes
    );
}
