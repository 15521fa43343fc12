//! The first pass: each node the outputs need becomes a launch (a kernel, its params, and one
//! value per binding) in id order, which is a topological order. Values say where their buffers
//! will come from ([`Place`]); the fusion passes rewrite the launch list, and the memory pass
//! gives every value a buffer.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use crate::engine::error::{Error, Result};
use crate::engine::graph::{Node, NodeId, Op};
use crate::engine::kernel::{Kernel, Params};
use crate::engine::op::{UnaryOp, UpdateRule};
use crate::engine::shape::Shape;

/// Index of a value in [`Ir::values`].
pub(crate) type ValueId = usize;

/// Where a value's buffer comes from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Place {
    /// Fed before each run.
    Input,
    /// The parameter's buffer in the store (a view of its block's arena).
    Param(String),
    /// Uploaded once, at compile time.
    Constant(Rc<[f64]>),
    /// Written by a launch: a buffer of the pool, lent while the value is live.
    Computed,
    /// Optimizer state `key` of a parameter.
    State(String, &'static str),
    /// A block's parameter arena, gradient arena, or state arena `key`.
    ParamArena(usize),
    GradArena(usize),
    StateArena(usize, &'static str),
    /// A parameter's slot of its block's gradient arena: a gradient computed in place.
    GradSlot {
        block: usize,
        offset: usize,
    },
}

/// A value a launch reads or writes.
#[derive(Clone, Debug)]
pub(crate) struct Value {
    pub name: String,
    pub shape: Shape,
    pub place: Place,
}

impl Value {
    pub fn len(&self) -> usize {
        self.shape.len()
    }
}

/// One kernel launch: the kernel, its params, one value per binding (in binding order), and
/// the nodes whose work it does (more than one once fused; the last is the launch's own).
#[derive(Clone, Debug)]
pub(crate) struct Launch {
    pub kernel: Kernel,
    pub params: Params,
    pub args: Vec<ValueId>,
    pub nodes: Vec<NodeId>,
    /// An optimizer launch's rule and length, so a new step can set its params.
    pub update: Option<(UpdateRule, usize)>,
}

impl Launch {
    /// The values it reads, then the values it writes.
    pub fn reads_and_writes(&self) -> (Vec<ValueId>, Vec<ValueId>) {
        let mut reads = Vec::new();
        let mut writes = Vec::new();
        for (b, &v) in self.kernel.bindings(&self.params).iter().zip(&self.args) {
            if b.write {
                writes.push(v);
            } else {
                reads.push(v);
            }
        }
        (reads, writes)
    }

    /// The node the launch is reported under.
    pub fn node(&self) -> NodeId {
        *self.nodes.last().expect("every launch does some node's work")
    }
}

/// The executor's program: values, and the launches over them in run order.
pub(crate) struct Ir {
    pub values: Vec<Value>,
    pub launches: Vec<Launch>,
    /// Each lowered node's value.
    pub of_node: HashMap<NodeId, ValueId>,
    /// Values read back after a run: never fused away, never handed to another value.
    pub kept: HashSet<ValueId>,
    /// What the fusion passes decided, for [`crate::engine::plan::Plan::describe`].
    pub notes: Vec<String>,
}

/// Who reads and who writes each value.
pub(crate) struct Uses {
    pub readers: Vec<Vec<usize>>,
    pub writer: Vec<Option<usize>>,
}

impl Ir {
    pub fn value(&mut self, name: String, shape: Shape, place: Place) -> ValueId {
        self.values.push(Value { name, shape, place });
        self.values.len() - 1
    }

    pub fn uses(&self) -> Uses {
        let mut readers = vec![Vec::new(); self.values.len()];
        let mut writer = vec![None; self.values.len()];
        for (i, l) in self.launches.iter().enumerate() {
            let (reads, writes) = l.reads_and_writes();
            for v in reads {
                if !readers[v].contains(&i) {
                    readers[v].push(i);
                }
            }
            for v in writes {
                writer[v] = Some(i);
            }
        }
        Uses { readers, writer }
    }

    /// Replaces launches: each index of `with` by its launches (none removes it), in one pass.
    pub fn rewrite(&mut self, mut with: HashMap<usize, Vec<Launch>>) {
        let old = std::mem::take(&mut self.launches);
        for (i, l) in old.into_iter().enumerate() {
            match with.remove(&i) {
                Some(new) => self.launches.extend(new),
                None => self.launches.push(l),
            }
        }
    }

    /// The name of the node whose work a launch does, for notes: `relu#8`.
    pub fn label(&self, nodes: &[Node], launch: usize) -> String {
        nodes[self.launches[launch].node()].name.clone()
    }
}

/// The kernel and params of one optimizer update of `n` values at step `t` (1-based) with
/// learning rate `lr`.
pub(crate) fn update_kernel(rule: &UpdateRule, n: usize, t: u64, lr: f64) -> (Kernel, Params) {
    let n = n as u32;
    match *rule {
        UpdateRule::Sgd { weight_decay, .. } => (Kernel::Sgd, Params::dims(&[n]).with_scalars(&[lr, weight_decay])),
        // SGD's w −= lr·(g + wd·w) with lr = −m and wd = −1 is w += m·(g − w) = (1 − m)·w + m·g.
        UpdateRule::RunningAverage { momentum } => (Kernel::Sgd, Params::dims(&[n]).with_scalars(&[-momentum, -1.0])),
        UpdateRule::Momentum {
            momentum,
            nesterov,
            weight_decay,
            ..
        } => (
            Kernel::Momentum,
            Params::dims(&[n, nesterov as u32]).with_scalars(&[lr, momentum, weight_decay]),
        ),
        UpdateRule::Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            ..
        } => {
            let t = t.max(1) as f64;
            let c1 = 1.0 - beta1.powf(t);
            let c2 = 1.0 - beta2.powf(t);
            (
                Kernel::Adam,
                Params::dims(&[n, decoupled as u32]).with_scalars(&[lr, beta1, beta2, eps, weight_decay, c1, c2]),
            )
        }
    }
}

/// Whether a unary op of a value at `place` is folded into a constant: the value is a constant
/// holding its `len` numbers.
fn folds(place: &Place, len: usize) -> bool {
    matches!(place, Place::Constant(c) if c.len() == len)
}

/// Lowers the `needed` nodes (id order) to values and launches. `kept` nodes are read back.
pub(crate) fn lower(nodes: &[Node], needed: &[bool], kept: &[NodeId]) -> Result<Ir> {
    let mut ir = Ir {
        values: Vec::new(),
        launches: Vec::new(),
        of_node: HashMap::new(),
        kept: HashSet::new(),
        notes: Vec::new(),
    };
    // The extra outputs a node's kernel writes before its value (a softmax-CE's probabilities).
    let mut aux: HashMap<NodeId, Vec<ValueId>> = HashMap::new();
    for (id, n) in nodes.iter().enumerate() {
        if !needed[id] {
            continue;
        }
        let input = |k: usize| ir.of_node[&n.inputs[k]];
        let (kernel, params, reads) = match &n.op {
            Op::Input | Op::Param | Op::Constant => {
                let place = match &n.op {
                    Op::Input => Place::Input,
                    Op::Param => Place::Param(n.name.clone()),
                    _ => Place::Constant(n.init.clone().unwrap_or_else(|| Rc::from(vec![]))),
                };
                let v = ir.value(n.name.clone(), n.shape.clone(), place);
                ir.of_node.insert(id, v);
                continue;
            }
            Op::Group => continue,
            Op::Kernel(Kernel::Unary(op)) if folds(&ir.values[input(0)].place, n.shape.len()) => {
                // A function of a constant is a constant (a scaled loss's dloss): computed
                // here, once, so that what reads it sees a constant (and fuses as one).
                let Place::Constant(c) = &ir.values[input(0)].place else {
                    unreachable!("folds checked")
                };
                let folded: Rc<[f64]> = c.iter().map(|&x| op.f(x)).collect();
                ir.notes
                    .push(format!("folded: {} of a constant is the constant {folded:?}", n.name));
                let v = ir.value(n.name.clone(), n.shape.clone(), Place::Constant(folded));
                ir.of_node.insert(id, v);
                continue;
            }
            Op::Update(rule) => {
                let target = &nodes[n.inputs[0]];
                if target.op != Op::Param {
                    return Err(Error::NotAParameter {
                        update: n.name.clone(),
                        target: target.name.clone(),
                    });
                }
                let mut args = vec![input(0), input(1)];
                for key in rule.state_names() {
                    let place = Place::State(target.name.clone(), key);
                    args.push(ir.value(format!("{} {key}", target.name), target.shape.clone(), place));
                }
                let len = target.shape.len();
                let (kernel, params) = update_kernel(rule, len, 1, rule.lr());
                ir.launches.push(Launch {
                    kernel,
                    params,
                    args,
                    nodes: vec![id],
                    update: Some((*rule, len)),
                });
                continue;
            }
            Op::Detach => (
                Kernel::Unary(UnaryOp::Identity),
                Params::dims(&[n.shape.len() as u32]),
                vec![input(0)],
            ),
            Op::UnpackBytes(scale) => (
                Kernel::UnpackBytes,
                Params::dims(&[n.shape.len() as u32]).with_scalars(&[*scale]),
                vec![input(0)],
            ),
            Op::Kernel(kernel) => {
                let shapes: Vec<Shape> = n.inputs.iter().map(|&i| nodes[i].shape.clone()).collect();
                let params = kernel.node_params(&n.shape, &shapes)?;
                let reads = (0..n.inputs.len())
                    .map(|k| match (kernel, k) {
                        // The probabilities its forward node kept, not the loss.
                        (Kernel::SoftmaxCeGrad { .. }, 0) => aux[&n.inputs[0]][0],
                        _ => input(k),
                    })
                    .collect();
                (*kernel, params, reads)
            }
        };
        // Bindings take the reads in order; the last written one is the node's value, any
        // written before it are kept beside the node (its aux values).
        let bindings = kernel.bindings(&params);
        let writes = bindings.iter().filter(|b| b.write).count();
        let mut reads = reads.into_iter();
        let mut args = Vec::with_capacity(bindings.len());
        let mut written = 0;
        for b in &bindings {
            if !b.write {
                args.push(reads.next().ok_or_else(|| Error::BufferCount {
                    kernel: kernel.name(),
                    expected: bindings.len(),
                    roles: b.role.into(),
                    got: n.inputs.len(),
                })?);
                continue;
            }
            written += 1;
            if written == writes {
                let v = ir.value(n.name.clone(), n.shape.clone(), Place::Computed);
                ir.of_node.insert(id, v);
                args.push(v);
            } else {
                let name = format!("{} {}", n.name, b.role);
                let v = ir.value(name, Shape::from([b.len]), Place::Computed);
                aux.entry(id).or_default().push(v);
                args.push(v);
            }
        }
        ir.launches.push(Launch {
            kernel,
            params,
            args,
            nodes: vec![id],
            update: None,
        });
    }
    for id in kept {
        if let Some(&v) = ir.of_node.get(id) {
            ir.kept.insert(v);
        }
    }
    Ok(ir)
}
