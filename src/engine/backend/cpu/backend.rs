//! The CPU reference backend on ndarray, generic over `f32` and `f64` (f64 for gradient checks);
//! f32 matrix products run on `engine/gemm/` where the processor has AVX2 or AVX-512.
//!
//! Written to be read: each kernel is a plain loop over the op's `f` and `df` (stated once, in
//! `op/mod.rs`, where each line can be checked by eye against the formulas in the seeds: CS231n's
//! backprop notes, Kamper's introduction), in the file of its family. Every GPU kernel is tested
//! against these.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use crate::engine::backend::{check_view, Backend};
use crate::engine::element::Element;
use crate::engine::error::{Error, Result};
use crate::engine::kernel::{Family, Kernel, Params};

use super::launch::{CpuBuffer, CpuLaunch};
use super::storage::Storage;
use super::{elementwise, losses, normalization, optimizer, products, reductions};

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
            storage: Rc::new(RefCell::new(Storage::new(len, T::zero()))),
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
        check_view(self, buffer.len, offset, len)?;
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
            execute(l)?;
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

/// Runs one launch: its family's reference does the work.
fn execute<T: Element>(l: &CpuLaunch<T>) -> Result<()> {
    match l.kernel.family() {
        Family::Elementwise => elementwise::run(l),
        Family::Products => products::run(l),
        Family::Reductions => reductions::run(l),
        Family::Losses => losses::run(l),
        Family::Normalization => normalization::run(l),
        Family::Optimizer => optimizer::run(l),
    }
}
