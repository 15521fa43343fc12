//! `shadergrad grad`: the seeds' circuits for anyone to explore.

use std::path::PathBuf;

use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::wgpu::WgpuBackend;
use shadergrad::{expr, viz, Error, Result};

use crate::cli::flags;

#[derive(clap::Args)]
pub struct GradArgs {
    /// The expression, e.g. "(x + sigmoid(y)) / (sigmoid(x) + (x + y)^2)".
    expression: String,
    /// Where to evaluate: x=3,y=-4.
    #[arg(long, default_value = "")]
    at: String,
    /// cpu (f64, exact) or gpu (f32 WGSL kernels).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "gpu"])]
    backend: String,
    /// Print {"value": f, "gradients": {...}}.
    #[arg(long)]
    json: bool,
    /// Draw the circuit as SVG (values green, gradients red).
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Write the circuit as Graphviz DOT.
    #[arg(long)]
    dot: Option<PathBuf>,
}

pub fn grad(a: &GradArgs) -> Result<()> {
    for (path, flag) in [(&a.svg, "--svg"), (&a.dot, "--dot")] {
        if let Some(path) = path {
            flags::output_path(path, flag)?;
        }
    }
    let e = expr::parse(&a.expression)?;
    let at = flags::bindings(&a.at)?;
    let point = match a.backend.as_str() {
        "cpu" => viz::at_point(&CpuBackend::<f64>::new(), &e, &at),
        "gpu" => viz::at_point(&WgpuBackend::new()?, &e, &at),
        other => return Err(Error::invalid("--backend", other, "cpu or gpu")),
    }
    .map_err(|e| match e {
        Error::InvalidValue { value, expected, .. } => Error::invalid("--at", value, expected),
        other => other,
    })?;
    let (value, grads, circuit) = (point.value, point.gradients, point.circuit);
    if a.json {
        let gradients: serde_json::Map<String, serde_json::Value> = grads
            .iter()
            .map(|(n, g)| (n.to_string(), serde_json::json!(g)))
            .collect();
        println!("{}", serde_json::json!({ "value": value, "gradients": gradients }));
    } else {
        let args: Vec<String> = at.iter().map(|(n, v)| format!("{n}={v}")).collect();
        println!("f({}) = {value}", args.join(", "));
        for (n, g) in &grads {
            println!("  df/d{n} = {g}");
        }
    }
    if let Some(path) = &a.svg {
        shadergrad::io::write_atomic(path, circuit.to_svg().as_bytes())?;
    }
    if let Some(path) = &a.dot {
        shadergrad::io::write_atomic(path, circuit.to_dot().as_bytes())?;
    }
    Ok(())
}
