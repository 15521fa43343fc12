//! The matrix product, forward and backward side by side: `matmul`, `matmul_t` (transposes as
//! flags, never materialised) and the PyTorch-layout `linear`, and the product's gradient rule.

use std::panic::Location;

use crate::engine::error::Result;
use crate::engine::kernel::Kernel;
use crate::engine::op::Epilogue;
use crate::engine::shape::Shape;

use super::rule::Rule;
use super::{bad, mismatch, Op, Tensor};

impl Tensor {
    /// The matrix product `self · other`.
    ///
    /// ```
    /// use shadergrad::Graph;
    /// let g = Graph::new();
    /// let a = g.input("a", [2, 3]);
    /// let b = g.input("b", [4, 3]);
    /// assert_eq!(a.matmul(&b).shape().dims(), &[0usize; 0]); // [2,3]·[4,3]: recorded error
    /// assert!(g.check().unwrap_err().to_string().contains("b has shape [4, 3]"));
    /// ```
    #[track_caller]
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        self.matmul_t(other, false, false)
    }

    /// `op(self) · op(other)` where `op` transposes when its flag is set, without materialising
    /// the transpose (the seeds' `dW = dD·Xᵀ`).
    #[track_caller]
    pub fn matmul_t(&self, other: &Tensor, ta: bool, tb: bool) -> Tensor {
        let loc = Location::caller();
        let shape = self.same_graph(other, loc).and_then(|_| {
            let (a, b) = (self.shape(), other.shape());
            for (t, s) in [(self, &a), (other, &b)] {
                if s.rank() != 2 {
                    return Err(bad("matmul", t, "a matmul operand must be a matrix [rows, cols]", loc));
                }
            }
            let (m, ka) = if ta {
                (a.dims()[1], a.dims()[0])
            } else {
                (a.dims()[0], a.dims()[1])
            };
            let (kb, n) = if tb {
                (b.dims()[1], b.dims()[0])
            } else {
                (b.dims()[0], b.dims()[1])
            };
            if ka != kb {
                let why = format!(
                    "the inner dimensions of {}·{} differ ({ka} vs {kb})",
                    if ta { "Aᵀ" } else { "A" },
                    if tb { "Bᵀ" } else { "B" }
                );
                return Err(mismatch("matmul", self, other, &why, loc));
            }
            Ok(Shape::from([m, n]))
        });
        let kernel = Kernel::Matmul {
            ta,
            tb,
            bias: false,
            epilogue: Epilogue::None,
        };
        self.graph
            .push(Op::Kernel(kernel), vec![self.id, other.id], shape, None)
    }

    /// A PyTorch-layout linear layer: `self · weightᵀ + bias`, weight `[out, in]`, bias `[out]`.
    #[track_caller]
    pub fn linear(&self, weight: &Tensor, bias: &Tensor) -> Tensor {
        self.matmul_t(weight, false, true).bias_add(bias)
    }
}

/// The gradients of a product's inputs. C = op(A)·op(B): dop(A) = dC·op(B)ᵀ and
/// dop(B) = op(A)ᵀ·dC, each written as one matmul with flags on the stored matrices, so no
/// transpose is ever materialised. Products with epilogues are made by fusion, after autodiff.
pub fn rule(r: &Rule<'_>, kernel: Kernel) -> Result<Vec<Option<Tensor>>> {
    let Kernel::Matmul {
        ta,
        tb,
        bias: false,
        epilogue: Epilogue::None,
    } = kernel
    else {
        return Err(r.not_differentiable());
    };
    let (a, b, dy) = (&r.x[0], &r.x[1], r.dy);
    Ok(vec![
        r.only(0, || {
            if ta {
                b.matmul_t(dy, tb, true)
            } else {
                dy.matmul_t(b, false, !tb)
            }
        }),
        r.only(1, || {
            if tb {
                dy.matmul_t(a, true, ta)
            } else {
                a.matmul_t(dy, !ta, false)
            }
        }),
    ])
}
