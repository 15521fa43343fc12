//! Reverse-mode autodiff: every gradient rule, one short arm per op.
//!
//! [`backward`] walks the graph from the loss down in id order (ids are a topological order),
//! asks each node's rule for its inputs' gradients, and sums gradients where a value forks
//! ("gradients add up at forks"). Gradients are themselves graph nodes, so the same plan
//! machinery runs them, and calling backward twice simply appends a second, independent set.

use std::collections::HashMap;

use crate::backend::Kernel;
use crate::error::{Error, Result};
use crate::graph::{Graph, Node, NodeId, Op, Tensor};
use crate::op::{BinaryOp, Broadcast, Epilogue, Operand, UnaryOp};

/// The gradients `backward` added, by the node they are the gradient of.
#[derive(Clone)]
pub struct Gradients {
    graph: Graph,
    loss: NodeId,
    of: HashMap<NodeId, NodeId>,
    /// The gradient flowing along each wire, `(consumer, input slot)`, before forks add up.
    along: HashMap<(NodeId, usize), NodeId>,
}

impl Gradients {
    /// The gradient of the loss with respect to `t`. An error (naming the tensor) when the loss
    /// does not depend on `t`, or `t` takes no gradient (an input without `with_grad`, a constant,
    /// something behind `detach`).
    pub fn of(&self, t: &Tensor) -> Result<Tensor> {
        self.get(t).ok_or_else(|| {
            let node = self.graph.node(t.id());
            let why = if node.op.is_leaf() && !node.requires_grad {
                format!(
                    "it is {} that takes no gradient (call .with_grad() on an input to ask for one)",
                    node.op.name()
                )
            } else {
                format!(
                    "the loss `{}` does not depend on it through any differentiable path",
                    self.graph.node(self.loss).name
                )
            };
            Error::NoGradient { name: node.name, why }
        })
    }

    /// The gradient with respect to `t`, if the loss depends on it.
    pub fn get(&self, t: &Tensor) -> Option<Tensor> {
        if !self.graph.same(t.graph()) {
            return None;
        }
        self.of.get(&t.id()).map(|&g| self.graph.tensor(g))
    }

    /// The gradient flowing back along one wire: into input `slot` of `consumer`, before it is
    /// added to the gradients from the input's other uses.
    pub fn along(&self, consumer: &Tensor, slot: usize) -> Option<Tensor> {
        if !self.graph.same(consumer.graph()) {
            return None;
        }
        self.along.get(&(consumer.id(), slot)).map(|&g| self.graph.tensor(g))
    }

    /// Every leaf that got a gradient (parameters and inputs with `with_grad`), with it.
    pub fn leaves(&self) -> Vec<(Tensor, Tensor)> {
        let mut v: Vec<_> = self
            .of
            .iter()
            .filter(|(&id, _)| {
                let n = self.graph.node(id);
                n.op.is_leaf() && n.requires_grad
            })
            .map(|(&id, &g)| (self.graph.tensor(id), self.graph.tensor(g)))
            .collect();
        v.sort_by_key(|(t, _)| t.id());
        v
    }
}

/// Appends the gradient of `loss` (a scalar) with respect to everything that takes one.
pub fn backward(graph: &Graph, loss: &Tensor) -> Result<Gradients> {
    graph.check()?;
    if !graph.same(loss.graph()) {
        return Err(Error::ForeignTensor {
            name: loss.name(),
            context: "backward".into(),
        });
    }
    if loss.shape().len() != 1 {
        return Err(Error::BadShape(Box::new(crate::error::BadShape {
            op: "backward".into(),
            name: loss.name(),
            shape: loss.shape(),
            expected: "a loss must be a scalar (reduce it with .sum() or .mean())".into(),
            location: "backward".into(),
        })));
    }
    let nodes: Vec<Node> = graph.nodes()[..=loss.id()].to_vec();

    // Which nodes lead to something that takes a gradient: only their gradients are built.
    let mut needs = vec![false; nodes.len()];
    for (id, n) in nodes.iter().enumerate() {
        needs[id] = if n.op.is_leaf() {
            n.requires_grad
        } else {
            n.op != Op::Detach && n.inputs.iter().any(|&i| needs[i])
        };
    }

    let mut pending: Vec<Vec<Tensor>> = vec![Vec::new(); nodes.len()];
    pending[loss.id()].push(graph.scalar(1.0).named("dloss"));
    let mut of = HashMap::new();
    let mut along = HashMap::new();
    for id in (0..nodes.len()).rev() {
        if pending[id].is_empty() || !needs[id] {
            continue;
        }
        // Gradients add up at forks.
        let parts = std::mem::take(&mut pending[id]);
        let mut grad = parts[0].clone();
        for p in &parts[1..] {
            grad = &grad + p;
        }
        of.insert(id, grad.id());
        let node = &nodes[id];
        let wants: Vec<bool> = node.inputs.iter().map(|&i| needs[i]).collect();
        for (k, g) in rule(graph, id, node, &grad, &wants)?.into_iter().enumerate() {
            if let Some(g) = g {
                along.insert((id, k), g.id());
                pending[node.inputs[k]].push(g);
            }
        }
    }
    graph.check()?;
    Ok(Gradients {
        graph: graph.clone(),
        loss: loss.id(),
        of,
        along,
    })
}

/// The gradient rule of one node: from `dy`, the gradient of each input (None where an input
/// takes none, per `wants`).
fn rule(g: &Graph, id: NodeId, node: &Node, dy: &Tensor, wants: &[bool]) -> Result<Vec<Option<Tensor>>> {
    let y = g.tensor(id);
    let x: Vec<Tensor> = node.inputs.iter().map(|&i| g.tensor(i)).collect();
    let want = |k: usize| wants.get(k).copied().unwrap_or(false);
    let only = |k: usize, f: &dyn Fn() -> Tensor| if want(k) { Some(f()) } else { None };
    let grad = |op: Op, inputs: &[&Tensor], like: &Tensor| Tensor::grad_node(g, op, inputs, like);

    let kernel = |k: Kernel| Op::Kernel(k);
    let Op::Kernel(k) = &node.op else {
        return Ok(match &node.op {
            Op::Input | Op::Param | Op::Constant | Op::Detach | Op::UnpackBytes(_) => vec![None; x.len()],
            _ => return Err(not_differentiable(node)),
        });
    };
    Ok(match *k {
        Kernel::Unary(UnaryOp::Identity | UnaryOp::AddScalar(_)) => vec![Some(dy.clone())],
        Kernel::Unary(UnaryOp::Neg) => vec![Some(-dy)],
        Kernel::Unary(UnaryOp::Scale(c)) => vec![Some(dy.scale(c))],
        Kernel::Unary(op) => vec![Some(grad(kernel(Kernel::UnaryGrad(op)), &[&x[0], &y, dy], &x[0]))],
        Kernel::Binary(BinaryOp::Add) => vec![only(0, &|| dy.clone()), only(1, &|| dy.clone())],
        Kernel::Binary(BinaryOp::Sub) => vec![only(0, &|| dy.clone()), only(1, &|| -dy)],
        Kernel::Binary(BinaryOp::Mul) => vec![only(0, &|| dy * &x[1]), only(1, &|| dy * &x[0])],
        Kernel::Binary(op) => vec![
            only(0, &|| {
                grad(kernel(Kernel::BinaryGrad(op, Operand::A)), &[&x[0], &x[1], dy], &x[0])
            }),
            only(1, &|| {
                grad(kernel(Kernel::BinaryGrad(op, Operand::B)), &[&x[0], &x[1], dy], &x[1])
            }),
        ],
        // C = op(A)·op(B): dop(A) = dC·op(B)ᵀ and dop(B) = op(A)ᵀ·dC, each written as one
        // matmul with flags on the stored matrices, so no transpose is ever materialised.
        Kernel::Matmul {
            ta,
            tb,
            bias: false,
            epilogue: Epilogue::None,
        } => {
            let (a, b) = (&x[0], &x[1]);
            vec![
                only(0, &|| {
                    if ta {
                        b.matmul_t(dy, tb, true)
                    } else {
                        dy.matmul_t(b, false, !tb)
                    }
                }),
                only(1, &|| {
                    if tb {
                        dy.matmul_t(a, true, ta)
                    } else {
                        a.matmul_t(dy, !ta, false)
                    }
                }),
            ]
        }
        Kernel::BiasAdd => vec![only(0, &|| dy.clone()), only(1, &|| dy.col_sum())],
        Kernel::SumAll => vec![Some(dy.broadcast(Broadcast::Scalar, &x[0].shape()))],
        Kernel::RowSum => vec![Some(dy.broadcast(Broadcast::Rows, &x[0].shape()))],
        Kernel::ColSum => vec![Some(dy.broadcast(Broadcast::Cols, &x[0].shape()))],
        Kernel::RowMax => vec![Some(grad(kernel(Kernel::RowMaxGrad), &[&x[0], &y, dy], &x[0]))],
        Kernel::Broadcast(Broadcast::Scalar) => vec![Some(dy.sum())],
        Kernel::Broadcast(Broadcast::Rows) => vec![Some(dy.row_sum())],
        Kernel::Broadcast(Broadcast::Cols) => vec![Some(dy.col_sum())],
        // y = x − ln Σ eˣ: dx = dy − softmax(x)·Σ dy, softmax read off y as e^y.
        Kernel::LogSoftmax => vec![Some(grad(kernel(Kernel::LogSoftmaxGrad), &[&y, dy], &x[0]))],
        Kernel::SoftmaxCe { smoothing } => vec![
            only(0, &|| {
                grad(kernel(Kernel::SoftmaxCeGrad { smoothing }), &[&y, &x[1], dy], &x[0])
            }),
            None, // labels are class indices: no gradient
        ],
        // The same counters draw the same mask: dx = dropout(dy).
        Kernel::Dropout { .. } => vec![Some(grad(kernel(*k), &[dy], &x[0]))],
        // y = x̂·gain + bias: dgain = Σ_rows dy·x̂ (x̂ recomputed), dbias = Σ_rows dy.
        Kernel::Normalize { axis, eps } => vec![
            only(0, &|| {
                let rule = Kernel::NormalizeGrad { axis, eps };
                grad(kernel(rule), &[&x[0], &x[1], dy], &x[0])
            }),
            only(1, &|| (dy * &x[0].normalize(axis, eps)).col_sum()),
            only(2, &|| dy.col_sum()),
        ],
        Kernel::SigmoidBce => vec![
            only(0, &|| grad(kernel(Kernel::SigmoidBceGrad), &[&x[0], &x[1], dy], &x[0])),
            None, // targets are labels: no gradient
        ],
        Kernel::Mse => {
            let dp = grad(kernel(Kernel::MseGrad), &[&x[0], &x[1], dy], &x[0]);
            let dt = only(1, &|| -&dp);
            vec![want(0).then_some(dp), dt]
        }
        // Gradient kernels, fused kernels and optimizer updates are never differentiated.
        Kernel::Matmul { .. }
        | Kernel::UnaryGrad(_)
        | Kernel::BinaryGrad(..)
        | Kernel::RowMaxGrad
        | Kernel::LogSoftmaxGrad
        | Kernel::SoftmaxCeGrad { .. }
        | Kernel::SoftmaxCeFused { .. }
        | Kernel::NormalizeGrad { .. }
        | Kernel::SigmoidBceGrad
        | Kernel::SigmoidBceFused
        | Kernel::MseGrad
        | Kernel::UnpackBytes
        | Kernel::Sgd
        | Kernel::Momentum
        | Kernel::Adam
        | Kernel::FmaRoof => return Err(not_differentiable(node)),
    })
}

fn not_differentiable(node: &Node) -> Error {
    Error::NotDifferentiable {
        op: node.op.name(),
        name: node.name.clone(),
        why: "gradient and update nodes have no gradient rule of their own (no higher-order derivatives)".into(),
    }
}
