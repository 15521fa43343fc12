//! The CPU reference of the losses: softmax cross-entropy (label smoothing as PyTorch's), the
//! sigmoid binary cross-entropy on logits, and the mean squared error; each forward, backward,
//! and (for a training step) both at once.

use crate::engine::element::Element;
use crate::engine::error::Result;
use crate::engine::kernel::{Family, Kernel};
use crate::engine::op::UnaryOp;

use super::launch::{num, outside_family, CpuLaunch};

/// Runs a launch of a kernel of the losses family.
pub fn run<T: Element>(l: &CpuLaunch<T>) -> Result<()> {
    match l.kernel {
        Kernel::SoftmaxCe { smoothing } => {
            let (logits, labels) = (l.input(0), l.input(1));
            let loss = softmax_ce(&logits, &labels, smoothing, l.dim(1), &mut l.output(2));
            l.output(3)[0] = loss;
        }
        Kernel::SoftmaxCeGrad { smoothing } => {
            let (probs, labels, dloss) = (l.input(0), l.input(1), l.input(2));
            let mut dx = l.output(3);
            dx.copy_from_slice(&probs);
            softmax_ce_grad(&labels, smoothing, dloss[0], l.dim(1), &mut dx);
        }
        Kernel::SoftmaxCeFused { smoothing } => {
            // The softmax lands where its gradient goes, and becomes it there.
            let (logits, labels, dloss) = (l.input(0), l.input(1), l.input(2));
            let mut dx = l.output(4);
            l.output(3)[0] = softmax_ce(&logits, &labels, smoothing, l.dim(1), &mut dx);
            softmax_ce_grad(&labels, smoothing, dloss[0], l.dim(1), &mut dx);
        }
        Kernel::SigmoidBce => {
            let (z, t) = (l.input(0), l.input(1));
            l.output(2)[0] = sigmoid_bce(&z, &t);
        }
        Kernel::SigmoidBceGrad => {
            let (z, t, dloss) = (l.input(0), l.input(1), l.input(2));
            sigmoid_bce_grad(&z, &t, dloss[0], &mut l.output(3));
        }
        Kernel::SigmoidBceFused => {
            let (z, t, dloss) = (l.input(0), l.input(1), l.input(2));
            l.output(3)[0] = sigmoid_bce(&z, &t);
            sigmoid_bce_grad(&z, &t, dloss[0], &mut l.output(4));
        }
        Kernel::Mse => {
            let (pred, target) = (l.input(0), l.input(1));
            let sum: T = pred.iter().zip(target.iter()).map(|(&p, &t)| (p - t) * (p - t)).sum();
            l.output(2)[0] = sum / num(l.dim(0) as f64);
        }
        Kernel::MseGrad => {
            let (pred, target, dloss) = (l.input(0), l.input(1), l.input(2));
            let scale = num::<T>(2.0) * dloss[0] / num(l.dim(0) as f64);
            for (i, dp) in l.output(3).iter_mut().enumerate() {
                *dp = (pred[i] - target[i]) * scale;
            }
        }
        other => return Err(outside_family(&other, Family::Losses)),
    }
    Ok(())
}

/// Row-wise softmax of `[rows, cols]` logits into `probs`, and the mean cross-entropy against the
/// labels (one label a row).
fn softmax_ce<T: Element>(logits: &[T], labels: &[T], smoothing: f64, cols: usize, probs: &mut [T]) -> T {
    let mut total = T::zero();
    let s = num::<T>(smoothing);
    let cols = cols.max(1);
    for ((x, p), &label) in logits.chunks_exact(cols).zip(probs.chunks_exact_mut(cols)).zip(labels) {
        // Subtracting the row max keeps exp() finite for logits of ±1e4.
        let max = x.iter().copied().fold(T::neg_infinity(), T::max);
        for (p, &v) in p.iter_mut().zip(x) {
            *p = (v - max).exp();
        }
        let sum: T = p.iter().copied().sum();
        for p in p.iter_mut() {
            *p = *p / sum;
        }
        total = total
            + match class_index(label, cols) {
                // -log p[label] = log Σ e^(x - max) - (x[label] - max)
                Some(l) if smoothing == 0.0 => sum.ln() - (x[l] - max),
                // −Σ_j q_j log p_j, q = (1 − s)·onehot + s/cols
                Some(l) => {
                    let mean = x.iter().map(|&v| v - max).sum::<T>() / num(cols as f64);
                    sum.ln() - (T::one() - s) * (x[l] - max) - s * mean
                }
                None => T::nan(),
            };
    }
    total / num(labels.len() as f64)
}

/// Mean of `softplus(z) − z·t`: −t·ln σ(z) − (1 − t)·ln(1 − σ(z)) written so that neither log
/// nor exp overflows for logits of ±1e4 (softplus is `max(z, 0) + ln(1 + e^−|z|)`).
fn sigmoid_bce<T: Element>(z: &[T], t: &[T]) -> T {
    let total: T = z.iter().zip(t).map(|(&z, &t)| UnaryOp::Softplus.f(z) - z * t).sum();
    total / num(z.len().max(1) as f64)
}

/// `dz = (σ(z) − t) · dloss / n`.
fn sigmoid_bce_grad<T: Element>(z: &[T], t: &[T], dloss: T, dz: &mut [T]) {
    let scale = dloss / num(z.len().max(1) as f64);
    for ((d, &z), &t) in dz.iter_mut().zip(z).zip(t) {
        *d = (UnaryOp::Sigmoid.f(z) - t) * scale;
    }
}

/// `dlogits = (p − onehot) · dloss / rows`, in place: `dx` holds the softmax `p` on entry.
fn softmax_ce_grad<T: Element>(labels: &[T], smoothing: f64, dloss: T, cols: usize, dx: &mut [T]) {
    let scale = dloss / num(labels.len() as f64);
    // The smoothed target: (1 − s) on the label, plus s/cols on every class.
    let (on, off) = if smoothing == 0.0 {
        (T::one(), T::zero())
    } else {
        let spread = num::<T>(smoothing / cols as f64);
        (num::<T>(1.0 - smoothing) + spread, spread)
    };
    for (row, &label) in dx.chunks_exact_mut(cols.max(1)).zip(labels) {
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
