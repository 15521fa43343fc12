//! Reverse-mode autodiff: [`backward`] walks the graph from the loss down in id order (ids are a
//! topological order), asks each node's rule for its inputs' gradients (the rules live beside
//! the builders, a file per kernel family in `graph/`), and sums gradients where a value forks
//! ("gradients add up at forks"). Gradients are themselves graph nodes, so the same plan
//! machinery runs them, and calling backward twice simply appends a second, independent set.

use std::collections::HashMap;

use crate::engine::error::{BadShape, Error, Result};
use crate::engine::graph::rule::Rule;
use crate::engine::graph::{elementwise, losses, normalization, products, reductions};
use crate::engine::graph::{Graph, Node, NodeId, Op, Tensor};
use crate::engine::kernel::Family;

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
        return Err(Error::BadShape(Box::new(BadShape {
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
/// takes none, per `wants`). Leaves and detached values pass nothing on; a kernel's rule lives
/// beside its builder, in the file of its family.
fn rule(g: &Graph, id: NodeId, node: &Node, dy: &Tensor, wants: &[bool]) -> Result<Vec<Option<Tensor>>> {
    let r = Rule::new(g, id, node, dy, wants);
    let Op::Kernel(kernel) = node.op else {
        return match node.op {
            Op::Input | Op::Param | Op::Constant | Op::Detach | Op::UnpackBytes(_) => Ok(vec![None; node.inputs.len()]),
            _ => Err(r.not_differentiable()),
        };
    };
    match kernel.family() {
        Family::Elementwise => elementwise::rule(&r, kernel),
        Family::Products => products::rule(&r, kernel),
        Family::Reductions => reductions::rule(&r, kernel),
        Family::Losses => losses::rule(&r, kernel),
        Family::Normalization => normalization::rule(&r, kernel),
        Family::Optimizer => Err(r.not_differentiable()),
    }
}
