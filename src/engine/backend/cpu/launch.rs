//! What the CPU's kernels run on: buffers (views of shared storage) and a prepared launch, with
//! the accessors every family's reference reads it by, and the helpers the families share.

use std::cell::{Ref, RefCell, RefMut};
use std::rc::Rc;

use crate::engine::element::Element;
use crate::engine::error::Error;
use crate::engine::kernel::{Family, Kernel, Params};

use super::storage::Storage;

/// Values below which an elementwise loop stays on one thread: handing a piece to a worker
/// costs a few microseconds, what about 30,000 values of a simple loop take.
pub const GRAIN: usize = 1 << 15;

/// A CPU buffer: `len` values from `offset` of shared, mutable storage (a plan and a parameter
/// store may hold the same one; a view of an arena shares the arena's storage).
#[derive(Clone, Debug)]
pub struct CpuBuffer<T> {
    pub(super) storage: Rc<RefCell<Storage<T>>>,
    pub(super) offset: usize,
    pub(super) len: usize,
}

impl<T> CpuBuffer<T> {
    pub(super) fn values(&self) -> Ref<'_, [T]> {
        Ref::map(self.storage.borrow(), |v| &v[self.offset..self.offset + self.len])
    }

    pub(super) fn values_mut(&self) -> RefMut<'_, [T]> {
        RefMut::map(self.storage.borrow_mut(), |v| {
            &mut v[self.offset..self.offset + self.len]
        })
    }
}

/// A prepared CPU launch: the kernel, its params and its buffers.
pub struct CpuLaunch<T> {
    pub(super) kernel: Kernel,
    pub(super) params: Params,
    pub(super) buffers: Vec<CpuBuffer<T>>,
}

impl<T: Element> CpuLaunch<T> {
    /// Binding `i`, read. Inputs are borrowed shared and outputs mutably: `prepare` refused
    /// binding a written buffer anywhere else, so the borrows never overlap.
    pub(super) fn input(&self, i: usize) -> Ref<'_, [T]> {
        self.buffers[i].values()
    }

    /// Binding `i`, written.
    pub(super) fn output(&self, i: usize) -> RefMut<'_, [T]> {
        self.buffers[i].values_mut()
    }

    /// How many buffers it binds.
    pub(super) fn buffer_count(&self) -> usize {
        self.buffers.len()
    }

    /// `dims[i]` as a count.
    pub(super) fn dim(&self, i: usize) -> usize {
        self.params.d(i)
    }

    /// `scalars[i]` in the element type.
    pub(super) fn scalar(&self, i: usize) -> T {
        num(self.params.scalars[i])
    }
}

/// `v` in the element type.
pub(super) fn num<T: Element>(v: f64) -> T {
    T::from_f64(v)
}

/// Runs `$body` with `$op` bound to the op, in two copies: ReLU's, where the op is a constant
/// so the loop's per-element `match` on it folds away and the loop vectorises (ReLU is nearly
/// every hidden layer; measured on [2048, 512], its backward epilogue went from ~5 ms to well
/// under one), and every other op's. A macro rather than a function taking a closure: the
/// compiler kept such a closure out of line, one body called from both cases, so the constant
/// never reached the loop (a batch-128 step spent about 5% of its time in that scalar loop).
macro_rules! with_op {
    ($op:expr, |$name:ident| $body:expr) => {
        match $op {
            $crate::engine::op::UnaryOp::Relu => {
                let $name = $crate::engine::op::UnaryOp::Relu;
                $body
            }
            other => {
                let $name = other;
                $body
            }
        }
    };
}
pub(super) use with_op;

/// The error for a kernel handed to a family's reference it is not of (the backend hands each
/// launch to the file of its [`Kernel::family`], so this would be a misfiled kernel).
pub(super) fn outside_family(kernel: &Kernel, family: Family) -> Error {
    Error::InvalidKernel {
        kernel: kernel.name(),
        why: match family {
            Family::Elementwise => "the CPU's elementwise kernels do not include it",
            Family::Products => "the CPU's products do not include it",
            Family::Reductions => "the CPU's reductions do not include it",
            Family::Losses => "the CPU's losses do not include it",
            Family::Normalization => "the CPU's normalisations do not include it",
            Family::Optimizer => "the CPU's optimizer updates do not include it",
        },
    }
}
