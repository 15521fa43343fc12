//! The op builders of [`Tensor`]: each checks its operands' shapes, records a mismatch (never
//! panics) and adds one node. Elementwise ops also come as operators (`&a + &b`, `&x * 2.0`).

use std::panic::Location;

use super::{bad, mismatch, Op, Tensor};
use crate::backend::Kernel;
use crate::op::{Axis, BinaryOp, Broadcast, Epilogue, UnaryOp};
use crate::shape::Shape;

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

    /// A PyTorch-layout linear layer: `self · weightᵀ + bias`, weight `[out, in]`, bias `[out]`.
    #[track_caller]
    pub fn linear(&self, weight: &Tensor, bias: &Tensor) -> Tensor {
        self.matmul_t(weight, false, true).bias_add(bias)
    }

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

    /// Mean softmax cross-entropy of these logits `[batch, classes]` against `labels`
    /// `[batch]` (class indices as numbers). The softmax is fused in and max-subtracted.
    #[track_caller]
    pub fn softmax_cross_entropy(&self, labels: &Tensor) -> Tensor {
        self.smoothed_cross_entropy(labels, 0.0)
    }

    /// [`softmax_cross_entropy`](Tensor::softmax_cross_entropy) against labels smoothed by
    /// `smoothing` in `[0, 1)`, as PyTorch's `CrossEntropyLoss(label_smoothing=smoothing)`: the
    /// target puts `1 − smoothing` on the label and `smoothing / classes` on every class.
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, check::run_once};
    /// let g = Graph::new();
    /// let z = g.input("z", [1, 2]);
    /// let y = g.input("y", [1]);
    /// let loss = z.smoothed_cross_entropy(&y, 0.2);
    /// let out = run_once(&CpuBackend::<f64>::new(), &g, &[&loss], &[(&z, &[0.0, 0.0]), (&y, &[1.0])])?;
    /// assert!((out[0][0] - std::f64::consts::LN_2).abs() < 1e-15); // uniform logits: ln 2 whatever the target
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn smoothed_cross_entropy(&self, labels: &Tensor, smoothing: f64) -> Tensor {
        let loc = Location::caller();
        let shape = self.same_graph(labels, loc).and_then(|_| {
            let (x, l) = (self.shape(), labels.shape());
            if !(0.0..1.0).contains(&smoothing) {
                return Err(bad(
                    "softmax_cross_entropy",
                    self,
                    &format!("label smoothing {smoothing} is not in [0, 1)"),
                    loc,
                ));
            }
            if x.rank() != 2 {
                return Err(bad(
                    "softmax_cross_entropy",
                    self,
                    "logits must be a matrix [batch, classes]",
                    loc,
                ));
            }
            if l.dims() != [x.dims()[0]] {
                return Err(mismatch(
                    "softmax_cross_entropy",
                    self,
                    labels,
                    "labels must be a vector [batch]",
                    loc,
                ));
            }
            Ok(Shape::scalar())
        });
        let kernel = Kernel::SoftmaxCe { smoothing };
        self.graph
            .push(Op::Kernel(kernel), vec![self.id, labels.id], shape, None)
    }

    /// Inverted dropout: each element kept with probability `1 − p` and scaled by `1/(1 − p)`,
    /// else 0, by a mask drawn from the counter hash of (`stream`, the plan's step, the
    /// element's index), so it needs no random numbers uploaded and both backends draw the same
    /// masks. A plan draws new masks when its step changes ([`Plan::set_step`](crate::Plan::set_step)).
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

    /// Mean binary cross-entropy of these logits against 0/1 `targets` of the same shape
    /// (PyTorch's `BCEWithLogitsLoss`): a multi-label loss, finite for logits of ±1e4. The
    /// targets take no gradient.
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, check::run_once};
    /// let g = Graph::new();
    /// let z = g.input("z", [1, 2]);
    /// let t = g.input("t", [1, 2]);
    /// let loss = z.bce_with_logits(&t);
    /// let out = run_once(&CpuBackend::<f64>::new(), &g, &[&loss], &[(&z, &[0.0, 1e4]), (&t, &[1.0, 1.0])])?;
    /// assert!((out[0][0] - std::f64::consts::LN_2 / 2.0).abs() < 1e-12);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn bce_with_logits(&self, targets: &Tensor) -> Tensor {
        let loc = Location::caller();
        let shape = self.same_shape(
            targets,
            "bce_with_logits",
            "logits and targets must have one shape",
            Shape::scalar(),
            loc,
        );
        self.graph
            .push(Op::Kernel(Kernel::SigmoidBce), vec![self.id, targets.id], shape, None)
    }

    /// Mean squared error against `target` (same shape).
    #[track_caller]
    pub fn mse(&self, target: &Tensor) -> Tensor {
        let loc = Location::caller();
        let shape = self.same_shape(
            target,
            "mse",
            "prediction and target must have one shape",
            Shape::scalar(),
            loc,
        );
        self.graph
            .push(Op::Kernel(Kernel::Mse), vec![self.id, target.id], shape, None)
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
