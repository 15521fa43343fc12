//! The CPU reference of the losses: softmax cross-entropy (label smoothing as PyTorch's), the
//! sigmoid binary cross-entropy on logits, and the mean squared error; each forward, backward,
//! and (for a training step) both at once.

use crate::engine::element::Element;
use crate::engine::error::Result;
use crate::engine::kernel::{Family, Kernel};
use crate::engine::op::UnaryOp;

use crate::engine::pool::{split, Rows};

use super::launch::{num, outside_family, CpuLaunch, GRAIN};

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
            let loss = softmax_ce(&a, &b, w, smoothing, l.dim(1), &mut l.output(at(2)), None);
            l.output(at(3))[0] = loss;
        }
        Kernel::SoftmaxCeGrad { smoothing, .. } => {
            let dloss = l.input(at(2))[0];
            let mut dx = l.output(at(3));
            dx.copy_from_slice(&a);
            softmax_ce_grad(&b, w, smoothing, dloss, b.len(), l.dim(1), &mut dx);
        }
        Kernel::SoftmaxCeFused { smoothing, .. } => {
            // The softmax lands where its gradient goes, and becomes it there.
            let dloss = l.input(at(2))[0];
            let mut dx = l.output(at(4));
            l.output(at(3))[0] = softmax_ce(&a, &b, w, smoothing, l.dim(1), &mut dx, Some(dloss));
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
/// labels (one label a row), or with weights (summing to 1) each row's loss weighted by its own;
/// with `dloss`, each row's probabilities then become its gradient ([`softmax_ce_grad`]) while
/// they are in cache.
///
/// Rows are split over the workers (each costs `cols` exponentials: a batch of 2048 took 98 µs
/// of a 6 ms step on one thread), each row's loss kept apart and the losses summed in row
/// order afterwards: the bits of one thread's loop.
fn softmax_ce<T: Element>(
    logits: &[T],
    labels: &[T],
    weights: Option<&[T]>,
    smoothing: f64,
    cols: usize,
    probs: &mut [T],
    dloss: Option<T>,
) -> T {
    let s = num::<T>(smoothing);
    let cols = cols.max(1);
    let rows = labels.len();
    let mut losses = vec![T::zero(); rows];
    // An exponential costs about what 16 values of a simple loop do.
    let grain = (GRAIN / 16).div_ceil(cols);
    split(
        (Rows::new(probs, cols), &mut losses[..]),
        grain,
        |start, (probs, losses)| {
            let probs = probs.into_inner();
            let logits = logits[start * cols..].chunks_exact(cols);
            for (r, ((x, p), loss)) in logits
                .zip(probs.chunks_exact_mut(cols))
                .zip(losses.iter_mut())
                .enumerate()
            {
                let r = start + r;
                // Subtracting the row max keeps exp() finite for logits of ±1e4.
                let max = x.iter().copied().fold(T::neg_infinity(), T::max);
                for (p, &v) in p.iter_mut().zip(x) {
                    *p = (v - max).exp();
                }
                let sum: T = p.iter().copied().sum();
                for p in p.iter_mut() {
                    *p = *p / sum;
                }
                let row = match class_index(labels[r], cols) {
                    // -log p[label] = log Σ e^(x - max) - (x[label] - max)
                    Some(l) if smoothing == 0.0 => sum.ln() - (x[l] - max),
                    // −Σ_j q_j log p_j, q = (1 − s)·onehot + s/cols
                    Some(l) => {
                        let mean = x.iter().map(|&v| v - max).sum::<T>() / num(cols as f64);
                        sum.ln() - (T::one() - s) * (x[l] - max) - s * mean
                    }
                    None => T::nan(),
                };
                *loss = weights.map_or(row, |w| w[r] * row);
            }
            if let Some(dloss) = dloss {
                let n = probs.len() / cols;
                let weights = weights.map(|w| &w[start..start + n]);
                softmax_ce_grad(&labels[start..start + n], weights, smoothing, dloss, rows, cols, probs);
            }
        },
    );
    let total = losses.into_iter().fold(T::zero(), |total, loss| total + loss);
    match weights {
        None => total / num(rows as f64),
        Some(_) => total,
    }
}

/// `dlogits = (p − onehot) · dloss / rows` (weighted: `· wᵢ`), in place: `dx` holds the softmax
/// `p` on entry, of these `labels`' rows of a batch of `rows`.
fn softmax_ce_grad<T: Element>(
    labels: &[T],
    weights: Option<&[T]>,
    smoothing: f64,
    dloss: T,
    rows: usize,
    cols: usize,
    dx: &mut [T],
) {
    let scale = dloss / num(rows as f64);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch split over the workers gives the bits of its rows taken one at a time: the loss
    /// (the rows' losses summed in order) and every gradient value, weighted and smoothed or not.
    #[test]
    fn softmax_ce_split_over_threads_gives_each_rows_bits() {
        // 1000 rows of 10: pieces of 205 rows or more, so several where there are workers.
        let (rows, cols) = (1000, 10);
        let logits: Vec<f32> = (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let labels: Vec<f32> = (0..rows).map(|r| (r * 7 % cols) as f32).collect();
        let weights: Vec<f32> = (0..rows).map(|r| (1 + r % 3) as f32 / 2000.0).collect();
        let dloss = 0.5f32;
        for (weights, smoothing) in [(None, 0.0), (Some(&weights[..]), 0.1)] {
            let mut grad = vec![0f32; rows * cols];
            let loss = softmax_ce(&logits, &labels, weights, smoothing, cols, &mut grad, Some(dloss));
            // Row by row: a one-row batch's gradient scales by its dloss alone, so it is given
            // the batch's dloss / rows; a weighted row's loss is already weighted.
            let mut total = 0f32;
            for r in 0..rows {
                let mut row_grad = vec![0f32; cols];
                let (row_dloss, row_weights) = match weights {
                    None => (dloss / rows as f32, None),
                    Some(w) => (dloss, Some(&w[r..r + 1])),
                };
                let row = &logits[r * cols..][..cols];
                total += softmax_ce(
                    row,
                    &labels[r..r + 1],
                    row_weights,
                    smoothing,
                    cols,
                    &mut row_grad,
                    Some(row_dloss),
                );
                let same = row_grad
                    .iter()
                    .zip(&grad[r * cols..])
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "weighted {}: row {r}'s gradient", weights.is_some());
            }
            let want = if weights.is_some() { total } else { total / rows as f32 };
            assert_eq!(
                loss.to_bits(),
                want.to_bits(),
                "weighted {}: the loss",
                weights.is_some()
            );
        }
    }
}
