//! Reductions, forward and backward side by side: sums and maxima over everything, rows or
//! columns, their broadcasts back, the log-softmax, and their gradient rules.

use std::panic::Location;

use crate::engine::error::Result;
use crate::engine::kernel::Kernel;
use crate::engine::op::Broadcast;
use crate::engine::shape::Shape;

use super::rule::Rule;
use super::{bad, Op, Tensor};

impl Tensor {
    /// A row-wise op of a matrix: `out` gives the output shape from the input's.
    fn rowwise(&self, kernel: Kernel, loc: &Location<'_>, out: impl Fn(&Shape) -> Shape) -> Tensor {
        let s = self.shape();
        let shape = if s.rank() == 2 {
            Ok(out(&s))
        } else {
            let what = format!("{} takes a matrix [rows, cols]", kernel.name());
            Err(bad(&kernel.name(), self, &what, loc))
        };
        self.graph.push(Op::Kernel(kernel), vec![self.id], shape, None)
    }

    /// The sum of every element (a scalar).
    #[track_caller]
    pub fn sum(&self) -> Tensor {
        self.graph
            .push(Op::Kernel(Kernel::SumAll), vec![self.id], Ok(Shape::scalar()), None)
    }
    /// The mean of every element (a scalar).
    #[track_caller]
    pub fn mean(&self) -> Tensor {
        let n = self.shape().len().max(1) as f64;
        self.sum().scale(1.0 / n)
    }
    /// Sums over each row: `[r, c] → [r]`.
    #[track_caller]
    pub fn row_sum(&self) -> Tensor {
        self.rowwise(Kernel::RowSum, Location::caller(), |s| Shape::from([s.dims()[0]]))
    }
    /// Sums over each column: `[r, c] → [c]`.
    #[track_caller]
    pub fn col_sum(&self) -> Tensor {
        self.rowwise(Kernel::ColSum, Location::caller(), |s| Shape::from([s.dims()[1]]))
    }
    /// The max of each row: `[r, c] → [r]`.
    #[track_caller]
    pub fn row_max(&self) -> Tensor {
        self.rowwise(Kernel::RowMax, Location::caller(), |s| Shape::from([s.dims()[0]]))
    }

    /// The log of each row's softmax, `x − ln Σ eˣ` row by row: `[r, c] → [r, c]`, finite for
    /// logits of ±1e4.
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, check::run_once};
    /// let g = Graph::new();
    /// let x = g.input("x", [1, 2]);
    /// let y = x.log_softmax();
    /// let out = run_once(&CpuBackend::<f64>::new(), &g, &[&y], &[(&x, &[0.0, 0.0])])?;
    /// assert!(out[0].iter().all(|v| (v + std::f64::consts::LN_2).abs() < 1e-15));
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn log_softmax(&self) -> Tensor {
        self.rowwise(Kernel::LogSoftmax, Location::caller(), Shape::clone)
    }

    /// Spreads `self` (a scalar, `[rows]` or `[cols]`) over `shape` `[rows, cols]`.
    #[track_caller]
    pub fn broadcast(&self, mode: Broadcast, shape: &Shape) -> Tensor {
        let loc = Location::caller();
        let (rows, cols) = shape.as_matrix();
        let want = match mode {
            Broadcast::Scalar => 1,
            Broadcast::Rows => rows,
            Broadcast::Cols => cols,
        };
        let ok = self.shape().len() == want && (shape.rank() == 2 || mode == Broadcast::Scalar);
        let result = if ok {
            Ok(shape.clone())
        } else {
            Err(bad(
                "broadcast",
                self,
                &format!("cannot be spread {mode:?} over {shape}"),
                loc,
            ))
        };
        self.graph
            .push(Op::Kernel(Kernel::Broadcast(mode)), vec![self.id], result, None)
    }
}

/// The gradients of a reduction's input.
pub fn rule(r: &Rule<'_>, kernel: Kernel) -> Result<Vec<Option<Tensor>>> {
    let (x, y, dy) = (&r.x, &r.y, r.dy);
    Ok(match kernel {
        Kernel::SumAll => vec![Some(dy.broadcast(Broadcast::Scalar, &x[0].shape()))],
        Kernel::RowSum => vec![Some(dy.broadcast(Broadcast::Rows, &x[0].shape()))],
        Kernel::ColSum => vec![Some(dy.broadcast(Broadcast::Cols, &x[0].shape()))],
        Kernel::RowMax => vec![Some(r.grad(Kernel::RowMaxGrad, &[&x[0], y, dy], &x[0]))],
        Kernel::Broadcast(Broadcast::Scalar) => vec![Some(dy.sum())],
        Kernel::Broadcast(Broadcast::Rows) => vec![Some(dy.row_sum())],
        Kernel::Broadcast(Broadcast::Cols) => vec![Some(dy.col_sum())],
        // y = x − ln Σ eˣ: dx = dy − softmax(x)·Σ dy, softmax read off y as e^y.
        Kernel::LogSoftmax => vec![Some(r.grad(Kernel::LogSoftmaxGrad, &[y, dy], &x[0]))],
        _ => return Err(r.not_differentiable()),
    })
}
