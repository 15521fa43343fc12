//! The CPU reference of the losses: softmax cross-entropy (label smoothing as PyTorch's), the
//! sigmoid binary cross-entropy on logits, and the mean squared error; each forward, backward,
//! and (for a training step) both at once.

use crate::engine::element::Element;
use crate::engine::error::Result;
use crate::engine::kernel::{Family, Kernel};
use crate::engine::op::UnaryOp;

use super::launch::{num, outside_family, CpuLaunch};

/// Runs a launch of a kernel of the losses family. A weighted loss takes its weights (summing to
/// 1) third, after the labels or targets; every other buffer moves one place on.
pub fn run<T: Element>(l: &CpuLaunch<T>) -> Result<()> {
    let weighted = l.kernel.weighted();
    // The buffers after the weights: binding `i` of the unweighted form.
    let at = |i: usize| i + weighted as usize;
    let weights = weighted.then(|| l.input(2));
    let w = weights.as_deref();
    // For the elementwise losses: each weight's elements (the example's labels or values).
    let per = match w {
        Some(w) => l.dim(0) / w.len().max(1),
        None => 1,
    };
    let (a, b) = (l.input(0), l.input(1));
    match l.kernel {
        Kernel::SoftmaxCe { smoothing, .. } => {
            let loss = softmax_ce(&a, &b, w, smoothing, l.dim(1), &mut l.output(at(2)));
            l.output(at(3))[0] = loss;
        }
        Kernel::SoftmaxCeGrad { smoothing, .. } => {
            let dloss = l.input(at(2))[0];
            let mut dx = l.output(at(3));
            dx.copy_from_slice(&a);
            softmax_ce_grad(&b, w, smoothing, dloss, l.dim(1), &mut dx);
        }
        Kernel::SoftmaxCeFused { smoothing, .. } => {
            // The softmax lands where its gradient goes, and becomes it there.
            let dloss = l.input(at(2))[0];
            let mut dx = l.output(at(4));
            l.output(at(3))[0] = softmax_ce(&a, &b, w, smoothing, l.dim(1), &mut dx);
            softmax_ce_grad(&b, w, smoothing, dloss, l.dim(1), &mut dx);
        }
        Kernel::SigmoidBce { .. } => {
            l.output(at(2))[0] = mean(&a, &b, w, per, |z, t| UnaryOp::Softplus.f(z) - z * t);
        }
        Kernel::SigmoidBceGrad { .. } => {
            let dloss = l.input(at(2))[0];
            gradient(&a, &b, w, per, dloss, &mut l.output(at(3)), |z, t| {
                UnaryOp::Sigmoid.f(z) - t
            });
        }
        Kernel::SigmoidBceFused { .. } => {
            let dloss = l.input(at(2))[0];
            l.output(at(3))[0] = mean(&a, &b, w, per, |z, t| UnaryOp::Softplus.f(z) - z * t);
            gradient(&a, &b, w, per, dloss, &mut l.output(at(4)), |z, t| {
                UnaryOp::Sigmoid.f(z) - t
            });
        }
        Kernel::Mse { .. } => {
            l.output(at(2))[0] = mean(&a, &b, w, per, |p, t| (p - t) * (p - t));
        }
        Kernel::MseGrad { .. } => {
            // d(p − t)²/dp = 2 (p − t): the 2 scales dloss (as the GPU's kernel scales it).
            let dloss = num::<T>(2.0) * l.input(at(2))[0];
            gradient(&a, &b, w, per, dloss, &mut l.output(at(3)), |p, t| p - t);
        }
        other => return Err(outside_family(&other, Family::Losses)),
    }
    Ok(())
}

/// The mean of `term(a, b)` over the elements (mean squared error, binary cross-entropy); with
/// weights (summing to 1), each example's mean over its `per` elements counts by its weight.
fn mean<T: Element>(a: &[T], b: &[T], weights: Option<&[T]>, per: usize, term: impl Fn(T, T) -> T) -> T {
    match weights {
        None => {
            let total: T = a.iter().zip(b).map(|(&a, &b)| term(a, b)).sum();
            total / num(a.len().max(1) as f64)
        }
        Some(w) => {
            let total: T = a
                .iter()
                .zip(b)
                .enumerate()
                .map(|(i, (&a, &b))| w[i / per] * term(a, b))
                .sum();
            total / num(per.max(1) as f64)
        }
    }
}

/// The gradient of [`mean`] for each element, `d(a, b) · dloss / n` (weighted: `· wᵢ / per`),
/// where `d` is the term's derivative in `a` (less a constant factor `dloss` carries).
fn gradient<T: Element>(
    a: &[T],
    b: &[T],
    weights: Option<&[T]>,
    per: usize,
    dloss: T,
    out: &mut [T],
    d: impl Fn(T, T) -> T,
) {
    let scale = match weights {
        None => dloss / num(a.len().max(1) as f64),
        Some(_) => dloss / num(per.max(1) as f64),
    };
    for (i, ((g, &a), &b)) in out.iter_mut().zip(a).zip(b).enumerate() {
        // Unweighted, the same product as before weights existed (bit for bit).
        *g = match weights {
            None => d(a, b) * scale,
            Some(w) => d(a, b) * (scale * w[i / per]),
        };
    }
}

/// Row-wise softmax of `[rows, cols]` logits into `probs`, and the mean cross-entropy against the
/// labels (one label a row), or with weights (summing to 1) each row's loss weighted by its own.
fn softmax_ce<T: Element>(
    logits: &[T],
    labels: &[T],
    weights: Option<&[T]>,
    smoothing: f64,
    cols: usize,
    probs: &mut [T],
) -> T {
    let mut total = T::zero();
    let s = num::<T>(smoothing);
    let cols = cols.max(1);
    for (r, ((x, p), &label)) in logits
        .chunks_exact(cols)
        .zip(probs.chunks_exact_mut(cols))
        .zip(labels)
        .enumerate()
    {
        // Subtracting the row max keeps exp() finite for logits of ±1e4.
        let max = x.iter().copied().fold(T::neg_infinity(), T::max);
        for (p, &v) in p.iter_mut().zip(x) {
            *p = (v - max).exp();
        }
        let sum: T = p.iter().copied().sum();
        for p in p.iter_mut() {
            *p = *p / sum;
        }
        let row = match class_index(label, cols) {
            // -log p[label] = log Σ e^(x - max) - (x[label] - max)
            Some(l) if smoothing == 0.0 => sum.ln() - (x[l] - max),
            // −Σ_j q_j log p_j, q = (1 − s)·onehot + s/cols
            Some(l) => {
                let mean = x.iter().map(|&v| v - max).sum::<T>() / num(cols as f64);
                sum.ln() - (T::one() - s) * (x[l] - max) - s * mean
            }
            None => T::nan(),
        };
        total = total + weights.map_or(row, |w| w[r] * row);
    }
    match weights {
        None => total / num(labels.len() as f64),
        Some(_) => total,
    }
}

/// `dlogits = (p − onehot) · dloss / rows` (weighted: `· wᵢ`), in place: `dx` holds the softmax
/// `p` on entry.
fn softmax_ce_grad<T: Element>(
    labels: &[T],
    weights: Option<&[T]>,
    smoothing: f64,
    dloss: T,
    cols: usize,
    dx: &mut [T],
) {
    let scale = dloss / num(labels.len() as f64);
    // The smoothed target: (1 − s) on the label, plus s/cols on every class.
    let (on, off) = if smoothing == 0.0 {
        (T::one(), T::zero())
    } else {
        let spread = num::<T>(smoothing / cols as f64);
        (num::<T>(1.0 - smoothing) + spread, spread)
    };
    for (r, (row, &label)) in dx.chunks_exact_mut(cols.max(1)).zip(labels).enumerate() {
        let scale = weights.map_or(scale, |w| dloss * w[r]);
        match class_index(label, cols) {
            Some(l) => {
                for (j, d) in row.iter_mut().enumerate() {
                    *d = (*d - if j == l { on } else { off }) * scale;
                }
            }
            None => row.fill(T::nan()),
        }
    }
}

/// The class a label value names, if it is a whole number in `0..classes`.
fn class_index<T: Element>(label: T, classes: usize) -> Option<usize> {
    let v = label.as_f64();
    (v >= 0.0 && v.fract() == 0.0 && v < classes as f64).then_some(v as usize)
}
