//! The CPU reference of the matrix product: `T::matmul` (the f32 product of `engine/gemm/`, or
//! ndarray's for f64) with the bias, activation or activation-derivative epilogue applied to each
//! block of C as it is finished.

use crate::engine::element::Element;
use crate::engine::error::Result;
use crate::engine::kernel::{Family, Kernel};
use crate::engine::op::{Epilogue, UnaryOp};

use super::launch::{outside_family, with_op, CpuLaunch};

/// Runs a launch of a kernel of the products family.
pub fn run<T: Element>(l: &CpuLaunch<T>) -> Result<()> {
    match l.kernel {
        Kernel::Matmul { ta, tb, bias, epilogue } => {
            let (m, n, k) = (l.dim(0), l.dim(1), l.dim(2));
            let (a, b) = (l.input(0), l.input(1));
            let mut c = l.output(l.buffer_count() - 1);
            // The epilogue runs on each piece of C as the product finishes it (on the thread
            // that computed it, while it is in cache), one pass either way.
            match epilogue {
                Epilogue::None | Epilogue::Activation(_) if bias => {
                    let op = epilogue.op().unwrap_or(UnaryOp::Identity);
                    let bias = l.input(2);
                    let bias: &[T] = &bias;
                    let finish = |_row: usize, col: usize, c: &mut [T]| {
                        with_op!(op, |op| {
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
                    let (x, y) = (l.input(2), l.input(3));
                    let (x, y): (&[T], &[T]) = (&x, &y);
                    let finish = |row: usize, col: usize, c: &mut [T]| {
                        let at = row * n + col;
                        with_op!(op, |op| {
                            for ((v, &x), &y) in c.iter_mut().zip(&x[at..]).zip(&y[at..]) {
                                *v = *v * op.df(x, y);
                            }
                        })
                    };
                    T::matmul(&a, &b, &mut c, [m, n, k], ta, tb, &finish);
                }
            }
        }
        other => return Err(outside_family(&other, Family::Products)),
    }
    Ok(())
}
