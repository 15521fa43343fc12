//! Trainable parameters and their optimizer state on one backend, by name, outside any plan, so
//! several plans (a training step, an evaluation at another batch size) share them without
//! copies.

use std::collections::BTreeMap;

use crate::engine::backend::Backend;

use crate::engine::element::Element;
use crate::engine::error::{Error, Result};
use crate::engine::shape::Shape;

/// Trainable parameters (and their optimizer state) on one backend, by name.
///
/// Parameters first met together (by one [`Plan::compile`](crate::engine::plan::Plan::compile)) share one
/// arena buffer, each a view of it at an aligned offset, and so do their gradients and each kind
/// of optimizer state: a training step then updates them all with one launch of the optimizer
/// kernel.
///
/// ```
/// use shadergrad::{backend::cpu::CpuBackend, shape::Shape, ParamStore};
/// let cpu = CpuBackend::<f64>::new();
/// let mut store = ParamStore::new(&cpu);
/// store.set("w", &Shape::from([2]), &[1.0, 2.0])?;
/// assert_eq!(store.read("w")?, [1.0, 2.0]);
/// assert!(store.read("v").unwrap_err().to_string().contains("it has: w"));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub struct ParamStore<B: Backend> {
    backend: B,
    params: BTreeMap<String, StoredParam<B>>,
    blocks: Vec<Block<B>>,
    steps: u64,
}

struct StoredParam<B: Backend> {
    shape: Shape,
    buffer: B::Buffer,
    block: usize,
    offset: usize,
    state: BTreeMap<String, B::Buffer>,
}

/// Parameters laid out in one arena, and their optimizer state in arenas of the same layout.
struct Block<B: Backend> {
    arena: B::Buffer,
    len: usize,
    members: Vec<String>,
    state: BTreeMap<String, B::Buffer>,
}

/// Where a parameter lives in its block's arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub block: usize,
    pub offset: usize,
    pub len: usize,
}

impl<B: Backend> ParamStore<B> {
    /// An empty store on `backend`.
    pub fn new(backend: &B) -> Self {
        ParamStore {
            backend: backend.clone(),
            params: BTreeMap::new(),
            blocks: Vec::new(),
            steps: 0,
        }
    }

    /// The backend the parameters live on.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Parameter names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.params.keys().cloned().collect()
    }

    /// A parameter's shape.
    pub fn shape(&self, name: &str) -> Option<Shape> {
        self.params.get(name).map(|p| p.shape.clone())
    }

    /// Optimizer steps taken with these parameters (Adam's bias correction counts them).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Sets the step count (when resuming).
    pub fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    fn stored(&self, name: &str) -> Result<&StoredParam<B>> {
        self.params.get(name).ok_or_else(|| Error::UnknownParameter {
            name: name.into(),
            available: self.names().join(", "),
        })
    }

    /// Creates the parameters of `new` that the store does not hold yet, laid out together in
    /// arenas (each at an offset the backend can bind), from their initial values: one arena
    /// unless together they exceed the largest buffer the device binds.
    pub(crate) fn create(&mut self, new: &[(&str, &Shape, &[f64])]) -> Result<()> {
        let mut fresh: Vec<(&str, &Shape, &[f64])> = Vec::new();
        for &(name, shape, init) in new {
            if !self.params.contains_key(name) && !fresh.iter().any(|f| f.0 == name) {
                if init.len() != shape.len() {
                    return Err(Error::Length {
                        what: format!("initial values of parameter `{name}` of shape {shape}"),
                        expected: shape.len(),
                        got: init.len(),
                    });
                }
                fresh.push((name, shape, init));
            }
        }
        let lens: Vec<usize> = fresh.iter().map(|p| p.1.len()).collect();
        let mut rest = fresh.as_slice();
        for count in arena_groups(&lens, self.backend.view_alignment(), self.backend.max_len()) {
            let (group, after) = rest.split_at(count);
            self.create_block(group)?;
            rest = after;
        }
        Ok(())
    }

    /// Creates the parameters of `graph` the store does not hold yet, in one arena and its buffers in another (as
    /// [`Plan::compile`](crate::engine::plan::Plan::compile) would): so that parameters restored or set
    /// before any plan is compiled still share an arena.
    pub fn create_from(&mut self, graph: &crate::engine::graph::Graph) -> Result<()> {
        let nodes = graph.nodes();
        for trainable in [true, false] {
            let params: Vec<(&str, &Shape, &[f64])> = nodes
                .iter()
                .filter(|n| n.op == crate::engine::graph::Op::Param && n.requires_grad == trainable)
                .filter_map(|n| n.init.as_deref().map(|init| (n.name.as_str(), &n.shape, init)))
                .collect();
            self.create(&params)?;
        }
        Ok(())
    }

    /// One arena for `params`, each at the next aligned offset.
    fn create_block(&mut self, params: &[(&str, &Shape, &[f64])]) -> Result<()> {
        let align = self.backend.view_alignment();
        let mut offsets = Vec::with_capacity(params.len());
        let mut len = 0;
        for (_, shape, _) in params {
            offsets.push(len);
            len = (len + shape.len()).next_multiple_of(align);
        }
        let label = match params {
            [(name, _, _)] => name.to_string(),
            _ => "parameters".to_string(),
        };
        let arena = self.backend.alloc(len, &label)?;
        let mut data = vec![B::Elem::from_f64(0.0); len];
        for ((_, _, init), &offset) in params.iter().zip(&offsets) {
            for (d, &v) in data[offset..].iter_mut().zip(init.iter()) {
                *d = B::Elem::from_f64(v);
            }
        }
        self.backend.upload(&arena, &data)?;
        let block = self.blocks.len();
        for ((name, shape, _), &offset) in params.iter().zip(&offsets) {
            let buffer = self.backend.view(&arena, offset, shape.len())?;
            self.params.insert(
                name.to_string(),
                StoredParam {
                    shape: (*shape).clone(),
                    buffer,
                    block,
                    offset,
                    state: BTreeMap::new(),
                },
            );
        }
        self.blocks.push(Block {
            arena,
            len,
            members: params.iter().map(|f| f.0.to_string()).collect(),
            state: BTreeMap::new(),
        });
        Ok(())
    }

    /// The buffer of `name`, created from `init` the first time. A later request with another
    /// shape is an error naming both shapes.
    pub fn buffer(&mut self, name: &str, shape: &Shape, init: &[f64]) -> Result<B::Buffer> {
        self.create(&[(name, shape, init)])?;
        self.existing(name, shape)
    }

    /// The buffer of parameter `name`, which must have `shape`.
    pub(crate) fn existing(&self, name: &str, shape: &Shape) -> Result<B::Buffer> {
        let p = self.stored(name)?;
        if &p.shape != shape {
            return Err(Error::Shape(Box::new(crate::engine::error::ShapeMismatch {
                op: "parameter".into(),
                lhs_name: format!("stored `{name}`"),
                lhs: p.shape.clone(),
                rhs_name: format!("the graph's `{name}`"),
                rhs: shape.clone(),
                why: "a parameter keeps its shape".into(),
                location: "plan compile".into(),
            })));
        }
        Ok(p.buffer.clone())
    }

    /// Where parameter `name` lives: its block and its place in the block's arena.
    pub(crate) fn slot(&self, name: &str) -> Option<Slot> {
        self.params.get(name).map(|p| Slot {
            block: p.block,
            offset: p.offset,
            len: p.shape.len(),
        })
    }

    /// The parameters of a block, and the length of its arenas.
    pub(crate) fn block(&self, block: usize) -> (&[String], usize) {
        let b = &self.blocks[block];
        (&b.members, b.len)
    }

    /// The arena of a block's parameters.
    pub(crate) fn block_arena(&self, block: usize) -> B::Buffer {
        self.blocks[block].arena.clone()
    }

    /// The arena of a block's optimizer state `key`, zeros when new; each parameter's share of
    /// it is that parameter's state `key` (what checkpoints save).
    pub(crate) fn block_state(&mut self, block: usize, key: &str) -> Result<B::Buffer> {
        let b = &mut self.blocks[block];
        if let Some(arena) = b.state.get(key) {
            return Ok(arena.clone());
        }
        let label = format!(
            "{} {key}",
            if b.members.len() == 1 {
                b.members[0].as_str()
            } else {
                "parameters"
            }
        );
        let arena = self.backend.alloc(b.len, &label)?;
        b.state.insert(key.to_string(), arena.clone());
        for name in &b.members {
            let p = self.params.get_mut(name).expect("block members are stored");
            let view = self.backend.view(&arena, p.offset, p.shape.len())?;
            p.state.insert(key.to_string(), view);
        }
        Ok(arena)
    }

    /// The optimizer state buffer `key` of parameter `name`, zeros when new.
    pub fn state(&mut self, name: &str, key: &str) -> Result<B::Buffer> {
        let block = self.stored(name)?.block;
        self.block_state(block, key)?;
        Ok(self.stored(name)?.state[key].clone())
    }

    /// Sets a parameter's values (creating it if new).
    pub fn set(&mut self, name: &str, shape: &Shape, values: &[f64]) -> Result<()> {
        if values.len() != shape.len() {
            return Err(Error::Length {
                what: format!("values for parameter `{name}` of shape {shape}"),
                expected: shape.len(),
                got: values.len(),
            });
        }
        let buffer = self.buffer(name, shape, values)?;
        let data: Vec<B::Elem> = values.iter().map(|&v| B::Elem::from_f64(v)).collect();
        self.backend.upload(&buffer, &data)
    }

    /// Sets optimizer state `key` of parameter `name` (when resuming).
    pub fn set_state(&mut self, name: &str, key: &str, values: &[f64]) -> Result<()> {
        let buffer = self.state(name, key)?;
        let data: Vec<B::Elem> = values.iter().map(|&v| B::Elem::from_f64(v)).collect();
        self.backend.upload(&buffer, &data)
    }

    /// Reads every parameter and every state buffer back in one transfer:
    /// `(name, shape, values, [(state key, values)])`.
    #[allow(clippy::type_complexity)]
    pub fn read_all(&self) -> Result<Vec<(String, Shape, Vec<f64>, Vec<(String, Vec<f64>)>)>> {
        let mut bufs = Vec::new();
        for p in self.params.values() {
            bufs.push(&p.buffer);
            bufs.extend(p.state.values());
        }
        let mut values = self
            .backend
            .download(&bufs)?
            .into_iter()
            .map(|v| v.into_iter().map(Element::as_f64).collect());
        let mut out = Vec::new();
        for (name, p) in &self.params {
            let data = values.next().unwrap_or_default();
            let state = p
                .state
                .keys()
                .map(|k| (k.clone(), values.next().unwrap_or_default()))
                .collect();
            out.push((name.clone(), p.shape.clone(), data, state));
        }
        Ok(out)
    }

    /// Makes this store hold what `from` holds: every parameter's values, its optimizer state
    /// and the step count, in one read of `from` (how a data-parallel replica catches up with
    /// the first device after a checkpoint is restored there). Parameters this store lacks are
    /// created, each in an arena of its own; create them from the same graph first
    /// ([`ParamStore::create_from`]) to keep one arena per block, as `from` has.
    ///
    /// ```
    /// use shadergrad::{backend::cpu::CpuBackend, shape::Shape, ParamStore};
    /// let (a, b) = (CpuBackend::<f32>::new(), CpuBackend::<f32>::new());
    /// let mut first = ParamStore::new(&a);
    /// first.set("w", &Shape::from([2]), &[1.0, 2.0])?;
    /// first.set_steps(7);
    /// let mut replica = ParamStore::new(&b);
    /// replica.copy_from(&first)?;
    /// assert_eq!((replica.read("w")?, replica.steps()), (vec![1.0, 2.0], 7));
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn copy_from<C: Backend>(&mut self, from: &ParamStore<C>) -> Result<()> {
        for (name, shape, values, state) in from.read_all()? {
            self.set(&name, &shape, &values)?;
            for (key, values) in state {
                self.set_state(&name, &key, &values)?;
            }
        }
        self.steps = from.steps;
        Ok(())
    }

    /// Reads one parameter back.
    pub fn read(&self, name: &str) -> Result<Vec<f64>> {
        let p = self.stored(name)?;
        Ok(self
            .backend
            .download(&[&p.buffer])?
            .remove(0)
            .into_iter()
            .map(Element::as_f64)
            .collect())
    }
}

/// How many consecutive tensors of `lens` values share each arena: as many as fit in `limit`
/// values, each starting at a multiple of `align` (a tensor bigger than `limit` gets an arena
/// of its own, and allocating it reports that it is too large).
fn arena_groups(lens: &[usize], align: usize, limit: usize) -> Vec<usize> {
    let mut groups = Vec::new();
    let (mut count, mut end) = (0, 0);
    for &len in lens {
        let next = (end + len).next_multiple_of(align);
        if count > 0 && next > limit {
            groups.push(count);
            (count, end) = (0, 0);
        }
        end = (end + len).next_multiple_of(align);
        count += 1;
    }
    if count > 0 {
        groups.push(count);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::arena_groups;

    #[test]
    fn arenas_split_where_the_next_tensor_would_pass_the_device_limit() {
        // 10 values take 12 at alignment 4: two fit in 24, the third starts a new arena.
        assert_eq!(arena_groups(&[10, 10, 10], 4, 24), [2, 1]);
        assert_eq!(arena_groups(&[10, 10, 10], 4, 1 << 20), [3]);
        // Too big alone: an arena of its own (its allocation then says it is too large).
        assert_eq!(arena_groups(&[5, 100, 5], 1, 50), [1, 1, 1]);
        assert!(arena_groups(&[], 4, 24).is_empty());
    }
}
