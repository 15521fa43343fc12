//! `shadergrad eval` and `shadergrad grads`: a saved model on labelled data.

use std::path::{Path, PathBuf};

use shadergrad::checkpoint::Checkpoint;
use shadergrad::data::{Dataset, Source};
use shadergrad::metrics::{Evaluation, Metrics};
use shadergrad::model::{Model, TrainedOn};
use shadergrad::{Device, Error, Result};

use crate::cli::data::DataArgs;
use crate::cli::flags::{self, device};

#[derive(clap::Args)]
#[command(mut_arg("data", |a| a.help("A CSV table, a NumPy .npy of features (with --targets) or .npz (arrays x and y), or a directory holding <prefix>-images-idx3-ubyte[.gz] and <prefix>-labels-idx1-ubyte[.gz] [default: the examples held out from the model's training, as its run recorded them; all the bundled digits for a digits model that records no run]")))]
pub struct EvalArgs {
    /// The model (safetensors) to evaluate.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// gpu, cpu or auto [default: auto, or SHADERGRAD_BACKEND].
    #[arg(long, value_parser = ["gpu", "cpu", "auto"])]
    backend: Option<String>,
    /// The activation of a model without metadata (a PyTorch state dict) [default: relu].
    #[arg(long)]
    activation: Option<String>,
    /// Print the task's metrics as one JSON object (on one line).
    #[arg(long)]
    json: bool,
}

/// The model of `path`, with `--activation` applied to a file that records none.
fn load(path: &Path, activation: &Option<String>) -> Result<Checkpoint> {
    let mut ckpt = Checkpoint::load(path)?;
    if let Some(act) = activation {
        ckpt.model.info.mlp.activation = flags::activation(act)?;
    }
    Ok(ckpt)
}

/// Labelled data in the model's terms: its feature columns in its order, its class ids, its
/// standardisation. `what` says what they are, for messages.
pub fn labelled(data: &DataArgs, model: &Model, prefer: &str) -> Result<Option<(Dataset, String)>> {
    let Some(source) = data.source(prefer, &model.info.outputs)? else {
        return Ok(None);
    };
    let d = model.labelled(&source)?;
    Ok(Some((d, format!("the examples of {}", source.describe()))))
}

/// Where a model's own run took its data from, checked to be still there: what `eval` and
/// `grads` use without `--data`. `command` says what for, in the message that asks for `--data`
/// when the data has gone.
fn recorded_source(model: &Path, on: &TrainedOn, command: &str) -> Result<()> {
    let paths: Vec<&Path> = match &on.source {
        Source::BundledDigits => vec![],
        Source::Idx { images, labels } => vec![images, labels],
        Source::Csv { path, .. } => vec![path],
        Source::Npy { data, targets } => [Some(data.as_path()), targets.as_deref()]
            .into_iter()
            .flatten()
            .collect(),
    };
    match paths.iter().find(|p| !p.exists()) {
        Some(gone) => Err(Error::required(
            "--data",
            format!(
                "to {command} {}: {}, the data it was trained on, is not there any more",
                model.display(),
                gone.display()
            ),
        )),
        None => Ok(()),
    }
}

/// The data to evaluate on: those named, else the examples held out from the model's training
/// (the split its run recorded), else all the bundled digits for a model of digits.
fn eval_data(data: &DataArgs, ckpt: &Checkpoint, path: &Path) -> Result<(Dataset, String)> {
    if let Some(d) = labelled(data, &ckpt.model, "t10k")? {
        return Ok(d);
    }
    match &ckpt.model.info.trained_on {
        Some(t) if t.validation == 0 => Err(Error::required(
            "--data",
            format!(
                "to evaluate {}: it was trained with --validation 0, so it holds out no examples",
                path.display()
            ),
        )),
        Some(t) => {
            recorded_source(path, t, "evaluate")?;
            let val = ckpt.model.held_out()?;
            let what = format!(
                "the examples of {} held out from its training (its validation split, seed {})",
                t.source.describe(),
                t.seed
            );
            Ok((val, what))
        }
        None if ckpt.model.info.image == Some([28, 28]) => {
            Ok((Dataset::bundled_digits()?, "all the bundled digits".into()))
        }
        None => Err(Error::required(
            "--data",
            format!(
                "to evaluate {}: the labelled data (the model records no training run)",
                path.display()
            ),
        )),
    }
}

/// The data to take gradients on: those named, else the model's own training split (as its
/// run recorded it), else the bundled digits for a model of digits; and what they are.
fn grads_data(data: &DataArgs, model: &Model, path: &Path) -> Result<(Dataset, String)> {
    if let Some(d) = labelled(data, model, "train")? {
        return Ok(d);
    }
    match &model.info.trained_on {
        Some(t) => {
            recorded_source(path, t, "take gradients of")?;
            let all = t.source.load(model.info.task)?;
            let (train, _) = t.source.split(&all, t.validation, t.seed, t.standardize);
            let what = format!("the training split of {} (seed {})", t.source.describe(), t.seed);
            Ok((train, what))
        }
        None if model.info.image == Some([28, 28]) => Ok((Dataset::bundled_digits()?, "the bundled digits".into())),
        None => Err(Error::required(
            "--data",
            format!(
                "to take gradients of {}: the labelled data (the model records no training run)",
                path.display()
            ),
        )),
    }
}

/// A class label as JSON: a whole number as an integer.
pub fn label_json(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 9e15 {
        serde_json::json!(v as i64)
    } else {
        serde_json::json!(v)
    }
}

/// A class as JSON: its name for classes written as text, else its number.
pub fn class_json(label: f64, name: &str, text: bool) -> serde_json::Value {
    if text {
        serde_json::json!(name)
    } else {
        label_json(label)
    }
}

fn eval_json(e: &Evaluation, model: &Path, names: &[String], text_classes: bool) -> serde_json::Value {
    let mut out = serde_json::json!({
        "model": model.display().to_string(),
        "count": e.count,
        "loss": e.loss,
    });
    match &e.metrics {
        Metrics::Classify {
            accuracy,
            confusion,
            labels,
            names,
        } => {
            out["task"] = "classify".into();
            out["accuracy"] = serde_json::json!(accuracy);
            out["confusion"] = serde_json::json!(confusion);
            out["labels"] = labels
                .iter()
                .zip(names)
                .map(|(&l, n)| class_json(l, n, text_classes))
                .collect();
        }
        Metrics::Regress { overall, targets } => {
            out["task"] = "regress".into();
            out["rmse"] = serde_json::json!(overall.rmse);
            out["mae"] = serde_json::json!(overall.mae);
            out["r2"] = serde_json::json!(overall.r2);
            out["targets"] = targets
                .iter()
                .zip(names)
                .map(|(f, n)| serde_json::json!({"name": n, "rmse": f.rmse, "mae": f.mae, "r2": f.r2}))
                .collect();
        }
        Metrics::Multilabel {
            mean_accuracy,
            accuracy,
        } => {
            out["task"] = "multilabel".into();
            out["accuracy"] = serde_json::json!(mean_accuracy);
            out["labels"] = accuracy
                .iter()
                .zip(names)
                .map(|(a, n)| serde_json::json!({"name": n, "accuracy": a}))
                .collect();
        }
    }
    out
}

fn print_eval(e: &Evaluation, names: &[String]) {
    match &e.metrics {
        Metrics::Classify {
            confusion,
            names: labels,
            ..
        } => {
            println!("confusion (rows: label, columns: prediction)");
            let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1).max(5) + 1;
            print!("{:>w$}", "", w = width);
            for l in labels {
                print!("{l:>width$}");
            }
            println!();
            for (l, row) in labels.iter().zip(confusion) {
                print!("{l:>width$}");
                for n in row {
                    print!("{n:>w$}", w = width);
                }
                println!();
            }
        }
        Metrics::Regress { targets, .. } => {
            println!("{:<24} {:>12} {:>12} {:>8}", "target", "rmse", "mae", "r2");
            for (f, n) in targets.iter().zip(names) {
                println!("{n:<24} {:>12.6} {:>12.6} {:>8.4}", f.rmse, f.mae, f.r2);
            }
        }
        Metrics::Multilabel { accuracy, .. } => {
            println!("{:<24} {:>9}", "label", "accuracy");
            for (a, n) in accuracy.iter().zip(names) {
                println!("{n:<24} {:>8.2}%", 100.0 * a);
            }
        }
    }
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let ckpt = load(&a.model, &a.activation)?;
    let (data, what) = eval_data(&a.data, &ckpt, &a.model)?;
    let e = match device(&a.backend)? {
        Device::Gpu(b) => ckpt.model.trainer(&b)?.evaluate(&data)?,
        Device::Cpu(b) => ckpt.model.trainer(&b)?.evaluate(&data)?,
    };
    let names = &data.target_names;
    if a.json {
        let text_classes = !ckpt.model.info.class_names.is_empty();
        let mut record = eval_json(&e, &a.model, names, text_classes);
        record["data"] = serde_json::json!(what);
        println!("{record}");
        return Ok(());
    }
    let summary = match &e.metrics {
        Metrics::Classify { accuracy, .. } => format!("accuracy {:.2}%", 100.0 * accuracy),
        Metrics::Regress { overall, .. } => {
            format!("RMSE {:.6}, MAE {:.6}, R² {:.4}", overall.rmse, overall.mae, overall.r2)
        }
        Metrics::Multilabel { mean_accuracy, .. } => format!("mean accuracy {:.2}%", 100.0 * mean_accuracy),
    };
    println!("{}: {summary} on {what} ({} examples)", a.model.display(), e.count);
    print_eval(&e, names);
    Ok(())
}

#[derive(clap::Args)]
#[command(mut_arg("data", |a| a.help("A CSV table, a NumPy .npy of features (with --targets) or .npz (arrays x and y), or a directory holding <prefix>-images-idx3-ubyte[.gz] and <prefix>-labels-idx1-ubyte[.gz] [default: the model's training split, as its run recorded it; the bundled digits for a digits model that records no run]")))]
pub struct GradsArgs {
    /// The model (safetensors).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// How many examples (the first N) the mean loss is over.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Where the gradients go (safetensors, named like the parameters).
    #[arg(long)]
    out: PathBuf,
    /// gpu, cpu or auto [default: auto, or SHADERGRAD_BACKEND].
    #[arg(long, value_parser = ["gpu", "cpu", "auto"])]
    backend: Option<String>,
    /// The activation of a model without metadata [default: relu].
    #[arg(long)]
    activation: Option<String>,
}

pub fn grads(a: GradsArgs) -> Result<()> {
    if a.batch == 0 {
        return Err(Error::invalid("--batch", "0", "at least one example"));
    }
    flags::output_path(&a.out, "--out")?;
    let model = load(&a.model, &a.activation)?.model;
    let (data, what) = grads_data(&a.data, &model, &a.model)?;
    let grads = match device(&a.backend)? {
        Device::Gpu(b) => model.trainer(&b)?.gradients(&data, a.batch)?,
        Device::Cpu(b) => model.trainer(&b)?.gradients(&data, a.batch)?,
    };
    let n = a.batch.min(data.len());
    let mut info = model.info.clone();
    info.note = Some(format!(
        "gradient of the mean {} loss over the first {n} examples",
        info.task.name()
    ));
    let out = Model {
        info,
        params: grads
            .into_iter()
            .map(|(n, s, v)| (n, (s, v.iter().map(|&x| x as f32).collect())))
            .collect(),
        steps: model.steps,
    };
    out.save(&a.out)?;
    eprintln!(
        "wrote the gradients of {} parameters over the first {n} examples of {what} to {}",
        out.params.len(),
        a.out.display()
    );
    Ok(())
}
