//! Argument parsing and dispatch; each command lives in its own module.

mod bench;
mod eval;
mod flags;
mod grad;
mod interrupt;
mod progress;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shadergrad::data::Digits;
use shadergrad::Result;

#[derive(Parser)]
#[command(
    name = "shadergrad",
    version,
    about = "Reverse-mode autodiff on any GPU through WGSL compute shaders"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an MLP on digits (by default the 8,000 bundled MNIST digits).
    Train(Box<train::TrainArgs>),
    /// Accuracy and confusion matrix of a saved model.
    Eval(eval::EvalArgs),
    /// Write the gradient of the mean loss over the first N examples for every parameter.
    Grads(eval::GradsArgs),
    /// Value and every partial derivative of an expression, and its circuit diagram.
    Grad(grad::GradArgs),
    /// GPU against CPU backprop: kernels and training steps, optionally against each roof.
    Bench(bench::BenchArgs),
}

/// Where digits come from: `--data DIR`, or `--images F --labels F`, or the bundled set.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DataArgs {
    /// A directory holding <prefix>-images-idx3-ubyte[.gz] and <prefix>-labels-idx1-ubyte[.gz].
    #[arg(long)]
    data: Option<PathBuf>,
    /// An IDX images file (with --labels).
    #[arg(long, requires = "labels")]
    images: Option<PathBuf>,
    /// An IDX labels file (with --images).
    #[arg(long, requires = "images")]
    labels: Option<PathBuf>,
}

impl DataArgs {
    /// The digits named, `prefer` choosing among several datasets in one directory; None when
    /// no data was named (the caller uses the bundled digits).
    fn load(&self, prefer: &str) -> Result<Option<Digits>> {
        match (&self.images, &self.labels, &self.data) {
            (Some(i), Some(l), _) => Digits::load(i, l).map(Some),
            (_, _, Some(dir)) => {
                let (i, l) = Digits::find(dir, prefer)?;
                Digits::load(&i, &l).map(Some)
            }
            _ => Ok(None),
        }
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Train(a) => train::train(*a),
        Command::Eval(a) => eval::eval(a).map(|_| ExitCode::SUCCESS),
        Command::Grads(a) => eval::grads(a).map(|_| ExitCode::SUCCESS),
        Command::Grad(a) => grad::grad(&a).map(|_| ExitCode::SUCCESS),
        Command::Bench(a) => bench::bench(&a).map(|_| ExitCode::SUCCESS),
    }
}

/// The device a `--backend` flag names, or the best one (see `Device::best`).
pub fn device(flag: &Option<String>) -> Result<shadergrad::Device> {
    match flag {
        Some(name) => shadergrad::Device::named(name),
        None => shadergrad::Device::best(),
    }
}
