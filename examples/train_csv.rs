//! Train on your own table, save the model, load it back and predict: the library side of
//! `shadergrad train --data plants.csv --target kind --task classify` and `shadergrad predict`.
//!
//! The example writes its own CSV (400 plants: two measurements on unlike scales, a soil that is
//! a category, a few missing cells, and a kind written as text: fern, ivy or palm), so it needs
//! no download.
//!
//! Run: `cargo run --release --example train_csv`

use std::sync::atomic::AtomicBool;

use shadergrad::backend::Backend;
use shadergrad::data::{table::Columns, Source, Task};
use shadergrad::model::{Model, Predictions};
use shadergrad::nn::{Activation, Init, Mlp};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::train::{fit, Event, Progress, TrainConfig, Trainer};
use shadergrad::Device;

/// `rows` plants: leaf length (cm, one in 25 missing), stem width (m), soil (a category) and
/// their kind, a region of the measurements.
fn plants(rows: usize, seed: u64) -> String {
    let mut state = seed;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut csv = String::from("leaf_cm,stem_m,soil,kind\n");
    for i in 0..rows {
        let (leaf, stem) = (5.0 + 10.0 * uniform(), 0.002 + 0.01 * uniform());
        let kind = if leaf > 11.0 {
            "palm"
        } else if stem > 0.007 {
            "ivy"
        } else {
            "fern"
        };
        let soil = ["sand", "clay", "loam"][i % 3];
        let leaf = if i % 25 == 7 {
            "NA".to_string()
        } else {
            format!("{leaf:.2}")
        };
        csv += &format!("{leaf},{stem:.5},{soil},{kind}\n");
    }
    csv
}

fn main() -> shadergrad::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| shadergrad::Error::io("a temporary directory", e))?;
    let (table, new) = (dir.path().join("plants.csv"), dir.path().join("new_plants.csv"));
    std::fs::write(&table, plants(400, 1)).map_err(|e| shadergrad::Error::io(&table, e))?;
    std::fs::write(&new, plants(5, 2)).map_err(|e| shadergrad::Error::io(&new, e))?;

    match Device::best()? {
        Device::Gpu(gpu) => run(&gpu, &table, &new, &dir.path().join("plants.safetensors")),
        Device::Cpu(cpu) => run(&cpu, &table, &new, &dir.path().join("plants.safetensors")),
    }
}

fn run<B: Backend>(
    backend: &B,
    table: &std::path::Path,
    new: &std::path::Path,
    saved: &std::path::Path,
) -> shadergrad::Result<()> {
    // The table: `kind` is the target, every other column a feature.
    let source = Source::Csv {
        path: table.into(),
        columns: Columns {
            targets: vec!["kind".into()],
            ..Columns::default()
        },
    };
    // 50 rows held out (stratified by kind); the soil one-hot, missing leaves filled with the
    // training rows' median (and flagged), numbers standardised by the training rows.
    let split = source.load_split(Task::Classify, Some(50), 0, true)?;
    let (train, val) = (split.train, split.validation);
    println!("inputs: {}", train.feature_names.join(", "));
    let config = TrainConfig {
        mlp: Mlp::new(&[train.feature_count, 32, 32, train.outputs()], Activation::Relu)?,
        task: Task::Classify,
        init: Init::KaimingUniform,
        optimizer: Optimizer::adam(0.01),
        schedule: Schedule::Constant,
        batch: 32,
        epochs: 30,
        seed: 0,
        loss_every: 10,
        regularize: Default::default(),
    };
    println!("training {} on {}", config.mlp.describe(), backend.describe());
    let mut trainer = Trainer::new(backend, config)?;
    fit(
        &mut trainer,
        &train,
        &val,
        &mut Progress::default(),
        &AtomicBool::new(false),
        &mut |event, _, _| {
            if let Event::Epoch(r) = event {
                if r.epoch % 10 == 0 {
                    println!(
                        "epoch {}: loss {:.4}, validation accuracy {:.1}%",
                        r.epoch,
                        r.loss,
                        100.0 * r.val_score
                    );
                }
            }
        },
    )?;

    // The saved file is the whole model: weights (PyTorch names), the table's preprocessing,
    // scaling, classes.
    trainer.model(&train)?.save(saved)?;
    let model = Model::load(saved)?;
    let rows = model.read_features(new)?; // by column name, preprocessed as in training; `kind` ignored
    let Predictions::Classes {
        names, probabilities, ..
    } = model.predict(backend, &rows)?
    else {
        unreachable!("a classifier predicts classes");
    };
    let truth = std::fs::read_to_string(new).map_err(|e| shadergrad::Error::io(new, e))?;
    for ((kind, p), line) in names.iter().zip(&probabilities).zip(truth.lines().skip(1)) {
        let best = p.iter().copied().fold(0.0, f64::max);
        println!("{line:>26} → {kind} ({:.1}%)", 100.0 * best);
    }
    Ok(())
}
