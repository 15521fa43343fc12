//! `shadergrad eval` and `shadergrad grads`: a saved model on digits.

use std::path::PathBuf;

use shadergrad::backend::Backend;
use shadergrad::checkpoint::Checkpoint;
use shadergrad::data::Digits;
use shadergrad::nn::Init;
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::train::{TrainConfig, Trainer};
use shadergrad::{Device, Result};

use super::{device, flags, DataArgs};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// The model (safetensors) to evaluate.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// gpu, cpu or auto [default: auto, or SHADERGRAD_BACKEND].
    #[arg(long)]
    backend: Option<String>,
    /// The activation of a model without metadata (a PyTorch state dict) [default: relu].
    #[arg(long)]
    activation: Option<String>,
    /// Print {"model", "accuracy", "count", "confusion"} as JSON.
    #[arg(long)]
    json: bool,
}

/// The model in a checkpoint, as a trainer whose parameters are the checkpoint's.
fn load_model<B: Backend>(backend: &B, ckpt: &Checkpoint, activation: &Option<String>) -> Result<Trainer<B>> {
    let mut mlp = ckpt.mlp.clone();
    if let Some(act) = activation {
        mlp.activation = flags::activation(act)?;
    }
    let config = TrainConfig {
        mlp,
        init: Init::KaimingUniform,
        optimizer: Optimizer::sgd(0.0),
        schedule: Schedule::Constant,
        batch: 1,
        epochs: 0,
        seed: 0,
        loss_every: 1,
    };
    let mut trainer = Trainer::new(backend, config)?;
    trainer.restore(ckpt)?;
    Ok(trainer)
}

/// The digits to evaluate: those named, else the bundled digits the model was validated on
/// (the split its training recorded), else all the bundled digits.
fn eval_digits(data: &DataArgs, ckpt: &Checkpoint) -> Result<(Digits, String)> {
    if let Some(d) = data.load("t10k")? {
        return Ok((d, "the digits named".into()));
    }
    let all = Digits::bundled()?;
    match &ckpt.training {
        Some(t) => {
            let validation = t.validation.unwrap_or(all.len() / 8);
            let (_, val) = all.split(validation, t.config.seed);
            Ok((
                val,
                format!("the {validation} bundled digits held out from its training"),
            ))
        }
        None => Ok((all, "all 8,000 bundled digits".into())),
    }
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let ckpt = Checkpoint::load(&a.model)?;
    let (digits, what) = eval_digits(&a.data, &ckpt)?;
    let e = match device(&a.backend)? {
        Device::Gpu(b) => load_model(&b, &ckpt, &a.activation)?.evaluate(&digits)?,
        Device::Cpu(b) => load_model(&b, &ckpt, &a.activation)?.evaluate(&digits)?,
    };
    if a.json {
        let record = serde_json::json!({
            "model": a.model.display().to_string(),
            "accuracy": e.accuracy,
            "count": e.count,
            "confusion": e.confusion,
        });
        println!("{record}");
        return Ok(());
    }
    println!(
        "{}: accuracy {:.2}% on {} ({} digits)",
        a.model.display(),
        100.0 * e.accuracy,
        what,
        e.count
    );
    println!("confusion (rows: label, columns: prediction)");
    print!("     ");
    for c in 0..e.confusion.len() {
        print!("{c:>6}");
    }
    println!();
    for (label, row) in e.confusion.iter().enumerate() {
        print!("{label:>4} ");
        for n in row {
            print!("{n:>6}");
        }
        println!();
    }
    Ok(())
}

#[derive(clap::Args)]
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
    #[arg(long)]
    backend: Option<String>,
    /// The activation of a model without metadata [default: relu].
    #[arg(long)]
    activation: Option<String>,
}

pub fn grads(a: GradsArgs) -> Result<()> {
    if a.batch == 0 {
        return Err(shadergrad::Error::invalid("--batch", "0", "at least one example"));
    }
    let ckpt = Checkpoint::load(&a.model)?;
    let digits = match a.data.load("train")? {
        Some(d) => d,
        None => Digits::bundled()?,
    };
    let grads = match device(&a.backend)? {
        Device::Gpu(b) => load_model(&b, &ckpt, &a.activation)?.gradients(&digits, a.batch)?,
        Device::Cpu(b) => load_model(&b, &ckpt, &a.activation)?.gradients(&digits, a.batch)?,
    };
    let n = a.batch.min(digits.len());
    let out = Checkpoint {
        mlp: ckpt.mlp.clone(),
        params: grads
            .into_iter()
            .map(|(n, s, v)| (n, (s, v.iter().map(|&x| x as f32).collect())))
            .collect(),
        state: Default::default(),
        training: None,
        note: Some(format!(
            "gradient of the mean softmax cross-entropy over the first {n} examples"
        )),
    };
    out.save(&a.out)?;
    eprintln!(
        "wrote the gradients of {} parameters over {n} examples to {}",
        out.params.len(),
        a.out.display()
    );
    Ok(())
}
