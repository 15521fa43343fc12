//! What a gradient rule works from, for the rules beside each family's builders: the node, its
//! output `y`, its inputs `x`, the gradient `dy` flowing into it, and which inputs want one.

use crate::engine::error::Error;
use crate::engine::kernel::Kernel;

use super::{Graph, Node, NodeId, Op, Tensor};

/// One node's gradient rule at work (see `autodiff.rs`, which walks the graph and asks each
/// node's family for its inputs' gradients).
pub struct Rule<'a> {
    graph: &'a Graph,
    node: &'a Node,
    /// The node's output.
    pub y: Tensor,
    /// Its inputs, in order.
    pub x: Vec<Tensor>,
    /// The gradient of the loss with respect to `y`.
    pub dy: &'a Tensor,
    wants: &'a [bool],
}

impl<'a> Rule<'a> {
    /// The rule of node `id` of `graph` from `dy`; `wants[k]` says whether input `k` takes a
    /// gradient.
    pub fn new(graph: &'a Graph, id: NodeId, node: &'a Node, dy: &'a Tensor, wants: &'a [bool]) -> Self {
        Rule {
            graph,
            node,
            y: graph.tensor(id),
            x: node.inputs.iter().map(|&i| graph.tensor(i)).collect(),
            dy,
            wants,
        }
    }

    /// Whether input `k` takes a gradient.
    pub fn want(&self, k: usize) -> bool {
        self.wants.get(k).copied().unwrap_or(false)
    }

    /// `f()` for input `k` if it takes a gradient.
    pub fn only(&self, k: usize, f: impl FnOnce() -> Tensor) -> Option<Tensor> {
        self.want(k).then(f)
    }

    /// A gradient node: `kernel` over `inputs`, shaped like `like`.
    pub fn grad(&self, kernel: Kernel, inputs: &[&Tensor], like: &Tensor) -> Tensor {
        Tensor::grad_node(self.graph, Op::Kernel(kernel), inputs, like)
    }

    /// The error for a node that has no gradient rule: a gradient, fused or update kernel.
    pub fn not_differentiable(&self) -> Error {
        Error::NotDifferentiable {
            op: self.node.op.name(),
            name: self.node.name.clone(),
            why: "gradient and update nodes have no gradient rule of their own (no higher-order derivatives)".into(),
        }
    }
}
