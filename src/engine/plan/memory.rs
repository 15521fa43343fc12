//! The memory pass: every value gets a buffer. Inputs, constants, parameters, optimizer state
//! and arenas get their own (or the store's); computed values share a pool by liveness over the
//! final launch list, so a fused launch keeps every value it reads alive until it runs.

use std::collections::HashMap;

use super::lower::{Ir, Place, ValueId};
use super::params::ParamStore;
use super::report::PlanReport;
use crate::engine::backend::Backend;
use crate::engine::element::Element;
use crate::engine::error::Result;

/// Buffers of dead values, for later values to take. A value gets the smallest free buffer that
/// holds it, as a view of its start, if that wastes at most half the buffer; each buffer is
/// lent to one value at a time and comes back when that value dies.
struct BufferPool<B: Backend> {
    /// `(capacity, buffer)` of every free buffer.
    free: Vec<(usize, B::Buffer)>,
    /// The buffer lent to each live value.
    lent: HashMap<ValueId, (usize, B::Buffer)>,
    reuse: bool,
}

impl<B: Backend> BufferPool<B> {
    /// A buffer of `len` values for `value`: a dead value's, or a new one. Counts both in the
    /// report.
    fn take(
        &mut self,
        backend: &B,
        value: ValueId,
        len: usize,
        name: &str,
        report: &mut PlanReport,
    ) -> Result<B::Buffer> {
        let bytes = (len * std::mem::size_of::<B::Elem>()) as u64;
        report.naive_bytes += bytes;
        let fits = |cap: usize| cap >= len && cap <= 2 * len.max(1);
        let best = (self.free.iter().enumerate())
            .filter(|(_, (cap, _))| self.reuse && fits(*cap))
            .min_by_key(|(_, (cap, _))| *cap)
            .map(|(i, _)| i);
        if let Some(i) = best {
            let (cap, root) = self.free.swap_remove(i);
            let view = backend.view(&root, 0, len)?;
            self.lent.insert(value, (cap, root));
            return Ok(view);
        }
        report.intermediate_bytes += bytes;
        let root = backend.alloc(len, name)?;
        self.lent.insert(value, (len, root.clone()));
        Ok(root)
    }

    /// Takes back the buffer lent to `value`, if any.
    fn give(&mut self, value: ValueId) {
        if let Some(lent) = self.lent.remove(&value) {
            self.free.push(lent);
        }
    }
}

/// A buffer for every value the launches use (None for values no launch touches).
pub(crate) fn allocate<B: Backend>(
    backend: &B,
    ir: &Ir,
    store: &mut ParamStore<B>,
    reuse: bool,
    report: &mut PlanReport,
) -> Result<Vec<Option<B::Buffer>>> {
    let elem = std::mem::size_of::<B::Elem>() as u64;
    let mut buffers: Vec<Option<B::Buffer>> = vec![None; ir.values.len()];
    let mut grad_arenas: HashMap<usize, B::Buffer> = HashMap::new();
    let mut grad_arena = |backend: &B, block: usize, len: usize, report: &mut PlanReport| -> Result<B::Buffer> {
        if let Some(b) = grad_arenas.get(&block) {
            return Ok(b.clone());
        }
        let b = backend.alloc(len, "gradients")?;
        report.intermediate_bytes += len as u64 * elem;
        grad_arenas.insert(block, b.clone());
        Ok(b)
    };
    for (v, value) in ir.values.iter().enumerate() {
        let len = value.len();
        buffers[v] = match &value.place {
            Place::Computed => continue,
            Place::Input => {
                report.persistent_bytes += len as u64 * elem;
                Some(backend.alloc(len, &value.name)?)
            }
            Place::Param(name) => {
                report.persistent_bytes += len as u64 * elem;
                Some(store.existing(name, &value.shape)?)
            }
            Place::Constant(values) => {
                report.persistent_bytes += len as u64 * elem;
                let buffer = backend.alloc(len, &value.name)?;
                let data: Vec<B::Elem> = values.iter().map(|&x| B::Elem::from_f64(x)).collect();
                backend.upload(&buffer, &data)?;
                Some(buffer)
            }
            Place::State(name, key) => Some(store.state(name, key)?),
            Place::ParamArena(block) => Some(store.block_arena(*block)),
            Place::StateArena(block, key) => Some(store.block_state(*block, key)?),
            Place::GradArena(block) => Some(grad_arena(backend, *block, len, report)?),
            Place::GradSlot { block, offset } => {
                report.naive_bytes += len as u64 * elem;
                let arena = grad_arena(backend, *block, store.block(*block).1, report)?;
                Some(backend.view(&arena, *offset, len)?)
            }
        };
    }

    // Computed values: a pool buffer from their first write to their last use.
    let mut last_use = vec![0usize; ir.values.len()];
    for (i, l) in ir.launches.iter().enumerate() {
        for &v in &l.args {
            last_use[v] = last_use[v].max(i);
        }
    }
    let mut pool = BufferPool::<B> {
        free: Vec::new(),
        lent: HashMap::new(),
        reuse,
    };
    for (i, l) in ir.launches.iter().enumerate() {
        let (_, writes) = l.reads_and_writes();
        for v in writes {
            let value = &ir.values[v];
            if value.place == Place::Computed && buffers[v].is_none() {
                buffers[v] = Some(pool.take(backend, v, value.len(), &value.name, report)?);
            }
        }
        // Values used for the last time here go back to the pool, for later launches.
        for &v in &l.args {
            if last_use[v] == i && ir.values[v].place == Place::Computed && !ir.kept.contains(&v) {
                pool.give(v);
            }
        }
    }
    Ok(buffers)
}
