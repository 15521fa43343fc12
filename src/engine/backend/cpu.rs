//! The CPU reference backend on ndarray, generic over `f32` and `f64` (f64 for gradient checks);
//! f32 matrix products run on `engine/gemm.rs` where the processor has AVX2 or AVX-512.
//!
//! Written to be read: each kernel is a plain loop over the op's `f` and `df` (stated once, in
//! `op.rs`, where each line can be checked by eye against the formulas in the seeds: CS231n's
//! backprop notes, Kamper's introduction). Every GPU kernel is tested against this file.

use std::cell::{Ref, RefCell, RefMut};
use std::marker::PhantomData;
use std::rc::Rc;

use super::{Backend, Element, Kernel, Params};
use crate::error::{Error, Result};
use crate::op::{Broadcast, Epilogue, Operand, UnaryOp};
use crate::pool::split;

/// Values below which an elementwise loop stays on one thread: handing a piece to a worker
/// costs a few microseconds, what about 30,000 values of a simple loop take.
const GRAIN: usize = 1 << 15;

/// The CPU reference backend. `CpuBackend::<f32>` for ordinary use, `CpuBackend::<f64>` for
/// gradient checking.
///
/// ```
/// use shadergrad::backend::{cpu::CpuBackend, Backend, Kernel, Params};
/// use shadergrad::UnaryOp;
/// let cpu = CpuBackend::<f32>::new();
/// let x = cpu.alloc(3, "x")?;
/// let y = cpu.alloc(3, "y")?;
/// cpu.upload(&x, &[-1.0, 0.5, 2.0])?;
/// let relu = cpu.prepare(Kernel::Unary(UnaryOp::Relu), Params::dims(&[3]), &[&x, &y])?;
/// let out = cpu.run(&[relu], &[&y])?;
/// assert_eq!(out[0], vec![0.0, 0.5, 2.0]);
/// # Ok::<(), shadergrad::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct CpuBackend<T> {
    _elem: PhantomData<T>,
}

impl<T: Element> CpuBackend<T> {
    /// The CPU backend (its matrix product uses every core).
    pub fn new() -> Self {
        CpuBackend { _elem: PhantomData }
    }
}

/// A CPU buffer: `len` values from `offset` of shared, mutable storage (a plan and a parameter
/// store may hold the same one; a view of an arena shares the arena's storage).
#[derive(Clone, Debug)]
pub struct CpuBuffer<T> {
    storage: Rc<RefCell<Vec<T>>>,
    offset: usize,
    len: usize,
}

impl<T> CpuBuffer<T> {
    fn values(&self) -> Ref<'_, [T]> {
        Ref::map(self.storage.borrow(), |v| &v[self.offset..self.offset + self.len])
    }

    fn values_mut(&self) -> RefMut<'_, [T]> {
        RefMut::map(self.storage.borrow_mut(), |v| {
            &mut v[self.offset..self.offset + self.len]
        })
    }
}

/// A prepared CPU launch: the kernel, its params and its buffers.
pub struct CpuLaunch<T> {
    kernel: Kernel,
    params: Params,
    buffers: Vec<CpuBuffer<T>>,
}

impl<T: Element> Backend for CpuBackend<T> {
    type Elem = T;
    type Buffer = CpuBuffer<T>;
    type Launch = CpuLaunch<T>;
    type Pending = Vec<Vec<T>>;

    fn describe(&self) -> String {
        format!("cpu {} (ndarray)", std::any::type_name::<T>())
    }

    fn is_gpu(&self) -> bool {
        false
    }

    fn alloc(&self, len: usize, _name: &str) -> Result<Self::Buffer> {
        Ok(CpuBuffer {
            storage: Rc::new(RefCell::new(vec![T::zero(); len])),
            offset: 0,
            len,
        })
    }

    fn max_len(&self) -> usize {
        isize::MAX as usize / std::mem::size_of::<T>()
    }

    fn view_alignment(&self) -> usize {
        1
    }

    fn view(&self, buffer: &Self::Buffer, offset: usize, len: usize) -> Result<Self::Buffer> {
        super::check_view(self, buffer.len, offset, len)?;
        Ok(CpuBuffer {
            storage: Rc::clone(&buffer.storage),
            offset: buffer.offset + offset,
            len,
        })
    }

    fn upload(&self, buffer: &Self::Buffer, data: &[T]) -> Result<()> {
        let mut b = buffer.values_mut();
        if b.len() != data.len() {
            return Err(Error::Length {
                what: "upload".into(),
                expected: b.len(),
                got: data.len(),
            });
        }
        b.copy_from_slice(data);
        Ok(())
    }

    fn prepare(&self, kernel: Kernel, params: Params, buffers: &[&Self::Buffer]) -> Result<Self::Launch> {
        let lens: Vec<usize> = buffers.iter().map(|b| b.len).collect();
        kernel.check_buffers(&params, &lens)?;
        // A buffer the kernel writes must not share storage with any other binding (reads may
        // repeat): a launch borrows each binding's storage on its own.
        for (i, b) in kernel.bindings(&params).iter().enumerate() {
            if b.write
                && buffers
                    .iter()
                    .enumerate()
                    .any(|(j, o)| j != i && Rc::ptr_eq(&buffers[i].storage, &o.storage))
            {
                return Err(Error::SharedStorage {
                    kernel: kernel.name(),
                    role: b.role,
                });
            }
        }
        Ok(CpuLaunch {
            kernel,
            params,
            buffers: buffers.iter().map(|&b| b.clone()).collect(),
        })
    }

    fn set_params(&self, launch: &mut Self::Launch, params: Params) -> Result<()> {
        let lens: Vec<usize> = launch.buffers.iter().map(|b| b.len).collect();
        launch.kernel.check_buffers(&params, &lens)?;
        launch.params = params;
        Ok(())
    }

    /// Runs at once: what is pending is what was read.
    fn submit(&self, launches: &[Self::Launch], read: &[&Self::Buffer]) -> Result<Vec<Vec<T>>> {
        for l in launches {
            execute(l);
        }
        Ok(read.iter().map(|b| b.values().to_vec()).collect())
    }

    fn finish(&self, pending: Vec<Vec<T>>) -> Result<Vec<Vec<T>>> {
        Ok(pending)
    }

    fn submissions(&self) -> u64 {
        0
    }
}

/// Runs `body` with `op`, ReLU as a constant: the loop's per-element `match` on the op then folds
/// away and the loop vectorises (ReLU is nearly every hidden layer; measured on [2048, 512], its
/// backward epilogue went from ~5 ms to well under one).
fn with_op(op: UnaryOp, mut body: impl FnMut(UnaryOp)) {
    match op {
        UnaryOp::Relu => body(UnaryOp::Relu),
        other => body(other),
    }
}

fn c<T: Element>(v: f64) -> T {
    T::from_f64(v)
}

fn execute<T: Element>(l: &CpuLaunch<T>) {
    let p = &l.params;
    let d = |i: usize| p.dims[i] as usize;
    let s = |i: usize| c::<T>(p.scalars[i]);
    // Inputs are borrowed shared and outputs mutably: `prepare` refused binding a written buffer
    // anywhere else, so the borrows never overlap.
    let inp = |i: usize| l.buffers[i].values();
    let out = |i: usize| l.buffers[i].values_mut();
    match l.kernel {
        Kernel::Unary(op) => {
            let (x, mut y) = (inp(0), out(1));
            let x: &[T] = &x;
            split(&mut y[..], GRAIN, |at, y| {
                with_op(op, |op| {
                    for (y, &x) in y.iter_mut().zip(&x[at..]) {
                        *y = op.f(x);
                    }
                })
            });
        }
        Kernel::UnaryGrad(op) => {
            let (x, y, dy, mut dx) = (inp(0), inp(1), inp(2), out(3));
            let (x, y, dy): (&[T], &[T], &[T]) = (&x, &y, &dy);
            split(&mut dx[..], GRAIN, |at, dx| {
                with_op(op, |op| {
                    for (((dx, &x), &y), &dy) in dx.iter_mut().zip(&x[at..]).zip(&y[at..]).zip(&dy[at..]) {
                        *dx = dy * op.df(x, y);
                    }
                })
            });
        }
        Kernel::Binary(op) => {
            let (a, b) = (inp(0), inp(1));
            let (a, b): (&[T], &[T]) = (&a, &b);
            split(&mut out(2)[..], GRAIN, |at, c| {
                for (i, c) in (at..).zip(c) {
                    *c = op.f(a[i], b[i]);
                }
            });
        }
        Kernel::BinaryGrad(op, which) => {
            let (a, b, dc) = (inp(0), inp(1), inp(2));
            let (a, b, dc): (&[T], &[T], &[T]) = (&a, &b, &dc);
            split(&mut out(3)[..], GRAIN, |at, g| {
                for (i, g) in (at..).zip(g) {
                    let (da, db) = op.df(a[i], b[i]);
                    *g = dc[i] * if which == Operand::A { da } else { db };
                }
            });
        }
        Kernel::Matmul { ta, tb, bias, epilogue } => {
            let (m, n, k) = (d(0), d(1), d(2));
            let (a, b) = (inp(0), inp(1));
            let mut c = out(l.buffers.len() - 1);
            // The epilogue runs on each piece of C as the product finishes it (on the thread
            // that computed it, while it is in cache), one pass either way.
            match epilogue {
                Epilogue::None | Epilogue::Activation(_) if bias => {
                    let op = epilogue.op().unwrap_or(UnaryOp::Identity);
                    let bias = inp(2);
                    let bias: &[T] = &bias;
                    let finish = |_row: usize, col: usize, c: &mut [T]| {
                        with_op(op, |op| {
                            for (v, &b) in c.iter_mut().zip(&bias[col..]) {
                                *v = op.f(*v + b);
                            }
                        })
                    };
                    T::matmul(&a, &b, &mut c, [m, n, k], ta, tb, &finish);
                }
                Epilogue::None | Epilogue::Activation(_) => T::matmul(&a, &b, &mut c, [m, n, k], ta, tb, &|_, _, _| {}),
                // The gradient into an activation: dy · f'(x, y), from its input and output.
                Epilogue::ActivationGrad(op) => {
                    let (x, y) = (inp(2), inp(3));
                    let (x, y): (&[T], &[T]) = (&x, &y);
                    let finish = |row: usize, col: usize, c: &mut [T]| {
                        let at = row * n + col;
                        with_op(op, |op| {
                            for ((v, &x), &y) in c.iter_mut().zip(&x[at..]).zip(&y[at..]) {
                                *v = *v * op.df(x, y);
                            }
                        })
                    };
                    T::matmul(&a, &b, &mut c, [m, n, k], ta, tb, &finish);
                }
            }
        }
        Kernel::BiasAdd => {
            let (x, bias) = (inp(0), inp(1));
            let (x, bias): (&[T], &[T]) = (&x, &bias);
            let cols = d(1);
            split(&mut out(2)[..], GRAIN, |at, y| {
                for (i, y) in (at..).zip(y) {
                    *y = x[i] + bias[i % cols];
                }
            });
        }
        Kernel::ColSum => {
            let x = inp(0);
            let cols = d(1);
            let mut y = out(1);
            y.fill(T::zero());
            // Row after row, as the per-element loop summed (the same bits), but vectorised. On
            // one thread: columns split across two ran at half the speed ([2048, 256]: 57 µs
            // against 105), and rows split would sum in another order.
            for row in x.chunks_exact(cols.max(1)) {
                for (y, &v) in y.iter_mut().zip(row) {
                    *y = *y + v;
                }
            }
        }
        Kernel::RowSum => {
            let x = inp(0);
            for (y, row) in out(1).iter_mut().zip(x.chunks(d(1).max(1))) {
                *y = row.iter().copied().sum();
            }
        }
        Kernel::RowMax => {
            let x = inp(0);
            for (y, row) in out(1).iter_mut().zip(x.chunks(d(1).max(1))) {
                *y = row.iter().copied().fold(T::neg_infinity(), T::max);
            }
        }
        Kernel::RowMaxGrad => {
            let (x, y, dy) = (inp(0), inp(1), inp(2));
            let cols = d(1);
            for (i, dx) in out(3).iter_mut().enumerate() {
                let r = i / cols;
                *dx = if x[i] == y[r] { dy[r] } else { T::zero() };
            }
        }
        Kernel::SumAll => {
            let x = inp(0);
            out(1)[0] = x.iter().copied().sum();
        }
        Kernel::Broadcast(mode) => {
            let src = inp(0);
            let cols = d(1);
            for (i, dst) in out(1).iter_mut().enumerate() {
                *dst = match mode {
                    Broadcast::Scalar => src[0],
                    Broadcast::Rows => src[i / cols],
                    Broadcast::Cols => src[i % cols],
                };
            }
        }
        Kernel::LogSoftmax => {
            let x = inp(0);
            let cols = d(1).max(1);
            for (y, x) in out(1).chunks_mut(cols).zip(x.chunks(cols)) {
                // ln Σ e^x, with the row max taken out so exp() stays finite for ±1e4.
                let max = x.iter().copied().fold(T::neg_infinity(), T::max);
                let lse = max + x.iter().map(|&v| (v - max).exp()).sum::<T>().ln();
                for (y, &x) in y.iter_mut().zip(x) {
                    *y = x - lse;
                }
            }
        }
        Kernel::LogSoftmaxGrad => {
            // y = x − lse(x): dx_j = dy_j − softmax_j · Σ_k dy_k, and softmax = e^y.
            let (y, dy) = (inp(0), inp(1));
            let cols = d(1).max(1);
            for ((dx, y), dy) in out(2).chunks_mut(cols).zip(y.chunks(cols)).zip(dy.chunks(cols)) {
                let total: T = dy.iter().copied().sum();
                for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
                    *dx = dy - y.exp() * total;
                }
            }
        }
        Kernel::SoftmaxCe { smoothing } => {
            let (logits, labels) = (inp(0), inp(1));
            let loss = softmax_ce(&logits, &labels, smoothing, d(1), &mut out(2));
            out(3)[0] = loss;
        }
        Kernel::SoftmaxCeGrad { smoothing } => {
            let (probs, labels, dloss) = (inp(0), inp(1), inp(2));
            let mut dx = out(3);
            dx.copy_from_slice(&probs);
            softmax_ce_grad(&labels, smoothing, dloss[0], d(1), &mut dx);
        }
        Kernel::SoftmaxCeFused { smoothing } => {
            // The softmax lands where its gradient goes, and becomes it there.
            let (logits, labels, dloss) = (inp(0), inp(1), inp(2));
            let mut dx = out(4);
            out(3)[0] = softmax_ce(&logits, &labels, smoothing, d(1), &mut dx);
            softmax_ce_grad(&labels, smoothing, dloss[0], d(1), &mut dx);
        }
        Kernel::Dropout { .. } => {
            let (stream, step, threshold) = (p.dims[1], p.dims[2], p.dims[3]);
            let scale = s(0);
            let x = inp(0);
            let x: &[T] = &x;
            split(&mut out(1)[..], GRAIN, |at, y| {
                for (i, (y, &x)) in (at..).zip(y.iter_mut().zip(&x[at..])) {
                    let kept = crate::op::random::keeps(stream, step, i as u32, threshold);
                    *y = if kept { x * scale } else { T::zero() };
                }
            });
        }
        Kernel::Normalize { axis, eps } => {
            let (x, gain, bias) = (inp(0), inp(1), inp(2));
            let cols = d(1);
            let mut y = out(3);
            for line in lines(axis, d(0), cols) {
                let (mean, rstd) = line_stats(&x, &line, eps);
                for &i in &line {
                    y[i] = (x[i] - mean) * rstd * gain[i % cols] + bias[i % cols];
                }
            }
        }
        Kernel::NormalizeGrad { axis, eps } => {
            let (x, gain, dy) = (inp(0), inp(1), inp(2));
            let cols = d(1);
            let mut dx = out(3);
            for line in lines(axis, d(0), cols) {
                let (mean, rstd) = line_stats(&x, &line, eps);
                let n = c::<T>(line.len() as f64);
                let g = |i: usize| dy[i] * gain[i % cols];
                let mean_g = line.iter().map(|&i| g(i)).sum::<T>() / n;
                let mean_gx = line.iter().map(|&i| g(i) * (x[i] - mean) * rstd).sum::<T>() / n;
                for &i in &line {
                    dx[i] = (g(i) - mean_g - (x[i] - mean) * rstd * mean_gx) * rstd;
                }
            }
        }
        Kernel::SigmoidBce => {
            let (z, t) = (inp(0), inp(1));
            out(2)[0] = sigmoid_bce(&z, &t);
        }
        Kernel::SigmoidBceGrad => {
            let (z, t, dloss) = (inp(0), inp(1), inp(2));
            sigmoid_bce_grad(&z, &t, dloss[0], &mut out(3));
        }
        Kernel::SigmoidBceFused => {
            let (z, t, dloss) = (inp(0), inp(1), inp(2));
            out(3)[0] = sigmoid_bce(&z, &t);
            sigmoid_bce_grad(&z, &t, dloss[0], &mut out(4));
        }
        Kernel::UnpackBytes => {
            let words = inp(0);
            let words: &[T] = &words;
            // Each of the 256 values once (the same product per byte as computing it each time).
            let scale = s(0);
            let value: [T; 256] = std::array::from_fn(|b| c::<T>(b as f64) * scale);
            // Pieces start at multiples of 16 values, so on whole words.
            split(&mut out(1)[..], GRAIN, |at, y| {
                for (four, word) in y.chunks_mut(4).zip(&words[at / 4..]) {
                    let word = word.to_word();
                    for (j, y) in four.iter_mut().enumerate() {
                        *y = value[((word >> (8 * j)) & 0xff) as usize];
                    }
                }
            });
        }
        Kernel::Mse => {
            let (pred, target) = (inp(0), inp(1));
            let sum: T = pred.iter().zip(target.iter()).map(|(&p, &t)| (p - t) * (p - t)).sum();
            out(2)[0] = sum / c(d(0) as f64);
        }
        Kernel::MseGrad => {
            let (pred, target, dloss) = (inp(0), inp(1), inp(2));
            let scale = c::<T>(2.0) * dloss[0] / c(d(0) as f64);
            for (i, dp) in out(3).iter_mut().enumerate() {
                *dp = (pred[i] - target[i]) * scale;
            }
        }
        Kernel::Sgd => {
            let g = inp(1);
            let g: &[T] = &g;
            let (lr, wd) = (s(0), s(1));
            split(&mut out(0)[..], GRAIN, |at, w| {
                for (w, &g) in w.iter_mut().zip(&g[at..]) {
                    *w = *w - lr * (g + wd * *w);
                }
            });
        }
        Kernel::Momentum => {
            let g = inp(1);
            let g: &[T] = &g;
            let (lr, mu, wd) = (s(0), s(1), s(2));
            let nesterov = p.dims[1] != 0;
            let (mut w, mut v) = (out(0), out(2));
            split((&mut w[..], &mut v[..]), GRAIN, |at, (w, v)| {
                for ((w, v), &g) in w.iter_mut().zip(v).zip(&g[at..]) {
                    let g = g + wd * *w;
                    *v = mu * *v + g;
                    let step = if nesterov { g + mu * *v } else { *v };
                    *w = *w - lr * step;
                }
            });
        }
        Kernel::Adam => {
            let g = inp(1);
            let g: &[T] = &g;
            let (lr, b1, b2, eps, wd, c1, c2) = (s(0), s(1), s(2), s(3), s(4), s(5), s(6));
            let decoupled = p.dims[1] != 0;
            let one = T::one();
            let (mut w, mut m, mut v) = (out(0), out(2), out(3));
            split(((&mut w[..], &mut m[..]), &mut v[..]), GRAIN, |at, ((w, m), v)| {
                for (((w, m), v), &g) in w.iter_mut().zip(m).zip(v).zip(&g[at..]) {
                    let mut g = g;
                    if decoupled {
                        *w = *w - lr * wd * *w;
                    } else {
                        g = g + wd * *w;
                    }
                    *m = b1 * *m + (one - b1) * g;
                    *v = b2 * *v + (one - b2) * g * g;
                    let m_hat = *m / c1;
                    let v_hat = *v / c2;
                    *w = *w - lr * m_hat / (v_hat.sqrt() + eps);
                }
            });
        }
        Kernel::FmaRoof => {
            // The same chains as shaders/roof.wgsl, one lane at a time.
            let (mul, add) = (s(0), s(1));
            for (lane, sink) in out(0).iter_mut().enumerate() {
                let seed = c::<T>(lane as f64 * 1e-7);
                let mut acc = [T::zero(); 32];
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = seed + c((j % 4) as f64 + (j / 4) as f64 * 0.1);
                }
                for _ in 0..d(0) {
                    for a in acc.iter_mut() {
                        *a = a.mul_add(mul, add);
                    }
                }
                *sink = acc.iter().copied().sum();
            }
        }
    }
}

/// Row-wise softmax of `[rows, cols]` logits into `probs`, and the mean cross-entropy against the
/// labels (one label a row).
fn softmax_ce<T: Element>(logits: &[T], labels: &[T], smoothing: f64, cols: usize, probs: &mut [T]) -> T {
    let mut total = T::zero();
    let s = c::<T>(smoothing);
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
                    let mean = x.iter().map(|&v| v - max).sum::<T>() / c(cols as f64);
                    sum.ln() - (T::one() - s) * (x[l] - max) - s * mean
                }
                None => T::nan(),
            };
    }
    total / c(labels.len() as f64)
}

/// Mean of `softplus(z) − z·t`: −t·ln σ(z) − (1 − t)·ln(1 − σ(z)) written so that neither log
/// nor exp overflows for logits of ±1e4 (softplus is `max(z, 0) + ln(1 + e^−|z|)`).
fn sigmoid_bce<T: Element>(z: &[T], t: &[T]) -> T {
    let total: T = z
        .iter()
        .zip(t)
        .map(|(&z, &t)| crate::op::UnaryOp::Softplus.f(z) - z * t)
        .sum();
    total / c(z.len().max(1) as f64)
}

/// `dz = (σ(z) − t) · dloss / n`.
fn sigmoid_bce_grad<T: Element>(z: &[T], t: &[T], dloss: T, dz: &mut [T]) {
    let scale = dloss / c(z.len().max(1) as f64);
    for ((d, &z), &t) in dz.iter_mut().zip(z).zip(t) {
        *d = (crate::op::UnaryOp::Sigmoid.f(z) - t) * scale;
    }
}

/// `dlogits = (p − onehot) · dloss / rows`, in place: `dx` holds the softmax `p` on entry.
fn softmax_ce_grad<T: Element>(labels: &[T], smoothing: f64, dloss: T, cols: usize, dx: &mut [T]) {
    let scale = dloss / c(labels.len() as f64);
    // The smoothed target: (1 − s) on the label, plus s/cols on every class.
    let (on, off) = if smoothing == 0.0 {
        (T::one(), T::zero())
    } else {
        let spread = c::<T>(smoothing / cols as f64);
        (c::<T>(1.0 - smoothing) + spread, spread)
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

/// The element indices of each row (`Rows`) or column (`Columns`) of a row-major `[rows, cols]`.
fn lines(axis: crate::op::Axis, rows: usize, cols: usize) -> Vec<Vec<usize>> {
    match axis {
        crate::op::Axis::Rows => (0..rows).map(|r| (r * cols..(r + 1) * cols).collect()).collect(),
        crate::op::Axis::Columns => (0..cols).map(|j| (0..rows).map(|r| r * cols + j).collect()).collect(),
    }
}

/// The mean and `1/√(var + eps)` (biased variance, two passes) of `x` at `line`.
fn line_stats<T: Element>(x: &[T], line: &[usize], eps: f64) -> (T, T) {
    let n = c::<T>(line.len() as f64);
    let mean = line.iter().map(|&i| x[i]).sum::<T>() / n;
    let var = line.iter().map(|&i| (x[i] - mean) * (x[i] - mean)).sum::<T>() / n;
    (mean, T::one() / (var + c(eps)).sqrt())
}

/// The class a label value names, if it is a whole number in `0..classes`.
fn class_index<T: Element>(label: T, classes: usize) -> Option<usize> {
    let v = label.as_f64();
    (v >= 0.0 && v.fract() == 0.0 && v < classes as f64).then_some(v as usize)
}
