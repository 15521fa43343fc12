//! The CPU reference of layer and batch norm: each row or column normalised by its mean and biased
//! variance, then scaled and shifted; and the backward to the input, the statistics recomputed.

use crate::engine::element::Element;
use crate::engine::error::Result;
use crate::engine::kernel::{Family, Kernel};
use crate::engine::op::Axis;

use super::launch::{num, outside_family, CpuLaunch};

/// Runs a launch of a kernel of the normalization family.
pub fn run<T: Element>(l: &CpuLaunch<T>) -> Result<()> {
    match l.kernel {
        Kernel::Normalize { axis, eps } => {
            let (x, gain, bias) = (l.input(0), l.input(1), l.input(2));
            let cols = l.dim(1);
            let mut y = l.output(3);
            for line in lines(axis, l.dim(0), cols) {
                let (mean, rstd) = line_stats(&x, &line, eps);
                for &i in &line {
                    y[i] = (x[i] - mean) * rstd * gain[i % cols] + bias[i % cols];
                }
            }
        }
        Kernel::NormalizeGrad { axis, eps } => {
            let (x, gain, dy) = (l.input(0), l.input(1), l.input(2));
            let cols = l.dim(1);
            let mut dx = l.output(3);
            for line in lines(axis, l.dim(0), cols) {
                let (mean, rstd) = line_stats(&x, &line, eps);
                let n = num::<T>(line.len() as f64);
                let g = |i: usize| dy[i] * gain[i % cols];
                let mean_g = line.iter().map(|&i| g(i)).sum::<T>() / n;
                let mean_gx = line.iter().map(|&i| g(i) * (x[i] - mean) * rstd).sum::<T>() / n;
                for &i in &line {
                    dx[i] = (g(i) - mean_g - (x[i] - mean) * rstd * mean_gx) * rstd;
                }
            }
        }
        other => return Err(outside_family(&other, Family::Normalization)),
    }
    Ok(())
}

/// The element indices of each row (`Rows`) or column (`Columns`) of a row-major `[rows, cols]`.
fn lines(axis: Axis, rows: usize, cols: usize) -> Vec<Vec<usize>> {
    match axis {
        Axis::Rows => (0..rows).map(|r| (r * cols..(r + 1) * cols).collect()).collect(),
        Axis::Columns => (0..cols).map(|j| (0..rows).map(|r| r * cols + j).collect()).collect(),
    }
}

/// The mean and `1/√(var + eps)` (biased variance, two passes) of `x` at `line`.
fn line_stats<T: Element>(x: &[T], line: &[usize], eps: f64) -> (T, T) {
    let n = num::<T>(line.len() as f64);
    let mean = line.iter().map(|&i| x[i]).sum::<T>() / n;
    let var = line.iter().map(|&i| (x[i] - mean) * (x[i] - mean)).sum::<T>() / n;
    (mean, T::one() / (var + num(eps)).sqrt())
}
