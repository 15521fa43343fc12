//! The CPU reference of the elementwise kernels: unary and binary ops and their gradients (each a
//! plain loop over the op's `f` and `df`, stated once in `op/mod.rs`), the bias add, dropout,
//! unpacking bytes, and the FMA roof. Loops over more than [`GRAIN`] values are split over the
//! workers.

use crate::engine::element::Element;
use crate::engine::error::Result;
use crate::engine::kernel::{Family, Kernel};
use crate::engine::op::random::keeps;
use crate::engine::op::Operand;
use crate::engine::pool::split;

use super::launch::{num, outside_family, with_op, CpuLaunch, GRAIN};

/// Runs a launch of a kernel of the elementwise family.
pub fn run<T: Element>(l: &CpuLaunch<T>) -> Result<()> {
    let p = &l.params;
    match l.kernel {
        Kernel::Unary(op) => {
            let (x, mut y) = (l.input(0), l.output(1));
            let x: &[T] = &x;
            split(&mut y[..], GRAIN, |at, y| {
                with_op!(op, |op| {
                    for (y, &x) in y.iter_mut().zip(&x[at..]) {
                        *y = op.f(x);
                    }
                })
            });
        }
        Kernel::UnaryGrad(op) => {
            let (x, y, dy, mut dx) = (l.input(0), l.input(1), l.input(2), l.output(3));
            let (x, y, dy): (&[T], &[T], &[T]) = (&x, &y, &dy);
            split(&mut dx[..], GRAIN, |at, dx| {
                with_op!(op, |op| {
                    for (((dx, &x), &y), &dy) in dx.iter_mut().zip(&x[at..]).zip(&y[at..]).zip(&dy[at..]) {
                        *dx = dy * op.df(x, y);
                    }
                })
            });
        }
        Kernel::Binary(op) => {
            let (a, b) = (l.input(0), l.input(1));
            let (a, b): (&[T], &[T]) = (&a, &b);
            split(&mut l.output(2)[..], GRAIN, |at, c| {
                for (i, c) in (at..).zip(c) {
                    *c = op.f(a[i], b[i]);
                }
            });
        }
        Kernel::BinaryGrad(op, which) => {
            let (a, b, dc) = (l.input(0), l.input(1), l.input(2));
            let (a, b, dc): (&[T], &[T], &[T]) = (&a, &b, &dc);
            split(&mut l.output(3)[..], GRAIN, |at, g| {
                for (i, g) in (at..).zip(g) {
                    let (da, db) = op.df(a[i], b[i]);
                    *g = dc[i] * if which == Operand::A { da } else { db };
                }
            });
        }
        Kernel::BiasAdd => {
            let (x, bias) = (l.input(0), l.input(1));
            let (x, bias): (&[T], &[T]) = (&x, &bias);
            let cols = l.dim(1);
            split(&mut l.output(2)[..], GRAIN, |at, y| {
                for (i, y) in (at..).zip(y) {
                    *y = x[i] + bias[i % cols];
                }
            });
        }
        Kernel::Dropout { .. } => {
            let (stream, step, threshold) = (p.dims[1], p.dims[2], p.dims[3]);
            let scale = l.scalar(0);
            let x = l.input(0);
            let x: &[T] = &x;
            split(&mut l.output(1)[..], GRAIN, |at, y| {
                for (i, (y, &x)) in (at..).zip(y.iter_mut().zip(&x[at..])) {
                    let kept = keeps(stream, step, i as u32, threshold);
                    *y = if kept { x * scale } else { T::zero() };
                }
            });
        }
        Kernel::UnpackBytes => {
            let words = l.input(0);
            let words: &[T] = &words;
            let scale = l.scalar(0);
            // Pieces start at multiples of 16 values, so on whole words.
            split(&mut l.output(1)[..], GRAIN, |at, y| unpack(&words[at / 4..], y, scale));
        }
        Kernel::FmaRoof => {
            // The same chains as shaders/roof.wgsl, one lane at a time.
            let (mul, add) = (l.scalar(0), l.scalar(1));
            for (lane, sink) in l.output(0).iter_mut().enumerate() {
                let seed = num::<T>(lane as f64 * 1e-7);
                let mut acc = [T::zero(); 32];
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = seed + num((j % 4) as f64 + (j / 4) as f64 * 0.1);
                }
                for _ in 0..l.dim(0) {
                    for a in acc.iter_mut() {
                        *a = a.mul_add(mul, add);
                    }
                }
                *sink = acc.iter().copied().sum();
            }
        }
        other => return Err(outside_family(&other, Family::Elementwise)),
    }
    Ok(())
}

/// `y`'s values from the bytes packed four to a word in `words` (the first byte lowest), each
/// times `scale`, in the widest vector instructions this processor has. The crate is built for
/// any x86-64, whose loop converts a value at a time: a batch of 2048 digits (1.6M values) took
/// 541 µs of a training step on a 2-core EPYC as a table lookup, 383 µs now (writing the 6.4 MB
/// batch to memory bounds it there); alone on one core, 360–500 µs computed a value at a time,
/// 84–180 in AVX-512. The same bits every way: a byte's value is exact in either type, and one
/// product rounds it.
fn unpack<T: Element>(words: &[T], y: &mut [T], scale: T) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: this processor has AVX-512F.
            return unsafe { unpack_avx512(words, y, scale) };
        }
        if is_x86_feature_detected!("avx2") {
            // SAFETY: this processor has AVX2.
            return unsafe { unpack_avx2(words, y, scale) };
        }
    }
    unpack_values(words, y, scale)
}

/// [`unpack`] in AVX-512 instructions.
///
/// # Safety
/// The processor has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn unpack_avx512<T: Element>(words: &[T], y: &mut [T], scale: T) {
    unpack_values(words, y, scale)
}

/// [`unpack`] in AVX2 instructions.
///
/// # Safety
/// The processor has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn unpack_avx2<T: Element>(words: &[T], y: &mut [T], scale: T) {
    unpack_values(words, y, scale)
}

/// [`unpack`]'s loop, compiled into each caller with its instructions.
#[inline(always)]
fn unpack_values<T: Element>(words: &[T], y: &mut [T], scale: T) {
    let value = |byte: u8| T::from_f64(byte as f64) * scale;
    let whole = y.len() / 4;
    let (fours, rest) = y.split_at_mut(whole * 4);
    for (four, word) in fours.chunks_exact_mut(4).zip(words) {
        for (y, &byte) in four.iter_mut().zip(&word.to_word().to_le_bytes()) {
            *y = value(byte);
        }
    }
    if let Some(word) = words.get(whole).filter(|_| !rest.is_empty()) {
        for (y, &byte) in rest.iter_mut().zip(&word.to_word().to_le_bytes()) {
            *y = value(byte);
        }
    }
}
