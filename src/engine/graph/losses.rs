//! Losses, forward and backward side by side: softmax cross-entropy (with label smoothing),
//! sigmoid binary cross-entropy on logits, mean squared error, and their gradient rules.

use std::panic::Location;

use crate::engine::error::Result;
use crate::engine::kernel::Kernel;
use crate::engine::shape::Shape;

use super::rule::Rule;
use super::{bad, mismatch, Op, Tensor};

impl Tensor {
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

/// The gradients of a loss's inputs (class labels and 0/1 targets take none).
pub fn rule(r: &Rule<'_>, kernel: Kernel) -> Result<Vec<Option<Tensor>>> {
    let (x, y, dy) = (&r.x, &r.y, r.dy);
    Ok(match kernel {
        Kernel::SoftmaxCe { smoothing } => vec![
            r.only(0, || {
                r.grad(Kernel::SoftmaxCeGrad { smoothing }, &[y, &x[1], dy], &x[0])
            }),
            None, // labels are class indices: no gradient
        ],
        Kernel::SigmoidBce => vec![
            r.only(0, || r.grad(Kernel::SigmoidBceGrad, &[&x[0], &x[1], dy], &x[0])),
            None, // targets are labels: no gradient
        ],
        Kernel::Mse => {
            let dp = r.grad(Kernel::MseGrad, &[&x[0], &x[1], dy], &x[0]);
            let dt = r.only(1, || -&dp);
            vec![r.want(0).then_some(dp), dt]
        }
        _ => return Err(r.not_differentiable()),
    })
}
