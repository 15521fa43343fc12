//! Elementwise ops, forward and backward side by side: the builders of unary and binary ops
//! (also as operators: `&a + &b`, `&x * 2.0`), the bias add and dropout, and their gradient rules.

use std::panic::Location;

use crate::engine::error::Result;
use crate::engine::kernel::Kernel;
use crate::engine::op::{BinaryOp, Operand, UnaryOp};

use super::rule::Rule;
use super::{bad, mismatch, Op, Tensor};

impl Tensor {
    fn unary(&self, op: UnaryOp) -> Tensor {
        self.graph.push(Op::unary(op), vec![self.id], Ok(self.shape()), None)
    }

    #[track_caller]
    fn binary(&self, op: BinaryOp, other: &Tensor) -> Tensor {
        let loc = Location::caller();
        let shape = self.same_shape(
            other,
            op.name(),
            "elementwise ops take tensors of one shape",
            self.shape(),
            loc,
        );
        self.graph.push(Op::binary(op), vec![self.id, other.id], shape, None)
    }

    /// `max(x, 0)`.
    pub fn relu(&self) -> Tensor {
        self.unary(UnaryOp::Relu)
    }
    /// `x` for positive x, else `alpha·x`.
    pub fn leaky_relu(&self, alpha: f64) -> Tensor {
        self.unary(UnaryOp::LeakyRelu(alpha))
    }
    /// `x` for positive x, else `alpha·(eˣ − 1)`.
    pub fn elu(&self, alpha: f64) -> Tensor {
        self.unary(UnaryOp::Elu(alpha))
    }
    /// `1 / (1 + e⁻ˣ)`.
    pub fn sigmoid(&self) -> Tensor {
        self.unary(UnaryOp::Sigmoid)
    }
    /// `tanh x`.
    pub fn tanh(&self) -> Tensor {
        self.unary(UnaryOp::Tanh)
    }
    /// GELU (tanh approximation).
    pub fn gelu(&self) -> Tensor {
        self.unary(UnaryOp::Gelu)
    }
    /// `x·σ(x)`.
    pub fn silu(&self) -> Tensor {
        self.unary(UnaryOp::Silu)
    }
    /// `ln(1 + eˣ)`, finite for any x.
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, check::run_once};
    /// let g = Graph::new();
    /// let x = g.input("x", [3]);
    /// let y = x.softplus();
    /// let out = run_once(&CpuBackend::<f64>::new(), &g, &[&y], &[(&x, &[-1e4, 0.0, 1e4])])?;
    /// assert_eq!((out[0][0], out[0][2]), (0.0, 1e4));
    /// assert!((out[0][1] - std::f64::consts::LN_2).abs() < 1e-15);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn softplus(&self) -> Tensor {
        self.unary(UnaryOp::Softplus)
    }
    /// `eˣ`.
    pub fn exp(&self) -> Tensor {
        self.unary(UnaryOp::Exp)
    }
    /// `ln x`.
    pub fn log(&self) -> Tensor {
        self.unary(UnaryOp::Log)
    }
    /// `1 / x`.
    pub fn recip(&self) -> Tensor {
        self.unary(UnaryOp::Recip)
    }
    /// `x²`.
    pub fn square(&self) -> Tensor {
        self.unary(UnaryOp::Square)
    }
    /// `√x`.
    pub fn sqrt(&self) -> Tensor {
        self.unary(UnaryOp::Sqrt)
    }
    /// `|x|`.
    pub fn abs(&self) -> Tensor {
        self.unary(UnaryOp::Abs)
    }
    /// `xᵖ` for a constant `p`.
    pub fn powf(&self, p: f64) -> Tensor {
        self.unary(UnaryOp::Pow(p))
    }
    /// `c·x`.
    pub fn scale(&self, c: f64) -> Tensor {
        self.unary(UnaryOp::Scale(c))
    }
    /// `x + c`.
    pub fn add_scalar(&self, c: f64) -> Tensor {
        self.unary(UnaryOp::AddScalar(c))
    }
    /// Applies any unary op.
    pub fn map(&self, op: UnaryOp) -> Tensor {
        self.unary(op)
    }

    /// The same values with the gradient stopped here.
    pub fn detach(&self) -> Tensor {
        self.graph.push(Op::Detach, vec![self.id], Ok(self.shape()), None)
    }

    /// Elementwise `max(self, other)`.
    #[track_caller]
    pub fn maximum(&self, other: &Tensor) -> Tensor {
        self.binary(BinaryOp::Max, other)
    }
    /// Elementwise `min(self, other)`.
    #[track_caller]
    pub fn minimum(&self, other: &Tensor) -> Tensor {
        self.binary(BinaryOp::Min, other)
    }
    /// Elementwise `self ^ other`.
    #[track_caller]
    pub fn pow(&self, other: &Tensor) -> Tensor {
        self.binary(BinaryOp::Pow, other)
    }
    /// Applies any binary op.
    #[track_caller]
    pub fn zip(&self, op: BinaryOp, other: &Tensor) -> Tensor {
        self.binary(op, other)
    }

    /// Adds `bias[j]` to every row: `[rows, cols] + [cols]`.
    #[track_caller]
    pub fn bias_add(&self, bias: &Tensor) -> Tensor {
        let loc = Location::caller();
        let shape = self.same_graph(bias, loc).and_then(|_| {
            let (x, b) = (self.shape(), bias.shape());
            if x.rank() != 2 {
                return Err(bad("bias_add", self, "bias_add takes a matrix [rows, cols]", loc));
            }
            if b.dims() != [x.dims()[1]] {
                return Err(mismatch(
                    "bias_add",
                    self,
                    bias,
                    "the bias must be a vector [cols]",
                    loc,
                ));
            }
            Ok(x)
        });
        self.graph
            .push(Op::Kernel(Kernel::BiasAdd), vec![self.id, bias.id], shape, None)
    }

    /// Inverted dropout: each element kept with probability `1 − p` and scaled by `1/(1 − p)`,
    /// else 0, by a mask drawn from the counter hash of (`stream`, the plan's step, the
    /// element's index), so it needs no random numbers uploaded and both backends draw the same
    /// masks. A plan draws new masks when its step changes ([`Plan::set_step`](crate::engine::plan::Plan::set_step)).
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, check::run_once};
    /// let g = Graph::new();
    /// let x = g.input("x", [1000]);
    /// let y = x.dropout(0.25, 7);
    /// let out = run_once(&CpuBackend::<f64>::new(), &g, &[&y], &[(&x, &[1.0; 1000])])?;
    /// let kept = out[0].iter().filter(|&&v| v != 0.0).count();
    /// assert!((700..800).contains(&kept), "{kept}");
    /// assert!(out[0].iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-15));
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn dropout(&self, p: f64, stream: u32) -> Tensor {
        let loc = Location::caller();
        let shape = if (0.0..1.0).contains(&p) {
            Ok(self.shape())
        } else {
            Err(bad(
                "dropout",
                self,
                &format!("drop probability {p} is not in [0, 1)"),
                loc,
            ))
        };
        let kernel = Kernel::Dropout { p, stream };
        self.graph.push(Op::Kernel(kernel), vec![self.id], shape, None)
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $op:expr, $scalar:expr) => {
        impl std::ops::$trait<&Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
                self.binary($op, rhs)
            }
        }
        impl std::ops::$trait<Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Tensor {
                self.binary($op, &rhs)
            }
        }
        impl std::ops::$trait<f64> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f64) -> Tensor {
                let f: fn(&Tensor, f64) -> Tensor = $scalar;
                f(self, rhs)
            }
        }
        impl std::ops::$trait<f64> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f64) -> Tensor {
                let f: fn(&Tensor, f64) -> Tensor = $scalar;
                f(&self, rhs)
            }
        }
    };
}

binary_operator!(Add, add, BinaryOp::Add, |t, c| t.add_scalar(c));
binary_operator!(Sub, sub, BinaryOp::Sub, |t, c| t.add_scalar(-c));
binary_operator!(Mul, mul, BinaryOp::Mul, |t, c| t.scale(c));
binary_operator!(Div, div, BinaryOp::Div, |t, c| t.scale(1.0 / c));

impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        self.unary(UnaryOp::Neg)
    }
}

impl std::ops::Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        self.unary(UnaryOp::Neg)
    }
}

/// The gradients of an elementwise kernel's inputs.
pub fn rule(r: &Rule<'_>, kernel: Kernel) -> Result<Vec<Option<Tensor>>> {
    let (x, y, dy) = (&r.x, &r.y, r.dy);
    Ok(match kernel {
        Kernel::Unary(UnaryOp::Identity | UnaryOp::AddScalar(_)) => vec![Some(dy.clone())],
        Kernel::Unary(UnaryOp::Neg) => vec![Some(-dy)],
        Kernel::Unary(UnaryOp::Scale(c)) => vec![Some(dy.scale(c))],
        Kernel::Unary(op) => vec![Some(r.grad(Kernel::UnaryGrad(op), &[&x[0], y, dy], &x[0]))],
        Kernel::Binary(BinaryOp::Add) => vec![r.only(0, || dy.clone()), r.only(1, || dy.clone())],
        Kernel::Binary(BinaryOp::Sub) => vec![r.only(0, || dy.clone()), r.only(1, || -dy)],
        Kernel::Binary(BinaryOp::Mul) => vec![r.only(0, || dy * &x[1]), r.only(1, || dy * &x[0])],
        Kernel::Binary(op) => vec![
            r.only(0, || {
                r.grad(Kernel::BinaryGrad(op, Operand::A), &[&x[0], &x[1], dy], &x[0])
            }),
            r.only(1, || {
                r.grad(Kernel::BinaryGrad(op, Operand::B), &[&x[0], &x[1], dy], &x[1])
            }),
        ],
        Kernel::BiasAdd => vec![r.only(0, || dy.clone()), r.only(1, || dy.col_sum())],
        // The same counters draw the same mask: dx = dropout(dy).
        Kernel::Dropout { .. } => vec![Some(r.grad(kernel, &[dy], &x[0]))],
        _ => return Err(r.not_differentiable()),
    })
}
