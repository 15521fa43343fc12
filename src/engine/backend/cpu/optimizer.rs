//! The CPU reference of the optimizer updates: SGD, momentum (PyTorch's, Nesterov's too) and
//! Adam/AdamW, each over a whole arena in place, split over the workers.

use crate::engine::element::Element;
use crate::engine::error::Result;
use crate::engine::kernel::{Family, Kernel};
use crate::engine::pool::split;

use super::launch::{outside_family, CpuLaunch, GRAIN};

/// Runs a launch of a kernel of the optimizer family.
pub fn run<T: Element>(l: &CpuLaunch<T>) -> Result<()> {
    let p = &l.params;
    match l.kernel {
        Kernel::Sgd => {
            let g = l.input(1);
            let g: &[T] = &g;
            let (lr, wd) = (l.scalar(0), l.scalar(1));
            split(&mut l.output(0)[..], GRAIN, |at, w| {
                for (w, &g) in w.iter_mut().zip(&g[at..]) {
                    *w = *w - lr * (g + wd * *w);
                }
            });
        }
        Kernel::Momentum => {
            let g = l.input(1);
            let g: &[T] = &g;
            let (lr, mu, wd) = (l.scalar(0), l.scalar(1), l.scalar(2));
            let nesterov = p.dims[1] != 0;
            let (mut w, mut v) = (l.output(0), l.output(2));
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
            let g = l.input(1);
            let g: &[T] = &g;
            let (lr, b1, b2, eps, wd, c1, c2) = (
                l.scalar(0),
                l.scalar(1),
                l.scalar(2),
                l.scalar(3),
                l.scalar(4),
                l.scalar(5),
                l.scalar(6),
            );
            let decoupled = p.dims[1] != 0;
            let one = T::one();
            let (mut w, mut m, mut v) = (l.output(0), l.output(2), l.output(3));
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
        other => return Err(outside_family(&other, Family::Optimizer)),
    }
    Ok(())
}
