//! Argument parsing and dispatch; each command lives in its own module.

mod bench;
mod bench_table;
mod data;
mod eval;
mod export;
mod flags;
mod grad;
mod inspect;
mod interrupt;
mod predict;
mod progress;
#[cfg(feature = "mpi")]
mod ranks;
mod runtime_dir;
mod stdout;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// Train an MLP on your data (CSV, NumPy, IDX) or, by default, the 8,000 bundled digits.
    Train(Box<train::TrainArgs>),
    /// A saved model's metrics on labelled data: accuracy and confusion (classify), RMSE, MAE
    /// and R² (regress), accuracy per label (multilabel).
    Eval(eval::EvalArgs),
    /// A saved model's predictions on new data (CSV, NumPy) or images, as CSV or JSON lines.
    Predict(predict::PredictArgs),
    /// A saved model as an ONNX file: raw columns (or pixels) in, final answers out, the
    /// preprocessing inside.
    Export(export::ExportArgs),
    /// A table's columns as train would read them: each one's type, missing and distinct
    /// cells, and what it becomes (target, inputs, or left out and why).
    Inspect(inspect::InspectArgs),
    /// Write the gradient of the mean loss over the first N examples for every parameter.
    Grads(eval::GradsArgs),
    /// Value and every partial derivative of an expression, and its circuit diagram.
    Grad(grad::GradArgs),
    /// GPU against CPU backprop: kernels and training steps, optionally against each roof.
    Bench(bench::BenchArgs),
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    runtime_dir::ensure();
    match cli.command {
        Command::Train(a) => train_command(&a),
        Command::Eval(a) => eval::eval(a).map(|_| ExitCode::SUCCESS),
        Command::Grads(a) => eval::grads(a).map(|_| ExitCode::SUCCESS),
        Command::Predict(a) => predict::predict(a).map(|_| ExitCode::SUCCESS),
        Command::Inspect(a) => inspect::inspect(&a).map(|_| ExitCode::SUCCESS),
        Command::Export(a) => export::export(&a).map(|_| ExitCode::SUCCESS),
        Command::Grad(a) => grad::grad(&a).map(|_| ExitCode::SUCCESS),
        Command::Bench(a) => bench::bench(&a).map(|_| ExitCode::SUCCESS),
    }
}

/// `shadergrad train`: as one rank of an MPI job when an MPI launcher started the process
/// (built with `--features mpi`), else alone.
fn train_command(a: &train::TrainArgs) -> Result<ExitCode> {
    #[cfg(feature = "mpi")]
    if let Some(mpi) = shadergrad::group::Mpi::from_launcher()? {
        return ranks::train(a, mpi);
    }
    train::train(a, None)
}
