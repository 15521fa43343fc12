//! `shadergrad._native`: what the Python package's estimators run, over the crate's public API
//! only. A `Learner` holds a device and, once fitted, a checkpoint (the model and what continuing
//! its training needs) as plain data; each call builds its trainer, runs with the GIL released,
//! and stores the result only when it succeeds, so an error or Ctrl-C leaves it as it was. The
//! scikit-learn conventions (parameters, input checks, `classes_`) live in Python
//! (`python/shadergrad`); this module trains, predicts and reads and writes model files.

mod data;
mod errors;
mod learner;
mod loop_;

use pyo3::prelude::*;

/// The value of an expression and its partial derivatives at a point, as `shadergrad grad`
/// computes them (in f64 on the CPU backend); with `svg`, the circuit diagram written there.
#[pyfunction]
#[pyo3(signature = (expression, at, svg=None))]
fn grad(
    py: Python<'_>,
    expression: &str,
    at: Vec<(String, f64)>,
    svg: Option<std::path::PathBuf>,
) -> PyResult<(f64, Vec<(String, f64)>)> {
    py.detach(|| -> shadergrad::Result<_> {
        let expr = shadergrad::expr::parse(expression)?;
        let point = shadergrad::viz::at_point(&shadergrad::backend::cpu::CpuBackend::<f64>::new(), &expr, &at)?;
        if let Some(path) = &svg {
            shadergrad::io::write_atomic(path, point.circuit.to_svg().as_bytes())?;
        }
        Ok((point.value, point.gradients))
    })
    .map_err(errors::to_py)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<learner::Learner>()?;
    m.add_function(wrap_pyfunction!(grad, m)?)?;
    m.add_function(wrap_pyfunction!(learner::devices, m)?)?;
    Ok(())
}
