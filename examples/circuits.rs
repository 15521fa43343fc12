//! The seeds' worked examples, built as graphs and differentiated: CS231n's `(x + y)·z`, its
//! sigmoid neuron and staged function, and Kamper's `(x + σ(y)) / (x² + y)`, with the circuit of
//! the neuron written to `neuron.svg`.
//!
//! Run: `cargo run --example circuits`

use shadergrad::backend::cpu::CpuBackend;
use shadergrad::check::run_once;
use shadergrad::{expr, viz, Graph, Tensor};

fn main() -> shadergrad::Result<()> {
    let cpu = CpuBackend::<f64>::new();

    // f = (x + y)·z at x = -2, y = 5, z = -4: gradients -4, -4, 3.
    let g = Graph::new();
    let [x, y, z] = ["x", "y", "z"].map(|n| g.input(n, []).with_grad());
    let f = (&x + &y) * z.clone();
    let grads = g.backward(&f)?;
    let outputs = [f.clone(), grads.of(&x)?, grads.of(&y)?, grads.of(&z)?];
    let refs: Vec<&Tensor> = outputs.iter().collect();
    let v = run_once(&cpu, &g, &refs, &[(&x, &[-2.0]), (&y, &[5.0]), (&z, &[-4.0])])?;
    println!(
        "(x + y)·z = {}; df/dx = {}, df/dy = {}, df/dz = {}",
        v[0][0], v[1][0], v[2][0], v[3][0]
    );

    // The rest through the expression language, as `shadergrad grad` runs them.
    for (text, at) in [
        (
            "1/(1+exp(-(w0*x0 + w1*x1 + w2)))",
            vec![("w0", 2.0), ("x0", -1.0), ("w1", -3.0), ("x1", -2.0), ("w2", -3.0)],
        ),
        (
            "(x + sigmoid(y)) / (sigmoid(x) + (x + y)^2)",
            vec![("x", 3.0), ("y", -4.0)],
        ),
        ("(x + sigmoid(y)) / (x^2 + y)", vec![("x", 3.0), ("y", -4.0)]),
    ] {
        let e = expr::parse(text)?;
        let values: Vec<[f64; 1]> = e
            .variables
            .iter()
            .map(|(n, _)| [at.iter().find(|(m, _)| m == n).map_or(0.0, |p| p.1)])
            .collect();
        let feeds: Vec<(&Tensor, &[f64])> = e.variables.iter().zip(&values).map(|((_, t), v)| (t, &v[..])).collect();
        let circuit = viz::evaluate(&cpu, &e.graph, &e.output, &feeds)?;
        let value = circuit.gates.last().map_or(f64::NAN, |g| g.value[0]);
        let partials: Vec<String> = e
            .variables
            .iter()
            .map(|(n, t)| {
                let d = circuit
                    .gates
                    .iter()
                    .find(|g| g.node == t.id())
                    .and_then(|g| g.grad.clone())
                    .unwrap_or_default();
                format!("df/d{n} = {:.6}", d.first().copied().unwrap_or(0.0))
            })
            .collect();
        println!("{text} = {value:.6}; {}", partials.join(", "));
        if text.starts_with("1/") {
            shadergrad::io::write_atomic("neuron.svg".as_ref(), circuit.to_svg().as_bytes())?;
            println!("  (circuit written to neuron.svg)");
        }
    }
    Ok(())
}
