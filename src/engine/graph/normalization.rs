//! Layer and batch norm, forward and backward side by side: `normalize` and `normalize_affine`
//! (gain and bias applied in the same launch), and their gradient rule.

use std::panic::Location;

use crate::engine::error::Result;
use crate::engine::kernel::Kernel;
use crate::engine::op::Axis;

use super::rule::Rule;
use super::{bad, mismatch, Op, Tensor};

impl Tensor {
    /// Each row (`Axis::Rows`, a layer norm) or column (`Axis::Columns`, a batch norm) of a
    /// matrix minus its mean, over the square root of its biased variance plus `eps`.
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, check::run_once, op::Axis};
    /// let g = Graph::new();
    /// let x = g.input("x", [1, 2]);
    /// let y = x.normalize(Axis::Rows, 0.0);
    /// let out = run_once(&CpuBackend::<f64>::new(), &g, &[&y], &[(&x, &[1.0, 3.0])])?;
    /// assert_eq!(out[0], [-1.0, 1.0]);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn normalize(&self, axis: Axis, eps: f64) -> Tensor {
        let cols = self.shape().dims().get(1).copied().unwrap_or(0);
        let gain = self.graph.constant("ones", [cols], vec![1.0; cols]);
        let bias = self.graph.constant("zeros", [cols], vec![0.0; cols]);
        self.normalize_affine(axis, eps, &gain, &bias)
    }

    /// [`normalize`](Tensor::normalize), then `· gain[j] + bias[j]` (`[cols]` each) in the same
    /// launch: a layer norm (`Axis::Rows`) or a training batch norm (`Axis::Columns`).
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, check::run_once, op::Axis};
    /// let g = Graph::new();
    /// let x = g.input("x", [1, 2]);
    /// let y = x.normalize_affine(Axis::Rows, 0.0, &g.constant("g", [2], vec![2.0, 3.0]), &g.constant("b", [2], vec![0.5, 0.5]));
    /// let out = run_once(&CpuBackend::<f64>::new(), &g, &[&y], &[(&x, &[1.0, 3.0])])?;
    /// assert_eq!(out[0], [-1.5, 3.5]);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn normalize_affine(&self, axis: Axis, eps: f64, gain: &Tensor, bias: &Tensor) -> Tensor {
        let loc = Location::caller();
        let s = self.shape();
        let cols = s.dims().get(1).copied().unwrap_or(0);
        let shape = self
            .same_graph(gain, loc)
            .and_then(|_| self.same_graph(bias, loc))
            .and_then(|_| {
                if s.rank() != 2 {
                    return Err(bad("normalize", self, "normalize takes a matrix [rows, cols]", loc));
                }
                for t in [gain, bias] {
                    if t.shape().dims() != [cols] {
                        return Err(mismatch("normalize", self, t, "gain and bias are [cols]", loc));
                    }
                }
                Ok(s.clone())
            });
        let kernel = Kernel::Normalize { axis, eps };
        self.graph
            .push(Op::Kernel(kernel), vec![self.id, gain.id, bias.id], shape, None)
    }
}

/// The gradients of a normalisation's input, gain and bias. y = x̂·gain + bias: dx in one
/// launch, dgain = Σ_rows dy·x̂ (x̂ recomputed), dbias = Σ_rows dy.
pub fn rule(r: &Rule<'_>, kernel: Kernel) -> Result<Vec<Option<Tensor>>> {
    let Kernel::Normalize { axis, eps } = kernel else {
        return Err(r.not_differentiable());
    };
    let (x, dy) = (&r.x, r.dy);
    Ok(vec![
        r.only(0, || {
            r.grad(Kernel::NormalizeGrad { axis, eps }, &[&x[0], &x[1], dy], &x[0])
        }),
        r.only(1, || (dy * &x[0].normalize(axis, eps)).col_sum()),
        r.only(2, || dy.col_sum()),
    ])
}
