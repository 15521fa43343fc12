//! The computational graph: an arena of nodes whose ids grow monotonically, so id order is a
//! topological order (no DFS needed), and [`Tensor`] handles with the op builders.
//!
//! Builders never panic. A wrong shape is caught when the node is added and recorded, with both
//! shapes, the op and the source line that made it; [`Graph::backward`] and plan compilation
//! then return that error. So `&a + &b` can be written with operators and still fail cleanly.

use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
use std::rc::Rc;

use crate::error::{BadShape, Error, Result, ShapeMismatch};
use crate::op::{BinaryOp, Broadcast, Operand, UnaryOp};
use crate::optim::Optimizer;
use crate::shape::Shape;

/// The index of a node in its graph. Smaller ids never depend on larger ones.
pub type NodeId = usize;

/// What a node computes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Data fed before each run.
    Input,
    /// A trainable tensor that lives in a [`crate::plan::ParamStore`] across runs.
    Param,
    /// Fixed values, uploaded once.
    Constant,
    /// `f(x)` elementwise.
    Unary(UnaryOp),
    /// `f(a, b)` elementwise, same shapes.
    Binary(BinaryOp),
    /// `op(a)·op(b)` with transpose flags.
    Matmul { ta: bool, tb: bool },
    /// `x[i, j] + bias[j]`.
    BiasAdd,
    /// Sum of every element, a scalar.
    SumAll,
    /// Sum over each row: `[r, c] → [r]`.
    RowSum,
    /// Sum over each column: `[r, c] → [c]`.
    ColSum,
    /// Max over each row: `[r, c] → [r]`.
    RowMax,
    /// Spread a reduced tensor back over a matrix (the backward of a sum).
    Broadcast(Broadcast),
    /// Mean softmax cross-entropy of logits `[r, c]` against labels `[r]`; keeps the
    /// probabilities for its backward.
    SoftmaxCrossEntropy,
    /// Mean squared error of two tensors of one shape.
    Mse,
    /// A copy that stops gradients.
    Detach,
    /// `scale · byte` of bytes fed packed four to an element (see [`Graph::byte_input`]).
    UnpackBytes(f64),
    /// `dx` of a unary op from `[x, y, dy]`.
    UnaryGrad(UnaryOp),
    /// `da` or `db` of a binary op from `[a, b, dc]`.
    BinaryGrad(BinaryOp, Operand),
    /// `dx` of a row max from `[x, y, dy]`.
    RowMaxGrad,
    /// `dlogits` from `[loss node, labels, dloss]`, reading the loss node's probabilities.
    SoftmaxCrossEntropyGrad,
    /// `dpred` from `[pred, target, dloss]`.
    MseGrad,
    /// An in-place optimizer update of a parameter from `[param, grad]`.
    Update(Optimizer),
    /// No computation: runs its inputs (a training step's updates) when asked for.
    Group,
}

impl Op {
    /// A short name for reports and diagrams.
    pub fn name(&self) -> String {
        match self {
            Op::Unary(u) => u.label(),
            Op::Binary(b) => b.symbol().to_string(),
            Op::Matmul { ta, tb } => match (ta, tb) {
                (false, false) => "matmul".into(),
                (true, false) => "matmul(Aᵀ)".into(),
                (false, true) => "matmul(Bᵀ)".into(),
                (true, true) => "matmul(Aᵀ,Bᵀ)".into(),
            },
            Op::UnaryGrad(u) => format!("{}'", u.name()),
            Op::BinaryGrad(b, w) => format!("d{}/d{}", b.name(), if *w == Operand::A { "a" } else { "b" }),
            Op::Update(o) => format!("update({})", o.name()),
            other => {
                let raw = format!("{other:?}");
                let word = raw.split(['(', ' ']).next().unwrap_or(&raw).to_string();
                let mut s = String::new();
                for (i, ch) in word.chars().enumerate() {
                    if ch.is_uppercase() && i > 0 {
                        s.push('_');
                    }
                    s.push(ch.to_ascii_lowercase());
                }
                s
            }
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
            Some(e) => Err(replay(e)),
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
                shape: shape.to_string(),
                expected: format!("which holds {} values, but {} were given", shape.len(), v.len()),
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
    /// the upload of f32 values. Feed it with [`crate::Plan::set_input_bytes`]; the bytes
    /// travel packed in an input named `"{name} bytes"` and are spread on the device.
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
    /// [`crate::plan::ParamStore`] under `name` and keeps its value between runs.
    #[track_caller]
    pub fn param(&self, name: &str, shape: impl Into<Shape>, init: Vec<f64>) -> Tensor {
        self.leaf(Op::Param, name, shape.into(), Some(init), Location::caller())
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
            &crate::op::fmt_num(value),
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
    pub fn backward(&self, loss: &Tensor) -> Result<crate::autodiff::Gradients> {
        crate::autodiff::backward(self, loss)
    }

    /// An optimizer update of `param` from `grad`, run in place when a plan runs it.
    pub(crate) fn update(&self, param: &Tensor, grad: &Tensor, opt: Optimizer) -> Tensor {
        let shape = if param.shape() == grad.shape() {
            Ok(Shape::scalar())
        } else {
            Err(mismatch(
                "update",
                param,
                grad,
                "a gradient has its parameter's shape",
                Location::caller(),
            ))
        };
        let name = format!("update {}", param.name());
        self.push(Op::Update(opt), vec![param.id, grad.id], shape, Some(name))
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

/// Re-creates a recorded error (errors are not `Clone`: they may hold I/O errors, but builders
/// record only shape and graph errors).
fn replay(e: &Error) -> Error {
    match e {
        Error::Shape(m) => Error::Shape(m.clone()),
        Error::BadShape(b) => Error::BadShape(b.clone()),
        other => Error::Graph(other.to_string()),
    }
}

fn mismatch(op: &str, a: &Tensor, b: &Tensor, why: &str, loc: &Location<'_>) -> Error {
    Error::Shape(Box::new(ShapeMismatch {
        op: op.into(),
        lhs_name: a.name(),
        lhs: a.shape().to_string(),
        rhs_name: b.name(),
        rhs: b.shape().to_string(),
        why: why.into(),
        location: at(loc),
    }))
}

fn bad(op: &str, t: &Tensor, expected: &str, loc: &Location<'_>) -> Error {
    Error::BadShape(Box::new(BadShape {
        op: op.into(),
        name: t.name(),
        shape: t.shape().to_string(),
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
            Err(Error::Graph(format!(
                "at {}: `{}` and `{}` belong to different graphs",
                at(loc),
                self.name(),
                other.name()
            )))
        }
    }

    fn unary(&self, op: UnaryOp) -> Tensor {
        self.graph.push(Op::Unary(op), vec![self.id], Ok(self.shape()), None)
    }

    #[track_caller]
    fn binary(&self, op: BinaryOp, other: &Tensor) -> Tensor {
        let loc = Location::caller();
        let shape = self.same_graph(other, loc).and_then(|_| {
            if self.shape() == other.shape() {
                Ok(self.shape())
            } else {
                Err(mismatch(
                    op.name(),
                    self,
                    other,
                    "elementwise ops take tensors of one shape",
                    loc,
                ))
            }
        });
        self.graph.push(Op::Binary(op), vec![self.id, other.id], shape, None)
    }

    /// `max(x, 0)`.
    pub fn relu(&self) -> Tensor {
        self.unary(UnaryOp::Relu)
    }
    /// `x` for positive x, else `alpha·x`.
    pub fn leaky_relu(&self, alpha: f64) -> Tensor {
        self.unary(UnaryOp::LeakyRelu(alpha))
    }
    /// `x` for positive x, else `alpha·(eˣ − 1)`.
    pub fn elu(&self, alpha: f64) -> Tensor {
        self.unary(UnaryOp::Elu(alpha))
    }
    /// `1 / (1 + e⁻ˣ)`.
    pub fn sigmoid(&self) -> Tensor {
        self.unary(UnaryOp::Sigmoid)
    }
    /// `tanh x`.
    pub fn tanh(&self) -> Tensor {
        self.unary(UnaryOp::Tanh)
    }
    /// GELU (tanh approximation).
    pub fn gelu(&self) -> Tensor {
        self.unary(UnaryOp::Gelu)
    }
    /// `x·σ(x)`.
    pub fn silu(&self) -> Tensor {
        self.unary(UnaryOp::Silu)
    }
    /// `eˣ`.
    pub fn exp(&self) -> Tensor {
        self.unary(UnaryOp::Exp)
    }
    /// `ln x`.
    pub fn log(&self) -> Tensor {
        self.unary(UnaryOp::Log)
    }
    /// `1 / x`.
    pub fn recip(&self) -> Tensor {
        self.unary(UnaryOp::Recip)
    }
    /// `x²`.
    pub fn square(&self) -> Tensor {
        self.unary(UnaryOp::Square)
    }
    /// `√x`.
    pub fn sqrt(&self) -> Tensor {
        self.unary(UnaryOp::Sqrt)
    }
    /// `|x|`.
    pub fn abs(&self) -> Tensor {
        self.unary(UnaryOp::Abs)
    }
    /// `xᵖ` for a constant `p`.
    pub fn powf(&self, p: f64) -> Tensor {
        self.unary(UnaryOp::Pow(p))
    }
    /// `c·x`.
    pub fn scale(&self, c: f64) -> Tensor {
        self.unary(UnaryOp::Scale(c))
    }
    /// `x + c`.
    pub fn add_scalar(&self, c: f64) -> Tensor {
        self.unary(UnaryOp::AddScalar(c))
    }
    /// Applies any unary op.
    pub fn map(&self, op: UnaryOp) -> Tensor {
        self.unary(op)
    }

    /// The same values with the gradient stopped here.
    pub fn detach(&self) -> Tensor {
        self.graph.push(Op::Detach, vec![self.id], Ok(self.shape()), None)
    }

    /// Elementwise `max(self, other)`.
    #[track_caller]
    pub fn maximum(&self, other: &Tensor) -> Tensor {
        self.binary(BinaryOp::Max, other)
    }
    /// Elementwise `min(self, other)`.
    #[track_caller]
    pub fn minimum(&self, other: &Tensor) -> Tensor {
        self.binary(BinaryOp::Min, other)
    }
    /// Elementwise `self ^ other`.
    #[track_caller]
    pub fn pow(&self, other: &Tensor) -> Tensor {
        self.binary(BinaryOp::Pow, other)
    }
    /// Applies any binary op.
    #[track_caller]
    pub fn zip(&self, op: BinaryOp, other: &Tensor) -> Tensor {
        self.binary(op, other)
    }

    /// The matrix product `self · other`.
    ///
    /// ```
    /// use shadergrad::Graph;
    /// let g = Graph::new();
    /// let a = g.input("a", [2, 3]);
    /// let b = g.input("b", [4, 3]);
    /// assert_eq!(a.matmul(&b).shape().dims(), &[0usize; 0]); // [2,3]·[4,3]: recorded error
    /// assert!(g.check().unwrap_err().to_string().contains("b has shape [4, 3]"));
    /// ```
    #[track_caller]
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        self.matmul_t(other, false, false)
    }

    /// `op(self) · op(other)` where `op` transposes when its flag is set, without materialising
    /// the transpose (the seeds' `dW = dD·Xᵀ`).
    #[track_caller]
    pub fn matmul_t(&self, other: &Tensor, ta: bool, tb: bool) -> Tensor {
        let loc = Location::caller();
        let shape = self.same_graph(other, loc).and_then(|_| {
            let (a, b) = (self.shape(), other.shape());
            if a.rank() != 2 {
                return Err(bad(
                    "matmul",
                    self,
                    "a matmul operand must be a matrix [rows, cols]",
                    loc,
                ));
            }
            if b.rank() != 2 {
                return Err(bad(
                    "matmul",
                    other,
                    "a matmul operand must be a matrix [rows, cols]",
                    loc,
                ));
            }
            let (m, ka) = if ta {
                (a.dims()[1], a.dims()[0])
            } else {
                (a.dims()[0], a.dims()[1])
            };
            let (kb, n) = if tb {
                (b.dims()[1], b.dims()[0])
            } else {
                (b.dims()[0], b.dims()[1])
            };
            if ka != kb {
                let why = format!(
                    "the inner dimensions of {}·{} differ ({ka} vs {kb})",
                    if ta { "Aᵀ" } else { "A" },
                    if tb { "Bᵀ" } else { "B" }
                );
                return Err(mismatch("matmul", self, other, &why, loc));
            }
            Ok(Shape::from([m, n]))
        });
        self.graph
            .push(Op::Matmul { ta, tb }, vec![self.id, other.id], shape, None)
    }

    /// Adds `bias[j]` to every row: `[rows, cols] + [cols]`.
    #[track_caller]
    pub fn bias_add(&self, bias: &Tensor) -> Tensor {
        let loc = Location::caller();
        let shape = self.same_graph(bias, loc).and_then(|_| {
            let (x, b) = (self.shape(), bias.shape());
            if x.rank() != 2 {
                return Err(bad("bias_add", self, "bias_add takes a matrix [rows, cols]", loc));
            }
            if b.dims() != [x.dims()[1]] {
                return Err(mismatch(
                    "bias_add",
                    self,
                    bias,
                    "the bias must be a vector [cols]",
                    loc,
                ));
            }
            Ok(x)
        });
        self.graph.push(Op::BiasAdd, vec![self.id, bias.id], shape, None)
    }

    /// A PyTorch-layout linear layer: `self · weightᵀ + bias`, weight `[out, in]`, bias `[out]`.
    #[track_caller]
    pub fn linear(&self, weight: &Tensor, bias: &Tensor) -> Tensor {
        self.matmul_t(weight, false, true).bias_add(bias)
    }

    fn reduce(&self, op: Op, loc: &Location<'_>) -> Tensor {
        let s = self.shape();
        let shape = match op {
            Op::SumAll => Ok(Shape::scalar()),
            _ if s.rank() != 2 => Err(bad(
                &op.name(),
                self,
                "row and column reductions take a matrix [rows, cols]",
                loc,
            )),
            Op::ColSum => Ok(Shape::from([s.dims()[1]])),
            _ => Ok(Shape::from([s.dims()[0]])),
        };
        self.graph.push(op, vec![self.id], shape, None)
    }

    /// The sum of every element (a scalar).
    #[track_caller]
    pub fn sum(&self) -> Tensor {
        self.reduce(Op::SumAll, Location::caller())
    }
    /// The mean of every element (a scalar).
    #[track_caller]
    pub fn mean(&self) -> Tensor {
        let n = self.shape().len().max(1) as f64;
        self.sum().scale(1.0 / n)
    }
    /// Sums over each row: `[r, c] → [r]`.
    #[track_caller]
    pub fn row_sum(&self) -> Tensor {
        self.reduce(Op::RowSum, Location::caller())
    }
    /// Sums over each column: `[r, c] → [c]`.
    #[track_caller]
    pub fn col_sum(&self) -> Tensor {
        self.reduce(Op::ColSum, Location::caller())
    }
    /// The max of each row: `[r, c] → [r]`.
    #[track_caller]
    pub fn row_max(&self) -> Tensor {
        self.reduce(Op::RowMax, Location::caller())
    }

    /// Spreads `self` (a scalar, `[rows]` or `[cols]`) over `shape` `[rows, cols]`.
    #[track_caller]
    pub fn broadcast(&self, mode: Broadcast, shape: &Shape) -> Tensor {
        let loc = Location::caller();
        let (rows, cols) = shape.as_matrix();
        let want = match mode {
            Broadcast::Scalar => 1,
            Broadcast::Rows => rows,
            Broadcast::Cols => cols,
        };
        let ok = self.shape().len() == want && (shape.rank() == 2 || mode == Broadcast::Scalar);
        let result = if ok {
            Ok(shape.clone())
        } else {
            Err(bad(
                "broadcast",
                self,
                &format!("cannot be spread {mode:?} over {shape}"),
                loc,
            ))
        };
        self.graph.push(Op::Broadcast(mode), vec![self.id], result, None)
    }

    /// Mean softmax cross-entropy of these logits `[batch, classes]` against `labels`
    /// `[batch]` (class indices as numbers). The softmax is fused in and max-subtracted.
    #[track_caller]
    pub fn softmax_cross_entropy(&self, labels: &Tensor) -> Tensor {
        let loc = Location::caller();
        let shape = self.same_graph(labels, loc).and_then(|_| {
            let (x, l) = (self.shape(), labels.shape());
            if x.rank() != 2 {
                return Err(bad(
                    "softmax_cross_entropy",
                    self,
                    "logits must be a matrix [batch, classes]",
                    loc,
                ));
            }
            if l.dims() != [x.dims()[0]] {
                return Err(mismatch(
                    "softmax_cross_entropy",
                    self,
                    labels,
                    "labels must be a vector [batch]",
                    loc,
                ));
            }
            Ok(Shape::scalar())
        });
        self.graph
            .push(Op::SoftmaxCrossEntropy, vec![self.id, labels.id], shape, None)
    }

    /// Mean squared error against `target` (same shape).
    #[track_caller]
    pub fn mse(&self, target: &Tensor) -> Tensor {
        let loc = Location::caller();
        let shape = self.same_graph(target, loc).and_then(|_| {
            if self.shape() == target.shape() {
                Ok(Shape::scalar())
            } else {
                Err(mismatch(
                    "mse",
                    self,
                    target,
                    "prediction and target must have one shape",
                    loc,
                ))
            }
        });
        self.graph.push(Op::Mse, vec![self.id, target.id], shape, None)
    }

    /// Adds a gradient node (used by autodiff): `op` over `inputs`, output shaped like `like`.
    pub(crate) fn grad_node(graph: &Graph, op: Op, inputs: &[&Tensor], like: &Tensor) -> Tensor {
        graph.push(op, inputs.iter().map(|t| t.id).collect(), Ok(like.shape()), None)
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $op:expr, $scalar:expr) => {
        impl std::ops::$trait<&Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
                self.binary($op, rhs)
            }
        }
        impl std::ops::$trait<Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Tensor {
                self.binary($op, &rhs)
            }
        }
        impl std::ops::$trait<f64> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f64) -> Tensor {
                let f: fn(&Tensor, f64) -> Tensor = $scalar;
                f(self, rhs)
            }
        }
        impl std::ops::$trait<f64> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f64) -> Tensor {
                let f: fn(&Tensor, f64) -> Tensor = $scalar;
                f(&self, rhs)
            }
        }
    };
}

binary_operator!(Add, add, BinaryOp::Add, |t, c| t.add_scalar(c));
binary_operator!(Sub, sub, BinaryOp::Sub, |t, c| t.add_scalar(-c));
binary_operator!(Mul, mul, BinaryOp::Mul, |t, c| t.scale(c));
binary_operator!(Div, div, BinaryOp::Div, |t, c| t.scale(1.0 / c));

impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        self.unary(UnaryOp::Neg)
    }
}

impl std::ops::Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        self.unary(UnaryOp::Neg)
    }
}
