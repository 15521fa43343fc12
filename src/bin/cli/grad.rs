//! `shadergrad grad`: the seeds' circuits for anyone to explore.

use std::path::PathBuf;

use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::wgpu::WgpuBackend;
use shadergrad::{expr, viz, Error, Result, Tensor};

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
    for (name, _) in &at {
        if !e.variables.iter().any(|(v, _)| v == name) {
            return Err(Error::invalid("--at", name.as_str(), "a variable of the expression"));
        }
    }
    let mut values = Vec::new();
    for (name, t) in &e.variables {
        let Some((_, v)) = at.iter().find(|(n, _)| n == name) else {
            return Err(Error::invalid(
                "--at",
                a.at.as_str(),
                format!("a value for the variable `{name}` (e.g. --at {name}=1)"),
            ));
        };
        values.push((t, [*v]));
    }
    let feeds: Vec<(&Tensor, &[f64])> = values.iter().map(|(t, v)| (*t, &v[..])).collect();
    let circuit = match a.backend.as_str() {
        "cpu" => viz::evaluate(&CpuBackend::<f64>::new(), &e.graph, &e.output, &feeds)?,
        "gpu" => viz::evaluate(&WgpuBackend::new()?, &e.graph, &e.output, &feeds)?,
        other => return Err(Error::invalid("--backend", other, "cpu or gpu")),
    };
    let gate = |t: &Tensor| circuit.gates.iter().find(|g| g.node == t.id());
    let value = gate(&e.output).map_or(f64::NAN, |g| g.value[0]);
    let grads: Vec<(&str, f64)> = e
        .variables
        .iter()
        .map(|(n, t)| (n.as_str(), gate(t).and_then(|g| g.grad.as_ref()).map_or(0.0, |g| g[0])))
        .collect();
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
