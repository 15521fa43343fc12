//! The executor. [`Plan::compile`] turns a graph into a list of prepared kernel launches once:
//! schedule in id order (a topological order), give every intermediate a buffer and hand buffers
//! whose values are dead to later nodes (liveness), build bind groups. [`Plan::run`] then
//! uploads only the inputs and runs the whole forward + backward (+ update) as one submission,
//! reading back only the outputs asked for.
//!
//! Parameters live in a [`ParamStore`], outside any plan, so several plans (a training step,
//! an evaluation at another batch size) share them without copies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::backend::{Backend, Element, Kernel, Params};
use crate::error::{Error, Result};
use crate::graph::{Graph, Node, NodeId, Op, Tensor};
use crate::op::{Activation, UnaryOp};
use crate::optim::Optimizer;
use crate::shape::Shape;

/// Trainable parameters (and their optimizer state) on one backend, by name.
///
/// Parameters first met together (by one [`Plan::compile`]) share one arena buffer, each a view
/// of it at an aligned offset, and so do their gradients and each kind of optimizer state: a
/// training step then updates them all with one launch of the optimizer kernel.
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
        self.params.get(name).ok_or_else(|| {
            Error::Graph(format!(
                "no parameter named `{name}` in the store (it has: {})",
                self.names().join(", ")
            ))
        })
    }

    /// Creates the parameters of `new` that the store does not hold yet, laid out together in
    /// arenas (each at an offset the backend can bind), from their initial values: one arena
    /// unless together they exceed the largest buffer the device binds.
    fn create(&mut self, new: &[(&str, &Shape, &[f64])]) -> Result<()> {
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
        let p = self.stored(name)?;
        if &p.shape != shape {
            return Err(Error::Shape(Box::new(crate::error::ShapeMismatch {
                op: "parameter".into(),
                lhs_name: format!("stored `{name}`"),
                lhs: p.shape.to_string(),
                rhs_name: format!("the graph's `{name}`"),
                rhs: shape.to_string(),
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

/// How to compile a plan.
#[derive(Clone, Copy, Debug)]
pub struct PlanOptions {
    /// Hand dead intermediates' buffers to later nodes (off: every node keeps its own buffer).
    pub reuse_buffers: bool,
    /// Keep and read back every node's value (anomaly mode and backend comparison).
    pub keep_all: bool,
    /// Fuse where nothing else needs the parts: matmul + bias (+ ReLU), matmul + a ReLU's
    /// backward mask, softmax-CE forward + backward, and each parameter block's updates into one
    /// optimizer launch.
    pub fuse: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            reuse_buffers: true,
            keep_all: false,
            fuse: true,
        }
    }
}

/// What a compiled plan does per run, for reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanReport {
    /// Kernel launches per run.
    pub dispatches: usize,
    /// Bytes of buffers the plan allocated for intermediate values.
    pub intermediate_bytes: u64,
    /// Bytes a buffer per intermediate value would take.
    pub naive_bytes: u64,
    /// Bytes of inputs, constants and parameters it uses.
    pub persistent_bytes: u64,
    /// Submissions the last run made (1 on the GPU; 0 on the CPU, which submits nothing).
    pub submits_per_run: u64,
    /// Nodes the plan computes.
    pub nodes: usize,
    /// Groups fused into one launch: matmul + bias (+ ReLU), matmul + a ReLU's backward mask,
    /// softmax-CE forward + backward, the updates of a parameter block.
    pub fused: usize,
}

impl PlanReport {
    /// The share of the naive bytes that buffer reuse saved, in percent (never printed as -0:
    /// arena padding can make the two differ by a few bytes).
    fn saved_pct(&self) -> f64 {
        if self.naive_bytes == 0 {
            return 0.0;
        }
        let pct = (100.0 * (1.0 - self.intermediate_bytes as f64 / self.naive_bytes as f64)).round();
        if pct == 0.0 {
            0.0
        } else {
            pct
        }
    }
}

impl fmt::Display for PlanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} nodes, {} dispatches ({} fused), intermediates {:.1} KiB allocated vs {:.1} KiB naive ({:.0}% saved), {:.1} KiB persistent, {} submit(s) per run",
            self.nodes,
            self.dispatches,
            self.fused,
            self.intermediate_bytes as f64 / 1024.0,
            self.naive_bytes as f64 / 1024.0,
            self.saved_pct(),
            self.persistent_bytes as f64 / 1024.0,
            self.submits_per_run
        )
    }
}

/// Values read back from a run, by tensor.
pub struct Outputs<E> {
    values: HashMap<NodeId, Vec<E>>,
    names: HashMap<NodeId, String>,
}

impl<E: Element> Outputs<E> {
    /// The values of an output.
    pub fn get(&self, t: &Tensor) -> Result<&[E]> {
        self.values
            .get(&t.id())
            .map(Vec::as_slice)
            .ok_or_else(|| Error::Graph(format!("`{}` is not an output of this plan", t.name())))
    }

    /// The value of a scalar output, as f64.
    pub fn scalar(&self, t: &Tensor) -> Result<f64> {
        let v = self.get(t)?;
        match v {
            [x] => Ok(Element::as_f64(*x)),
            _ => Err(Error::Graph(format!(
                "`{}` holds {} values, not one",
                t.name(),
                v.len()
            ))),
        }
    }

    /// Every output in id order, with its node's name.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &str, &[E])> {
        let mut ids: Vec<_> = self.values.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
            .map(move |id| (id, self.names[&id].as_str(), self.values[&id].as_slice()))
    }
}

struct FedInput<B: Backend> {
    name: String,
    shape: Shape,
    buffer: B::Buffer,
    fed: bool,
}

struct UpdateLaunch {
    launch: usize,
    optimizer: Optimizer,
    len: usize,
    /// The params last set, to skip rewriting unchanged ones.
    params: Option<Params>,
}

/// A compiled graph, ready to run many times.
///
/// A plan holds handles into its graph, which is single-threaded (`Rc`), so the compiler refuses
/// to move a plan to another thread; build one plan per thread instead (devices, and the GPU
/// buffers on them, are shared across threads safely):
///
/// ```compile_fail
/// fn needs_send<T: Send>(_: T) {}
/// fn try_it(plan: shadergrad::Plan<shadergrad::backend::wgpu::WgpuBackend>) {
///     needs_send(plan);
/// }
/// ```
pub struct Plan<B: Backend> {
    backend: B,
    launches: Vec<B::Launch>,
    /// The node each launch computes, for reports.
    launch_nodes: Vec<NodeId>,
    inputs: HashMap<NodeId, FedInput<B>>,
    outputs: Vec<(NodeId, B::Buffer)>,
    kept: HashMap<NodeId, B::Buffer>,
    names: HashMap<NodeId, String>,
    updates: Vec<UpdateLaunch>,
    report: PlanReport,
    graph: Graph,
    /// Bytes of the last byte input packed into elements (kept to reuse its memory).
    packed: Vec<B::Elem>,
}

/// Buffers of dead values, for later nodes to take. A value gets the smallest free buffer that
/// holds it, as a view of its start, if that wastes at most half the buffer; each buffer is
/// lent to one value at a time and comes back when that value dies.
struct BufferPool<B: Backend> {
    /// `(capacity, buffer)` of every free buffer.
    free: Vec<(usize, B::Buffer)>,
    /// The buffer lent to each value: a node's value (`false`) or its aux buffer (`true`).
    lent: HashMap<(NodeId, bool), (usize, B::Buffer)>,
    reuse: bool,
}

impl<B: Backend> BufferPool<B> {
    /// A buffer of `len` values for `owner`: a dead value's, or a new one. Counts both in the
    /// report.
    fn take(
        &mut self,
        backend: &B,
        owner: (NodeId, bool),
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
            self.lent.insert(owner, (cap, root));
            return Ok(view);
        }
        report.intermediate_bytes += bytes;
        let root = backend.alloc(len, name)?;
        self.lent.insert(owner, (len, root.clone()));
        Ok(root)
    }

    /// Takes back the buffer lent to `owner`, if any.
    fn give(&mut self, owner: (NodeId, bool)) {
        if let Some(lent) = self.lent.remove(&owner) {
            self.free.push(lent);
        }
    }
}

/// Matmul + bias (+ ReLU) found fusable: the matmul, bias-add and optional relu nodes.
struct Fusion {
    matmul: NodeId,
    bias_add: NodeId,
    relu: Option<NodeId>,
}

/// Finds matmul → bias_add (→ relu) chains whose middle values nothing else reads, except a
/// ReLU's own backward, which can read the ReLU's output instead (x > 0 ⇔ relu(x) > 0).
fn find_fusions(nodes: &[Node], needed: &[bool], consumers: &[Vec<NodeId>], outputs: &HashSet<NodeId>) -> Vec<Fusion> {
    let mut found = Vec::new();
    for (id, n) in nodes.iter().enumerate() {
        if !needed[id] || n.op != Op::BiasAdd {
            continue;
        }
        let m = n.inputs[0];
        if !matches!(nodes[m].op, Op::Matmul { .. }) || consumers[m] != [id] || outputs.contains(&m) {
            continue;
        }
        // A ReLU reading the bias-add, whose other readers are only that ReLU's gradient nodes.
        let relu = consumers[id]
            .iter()
            .copied()
            .find(|&r| nodes[r].op == Op::Unary(UnaryOp::Relu));
        let relu = relu.filter(|&r| {
            !outputs.contains(&id)
                && consumers[id]
                    .iter()
                    .all(|&c| c == r || (nodes[c].op == Op::UnaryGrad(UnaryOp::Relu) && nodes[c].inputs[1] == r))
        });
        found.push(Fusion {
            matmul: m,
            bias_add: id,
            relu,
        });
    }
    found
}

/// Matmuls whose only reader is a ReLU's backward, as its upstream gradient (a hidden layer's
/// `dX`): one launch computes the product and applies the ReLU's mask. By ReLU-backward node.
fn find_mask_fusions(
    nodes: &[Node],
    needed: &[bool],
    consumers: &[Vec<NodeId>],
    outputs: &HashSet<NodeId>,
) -> HashMap<NodeId, NodeId> {
    (0..nodes.len())
        .filter(|&id| needed[id] && nodes[id].op == Op::UnaryGrad(UnaryOp::Relu))
        .filter_map(|id| {
            let dy = nodes[id].inputs[2];
            let product = matches!(nodes[dy].op, Op::Matmul { .. });
            (product && consumers[dy] == [id] && !outputs.contains(&dy)).then_some((id, dy))
        })
        .collect()
}

/// Parameter blocks whose updates one optimizer launch can do over the block's arenas: every
/// parameter of the block is updated once by this plan, all by the same optimizer, with nothing
/// but other updates between the first update and the last (so deferring them all to the last
/// changes no value anyone reads). Returns each block with its update nodes.
fn find_block_updates<B: Backend>(nodes: &[Node], needed: &[bool], store: &ParamStore<B>) -> Vec<(usize, Vec<NodeId>)> {
    let mut by_block: BTreeMap<usize, Vec<NodeId>> = BTreeMap::new();
    for (id, n) in nodes.iter().enumerate() {
        if needed[id] && matches!(n.op, Op::Update(_)) && nodes[n.inputs[0]].op == Op::Param {
            if let Some(slot) = store.slot(&nodes[n.inputs[0]].name) {
                by_block.entry(slot.block).or_default().push(id);
            }
        }
    }
    by_block
        .into_iter()
        .filter(|(block, updates)| {
            let mut updated: Vec<&str> = updates
                .iter()
                .map(|&u| nodes[nodes[u].inputs[0]].name.as_str())
                .collect();
            updated.sort_unstable();
            let mut members: Vec<&str> = store.block(*block).0.iter().map(String::as_str).collect();
            members.sort_unstable();
            let same_optimizer = updates.iter().all(|&u| nodes[u].op == nodes[updates[0]].op);
            let together = (updates[0]..=updates[updates.len() - 1])
                .all(|id| !needed[id] || matches!(nodes[id].op, Op::Update(_) | Op::Group));
            updated == members && same_optimizer && together
        })
        .collect()
}

/// What a plan does at one update node of a block updated by one launch: copy a gradient that
/// could not be computed in place into the block's gradient arena, and (at the block's last
/// update) launch the optimizer over the whole block.
struct ArenaUpdate<B: Backend> {
    copy_to: Option<B::Buffer>,
    launch: Option<(usize, B::Buffer)>,
}

impl<B: Backend> Plan<B> {
    /// Compiles the part of `graph` that `outputs` need, with default options.
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, plan::{Plan, ParamStore}};
    /// let g = Graph::new();
    /// let x = g.input("x", [3]).with_grad();
    /// let y = x.square().sum();
    /// let dx = g.backward(&y)?.of(&x)?;
    /// let cpu = CpuBackend::<f64>::new();
    /// let mut store = ParamStore::new(&cpu);
    /// let mut plan = Plan::compile(&cpu, &g, &[&y, &dx], &mut store)?;
    /// plan.set_input(&x, &[1.0, 2.0, 3.0])?;
    /// let out = plan.run()?;
    /// assert_eq!(out.scalar(&y)?, 14.0);
    /// assert_eq!(out.get(&dx)?, &[2.0, 4.0, 6.0]);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn compile(backend: &B, graph: &Graph, outputs: &[&Tensor], store: &mut ParamStore<B>) -> Result<Self> {
        Self::compile_with(backend, graph, outputs, store, PlanOptions::default())
    }

    /// Compiles with explicit [`PlanOptions`].
    pub fn compile_with(
        backend: &B,
        graph: &Graph,
        outputs: &[&Tensor],
        store: &mut ParamStore<B>,
        options: PlanOptions,
    ) -> Result<Self> {
        graph.check()?;
        for t in outputs {
            if !graph.same(t.graph()) {
                return Err(Error::Graph(format!(
                    "`{}` belongs to another graph than the one compiled",
                    t.name()
                )));
            }
        }
        let nodes = graph.nodes();
        let count = outputs.iter().map(|t| t.id() + 1).max().unwrap_or(0);
        let nodes = &nodes[..count];

        // What the outputs need, and who reads each value.
        let mut needed = vec![false; count];
        for t in outputs {
            needed[t.id()] = true;
        }
        for id in (0..count).rev() {
            if needed[id] {
                for &i in &nodes[id].inputs {
                    needed[i] = true;
                }
            }
        }
        let mut consumers: Vec<Vec<NodeId>> = vec![Vec::new(); count];
        for (id, n) in nodes.iter().enumerate() {
            if needed[id] {
                for &i in &n.inputs {
                    if !consumers[i].contains(&id) {
                        consumers[i].push(id);
                    }
                }
            }
        }
        let mut read_back: Vec<NodeId> = outputs
            .iter()
            .map(|t| t.id())
            .filter(|&id| !nodes[id].op.is_effect())
            .collect();
        if options.keep_all {
            read_back = (0..count)
                .filter(|&id| needed[id] && !nodes[id].op.is_effect())
                .collect();
        }
        read_back.dedup();
        let output_set: HashSet<NodeId> = read_back.iter().copied().collect();

        // Softmax-CE whose only probability reader is its one gradient node, with a constant
        // upstream gradient (a training step's loss): one dispatch for the loss and dlogits.
        let ce_fused: HashMap<NodeId, NodeId> = if options.fuse && !options.keep_all {
            (0..count)
                .filter(|&id| needed[id] && nodes[id].op == Op::SoftmaxCrossEntropy)
                .filter_map(|id| {
                    let grads: Vec<NodeId> = consumers[id]
                        .iter()
                        .copied()
                        .filter(|&c| nodes[c].op == Op::SoftmaxCrossEntropyGrad)
                        .collect();
                    match grads.as_slice() {
                        [g] if nodes[nodes[*g].inputs[2]].op == Op::Constant => Some((id, *g)),
                        _ => None,
                    }
                })
                .collect()
        } else {
            HashMap::new()
        };
        let (fusions, mask_fused) = if options.fuse && !options.keep_all {
            (
                find_fusions(nodes, &needed, &consumers, &output_set),
                find_mask_fusions(nodes, &needed, &consumers, &output_set),
            )
        } else {
            (Vec::new(), HashMap::new())
        };
        // Nodes computed by a fused launch elsewhere; and value aliases (bias-add → relu output).
        let mut skip: HashSet<NodeId> = ce_fused.values().copied().collect();
        skip.extend(mask_fused.values().copied());
        let mut fused_at: HashMap<NodeId, &Fusion> = HashMap::new();
        for f in &fusions {
            skip.insert(f.matmul);
            match f.relu {
                Some(r) => {
                    skip.insert(f.bias_add);
                    fused_at.insert(r, f);
                }
                None => {
                    fused_at.insert(f.bias_add, f);
                }
            }
        }
        let alias = |id: NodeId| -> NodeId {
            fusions
                .iter()
                .find(|f| f.bias_add == id && f.relu.is_some())
                .and_then(|f| f.relu)
                .unwrap_or(id)
        };
        // The node whose launch computes a fused matmul, and so reads the matmul's inputs.
        let mut matmul_launched_at: HashMap<NodeId, NodeId> = mask_fused.iter().map(|(&r, &m)| (r, m)).collect();
        for (&at, f) in &fused_at {
            matmul_launched_at.insert(at, f.matmul);
        }
        // What each launch reads: its node's inputs, and a fused matmul's.
        let reads = |id: NodeId| -> Vec<NodeId> {
            let mut r: Vec<NodeId> = nodes[id].inputs.iter().map(|&i| alias(i)).collect();
            if let Some(&m) = matmul_launched_at.get(&id) {
                r.extend(nodes[m].inputs.iter().map(|&i| alias(i)));
            }
            r
        };
        let last_use = {
            let mut last: Vec<usize> = (0..count).collect();
            for id in (0..count).filter(|&id| needed[id]) {
                for i in reads(id) {
                    last[i] = last[i].max(id);
                }
            }
            last
        };

        let mut plan = Plan {
            backend: backend.clone(),
            launches: Vec::new(),
            launch_nodes: Vec::new(),
            inputs: HashMap::new(),
            outputs: Vec::new(),
            kept: HashMap::new(),
            names: HashMap::new(),
            updates: Vec::new(),
            report: PlanReport::default(),
            graph: graph.clone(),
            packed: Vec::new(),
        };
        let elem = std::mem::size_of::<B::Elem>() as u64;
        let mut values: HashMap<NodeId, B::Buffer> = HashMap::new();
        let mut aux: HashMap<NodeId, B::Buffer> = HashMap::new();
        let mut persistent: HashSet<NodeId> = HashSet::new();
        let mut pool = BufferPool::<B> {
            free: Vec::new(),
            lent: HashMap::new(),
            reuse: options.reuse_buffers,
        };

        // Parameters new to the store are created together, in one arena.
        let zeros: Vec<Vec<f64>> = nodes
            .iter()
            .map(|n| {
                if n.op == Op::Param && n.init.is_none() {
                    vec![0.0; n.shape.len()]
                } else {
                    Vec::new()
                }
            })
            .collect();
        let new_params: Vec<(&str, &Shape, &[f64])> = nodes
            .iter()
            .enumerate()
            .filter(|&(id, n)| needed[id] && n.op == Op::Param)
            .map(|(id, n)| (n.name.as_str(), &n.shape, n.init.as_deref().unwrap_or(&zeros[id])))
            .collect();
        store.create(&new_params)?;

        // Gradients of parameters updated block-wise live in a gradient arena of the block's
        // layout: computed there in place when the update is their only reader, else copied in.
        let mut arena_updates: HashMap<NodeId, ArenaUpdate<B>> = HashMap::new();
        let mut grad_slots: HashMap<NodeId, B::Buffer> = HashMap::new();
        if options.fuse && !options.keep_all {
            for (block, updates) in find_block_updates(nodes, &needed, store) {
                let grads = backend.alloc(store.block(block).1, "gradients")?;
                for &u in &updates {
                    let (param, grad) = (nodes[u].inputs[0], nodes[u].inputs[1]);
                    let slot = store.slot(&nodes[param].name).expect("blocks hold stored parameters");
                    let view = backend.view(&grads, slot.offset, slot.len)?;
                    let in_place = alias(grad) == grad
                        && consumers[grad] == [u]
                        && !skip.contains(&grad)
                        && !fused_at.contains_key(&grad)
                        && !output_set.contains(&grad)
                        && !matches!(nodes[grad].op, Op::Input | Op::Param | Op::Constant);
                    let copy_to = if in_place {
                        grad_slots.insert(grad, view);
                        None
                    } else {
                        Some(view)
                    };
                    let launch = (u == updates[updates.len() - 1]).then(|| (block, grads.clone()));
                    arena_updates.insert(u, ArenaUpdate { copy_to, launch });
                }
                plan.report.intermediate_bytes += store.block(block).1 as u64 * elem;
            }
        }

        for (id, n) in nodes.iter().enumerate() {
            if needed[id] && n.op == Op::Constant {
                let buffer = backend.alloc(n.shape.len(), &n.name)?;
                let data: Vec<B::Elem> = n
                    .init
                    .as_deref()
                    .unwrap_or(&[])
                    .iter()
                    .map(|&v| B::Elem::from_f64(v))
                    .collect();
                backend.upload(&buffer, &data)?;
                plan.report.persistent_bytes += n.shape.len() as u64 * elem;
                persistent.insert(id);
                values.insert(id, buffer);
            }
        }
        for id in 0..count {
            let n = &nodes[id];
            if !needed[id] || skip.contains(&id) {
                continue;
            }
            plan.report.nodes += 1;
            plan.names.insert(id, n.name.clone());
            let len = n.shape.len();
            match &n.op {
                Op::Input => {
                    let buffer = backend.alloc(len, &n.name)?;
                    plan.report.persistent_bytes += len as u64 * elem;
                    plan.inputs.insert(
                        id,
                        FedInput {
                            name: n.name.clone(),
                            shape: n.shape.clone(),
                            buffer: buffer.clone(),
                            fed: false,
                        },
                    );
                    persistent.insert(id);
                    values.insert(id, buffer);
                    continue;
                }
                Op::Param => {
                    let init = n.init.clone().unwrap_or_else(|| vec![0.0; len].into());
                    let buffer = store.buffer(&n.name, &n.shape, &init)?;
                    plan.report.persistent_bytes += len as u64 * elem;
                    persistent.insert(id);
                    values.insert(id, buffer);
                    continue;
                }
                // Uploaded before the loop, so fused kernels can read them early.
                Op::Constant => continue,
                Op::Group => continue,
                Op::Update(opt) if arena_updates.contains_key(&id) => {
                    let step = &arena_updates[&id];
                    let plen = nodes[n.inputs[0]].shape.len();
                    if let Some(view) = &step.copy_to {
                        let bufs = [values[&alias(n.inputs[1])].clone(), view.clone()];
                        plan.push_launch(
                            id,
                            Kernel::Unary(UnaryOp::Identity),
                            Params::dims(&[plen as u32]),
                            &bufs,
                        )?;
                    }
                    if let Some((block, grads)) = &step.launch {
                        let mut bufs = vec![store.block_arena(*block), grads.clone()];
                        for key in opt.state_names() {
                            bufs.push(store.block_state(*block, key)?);
                        }
                        let len = store.block(*block).1;
                        let (kernel, params) = opt.kernel(len, store.steps() + 1, opt.lr());
                        plan.push_launch(id, kernel, params, &bufs)?;
                        plan.updates.push(UpdateLaunch {
                            launch: plan.launches.len() - 1,
                            optimizer: *opt,
                            len,
                            params: None,
                        });
                        plan.report.fused += 1;
                    }
                }
                Op::Update(opt) => {
                    let (param, grad) = (n.inputs[0], n.inputs[1]);
                    let pname = nodes[param].name.clone();
                    if nodes[param].op != Op::Param {
                        return Err(Error::Graph(format!(
                            "`{}` updates `{pname}`, which is not a parameter",
                            n.name
                        )));
                    }
                    let mut bufs = vec![values[&param].clone(), values[&alias(grad)].clone()];
                    for key in opt.state_names() {
                        bufs.push(store.state(&pname, key)?);
                    }
                    let plen = nodes[param].shape.len();
                    let (kernel, params) = opt.kernel(plen, store.steps() + 1, opt.lr());
                    plan.push_launch(id, kernel, params, &bufs)?;
                    plan.updates.push(UpdateLaunch {
                        launch: plan.launches.len() - 1,
                        optimizer: *opt,
                        len: plen,
                        params: None,
                    });
                }
                op => {
                    let out = match grad_slots.get(&id) {
                        Some(view) => {
                            plan.report.naive_bytes += len as u64 * elem;
                            persistent.insert(id);
                            view.clone()
                        }
                        None => pool.take(backend, (id, false), len, &n.name, &mut plan.report)?,
                    };
                    let input = |k: usize| values[&alias(n.inputs[k])].clone();
                    if let Some(&g) = ce_fused.get(&id) {
                        let dlogits = pool.take(
                            backend,
                            (g, false),
                            nodes[g].shape.len(),
                            &nodes[g].name,
                            &mut plan.report,
                        )?;
                        let dloss = values[&nodes[g].inputs[2]].clone();
                        let bufs = [input(0), input(1), dloss, out.clone(), dlogits.clone()];
                        plan.push_launch(id, Kernel::SoftmaxCeFused, kernel_for(nodes, id, op).1, &bufs)?;
                        plan.names.insert(g, nodes[g].name.clone());
                        values.insert(g, dlogits);
                        plan.report.fused += 1;
                    } else if let Some(&mm) = mask_fused.get(&id) {
                        // The matmul computing this ReLU's upstream gradient, masked by the
                        // ReLU's output (input 1).
                        let Op::Matmul { ta, tb } = nodes[mm].op else {
                            unreachable!("mask fusions start at a matmul")
                        };
                        let kernel = Kernel::Matmul {
                            ta,
                            tb,
                            bias: false,
                            act: Activation::ReluMask,
                        };
                        let bufs = [
                            values[&alias(nodes[mm].inputs[0])].clone(),
                            values[&alias(nodes[mm].inputs[1])].clone(),
                            input(1),
                            out.clone(),
                        ];
                        plan.push_launch(id, kernel, matmul_params(nodes, mm), &bufs)?;
                        plan.report.fused += 1;
                    } else if let Some(f) = fused_at.get(&id) {
                        let mm = &nodes[f.matmul];
                        let Op::Matmul { ta, tb } = mm.op else {
                            unreachable!("fusions start at a matmul")
                        };
                        let kernel = Kernel::Matmul {
                            ta,
                            tb,
                            bias: true,
                            act: if f.relu.is_some() {
                                Activation::Relu
                            } else {
                                Activation::None
                            },
                        };
                        let params = matmul_params(nodes, f.matmul);
                        let bias = values[&nodes[f.bias_add].inputs[1]].clone();
                        let bufs = [
                            values[&mm.inputs[0]].clone(),
                            values[&mm.inputs[1]].clone(),
                            bias,
                            out.clone(),
                        ];
                        plan.push_launch(id, kernel, params, &bufs)?;
                        plan.report.fused += 1;
                    } else {
                        let (kernel, params) = kernel_for(nodes, id, op);
                        let mut bufs: Vec<B::Buffer> = match op {
                            // Reads the probabilities its forward node kept.
                            Op::SoftmaxCrossEntropyGrad => {
                                vec![aux[&n.inputs[0]].clone(), input(1), input(2)]
                            }
                            _ => (0..n.inputs.len()).map(input).collect(),
                        };
                        if *op == Op::SoftmaxCrossEntropy {
                            let logits = nodes[n.inputs[0]].shape.len();
                            let probs = pool.take(
                                backend,
                                (id, true),
                                logits,
                                &format!("{} probabilities", n.name),
                                &mut plan.report,
                            )?;
                            bufs.push(probs.clone());
                            aux.insert(id, probs);
                        }
                        bufs.push(out.clone());
                        plan.push_launch(id, kernel, params, &bufs)?;
                    }
                    values.insert(id, out);
                }
            }
            // Values read for the last time here go back to the pool, for later nodes.
            let mut dead = reads(id);
            dead.push(id);
            dead.sort_unstable();
            dead.dedup();
            for d in dead {
                let done = last_use[d] <= id && !persistent.contains(&d);
                if !done {
                    continue;
                }
                if aux.remove(&d).is_some() {
                    pool.give((d, true));
                }
                if !output_set.contains(&d) {
                    pool.give((d, false));
                }
            }
        }
        for &id in &read_back {
            let buffer = values
                .get(&alias(id))
                .cloned()
                .ok_or_else(|| Error::Graph(format!("output `{}` has no value", nodes[id].name)))?;
            plan.outputs.push((id, buffer.clone()));
            plan.kept.insert(id, buffer);
        }
        for &id in &persistent {
            if let Some(b) = values.get(&id) {
                plan.kept.insert(id, b.clone());
            }
        }
        plan.report.dispatches = plan.launches.len();
        Ok(plan)
    }

    fn push_launch(&mut self, node: NodeId, kernel: Kernel, params: Params, bufs: &[B::Buffer]) -> Result<()> {
        let refs: Vec<&B::Buffer> = bufs.iter().collect();
        let launch = self.backend.prepare(kernel, params, &refs)?;
        self.launches.push(launch);
        self.launch_nodes.push(node);
        Ok(())
    }

    /// Uploads data for an input. Only inputs are ever uploaded between runs. An input of the
    /// graph that this plan does not read is accepted and ignored, so one set of feeds serves
    /// several plans of a graph.
    pub fn set_input(&mut self, t: &Tensor, data: &[B::Elem]) -> Result<()> {
        if !self.graph.same(t.graph()) || t.op() != Op::Input {
            let hint = match t.op() {
                Op::UnpackBytes(_) => " (it is a byte input: feed it with set_input_bytes)",
                _ => "",
            };
            return Err(Error::Graph(format!(
                "`{}` is not an input of the graph this plan runs{hint}",
                t.name()
            )));
        }
        if !self.inputs.contains_key(&t.id()) {
            return Ok(());
        }
        let input = self.inputs.get_mut(&t.id()).expect("checked just above");
        if data.len() != input.shape.len() {
            return Err(Error::Length {
                what: format!("data for input `{}` of shape {}", input.name, input.shape),
                expected: input.shape.len(),
                got: data.len(),
            });
        }
        self.backend.upload(&input.buffer, data)?;
        input.fed = true;
        Ok(())
    }

    /// Uploads bytes for a [`Graph::byte_input`] (`t` is the tensor it returned), packed four to
    /// an element: the device spreads them to numbers.
    pub fn set_input_bytes(&mut self, t: &Tensor, bytes: &[u8]) -> Result<()> {
        if !self.graph.same(t.graph()) || !matches!(t.op(), Op::UnpackBytes(_)) {
            return Err(Error::Graph(format!(
                "`{}` is not a byte input of the graph this plan runs (see Graph::byte_input)",
                t.name()
            )));
        }
        if bytes.len() != t.shape().len() {
            return Err(Error::Length {
                what: format!("bytes for input `{}` of shape {}", t.name(), t.shape()),
                expected: t.shape().len(),
                got: bytes.len(),
            });
        }
        let mut words = std::mem::take(&mut self.packed);
        crate::backend::pack_bytes(bytes, &mut words);
        let packed = self.graph.tensor(self.graph.node(t.id()).inputs[0]);
        let result = self.set_input(&packed, &words);
        self.packed = words;
        result
    }

    /// Uploads f64 data for an input, converting to the backend's number type.
    pub fn set_input_f64(&mut self, t: &Tensor, data: &[f64]) -> Result<()> {
        let converted: Vec<B::Elem> = data.iter().map(|&v| B::Elem::from_f64(v)).collect();
        self.set_input(t, &converted)
    }

    fn check_fed(&self) -> Result<()> {
        match self.inputs.values().find(|i| !i.fed) {
            Some(i) => Err(Error::Graph(format!(
                "input `{}` of shape {} was never fed (call set_input first)",
                i.name, i.shape
            ))),
            None => Ok(()),
        }
    }

    /// Runs the plan and reads back every output: one submission on the GPU.
    pub fn run(&mut self) -> Result<Outputs<B::Elem>> {
        self.check_fed()?;
        let before = self.backend.submissions();
        let read: Vec<&B::Buffer> = self.outputs.iter().map(|(_, b)| b).collect();
        let values = self.backend.run(&self.launches, &read)?;
        self.report.submits_per_run = self.backend.submissions() - before;
        Ok(Outputs {
            values: self.outputs.iter().map(|(id, _)| *id).zip(values).collect(),
            names: self.names.clone(),
        })
    }

    /// Runs the plan without reading anything back (a training step whose loss is not reported).
    pub fn run_without_readback(&mut self) -> Result<()> {
        self.check_fed()?;
        let before = self.backend.submissions();
        self.backend.run(&self.launches, &[])?;
        self.report.submits_per_run = self.backend.submissions() - before;
        Ok(())
    }

    /// Reads the current value of an output, input or parameter of this plan.
    pub fn read(&self, t: &Tensor) -> Result<Vec<B::Elem>> {
        let b = self.kept.get(&t.id()).ok_or_else(|| {
            Error::Graph(format!(
                "`{}` is not kept by this plan (only outputs, inputs and parameters are)",
                t.name()
            ))
        })?;
        Ok(self.backend.download(&[b])?.remove(0))
    }

    /// Sets the optimizer step `t` (1-based, for Adam's bias correction) and learning rate of
    /// every update in the plan.
    pub fn set_step(&mut self, t: u64, lr: f64) -> Result<()> {
        for u in &mut self.updates {
            let (_, params) = u.optimizer.kernel(u.len, t, lr);
            // SGD and momentum at a constant rate keep their params: write nothing then.
            if u.params != Some(params) {
                self.backend.set_params(&mut self.launches[u.launch], params)?;
                u.params = Some(params);
            }
        }
        Ok(())
    }

    /// What the plan does per run.
    pub fn report(&self) -> &PlanReport {
        &self.report
    }

    /// The node each launch computes, in launch order (for profiling).
    pub fn launch_nodes(&self) -> &[NodeId] {
        &self.launch_nodes
    }

    /// The prepared launches (for timing them).
    pub fn launches(&self) -> &[B::Launch] {
        &self.launches
    }

    /// The graph this plan was compiled from.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

fn matmul_params(nodes: &[Node], id: NodeId) -> Params {
    let n = &nodes[id];
    let Op::Matmul { ta, .. } = n.op else {
        unreachable!("called on matmul nodes")
    };
    let a = nodes[n.inputs[0]].shape.dims();
    let k = if ta { a[0] } else { a[1] };
    let (m, cols) = n.shape.as_matrix();
    Params::dims(&[m as u32, cols as u32, k as u32])
}

/// The kernel and params that compute node `id`.
fn kernel_for(nodes: &[Node], id: NodeId, op: &Op) -> (Kernel, Params) {
    let n = &nodes[id];
    let len = n.shape.len() as u32;
    let input_matrix = || {
        let (r, c) = nodes[n.inputs[0]].shape.as_matrix();
        Params::dims(&[r as u32, c as u32])
    };
    let own_matrix = || {
        let (r, c) = n.shape.as_matrix();
        Params::dims(&[r as u32, c as u32])
    };
    let flat = Params::dims(&[len]);
    match *op {
        Op::Unary(u) => (Kernel::Unary(u), flat),
        Op::Detach => (Kernel::Unary(UnaryOp::Identity), flat),
        Op::UnpackBytes(scale) => (Kernel::UnpackBytes, flat.with_scalars(&[scale])),
        Op::Binary(b) => (Kernel::Binary(b), flat),
        Op::UnaryGrad(u) => (Kernel::UnaryGrad(u), flat),
        Op::BinaryGrad(b, w) => (Kernel::BinaryGrad(b, w), flat),
        Op::Matmul { ta, tb } => (
            Kernel::Matmul {
                ta,
                tb,
                bias: false,
                act: Activation::None,
            },
            matmul_params(nodes, id),
        ),
        Op::BiasAdd => (Kernel::BiasAdd, own_matrix()),
        Op::SumAll => (Kernel::SumAll, Params::dims(&[nodes[n.inputs[0]].shape.len() as u32])),
        Op::RowSum => (Kernel::RowSum, input_matrix()),
        Op::ColSum => (Kernel::ColSum, input_matrix()),
        Op::RowMax => (Kernel::RowMax, input_matrix()),
        Op::RowMaxGrad => (Kernel::RowMaxGrad, own_matrix()),
        Op::Broadcast(mode) => (Kernel::Broadcast(mode), own_matrix()),
        Op::SoftmaxCrossEntropy => (Kernel::SoftmaxCe, input_matrix()),
        Op::SoftmaxCrossEntropyGrad => (Kernel::SoftmaxCeGrad, own_matrix()),
        Op::Mse => (Kernel::Mse, Params::dims(&[nodes[n.inputs[0]].shape.len() as u32])),
        Op::MseGrad => (Kernel::MseGrad, flat),
        Op::Input | Op::Param | Op::Constant | Op::Update(_) | Op::Group => {
            unreachable!("leaves, updates and groups are handled by the compiler")
        }
    }
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
