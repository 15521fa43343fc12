//! `shadergrad predict`: a saved model on new data, one prediction per row, as CSV or JSON.

use std::path::{Path, PathBuf};

use shadergrad::data::Features;
use shadergrad::model::{Model, Predictions};
use shadergrad::{Device, Error, Result};

use crate::cli::eval::class_json;
use crate::cli::flags::{self, device};
use crate::cli::stdout::print_out;

#[derive(clap::Args)]
pub struct PredictArgs {
    /// The model (safetensors).
    #[arg(long)]
    model: PathBuf,
    /// The rows: a CSV (its columns matched to the model's by header name, in any order; others,
    /// targets included, ignored; missing cells and categories handled as in training), an .npy
    /// of [n, features], or an .npz holding x.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Images (PNG or PGM, grayscale or colour) for a model trained on images, each of its size;
    /// for any other model, one table or arrays file here is read as --data.
    images: Vec<PathBuf>,
    /// The CSV column that names each row, carried into the predictions [default: the table's
    /// index or id column when it has one (as the model's training table had), else row numbers].
    #[arg(long)]
    id: Option<String>,
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

/// What each prediction is of: a row's number, an image's file name, or a table's own id.
enum Ids {
    Rows,
    Named { header: String, values: Vec<String> },
}

impl Ids {
    /// The id column's header.
    fn header(&self) -> &str {
        match self {
            Ids::Rows => "row",
            Ids::Named { header, .. } => header,
        }
    }

    /// Prediction `i`'s id, as written in the CSV.
    fn text(&self, i: usize) -> String {
        match self {
            Ids::Rows => i.to_string(),
            Ids::Named { values, .. } => values[i].clone(),
        }
    }

    /// Prediction `i`'s id in its JSON line: a row's number, or the name given.
    fn json(&self, i: usize) -> serde_json::Value {
        match self {
            Ids::Rows => serde_json::json!(i),
            Ids::Named { values, .. } => serde_json::json!(values[i]),
        }
    }
}

/// A number in the shortest form that reads back as the same number of its type, in exponent
/// form when it is very small or very large: `0.25`, `1.5e20`, `3.653048e-39`, not 47
/// characters of zeros.
fn shortest<T: std::fmt::Display + std::fmt::LowerExp + Copy + Into<f64>>(v: T) -> String {
    let a = v.into().abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// A value in original units (f64).
fn number(v: f64) -> String {
    shortest(v)
}

/// A probability as the f32 the model computed.
fn probability(p: f64) -> String {
    shortest(p as f32)
}

/// Probabilities as a JSON array of f32s, each in the shortest form that reads back as the same
/// f32 (a `serde_json::Value` would hold them as f64s and write 17 digits).
fn probabilities_json(p: &[f64]) -> String {
    let p: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    serde_json::to_string(&p).expect("numbers serialise")
}

/// A JSON object of `fields` (each value already JSON), in their order.
fn object(fields: &[(&str, String)]) -> String {
    let pairs: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(*k)))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

/// The predictions as one JSON object a line (JSON Lines): the row's id (`row`, `file` or the
/// table's id column) first, then the task's fields.
fn as_json(p: &Predictions, model: &Model, ids: &Ids) -> String {
    let text_classes = !model.info.class_names.is_empty();
    let line = |i: usize, fields: Vec<(&str, String)>| {
        let mut all = vec![(ids.header(), ids.json(i).to_string())];
        all.extend(fields);
        object(&all) + "\n"
    };
    match p {
        Predictions::Classes {
            classes,
            names,
            probabilities,
        } => (0..classes.len())
            .map(|i| {
                let class = class_json(classes[i], &names[i], text_classes).to_string();
                line(
                    i,
                    vec![
                        ("class", class),
                        ("probabilities", probabilities_json(&probabilities[i])),
                    ],
                )
            })
            .collect(),
        Predictions::Values(values) => values
            .iter()
            .enumerate()
            .map(|(i, v)| line(i, vec![("values", serde_json::json!(v).to_string())]))
            .collect(),
        Predictions::Labels { labels, probabilities } => labels
            .iter()
            .zip(probabilities)
            .enumerate()
            .map(|(i, (l, p))| {
                line(
                    i,
                    vec![
                        ("labels", serde_json::json!(l).to_string()),
                        ("probabilities", probabilities_json(p)),
                    ],
                )
            })
            .collect(),
    }
}

/// The predictions as a CSV table: `row,class,p_<class>...`, `row,<target>...` or
/// `row,<label>...,p_<label>...` (the row's id column for `row` when there is one).
fn as_csv(p: &Predictions, model: &Model, ids: &Ids) -> Result<String> {
    let info = &model.info;
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Format {
        what: "predictions",
        why: e.to_string(),
    };
    let id = ids.header().to_string();
    match p {
        Predictions::Classes {
            names, probabilities, ..
        } => {
            let mut header = vec![id, "class".to_string()];
            header.extend((0..info.classes.len()).map(|c| format!("p_{}", info.class_name(c))));
            w.write_record(&header).map_err(fail)?;
            for (row, (c, p)) in names.iter().zip(probabilities).enumerate() {
                let mut r = vec![ids.text(row), c.clone()];
                r.extend(p.iter().map(|&v| probability(v)));
                w.write_record(&r).map_err(fail)?;
            }
        }
        Predictions::Values(values) => {
            let mut header = vec![id];
            header.extend(info.outputs.iter().cloned());
            w.write_record(&header).map_err(fail)?;
            for (row, v) in values.iter().enumerate() {
                let mut r = vec![ids.text(row)];
                r.extend(v.iter().map(|&x| number(x)));
                w.write_record(&r).map_err(fail)?;
            }
        }
        Predictions::Labels { labels, probabilities } => {
            let mut header = vec![id];
            header.extend(info.outputs.iter().cloned());
            header.extend(info.outputs.iter().map(|n| format!("p_{n}")));
            w.write_record(&header).map_err(fail)?;
            for (row, (l, p)) in labels.iter().zip(probabilities).enumerate() {
                let mut r = vec![ids.text(row)];
                r.extend(l.iter().map(|x| x.to_string()));
                r.extend(p.iter().map(|&v| probability(v)));
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
fn warn_unlike(model: &Model, path: &Path, images: &Features, names: &[String]) {
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

/// The rows to predict on, in the model's inputs, and what names each: a file's rows (saying
/// once what categories training had not seen), or images (warning about those unlike the
/// training images).
/// A lone table given where images go (`predict --model m.safetensors new.csv`), for a model
/// not trained on images: read as --data.
fn table_in_images_place<'a>(a: &'a PredictArgs, model: &Model) -> Option<&'a PathBuf> {
    let [file] = a.images.as_slice() else { return None };
    let ext = file.extension()?.to_string_lossy().to_lowercase();
    (model.info.image.is_none() && a.data.is_none() && ["csv", "npy", "npz"].contains(&ext.as_str())).then_some(file)
}

fn rows(a: &PredictArgs, model: &Model) -> Result<(Features, Ids)> {
    if let Some(path) = table_in_images_place(a, model) {
        return table_rows(path, a.id.as_deref(), model);
    }
    match (&a.data, a.images.is_empty()) {
        (Some(_), false) => Err(Error::invalid(
            "--data",
            "with images",
            "either --data or image files, not both",
        )),
        (None, true) => Err(Error::required("--data", "(a file of features), or image files")),
        (None, false) => {
            if a.id.is_some() {
                return Err(Error::invalid(
                    "--id",
                    "with images",
                    "a CSV's column: images are named by their files",
                ));
            }
            let images = model.read_images(&a.images)?;
            let names: Vec<String> = a.images.iter().map(|p| p.display().to_string()).collect();
            warn_unlike(model, &a.model, &images, &names);
            Ok((
                images,
                Ids::Named {
                    header: "file".into(),
                    values: names,
                },
            ))
        }
        (Some(path), true) => table_rows(path, a.id.as_deref(), model),
    }
}

/// The rows of the table (or arrays) at `path`, named by the column `id` or as the model's
/// training table named them; categories training never saw are counted on stderr.
fn table_rows(path: &Path, id: Option<&str>, model: &Model) -> Result<(Features, Ids)> {
    let rows = model.read_rows(path, id)?;
    if let Some(line) = rows.unseen.line() {
        eprintln!("{}: {line}", path.display());
    }
    let ids = match rows.ids {
        Some((header, values)) => Ids::Named { header, values },
        None => Ids::Rows,
    };
    Ok((rows.features, ids))
}

pub fn predict(a: PredictArgs) -> Result<()> {
    if let Some(path) = &a.out {
        flags::output_path(path, "--out")?;
    }
    let model = Model::load(&a.model)?;
    let (features, ids) = rows(&a, &model)?;
    let p = match device(&a.backend)? {
        Device::Gpu(b) => model.predict(&b, &features)?,
        Device::Cpu(b) => model.predict(&b, &features)?,
    };
    let text = if a.json {
        as_json(&p, &model, &ids)
    } else {
        as_csv(&p, &model, &ids)?
    };
    match &a.out {
        Some(path) => shadergrad::io::write_atomic(path, text.as_bytes()),
        None => print_out(&text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_short_and_read_back_exactly() {
        assert_eq!(probability(3.653048e-39_f32 as f64), "3.653048e-39");
        assert_eq!(probability(0.99982303_f32 as f64), "0.99982303");
        assert_eq!(probability(0.0), "0");
        assert_eq!(number(1.5e20), "1.5e20");
        assert_eq!(number(-2.25), "-2.25");
        for v in [1e-39_f32, 0.1, 123456.79, 9.9e-5] {
            assert_eq!(probability(v as f64).parse::<f32>().unwrap(), v);
        }
    }
}
