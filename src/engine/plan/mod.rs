//! The executor. [`Plan::compile`] turns a graph into prepared kernel launches once, in passes:
//!
//! 1. **lower** (`lower.rs`): each node the outputs need becomes a launch (kernel, params, a
//!    value per binding), in id order, a topological order;
//! 2. **fuse** (`fuse.rs`): each fusion one rewrite of the launch list (linear layer epilogues,
//!    activation backward masks, softmax-CE forward + backward, one optimizer launch per
//!    parameter arena);
//! 3. **allocate** (`memory.rs`): buffers for every value, computed values sharing a pool by
//!    liveness over the final launch list;
//! 4. **prepare**: the backend fixes each launch (on the GPU, pipelines and bind groups).
//!
//! [`Plan::run`] then uploads only the inputs and runs the whole forward + backward (+ update)
//! as one submission, reading back only the outputs asked for; [`Plan::describe`] prints what
//! the passes built. Parameters live in a [`ParamStore`] (`params.rs`), outside any plan.

mod fuse;
mod lower;
mod memory;
mod params;
mod report;

use std::collections::HashMap;
use std::sync::Arc;

pub use params::ParamStore;
pub use report::PlanReport;

use crate::engine::backend::Backend;

use crate::engine::element::Element;

use crate::engine::error::{Error, Result};
use crate::engine::graph::{Graph, Node, NodeId, Op, Tensor};
use crate::engine::kernel::{Kernel, Params};
use crate::engine::op::UpdateRule;
use crate::engine::shape::Shape;
use lower::{update_kernel, Ir, Place};
use report::Description;

/// What [`Plan::read_gradients`] reads: the outputs, and the gradient arenas' values.
pub type Halfway<E> = (Outputs<E>, Vec<Vec<E>>);

/// How to compile a plan.
#[derive(Clone, Copy, Debug)]
pub struct PlanOptions {
    /// Hand dead intermediates' buffers to later nodes (off: every node keeps its own buffer).
    pub reuse_buffers: bool,
    /// Keep and read back every node's value (anomaly mode and backend comparison).
    pub keep_all: bool,
    /// Run the fusion passes where nothing else needs the parts they remove.
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

/// A run of a plan on its way ([`Plan::submit`]).
pub struct Submitted<B: Backend> {
    backend: B,
    pending: B::Pending,
    ids: Vec<NodeId>,
    names: Arc<HashMap<NodeId, String>>,
}

impl<B: Backend> Submitted<B> {
    /// Waits for the run (not for runs submitted after it) and returns its outputs.
    pub fn wait(self) -> Result<Outputs<B::Elem>> {
        let values = self.backend.finish(self.pending)?;
        Ok(Outputs {
            values: self.ids.into_iter().zip(values).collect(),
            names: self.names,
        })
    }
}

/// Values read back from a run, by tensor.
pub struct Outputs<E> {
    values: HashMap<NodeId, Vec<E>>,
    names: Arc<HashMap<NodeId, String>>,
}

impl<E: Element> Outputs<E> {
    /// The values of an output.
    pub fn get(&self, t: &Tensor) -> Result<&[E]> {
        self.values
            .get(&t.id())
            .map(Vec::as_slice)
            .ok_or_else(|| Error::NotInPlan {
                name: t.name(),
                what: "an output of this plan",
            })
    }

    /// The value of a scalar output, as f64.
    pub fn scalar(&self, t: &Tensor) -> Result<f64> {
        match self.get(t)? {
            [x] => Ok(Element::as_f64(*x)),
            v => Err(Error::NotScalar {
                name: t.name(),
                len: v.len(),
            }),
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

/// An optimizer launch, whose params a new step or learning rate changes.
struct UpdateLaunch {
    launch: usize,
    rule: UpdateRule,
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
    /// The node each launch is reported under.
    launch_nodes: Vec<NodeId>,
    inputs: HashMap<NodeId, FedInput<B>>,
    outputs: Vec<(NodeId, B::Buffer)>,
    kept: HashMap<NodeId, B::Buffer>,
    /// The outputs' names, shared with every run's [`Outputs`] (a run copies no string).
    names: Arc<HashMap<NodeId, String>>,
    updates: Vec<UpdateLaunch>,
    /// Dropout launches and their params: each run's step draws its own masks.
    dropouts: Vec<(usize, Params)>,
    report: PlanReport,
    description: Description,
    graph: Graph,
    /// Bytes of the last byte input packed into elements (kept to reuse its memory).
    packed: Vec<B::Elem>,
    /// Where the optimizer's launches begin and the gradient arenas they read, when every
    /// update is an arena launch at the end of the plan (see [`Plan::run_to_gradients`]).
    split: Option<(usize, Vec<B::Buffer>)>,
}

/// The nodes up to the last of `outputs`, which of them the outputs need, and which are read
/// back (the outputs, or with `keep_all` every value computed); an error for a graph that
/// recorded a fault or an output of another graph.
fn needed_nodes(graph: &Graph, outputs: &[&Tensor], keep_all: bool) -> Result<(Vec<Node>, Vec<bool>, Vec<NodeId>)> {
    graph.check()?;
    for t in outputs {
        if !graph.same(t.graph()) {
            return Err(Error::ForeignTensor {
                name: t.name(),
                context: "plan compile".into(),
            });
        }
    }
    let mut nodes = graph.nodes();
    let count = outputs.iter().map(|t| t.id() + 1).max().unwrap_or(0);
    nodes.truncate(count);
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
    let mut read_back: Vec<NodeId> = if keep_all {
        (0..count)
            .filter(|&id| needed[id] && !nodes[id].op.is_effect())
            .collect()
    } else {
        outputs
            .iter()
            .map(|t| t.id())
            .filter(|&id| !nodes[id].op.is_effect())
            .collect()
    };
    read_back.dedup();
    Ok((nodes, needed, read_back))
}

/// Creates the needed parameters new to `store` together, in one arena (and the buffers, which
/// take no gradient, in another).
fn create_params<B: Backend>(nodes: &[Node], needed: &[bool], store: &mut ParamStore<B>) -> Result<()> {
    let zeros: Vec<Vec<f64>> = nodes
        .iter()
        .map(|n| match (&n.op, &n.init) {
            (Op::Param, None) => vec![0.0; n.shape.len()],
            _ => Vec::new(),
        })
        .collect();
    for trainable in [true, false] {
        let new_params: Vec<(&str, &Shape, &[f64])> = nodes
            .iter()
            .enumerate()
            .filter(|&(id, n)| needed[id] && n.op == Op::Param && n.requires_grad == trainable)
            .map(|(id, n)| (n.name.as_str(), &n.shape, n.init.as_deref().unwrap_or(&zeros[id])))
            .collect();
        store.create(&new_params)?;
    }
    Ok(())
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

    /// Compiles with explicit [`PlanOptions`]: finds what the outputs need, creates the
    /// parameters new to the store, runs the passes (lower, fuse, allocate), then prepares the
    /// launches and binds the values a caller feeds or reads.
    pub fn compile_with(
        backend: &B,
        graph: &Graph,
        outputs: &[&Tensor],
        store: &mut ParamStore<B>,
        options: PlanOptions,
    ) -> Result<Self> {
        let (nodes, needed, read_back) = needed_nodes(graph, outputs, options.keep_all)?;
        let nodes = &nodes[..];
        create_params(nodes, &needed, store)?;

        // The passes.
        let mut ir = lower::lower(nodes, &needed, &read_back)?;
        let fusion_off = match (options.fuse, options.keep_all) {
            (false, _) => Some("PlanOptions::fuse is off"),
            (true, true) => Some("every value is kept, so none can be fused away"),
            (true, false) => None,
        };
        if fusion_off.is_none() {
            fuse::fuse(&mut ir, nodes, store);
        }
        let mut report = PlanReport {
            nodes: needed.iter().filter(|&&n| n).count(),
            dispatches: ir.launches.len(),
            fused: ir.launches.iter().filter(|l| l.nodes.len() > 1).count(),
            ..PlanReport::default()
        };
        let buffers = memory::allocate(backend, &ir, store, options.reuse_buffers, &mut report)?;
        let buffer = |v: usize| {
            buffers[v].clone().ok_or_else(|| Error::NotInPlan {
                name: ir.values[v].name.clone(),
                what: "given a buffer by this plan",
            })
        };

        let mut plan = Plan {
            backend: backend.clone(),
            launches: Vec::with_capacity(ir.launches.len()),
            launch_nodes: ir.launches.iter().map(|l| l.node()).collect(),
            inputs: HashMap::new(),
            outputs: Vec::new(),
            kept: HashMap::new(),
            names: Arc::new(read_back.iter().map(|&id| (id, nodes[id].name.clone())).collect()),
            updates: Vec::new(),
            dropouts: Vec::new(),
            report,
            description: Description::new(&ir, nodes, fusion_off),
            graph: graph.clone(),
            packed: Vec::new(),
            split: None,
        };
        plan.prepare_launches(&ir, &buffer)?;
        plan.bind_values(&ir, nodes, &read_back, &buffer)?;
        Ok(plan)
    }

    /// Prepares every launch of `ir` on its buffers, noting the dropout launches (their step
    /// changes per run) and the optimizer updates (their learning rate and step do).
    fn prepare_launches(&mut self, ir: &Ir, buffer: &dyn Fn(usize) -> Result<B::Buffer>) -> Result<()> {
        for (i, l) in ir.launches.iter().enumerate() {
            let bufs = l.args.iter().map(|&v| buffer(v)).collect::<Result<Vec<_>>>()?;
            let refs: Vec<&B::Buffer> = bufs.iter().collect();
            self.launches.push(self.backend.prepare(l.kernel, l.params, &refs)?);
            if let Kernel::Dropout { .. } = l.kernel {
                self.dropouts.push((i, l.params));
            }
            if let Some((rule, len)) = l.update {
                self.updates.push(UpdateLaunch {
                    launch: i,
                    rule,
                    len,
                    params: None,
                });
            }
        }
        Ok(())
    }

    /// Binds what a caller touches to its buffer: the inputs it feeds, the parameters,
    /// constants and outputs it reads; and finds where the updates from gradient arenas
    /// begin, if they are all at the end (see [`Plan::run_to_gradients`]).
    fn bind_values(
        &mut self,
        ir: &Ir,
        nodes: &[Node],
        read_back: &[NodeId],
        buffer: &dyn Fn(usize) -> Result<B::Buffer>,
    ) -> Result<()> {
        for (&id, &v) in &ir.of_node {
            let n = &nodes[id];
            match ir.values[v].place {
                Place::Input => {
                    let b = buffer(v)?;
                    self.inputs.insert(
                        id,
                        FedInput {
                            name: n.name.clone(),
                            shape: n.shape.clone(),
                            buffer: b.clone(),
                            fed: false,
                        },
                    );
                    self.kept.insert(id, b);
                }
                Place::Param(_) | Place::Constant(_) => {
                    self.kept.insert(id, buffer(v)?);
                }
                _ => {}
            }
        }
        // Updates from gradient arenas, all at the end: running averages (batch-norm
        // statistics) may update earlier, they read no gradient.
        let from_arena =
            |l: &lower::Launch| l.update.is_some() && matches!(ir.values[l.args[1]].place, Place::GradArena(_));
        if let Some(at) = ir.launches.iter().position(from_arena) {
            let tail = &ir.launches[at..];
            if tail.iter().all(from_arena) {
                let arenas = tail.iter().map(|l| buffer(l.args[1])).collect::<Result<_>>()?;
                self.split = Some((at, arenas));
            }
        }
        for &id in read_back {
            let b = buffer(ir.of_node[&id])?;
            self.outputs.push((id, b.clone()));
            self.kept.insert(id, b);
        }
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
            return Err(Error::NotAnInput { name: t.name(), hint });
        }
        let Some(input) = self.inputs.get_mut(&t.id()) else {
            return Ok(());
        };
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
            return Err(Error::NotAByteInput { name: t.name() });
        }
        if bytes.len() != t.shape().len() {
            return Err(Error::Length {
                what: format!("bytes for input `{}` of shape {}", t.name(), t.shape()),
                expected: t.shape().len(),
                got: bytes.len(),
            });
        }
        let mut words = std::mem::take(&mut self.packed);
        crate::engine::element::pack_bytes(bytes, &mut words);
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
            Some(i) => Err(Error::NotFed {
                name: i.name.clone(),
                shape: i.shape.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Runs the plan and reads back every output: one submission on the GPU.
    pub fn run(&mut self) -> Result<Outputs<B::Elem>> {
        self.submit()?.wait()
    }

    /// [`Plan::run`] in two calls: starts the run and returns without waiting for it (the CPU
    /// runs it now). Inputs set and steps changed before [`Submitted::wait`] are for the next
    /// run, so a training loop gathers and uploads the next batch while the device computes
    /// this step, and reads this step's loss afterwards.
    ///
    /// ```
    /// use shadergrad::{backend::cpu::CpuBackend, Graph, ParamStore, Plan};
    /// let g = Graph::new();
    /// let x = g.input("x", [2]);
    /// let y = x.relu();
    /// let cpu = CpuBackend::<f32>::new();
    /// let mut plan = Plan::compile(&cpu, &g, &[&y], &mut ParamStore::new(&cpu))?;
    /// plan.set_input(&x, &[-1.0, 2.0])?;
    /// let first = plan.submit()?;
    /// plan.set_input(&x, &[3.0, -4.0])?; // the next run's input, while the first is on its way
    /// let second = plan.submit()?;
    /// assert_eq!(first.wait()?.get(&y)?, [0.0, 2.0]);
    /// assert_eq!(second.wait()?.get(&y)?, [3.0, 0.0]);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn submit(&mut self) -> Result<Submitted<B>> {
        self.check_fed()?;
        let before = self.backend.submissions();
        let read: Vec<&B::Buffer> = self.outputs.iter().map(|(_, b)| b).collect();
        let pending = self.backend.submit(&self.launches, &read)?;
        self.report.submits_per_run = self.backend.submissions() - before;
        Ok(Submitted {
            backend: self.backend.clone(),
            pending,
            ids: self.outputs.iter().map(|(id, _)| *id).collect(),
            names: Arc::clone(&self.names),
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

    /// Starts a training step's plan up to its optimizer updates: forward, loss, backward,
    /// every gradient into its block's gradient arena. On a GPU it returns without waiting, so
    /// several devices compute at once; [`Plan::read_gradients`] then waits and reads. With
    /// [`Plan::run_updates`] this is [`Plan::run`] in two halves, with the gradients in the
    /// caller's hands between them: data-parallel replicas sum theirs there.
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, optim::Optimizer, ParamStore, Plan};
    /// let g = Graph::new();
    /// let w = g.param("w", [2], vec![1.0, -1.0]);
    /// let loss = w.square().sum();
    /// let step = Optimizer::sgd(0.25).minimize(&g, &g.backward(&loss)?, &[w.clone()])?;
    /// let cpu = CpuBackend::<f64>::new();
    /// let mut plan = Plan::compile(&cpu, &g, &[&loss, &step], &mut ParamStore::new(&cpu))?;
    /// plan.run_to_gradients()?;
    /// let (outputs, mut gradients) = plan.read_gradients()?;
    /// assert_eq!(outputs.scalar(&loss)?, 2.0);
    /// assert_eq!(gradients[0][..2], [2.0, -2.0]);
    /// gradients[0][..2].copy_from_slice(&[4.0, 0.0]); // any gradient the caller chooses
    /// plan.run_updates(&gradients)?;
    /// assert_eq!(plan.read(&w)?, [0.0, -1.0]); // w − 0.25·g
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn run_to_gradients(&mut self) -> Result<()> {
        let at = self.split()?.0;
        self.check_fed()?;
        let before = self.backend.submissions();
        self.backend.run(&self.launches[..at], &[])?;
        self.report.submits_per_run = self.backend.submissions() - before;
        Ok(())
    }

    /// The outputs (the loss) and the gradient arenas, one per parameter block in
    /// [`ParamStore`] order, of the last [`Plan::run_to_gradients`], read back in one wait.
    pub fn read_gradients(&self) -> Result<Halfway<B::Elem>> {
        let arenas = self.split()?.1;
        let read: Vec<&B::Buffer> = self.outputs.iter().map(|(_, b)| b).chain(arenas).collect();
        let mut values = self.backend.download(&read)?;
        let gradients = values.split_off(self.outputs.len());
        let outputs = Outputs {
            values: self.outputs.iter().map(|(id, _)| *id).zip(values).collect(),
            names: Arc::clone(&self.names),
        };
        Ok((outputs, gradients))
    }

    /// Where the optimizer's launches begin, and the gradient arenas they read.
    fn split(&self) -> Result<(usize, &[B::Buffer])> {
        let (at, arenas) = self.split.as_ref().ok_or(Error::NotInPlan {
            name: "gradient arenas".into(),
            what: "in this plan (it needs fused arena updates of every parameter, run last)",
        })?;
        Ok((*at, arenas))
    }

    /// Writes `gradients` (one per parameter block, as [`Plan::run_to_gradients`] returned
    /// them) into the gradient arenas and runs the optimizer updates.
    pub fn run_updates(&mut self, gradients: &[Vec<B::Elem>]) -> Result<()> {
        let (at, arenas) = self.split()?;
        if gradients.len() != arenas.len() {
            return Err(Error::Length {
                what: "gradient arenas".into(),
                expected: arenas.len(),
                got: gradients.len(),
            });
        }
        for (arena, values) in arenas.iter().zip(gradients) {
            self.backend.upload(arena, values)?;
        }
        self.backend.run(&self.launches[at..], &[])?;
        Ok(())
    }

    /// Reads the current value of an output, input or parameter of this plan.
    pub fn read(&self, t: &Tensor) -> Result<Vec<B::Elem>> {
        let b = self.kept.get(&t.id()).ok_or_else(|| Error::NotInPlan {
            name: t.name(),
            what: "kept by this plan (only outputs, inputs and parameters are)",
        })?;
        Ok(self.backend.download(&[b])?.remove(0))
    }

    /// Sets the optimizer step `t` (1-based, for Adam's bias correction) and learning rate of
    /// every update in the plan, and the step whose masks its dropouts draw (a forward dropout
    /// and its backward share the step, and so the mask).
    pub fn set_step(&mut self, t: u64, lr: f64) -> Result<()> {
        for (launch, params) in &mut self.dropouts {
            // Steps past 2³² wrap: the masks then repeat those of 4 billion steps before.
            params.dims[2] = t as u32;
            self.backend.set_params(&mut self.launches[*launch], *params)?;
        }
        for u in &mut self.updates {
            let (_, params) = update_kernel(&u.rule, u.len, t, lr);
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

    /// The launch list the passes built, one line per launch (kernel, sizes, what it reads and
    /// writes, the nodes it does the work of), then what was fused and why something was not.
    ///
    /// ```
    /// use shadergrad::{Graph, backend::cpu::CpuBackend, ParamStore, Plan};
    /// let g = Graph::new();
    /// let x = g.input("x", [4, 3]);
    /// let w = g.param("w", [2, 3], vec![0.1; 6]);
    /// let b = g.param("b", [2], vec![0.0; 2]);
    /// let y = x.linear(&w, &b).relu().sum();
    /// let cpu = CpuBackend::<f32>::new();
    /// let plan = Plan::compile(&cpu, &g, &[&y], &mut ParamStore::new(&cpu))?;
    /// let text = plan.describe();
    /// assert!(text.contains("matmul[tB]+bias+relu"), "{text}");
    /// assert!(text.contains("fused:"), "{text}");
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn describe(&self) -> String {
        self.description.to_string()
    }

    /// The node each launch is reported under, in launch order (for profiling).
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
