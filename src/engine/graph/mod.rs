//! The computational graph: an arena of nodes whose ids grow monotonically, so id order is a
//! topological order (no DFS needed), and [`Tensor`] handles. The op builders, each beside its
//! gradient rule, are in a file per kernel family: `elementwise.rs`, `products.rs`,
//! `reductions.rs`, `losses.rs`, `normalization.rs` (`rule.rs` is what a rule works from).
//!
//! Builders never panic. A wrong shape is caught when the node is added and recorded, with both
//! shapes, the op and the source line that made it; [`Graph::backward`] and plan compilation
//! then return that error. So `&a + &b` can be written with operators and still fail cleanly.

pub(crate) mod elementwise;
pub(crate) mod losses;
pub(crate) mod normalization;
pub(crate) mod products;
pub(crate) mod reductions;
pub(crate) mod rule;

use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
use std::rc::Rc;

use crate::engine::autodiff::{self, Gradients};
use crate::engine::error::{BadShape, Error, Result, ShapeMismatch};
use crate::engine::kernel::Kernel;
use crate::engine::op::{fmt_num, BinaryOp, Operand, UnaryOp, UpdateRule};
use crate::engine::shape::Shape;

/// The index of a node in its graph. Smaller ids never depend on larger ones.
pub type NodeId = usize;

/// What a node computes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Data fed before each run.
    Input,
    /// A trainable tensor that lives in a [`ParamStore`](crate::engine::plan::ParamStore) across runs.
    Param,
    /// Fixed values, uploaded once.
    Constant,
    /// A kernel of the kernel set, reading the node's inputs in the order of its bindings
    /// (`Kernel::Unary(Relu)`, `Kernel::UnaryGrad(Relu)`, `Kernel::Matmul { .. }`, ...). A
    /// gradient node is the kernel of its rule, so nothing here repeats the kernel set.
    Kernel(Kernel),
    /// A copy that stops gradients.
    Detach,
    /// `scale · byte` of bytes fed packed four to an element (see [`Graph::byte_input`]).
    UnpackBytes(f64),
    /// An in-place optimizer update of a parameter from `[param, grad]`.
    Update(UpdateRule),
    /// No computation: runs its inputs (a training step's updates) when asked for.
    Group,
}

impl Op {
    /// A short name for reports and diagrams: `relu`, `*-1`, `matmul(Bᵀ)`, `relu'`.
    pub fn name(&self) -> String {
        match self {
            Op::Kernel(Kernel::Unary(u)) => u.label(),
            Op::Kernel(Kernel::Binary(b)) => b.symbol().to_string(),
            Op::Kernel(Kernel::Matmul { ta, tb, .. }) => match (ta, tb) {
                (false, false) => "matmul".into(),
                (true, false) => "matmul(Aᵀ)".into(),
                (false, true) => "matmul(Bᵀ)".into(),
                (true, true) => "matmul(Aᵀ,Bᵀ)".into(),
            },
            Op::Kernel(Kernel::UnaryGrad(u)) => format!("{}'", u.name()),
            Op::Kernel(Kernel::BinaryGrad(b, w)) => {
                format!("d{}/d{}", b.name(), if *w == Operand::A { "a" } else { "b" })
            }
            Op::Kernel(k) => k.name(),
            Op::Update(o) => format!("update({})", o.name()),
            Op::Input => "input".into(),
            Op::Param => "param".into(),
            Op::Constant => "constant".into(),
            Op::Detach => "detach".into(),
            Op::UnpackBytes(_) => "unpack_bytes".into(),
            Op::Group => "group".into(),
        }
    }

    /// True for leaves: inputs, parameters and constants.
    pub fn is_leaf(&self) -> bool {
        matches!(self, Op::Input | Op::Param | Op::Constant)
    }

    /// True when the node has no value of its own (updates and groups only have effects).
    pub fn is_effect(&self) -> bool {
        matches!(self, Op::Update(_) | Op::Group)
    }

    /// The node of an elementwise unary op.
    pub fn unary(op: UnaryOp) -> Op {
        Op::Kernel(Kernel::Unary(op))
    }

    /// The node of an elementwise binary op.
    pub fn binary(op: BinaryOp) -> Op {
        Op::Kernel(Kernel::Binary(op))
    }
}

/// One node: its op, inputs, output shape and name.
#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<NodeId>,
    pub shape: Shape,
    pub name: String,
    /// Leaves only: whether backward computes a gradient for it.
    pub requires_grad: bool,
    /// Initial values of a parameter, the values of a constant.
    pub init: Option<Rc<[f64]>>,
}

#[derive(Default)]
struct GraphData {
    nodes: Vec<Node>,
    /// The first error a builder met, reported by backward() and compile().
    error: Option<Error>,
}

/// A computational graph. Cloning gives another handle to the same graph.
///
/// ```
/// use shadergrad::Graph;
/// let g = Graph::new();
/// let x = g.input("x", [2, 3]);
/// let w = g.param("w", [4, 3], vec![0.1; 12]);
/// let b = g.param("b", [4], vec![0.0; 4]);
/// let h = x.linear(&w, &b).relu();
/// assert_eq!(h.shape().dims(), &[2, 4]);
/// ```
#[derive(Clone, Default)]
pub struct Graph {
    data: Rc<RefCell<GraphData>>,
}

/// A handle to a node of a graph; the builders (`matmul`, `relu`, `+`, ...) add nodes.
#[derive(Clone)]
pub struct Tensor {
    graph: Graph,
    id: NodeId,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.graph.node(self.id);
        write!(f, "Tensor(#{} `{}` {} {})", self.id, n.name, n.op.name(), n.shape)
    }
}

fn at(loc: &Location<'_>) -> String {
    format!("{}:{}", loc.file(), loc.line())
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of node `id`.
    pub fn node(&self, id: NodeId) -> Node {
        self.data.borrow().nodes[id].clone()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.data.borrow().nodes.len()
    }

    /// True when the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every node, in id (topological) order.
    pub fn nodes(&self) -> Vec<Node> {
        self.data.borrow().nodes.clone()
    }

    /// A handle to node `id`.
    pub fn tensor(&self, id: NodeId) -> Tensor {
        Tensor {
            graph: self.clone(),
            id,
        }
    }

    /// True when both handles are the same graph.
    pub fn same(&self, other: &Graph) -> bool {
        Rc::ptr_eq(&self.data, &other.data)
    }

    /// The first error a builder recorded, if any (a wrong shape, a tensor of another graph).
    pub fn check(&self) -> Result<()> {
        match &self.data.borrow().error {
            None => Ok(()),
            Some(e) => Err(e.clone()),
        }
    }

    fn record(&self, e: Error) {
        let mut d = self.data.borrow_mut();
        if d.error.is_none() {
            d.error = Some(e);
        }
    }

    /// Adds a node whose shape check has already been done; a failed check is recorded and the
    /// node gets a placeholder scalar shape.
    pub(crate) fn push(&self, op: Op, inputs: Vec<NodeId>, shape: Result<Shape>, name: Option<String>) -> Tensor {
        let shape = shape.unwrap_or_else(|e| {
            self.record(e);
            Shape::scalar()
        });
        let mut d = self.data.borrow_mut();
        let id = d.nodes.len();
        let name = name.unwrap_or_else(|| format!("{}#{id}", op.name()));
        d.nodes.push(Node {
            op,
            inputs,
            shape,
            name,
            requires_grad: false,
            init: None,
        });
        drop(d);
        self.tensor(id)
    }

    fn leaf(&self, op: Op, name: &str, shape: Shape, init: Option<Vec<f64>>, loc: &Location<'_>) -> Tensor {
        let shape = match &init {
            Some(v) if v.len() != shape.len() => Err(Error::BadShape(Box::new(BadShape {
                op: op.name(),
                name: name.into(),
                expected: format!("which holds {} values, but {} were given", shape.len(), v.len()),
                shape,
                location: at(loc),
            }))),
            _ => Ok(shape),
        };
        let t = self.push(op.clone(), vec![], shape, Some(name.to_string()));
        let mut d = self.data.borrow_mut();
        let node = &mut d.nodes[t.id];
        node.requires_grad = op == Op::Param;
        node.init = init.map(Rc::from);
        drop(d);
        t
    }

    /// A tensor fed with data before each run. It takes no gradient unless
    /// [`Tensor::with_grad`] asks for one.
    #[track_caller]
    pub fn input(&self, name: &str, shape: impl Into<Shape>) -> Tensor {
        self.leaf(Op::Input, name, shape.into(), None, Location::caller())
    }

    /// Data fed as bytes (8-bit pixels, class labels) and used as `scale · byte`: a quarter of
    /// the upload of f32 values. Feed it with [`Plan::set_input_bytes`](crate::engine::plan::Plan::set_input_bytes);
    /// the bytes travel packed in an input named `"{name} bytes"` and are spread on the device.
    ///
    /// ```
    /// use shadergrad::{Graph, Plan, ParamStore, backend::cpu::CpuBackend};
    /// let g = Graph::new();
    /// let pixels = g.byte_input("pixels", [2, 3], 1.0 / 255.0);
    /// let total = pixels.sum();
    /// let cpu = CpuBackend::<f64>::new();
    /// let mut plan = Plan::compile(&cpu, &g, &[&total], &mut ParamStore::new(&cpu))?;
    /// plan.set_input_bytes(&pixels, &[255, 0, 51, 0, 102, 255])?;
    /// assert!((plan.run()?.scalar(&total)? - 2.6).abs() < 1e-12);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn byte_input(&self, name: &str, shape: impl Into<Shape>, scale: f64) -> Tensor {
        let shape = shape.into();
        let words = Shape::from([shape.len().div_ceil(4)]);
        let packed = self.leaf(Op::Input, &format!("{name} bytes"), words, None, Location::caller());
        self.push(Op::UnpackBytes(scale), vec![packed.id], Ok(shape), None)
            .named(name)
    }

    /// A trainable parameter with its initial values; it lives in the plan's
    /// [`ParamStore`](crate::engine::plan::ParamStore) under `name` and keeps its value between runs.
    #[track_caller]
    pub fn param(&self, name: &str, shape: impl Into<Shape>, init: Vec<f64>) -> Tensor {
        self.leaf(Op::Param, name, shape.into(), Some(init), Location::caller())
    }

    /// A non-trainable tensor kept in the [`ParamStore`](crate::engine::plan::ParamStore) like a
    /// parameter (PyTorch's buffers: a batch norm's running statistics): it takes no gradient,
    /// only [`Graph::update`]s, and lives in an arena apart from the trainable parameters, so
    /// their optimizer launch is not split.
    ///
    /// ```
    /// use shadergrad::{Graph, UnaryOp, backend::cpu::CpuBackend, op::UpdateRule, ParamStore, Plan};
    /// let g = Graph::new();
    /// let mean = g.buffer("running_mean", [2], vec![0.0, 0.0]);
    /// let x = g.input("x", [2]);
    /// let update = g.update(&mean, &x, UpdateRule::RunningAverage { momentum: 0.5 });
    /// let cpu = CpuBackend::<f64>::new();
    /// let mut store = ParamStore::new(&cpu);
    /// let mut plan = Plan::compile(&cpu, &g, &[&update], &mut store)?;
    /// plan.set_input(&x, &[2.0, 4.0])?;
    /// plan.run()?;
    /// assert_eq!(store.read("running_mean")?, [1.0, 2.0]);
    /// // It takes no gradient.
    /// assert!(g.backward(&mean.sum()).and_then(|grads| grads.of(&mean)).is_err());
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn buffer(&self, name: &str, shape: impl Into<Shape>, init: Vec<f64>) -> Tensor {
        let t = self.leaf(Op::Param, name, shape.into(), Some(init), Location::caller());
        self.data.borrow_mut().nodes[t.id].requires_grad = false;
        t
    }

    /// Fixed values (no gradient).
    #[track_caller]
    pub fn constant(&self, name: &str, shape: impl Into<Shape>, values: Vec<f64>) -> Tensor {
        self.leaf(Op::Constant, name, shape.into(), Some(values), Location::caller())
    }

    /// A scalar constant.
    #[track_caller]
    pub fn scalar(&self, value: f64) -> Tensor {
        self.leaf(
            Op::Constant,
            &fmt_num(value),
            Shape::scalar(),
            Some(vec![value]),
            Location::caller(),
        )
    }

    /// Appends gradient nodes for `loss` (a scalar) with respect to every parameter and every
    /// input that asked for a gradient. Calling it again appends a fresh, independent set.
    ///
    /// ```
    /// use shadergrad::Graph;
    /// let g = Graph::new();
    /// let x = g.input("x", []).with_grad();
    /// let f = x.square();
    /// let grads = g.backward(&f)?;
    /// assert!(grads.of(&x).is_ok());
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn backward(&self, loss: &Tensor) -> Result<Gradients> {
        autodiff::backward(self, loss)
    }

    /// An optimizer update of `param` from `grad` by `rule`, run in place when a plan runs it.
    ///
    /// ```
    /// use shadergrad::{Graph, op::UpdateRule};
    /// let g = Graph::new();
    /// let w = g.param("w", [2], vec![1.0, -1.0]);
    /// let dw = g.backward(&w.square().sum())?.of(&w)?;
    /// let update = g.update(&w, &dw, UpdateRule::sgd(0.1));
    /// assert_eq!(update.name(), "update w");
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    #[track_caller]
    pub fn update(&self, param: &Tensor, grad: &Tensor, rule: UpdateRule) -> Tensor {
        let loc = Location::caller();
        let shape = param.same_shape(
            grad,
            "update",
            "a gradient has its parameter's shape",
            Shape::scalar(),
            loc,
        );
        let name = format!("update {}", param.name());
        self.push(Op::Update(rule), vec![param.id, grad.id], shape, Some(name))
    }

    /// A node that runs all of `parts` (a training step's updates) when a plan asks for it.
    pub fn group(&self, name: &str, parts: &[Tensor]) -> Tensor {
        self.push(
            Op::Group,
            parts.iter().map(|t| t.id).collect(),
            Ok(Shape::scalar()),
            Some(name.into()),
        )
    }

    pub(crate) fn set_requires_grad(&self, id: NodeId) {
        self.data.borrow_mut().nodes[id].requires_grad = true;
    }

    pub(crate) fn set_name(&self, id: NodeId, name: &str) {
        self.data.borrow_mut().nodes[id].name = name.to_string();
    }
}

fn mismatch(op: &str, a: &Tensor, b: &Tensor, why: &str, loc: &Location<'_>) -> Error {
    Error::Shape(Box::new(ShapeMismatch {
        op: op.into(),
        lhs_name: a.name(),
        lhs: a.shape(),
        rhs_name: b.name(),
        rhs: b.shape(),
        why: why.into(),
        location: at(loc),
    }))
}

fn bad(op: &str, t: &Tensor, expected: &str, loc: &Location<'_>) -> Error {
    Error::BadShape(Box::new(BadShape {
        op: op.into(),
        name: t.name(),
        shape: t.shape(),
        expected: expected.into(),
        location: at(loc),
    }))
}

impl Tensor {
    /// The node's id in its graph.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The graph this tensor belongs to.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The tensor's shape.
    pub fn shape(&self) -> Shape {
        self.graph.data.borrow().nodes[self.id].shape.clone()
    }

    /// The node's name (given, or `op#id`).
    pub fn name(&self) -> String {
        self.graph.data.borrow().nodes[self.id].name.clone()
    }

    /// The node's op.
    pub fn op(&self) -> Op {
        self.graph.data.borrow().nodes[self.id].op.clone()
    }

    /// Renames the node (names appear in errors, reports and diagrams).
    pub fn named(self, name: &str) -> Tensor {
        self.graph.set_name(self.id, name);
        self
    }

    /// Asks backward for this input's gradient too.
    pub fn with_grad(self) -> Tensor {
        self.graph.set_requires_grad(self.id);
        self
    }

    /// Checks that `other` is of the same graph (recording the error if not).
    fn same_graph(&self, other: &Tensor, loc: &Location<'_>) -> Result<()> {
        if self.graph.same(&other.graph) {
            Ok(())
        } else {
            Err(Error::ForeignTensor {
                name: other.name(),
                context: format!("at {}, combining it with `{}`", at(loc), self.name()),
            })
        }
    }

    /// Checks that `other` is of this graph and of this tensor's shape, for `op`, whose output
    /// is then `out`; else the error names both tensors, both shapes and `why`.
    pub(super) fn same_shape(
        &self,
        other: &Tensor,
        op: &str,
        why: &str,
        out: Shape,
        loc: &Location<'_>,
    ) -> Result<Shape> {
        self.same_graph(other, loc)?;
        if self.shape() == other.shape() {
            Ok(out)
        } else {
            Err(mismatch(op, self, other, why, loc))
        }
    }

    /// Adds a gradient node (used by autodiff): `op` over `inputs`, output shaped like `like`.
    pub(crate) fn grad_node(graph: &Graph, op: Op, inputs: &[&Tensor], like: &Tensor) -> Tensor {
        graph.push(op, inputs.iter().map(|t| t.id).collect(), Ok(like.shape()), None)
    }
}
