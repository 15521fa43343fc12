//! Losses, forward and backward side by side: softmax cross-entropy (with label smoothing),
//! sigmoid binary cross-entropy on logits, mean squared error, and their gradient rules.

use std::panic::Location;

use crate::engine::error::Result;
use crate::engine::kernel::Kernel;
use crate::engine::op::Broadcast;
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
        let shape = self.check_cross_entropy(labels, smoothing, loc);
        let kernel = Kernel::SoftmaxCe {
            smoothing,
            weighted: false,
        };
        self.graph
            .push(Op::Kernel(kernel), vec![self.id, labels.id], shape, None)
    }

    /// [`smoothed_cross_entropy`](Tensor::smoothed_cross_entropy) with each example's loss
    /// counting by its weight of `weights` `[batch]` (not negative, not all 0): the weighted mean
    /// `Σ wᵢ·lᵢ / Σ wᵢ`, as PyTorch's `CrossEntropyLoss(reduction="mean")` with `weight=` gives
    /// for per-class weights looked up by label. The weights take no gradient.
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, check::run_once};
    /// let g = Graph::new();
    /// let z = g.input("z", [2, 2]);
    /// let y = g.input("y", [2]);
    /// let w = g.input("w", [2]);
    /// let loss = z.weighted_cross_entropy(&y, &w, 0.0);
    /// let logits = [0.0, 0.0, 0.0, 1.0];
    /// let out = run_once(&CpuBackend::<f64>::new(), &g, &[&loss], &[(&z, &logits), (&y, &[0.0, 1.0]), (&w, &[3.0, 0.0])])?;
    /// assert!((out[0][0] - std::f64::consts::LN_2).abs() < 1e-15); // only the first row counts
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn weighted_cross_entropy(&self, labels: &Tensor, weights: &Tensor, smoothing: f64) -> Tensor {
        let loc = Location::caller();
        let shape = self
            .check_cross_entropy(labels, smoothing, loc)
            .and_then(|s| self.check_weights(weights, "weighted_cross_entropy", loc).map(|_| s));
        let kernel = Kernel::SoftmaxCe {
            smoothing,
            weighted: true,
        };
        let w = normalized(weights);
        self.graph
            .push(Op::Kernel(kernel), vec![self.id, labels.id, w.id], shape, None)
    }

    /// The output shape of a cross-entropy of these logits against `labels`, or why there is none.
    fn check_cross_entropy(&self, labels: &Tensor, smoothing: f64, loc: &Location<'_>) -> Result<Shape> {
        self.same_graph(labels, loc)?;
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
    }

    /// Checks that `weights` is of this graph and a vector `[batch]`, one weight for each of
    /// this tensor's leading rows.
    fn check_weights(&self, weights: &Tensor, op: &str, loc: &Location<'_>) -> Result<()> {
        self.same_graph(weights, loc)?;
        let batch = self.shape().dims().first().copied().unwrap_or(1);
        if weights.shape().dims() != [batch] {
            return Err(mismatch(
                op,
                self,
                weights,
                "weights must be a vector [batch], one for each example (row)",
                loc,
            ));
        }
        Ok(())
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
        self.elementwise_loss(
            Kernel::SigmoidBce { weighted: false },
            targets,
            None,
            Location::caller(),
        )
    }

    /// [`bce_with_logits`](Tensor::bce_with_logits) with each example (row) counting by its
    /// weight of `weights` `[batch]` (not negative, not all 0): `Σ wᵢ·lᵢ / Σ wᵢ` where `lᵢ` is
    /// the mean over row `i`. The targets and weights take no gradient.
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, check::run_once};
    /// let g = Graph::new();
    /// let z = g.input("z", [2, 1]);
    /// let t = g.input("t", [2, 1]);
    /// let w = g.input("w", [2]);
    /// let loss = z.weighted_bce_with_logits(&t, &w);
    /// let out = run_once(&CpuBackend::<f64>::new(), &g, &[&loss], &[(&z, &[0.0, 1e4]), (&t, &[1.0, 1.0]), (&w, &[1.0, 1.0])])?;
    /// assert!((out[0][0] - std::f64::consts::LN_2 / 2.0).abs() < 1e-12);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn weighted_bce_with_logits(&self, targets: &Tensor, weights: &Tensor) -> Tensor {
        self.elementwise_loss(
            Kernel::SigmoidBce { weighted: true },
            targets,
            Some(weights),
            Location::caller(),
        )
    }

    /// Mean squared error against `target` (same shape).
    #[track_caller]
    pub fn mse(&self, target: &Tensor) -> Tensor {
        self.elementwise_loss(Kernel::Mse { weighted: false }, target, None, Location::caller())
    }

    /// [`mse`](Tensor::mse) with each example (row) counting by its weight of `weights`
    /// `[batch]` (not negative, not all 0): `Σ wᵢ·lᵢ / Σ wᵢ` where `lᵢ` is the mean squared
    /// error of row `i`. The weights take no gradient.
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, check::run_once};
    /// let g = Graph::new();
    /// let p = g.input("p", [2, 1]);
    /// let t = g.input("t", [2, 1]);
    /// let w = g.input("w", [2]);
    /// let loss = p.weighted_mse(&t, &w);
    /// let out = run_once(&CpuBackend::<f64>::new(), &g, &[&loss], &[(&p, &[1.0, 5.0]), (&t, &[0.0, 0.0]), (&w, &[3.0, 1.0])])?;
    /// assert_eq!(out[0][0], (3.0 * 1.0 + 1.0 * 25.0) / 4.0);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn weighted_mse(&self, target: &Tensor, weights: &Tensor) -> Tensor {
        self.elementwise_loss(
            Kernel::Mse { weighted: true },
            target,
            Some(weights),
            Location::caller(),
        )
    }

    /// A loss of this prediction against `target` of its shape, weighted by `weights` when
    /// there are.
    fn elementwise_loss(
        &self,
        kernel: Kernel,
        target: &Tensor,
        weights: Option<&Tensor>,
        loc: &Location<'_>,
    ) -> Tensor {
        let name = kernel.name();
        let mut shape = self.same_shape(
            target,
            &name,
            "prediction and target must have one shape",
            Shape::scalar(),
            loc,
        );
        let mut inputs = vec![self.id, target.id];
        if let Some(weights) = weights {
            shape = shape.and_then(|s| self.check_weights(weights, &name, loc).map(|_| s));
            inputs.push(normalized(weights).id);
        }
        self.graph.push(Op::Kernel(kernel), inputs, shape, None)
    }
}

/// `weights / Σ weights`, what a weighted loss kernel takes: it then sums `ŵᵢ·lᵢ`, and no kernel
/// divides by the total. The total gains 1e-30 (nothing, to any total above 1e-22 in f32), so
/// that weights all 0 (a batch of a class weighted 0) give a loss of 0, not 0/0.
fn normalized(weights: &Tensor) -> Tensor {
    let shape = weights.shape();
    if shape.rank() != 1 {
        // The loss reports the shape; this only keeps the broadcast from adding a second error.
        return weights.clone();
    }
    let total = weights.sum().add_scalar(1e-30).named("Σ weights");
    (weights / &total.broadcast(Broadcast::Scalar, &shape)).named("weights / Σ weights")
}

/// The gradients of a loss's inputs (class labels and 0/1 targets take none).
pub fn rule(r: &Rule<'_>, kernel: Kernel) -> Result<Vec<Option<Tensor>>> {
    let (x, y, dy) = (&r.x, &r.y, r.dy);
    Ok(match kernel {
        // A weighted loss's weights (its third input) take no gradient, and its backward reads
        // them after the labels or targets.
        Kernel::SoftmaxCe { smoothing, weighted } => {
            let dx = r.only(0, || {
                let reads: Vec<&Tensor> = [y, &x[1]].into_iter().chain(&x[2..]).chain([dy]).collect();
                r.grad(Kernel::SoftmaxCeGrad { smoothing, weighted }, &reads, &x[0])
            });
            // Labels are class indices: no gradient.
            [vec![dx, None], vec![None; x.len() - 2]].concat()
        }
        Kernel::SigmoidBce { weighted } => {
            let reads: Vec<&Tensor> = x.iter().chain([dy]).collect();
            let dz = r.only(0, || r.grad(Kernel::SigmoidBceGrad { weighted }, &reads, &x[0]));
            // Targets are labels: no gradient.
            [vec![dz, None], vec![None; x.len() - 2]].concat()
        }
        Kernel::Mse { weighted } => {
            let reads: Vec<&Tensor> = x.iter().chain([dy]).collect();
            let dp = r.grad(Kernel::MseGrad { weighted }, &reads, &x[0]);
            let dt = r.only(1, || -&dp);
            [vec![r.want(0).then_some(dp), dt], vec![None; x.len() - 2]].concat()
        }
        _ => return Err(r.not_differentiable()),
    })
}
