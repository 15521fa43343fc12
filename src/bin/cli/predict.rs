//! `shadergrad predict`: a saved model on new data, one prediction per row, as CSV or JSON.

use std::path::PathBuf;

use shadergrad::data::Features;
use shadergrad::model::{Model, Predictions};
use shadergrad::{Device, Error, Result};

use crate::cli::eval::label_json;
use crate::cli::flags::{self, device};
use crate::cli::stdout::print_out;

#[derive(clap::Args)]
pub struct PredictArgs {
    /// The model (safetensors).
    #[arg(long)]
    model: PathBuf,
    /// The features: a CSV (its columns matched to the model's by header name, in any order;
    /// others, targets included, ignored), an .npy of [n, features], or an .npz holding x.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Images (PNG or PGM, grayscale or colour) for a model trained on images, each of its size.
    images: Vec<PathBuf>,
    /// One JSON object per line (JSON Lines, not one JSON array) instead of a CSV table.
    #[arg(long)]
    json: bool,
    /// Write the predictions to this file (atomically) instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// gpu, cpu or auto [default: auto, or SHADERGRAD_BACKEND].
    #[arg(long, value_parser = ["gpu", "cpu", "auto"])]
    backend: Option<String>,
}

/// What each prediction is of: a row's number, or an image's file name.
enum Ids {
    Rows,
    Files(Vec<String>),
}

impl Ids {
    /// The id column's header.
    fn header(&self) -> &'static str {
        match self {
            Ids::Rows => "row",
            Ids::Files(_) => "file",
        }
    }

    /// Prediction `i`'s id, as written in the CSV.
    fn text(&self, i: usize) -> String {
        match self {
            Ids::Rows => i.to_string(),
            Ids::Files(names) => names[i].clone(),
        }
    }

    /// Prediction `i`'s id in its JSON line: a row's number, or a file name.
    fn json(&self, i: usize) -> serde_json::Value {
        match self {
            Ids::Rows => serde_json::json!(i),
            Ids::Files(names) => serde_json::json!(names[i]),
        }
    }
}

/// The rows to predict on, in the model's feature order and original units.
fn features(a: &PredictArgs, model: &Model) -> Result<Features> {
    match (&a.data, a.images.is_empty()) {
        (Some(_), false) => Err(Error::invalid(
            "--data",
            "with images",
            "either --data or image files, not both",
        )),
        (None, true) => Err(Error::required("--data", "(a file of features), or image files")),
        (None, false) => model.read_images(&a.images),
        (Some(path), true) => model.read_features(path),
    }
}

/// Probabilities to the precision they were computed in (f32 outputs), which prints shorter.
fn short(p: &[f64]) -> Vec<f32> {
    p.iter().map(|&v| v as f32).collect()
}

/// One prediction as a JSON line: its id (`row` or `file`) first, then the task's fields
/// (absent ones skipped). Probabilities are the f32 the model computed, so they print as short
/// as f32 allows.
#[derive(serde::Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    id: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<&'a [f64]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<&'a [u8]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<Vec<f32>>,
}

/// The predictions as one JSON object a line (JSON Lines).
fn as_json(p: &Predictions, ids: &Ids) -> String {
    let blank = |row: usize| Line {
        id: [(ids.header().to_string(), ids.json(row))].into_iter().collect(),
        class: None,
        values: None,
        labels: None,
        probabilities: None,
    };
    let lines: Vec<Line> = match p {
        Predictions::Classes { classes, probabilities } => classes
            .iter()
            .zip(probabilities)
            .enumerate()
            .map(|(row, (c, p))| Line {
                class: Some(label_json(*c)),
                probabilities: Some(short(p)),
                ..blank(row)
            })
            .collect(),
        Predictions::Values(values) => values
            .iter()
            .enumerate()
            .map(|(row, v)| Line {
                values: Some(v),
                ..blank(row)
            })
            .collect(),
        Predictions::Labels { labels, probabilities } => labels
            .iter()
            .zip(probabilities)
            .enumerate()
            .map(|(row, (l, p))| Line {
                labels: Some(l),
                probabilities: Some(short(p)),
                ..blank(row)
            })
            .collect(),
    };
    lines
        .iter()
        .map(|l| serde_json::to_string(l).expect("plain numbers serialize") + "\n")
        .collect()
}

/// The predictions as a CSV table: `row,class,p_<label>...`, `row,<target>...` or
/// `row,<label>...,p_<label>...` (`file` for `row` when they are of images).
fn as_csv(p: &Predictions, model: &Model, ids: &Ids) -> Result<String> {
    let info = &model.info;
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Format {
        what: "predictions",
        why: e.to_string(),
    };
    let num = |v: f64| label_json(v).to_string();
    match p {
        Predictions::Classes { classes, probabilities } => {
            let mut header = vec![ids.header().to_string(), "class".to_string()];
            header.extend(info.classes.iter().map(|c| format!("p_{}", num(*c))));
            w.write_record(&header).map_err(fail)?;
            for (row, (c, p)) in classes.iter().zip(probabilities).enumerate() {
                let mut r = vec![ids.text(row), num(*c)];
                r.extend(short(p).iter().map(|v| v.to_string()));
                w.write_record(&r).map_err(fail)?;
            }
        }
        Predictions::Values(values) => {
            let mut header = vec![ids.header().to_string()];
            header.extend(info.outputs.iter().cloned());
            w.write_record(&header).map_err(fail)?;
            for (row, v) in values.iter().enumerate() {
                let mut r = vec![ids.text(row)];
                r.extend(v.iter().map(|x| x.to_string()));
                w.write_record(&r).map_err(fail)?;
            }
        }
        Predictions::Labels { labels, probabilities } => {
            let mut header = vec![ids.header().to_string()];
            header.extend(info.outputs.iter().cloned());
            header.extend(info.outputs.iter().map(|n| format!("p_{n}")));
            w.write_record(&header).map_err(fail)?;
            for (row, (l, p)) in labels.iter().zip(probabilities).enumerate() {
                let mut r = vec![ids.text(row)];
                r.extend(l.iter().map(|x| x.to_string()));
                r.extend(short(p).iter().map(|x| x.to_string()));
                w.write_record(&r).map_err(fail)?;
            }
        }
    }
    let bytes = w.into_inner().map_err(|e| Error::Format {
        what: "predictions",
        why: e.to_string(),
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Says once, naming them, which images look unlike the model's training images: its
/// predictions on those may be confident and meaningless.
fn warn_unlike(model: &Model, path: &std::path::Path, images: &Features, names: &[String]) {
    let unlike = model.unlike_training(images);
    let Some((_, why)) = unlike.first() else { return };
    let files: Vec<&str> = unlike.iter().map(|(i, _)| names[*i].as_str()).collect();
    eprintln!(
        "warning: {} of {} images look unlike the images {} was trained on ({why} for the first), so \
         its predictions on them may mean little: {}",
        unlike.len(),
        names.len(),
        path.display(),
        files.join(", ")
    );
}

pub fn predict(a: PredictArgs) -> Result<()> {
    if let Some(path) = &a.out {
        flags::output_path(path, "--out")?;
    }
    let model = Model::load(&a.model)?;
    let rows = features(&a, &model)?;
    let ids = if a.images.is_empty() {
        Ids::Rows
    } else {
        Ids::Files(a.images.iter().map(|p| p.display().to_string()).collect())
    };
    if let Ids::Files(names) = &ids {
        warn_unlike(&model, &a.model, &rows, names);
    }
    let p = match device(&a.backend)? {
        Device::Gpu(b) => model.predict(&b, &rows)?,
        Device::Cpu(b) => model.predict(&b, &rows)?,
    };
    let text = if a.json {
        as_json(&p, &ids)
    } else {
        as_csv(&p, &model, &ids)?
    };
    match &a.out {
        Some(path) => shadergrad::io::write_atomic(path, text.as_bytes()),
        None => print_out(&text),
    }
}
