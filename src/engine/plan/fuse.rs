//! The fusion passes: each one rewrite of the launch list, applied where nothing else needs the
//! values it removes, and each leaving a note of what it fused and of the near misses it did not
//! (printed by [`crate::engine::plan::Plan::describe`]).
//!
//! 1. [`linear`]: matmul → bias add (→ activation) becomes one matmul with the bias and the
//!    activation in its epilogue.
//! 2. [`activation_grad`]: the product that computes the gradient flowing into an activation
//!    (a hidden layer's `dX`) applies the activation's derivative in its epilogue.
//! 3. [`losses`]: a softmax cross-entropy, or a binary cross-entropy with logits, and its
//!    backward become one launch.
//! 4. [`arena_updates`]: the updates of every parameter of a block become one optimizer launch
//!    over the block's arenas, gradients computed into a gradient arena of the same layout.

use std::collections::{BTreeMap, HashMap};

use super::lower::{update_kernel, Ir, Launch, Place};
use super::params::ParamStore;
use crate::engine::backend::Backend;
use crate::engine::graph::Node;
use crate::engine::kernel::{Kernel, Params};
use crate::engine::op::{Epilogue, UnaryOp};

const PLAIN: Epilogue = Epilogue::None;

/// Runs every fusion pass, in order (the second relies on the first's rewrite of activation
/// gradients).
pub(crate) fn fuse<B: Backend>(ir: &mut Ir, nodes: &[Node], store: &ParamStore<B>) {
    linear(ir, nodes);
    activation_grad(ir, nodes);
    losses(ir, nodes);
    arena_updates(ir, store);
}

/// `(ta, tb)` of a plain product (no bias, no epilogue).
fn plain_matmul(kernel: &Kernel) -> Option<(bool, bool)> {
    match *kernel {
        Kernel::Matmul {
            ta,
            tb,
            bias: false,
            epilogue: PLAIN,
        } => Some((ta, tb)),
        _ => None,
    }
}

/// Why a value's readers rule a fusion out, for a note.
fn other_readers(ir: &Ir, nodes: &[Node], readers: &[usize], except: &[usize]) -> String {
    let others: Vec<String> = readers
        .iter()
        .filter(|r| !except.contains(r))
        .map(|&r| ir.label(nodes, r))
        .collect();
    others.join(", ")
}

/// Why `value` cannot be folded into `reader`, its consumer: it is read back, or read by
/// another launch too (`also read by …`). None when `reader` is its only use.
fn shared(ir: &Ir, nodes: &[Node], readers: &[usize], value: usize, reader: usize) -> Option<String> {
    if ir.kept.contains(&value) {
        Some("read back".into())
    } else if readers != [reader] {
        Some(format!("also read by {}", other_readers(ir, nodes, readers, &[reader])))
    } else {
        None
    }
}

/// The note of a fusion of launches `a` and `b` into one launch of `kernel`.
fn fused_note(ir: &Ir, nodes: &[Node], a: usize, b: usize, kernel: &Kernel) -> String {
    format!(
        "fused: {} + {} in one launch ({})",
        ir.label(nodes, a),
        ir.label(nodes, b),
        kernel.name()
    )
}

/// Matmul → bias add (→ activation): one launch. The activation fuses when nothing else reads
/// the pre-activation but its own backward, and that backward can read the activation's output
/// instead ([`UnaryOp::derivative_from_output`]: `relu'(x)` is `relu'(relu(x))`).
pub(crate) fn linear(ir: &mut Ir, nodes: &[Node]) {
    let uses = ir.uses();
    let mut with: HashMap<usize, Vec<Launch>> = HashMap::new();
    let mut grads_reading_output: Vec<(usize, usize)> = Vec::new();
    for (bi, b) in ir.launches.iter().enumerate() {
        if b.kernel != Kernel::BiasAdd {
            continue;
        }
        let (x, bias, y) = (b.args[0], b.args[1], b.args[2]);
        let Some(mi) = uses.writer[x] else { continue };
        let m = &ir.launches[mi];
        let Some((ta, tb)) = plain_matmul(&m.kernel) else {
            continue;
        };
        if let Some(why) = shared(ir, nodes, &uses.readers[x], x, bi) {
            ir.notes.push(format!(
                "not fused: {} into {}: it is {why}",
                ir.label(nodes, mi),
                ir.label(nodes, bi)
            ));
            continue;
        }
        let mut fused = Launch {
            kernel: Kernel::Matmul {
                ta,
                tb,
                bias: true,
                epilogue: PLAIN,
            },
            params: m.params,
            args: vec![m.args[0], m.args[1], bias, y],
            nodes: [m.nodes.as_slice(), &b.nodes].concat(),
            update: None,
        };
        // The activation reading the bias add, if it can join.
        let activation = uses.readers[y]
            .iter()
            .copied()
            .find_map(|ai| match ir.launches[ai].kernel {
                Kernel::Unary(op) => Some((ai, op)),
                _ => None,
            });
        let mut at = bi;
        if let Some((ai, op)) = activation {
            let z = ir.launches[ai].args[1];
            let own_grads: Vec<usize> = uses.readers[y]
                .iter()
                .copied()
                .filter(|&r| {
                    let g = &ir.launches[r];
                    g.kernel == Kernel::UnaryGrad(op) && g.args[0] == y && g.args[1] == z
                })
                .collect();
            let others = uses.readers[y]
                .iter()
                .filter(|&&r| r != ai && !own_grads.contains(&r))
                .count();
            let label = ir.label(nodes, ai);
            let blocker = if ir.kept.contains(&y) {
                Some(format!("{} is read back", ir.label(nodes, bi)))
            } else if others > 0 {
                let also = other_readers(ir, nodes, &uses.readers[y], &[[ai].as_slice(), &own_grads].concat());
                Some(format!("{} is also read by {also}", ir.label(nodes, bi)))
            } else if !own_grads.is_empty() && !op.derivative_from_output() {
                Some(format!(
                    "{}'s backward needs its input, which the fused launch does not store",
                    op.name()
                ))
            } else {
                None
            };
            match blocker {
                Some(why) => ir
                    .notes
                    .push(format!("not fused: {label} into the linear layer before it: {why}")),
                None => {
                    fused.kernel = Kernel::Matmul {
                        ta,
                        tb,
                        bias: true,
                        epilogue: Epilogue::Activation(op),
                    };
                    fused.args[3] = z;
                    fused.nodes.extend(&ir.launches[ai].nodes);
                    with.insert(bi, vec![]);
                    at = ai;
                    grads_reading_output.extend(own_grads.iter().map(|&g| (g, z)));
                }
            }
        }
        let reads_output = match fused.kernel {
            Kernel::Matmul {
                epilogue: Epilogue::Activation(op),
                ..
            } if grads_reading_output.iter().any(|&(_, z)| z == fused.args[3]) => {
                format!(
                    "; {}'s backward reads its output, as the input is not stored",
                    op.name()
                )
            }
            _ => String::new(),
        };
        ir.notes.push(format!(
            "fused: {} in one launch ({}){reads_output}",
            fused
                .nodes
                .iter()
                .map(|&n| nodes[n].name.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            fused.kernel.name()
        ));
        with.insert(mi, vec![]);
        with.insert(at, vec![fused]);
    }
    // relu'(x) = relu'(relu(x)): the backward reads the output as its input.
    for (g, z) in grads_reading_output {
        ir.launches[g].args[0] = z;
    }
    ir.rewrite(with);
}

/// The product computing the gradient flowing into an activation, with the activation's
/// derivative in its epilogue: `dX = (dY·W) · f'(x, y)` in one launch.
pub(crate) fn activation_grad(ir: &mut Ir, nodes: &[Node]) {
    let uses = ir.uses();
    let mut with: HashMap<usize, Vec<Launch>> = HashMap::new();
    for (gi, g) in ir.launches.iter().enumerate() {
        let Kernel::UnaryGrad(op) = g.kernel else { continue };
        let (x, y, dy, dx) = (g.args[0], g.args[1], g.args[2], g.args[3]);
        let Some(mi) = uses.writer[dy] else { continue };
        let m = &ir.launches[mi];
        let Some((ta, tb)) = plain_matmul(&m.kernel) else {
            continue;
        };
        if let Some(why) = shared(ir, nodes, &uses.readers[dy], dy, gi) {
            ir.notes.push(format!(
                "not fused: {} into {}: its product is {why}",
                ir.label(nodes, mi),
                ir.label(nodes, gi)
            ));
            continue;
        }
        let fused = Launch {
            kernel: Kernel::Matmul {
                ta,
                tb,
                bias: false,
                epilogue: Epilogue::ActivationGrad(op),
            },
            params: m.params,
            args: vec![m.args[0], m.args[1], x, y, dx],
            nodes: [m.nodes.as_slice(), &g.nodes].concat(),
            update: None,
        };
        ir.notes.push(fused_note(ir, nodes, mi, gi, &fused.kernel));
        with.insert(mi, vec![]);
        with.insert(gi, vec![fused]);
    }
    ir.rewrite(with);
}

/// A loss and its backward in one launch, when its upstream gradient is a constant (a training
/// step's loss): a softmax cross-entropy whose probabilities only its backward reads, or a binary
/// cross-entropy with logits whose backward reads the same logits and targets.
pub(crate) fn losses(ir: &mut Ir, nodes: &[Node]) {
    let uses = ir.uses();
    let mut with: HashMap<usize, Vec<Launch>> = HashMap::new();
    for (fi, f) in ir.launches.iter().enumerate() {
        // The forward's inputs and loss, the value its backward reads in the logits' place
        // (the probabilities, or the logits themselves), and the kernels.
        // A weighted loss reads its weights third; its backward reads them after the labels.
        let (reads, loss, link, grad_kernel, fused_kernel) = match f.kernel {
            Kernel::SoftmaxCe { smoothing, weighted } => (
                1 + (weighted as usize),
                f.args.len() - 1,
                f.args.len() - 2,
                Kernel::SoftmaxCeGrad { smoothing, weighted },
                Kernel::SoftmaxCeFused { smoothing, weighted },
            ),
            Kernel::SigmoidBce { weighted } => (
                1 + (weighted as usize),
                f.args.len() - 1,
                0,
                Kernel::SigmoidBceGrad { weighted },
                Kernel::SigmoidBceFused { weighted },
            ),
            _ => continue,
        };
        // The labels (and weights) both read, after the logits; where the backward reads the
        // forward's output or input; the loss.
        let (labels, link, loss) = (&f.args[1..=reads], f.args[link], f.args[loss]);
        let inputs = &f.args[..=reads];
        let grads: Vec<usize> = uses.readers[link]
            .iter()
            .copied()
            .filter(|&r| {
                let g = &ir.launches[r];
                g.kernel == grad_kernel && g.args[0] == link && &g.args[1..=reads] == labels
            })
            .collect();
        let [gi] = grads[..] else { continue };
        let g = &ir.launches[gi];
        let (dloss, dx) = (g.args[reads + 1], g.args[reads + 2]);
        let probs_elsewhere = matches!(f.kernel, Kernel::SoftmaxCe { .. }) && uses.readers[link].len() > 1;
        if probs_elsewhere || !matches!(ir.values[dloss].place, Place::Constant(_)) {
            ir.notes.push(format!(
                "not fused: {} and its backward: {}",
                ir.label(nodes, fi),
                if probs_elsewhere {
                    "something else reads its probabilities"
                } else {
                    "its upstream gradient is not a constant"
                }
            ));
            continue;
        }
        let fused = Launch {
            kernel: fused_kernel,
            params: f.params,
            args: [inputs, &[dloss, loss, dx]].concat(),
            nodes: [f.nodes.as_slice(), &g.nodes].concat(),
            update: None,
        };
        ir.notes.push(fused_note(ir, nodes, fi, gi, &fused_kernel));
        with.insert(fi, vec![fused]);
        with.insert(gi, vec![]);
    }
    ir.rewrite(with);
}

/// The updates of a parameter block as one optimizer launch over the block's arenas: every
/// parameter of the block updated once, by one rule, with nothing but other updates between the
/// first and the last (so deferring them all to the last changes no value anyone reads). A
/// gradient whose only reader is its update is computed into its slot of the gradient arena;
/// any other (shared by two parameters, read elsewhere, read back, a leaf) is copied in.
pub(crate) fn arena_updates<B: Backend>(ir: &mut Ir, store: &ParamStore<B>) {
    let uses = ir.uses();
    let mut by_block: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, l) in ir.launches.iter().enumerate() {
        if l.update.is_none() {
            continue;
        }
        if let Place::Param(name) = &ir.values[l.args[0]].place {
            if let Some(slot) = store.slot(name) {
                by_block.entry(slot.block).or_default().push(i);
            }
        }
    }
    let mut with: HashMap<usize, Vec<Launch>> = HashMap::new();
    let mut fused_launches = Vec::new();
    for (block, updates) in by_block {
        let names: Vec<String> = updates
            .iter()
            .map(|&u| match &ir.values[ir.launches[u].args[0]].place {
                Place::Param(name) => name.clone(),
                _ => unreachable!("grouped by their parameter"),
            })
            .collect();
        let mut updated = names.clone();
        updated.sort_unstable();
        let (members, len) = store.block(block);
        let mut members: Vec<String> = members.to_vec();
        members.sort_unstable();
        let rule_of = |u: usize| ir.launches[u].update.map(|(r, _)| r);
        let Some(rule) = rule_of(updates[0]) else { continue };
        let first_last = (updates[0], updates[updates.len() - 1]);
        let why_not = if updated != members {
            Some("not every parameter of the block is updated exactly once")
        } else if updates.iter().any(|&u| rule_of(u) != Some(rule)) {
            Some("its parameters have different optimizers")
        } else if (first_last.0..=first_last.1).any(|i| ir.launches[i].update.is_none()) {
            Some("other work runs between its updates")
        } else {
            None
        };
        if let Some(why) = why_not {
            ir.notes.push(format!(
                "not fused: the {} updates of {}: {why}",
                updates.len(),
                updated.join(", ")
            ));
            continue;
        }
        let shape = |n: usize| crate::engine::shape::Shape::from([n]);
        let params = ir.value("parameters".into(), shape(len), Place::ParamArena(block));
        let grads = ir.value("gradients".into(), shape(len), Place::GradArena(block));
        let mut states = Vec::new();
        for key in rule.state_names() {
            states.push(ir.value(format!("{key} arena"), shape(len), Place::StateArena(block, key)));
        }
        let mut copies = 0;
        for (&u, name) in updates.iter().zip(&names) {
            let slot = store.slot(name).expect("grouped by their slot");
            let grad = ir.launches[u].args[1];
            let place = Place::GradSlot {
                block,
                offset: slot.offset,
            };
            let in_place = ir.values[grad].place == Place::Computed
                && uses.readers[grad] == [u]
                && uses.writer[grad].is_some()
                && !ir.kept.contains(&grad);
            if in_place {
                ir.values[grad].place = place;
                with.insert(u, vec![]);
            } else {
                let view = ir.value(format!("gradient of {name}"), shape(slot.len), place);
                copies += 1;
                with.insert(
                    u,
                    vec![Launch {
                        kernel: Kernel::Unary(UnaryOp::Identity),
                        params: Params::dims(&[slot.len as u32]),
                        args: vec![grad, view],
                        nodes: ir.launches[u].nodes.clone(),
                        update: None,
                    }],
                );
            }
        }
        let (kernel, kernel_params) = update_kernel(&rule, len, 1, rule.lr());
        let mut args = vec![params, grads];
        args.extend(states);
        let launch = Launch {
            kernel,
            params: kernel_params,
            args,
            nodes: updates.iter().flat_map(|&u| ir.launches[u].nodes.clone()).collect(),
            update: Some((rule, len)),
        };
        fused_launches.push((first_last, launch));
        ir.notes.push(format!(
            "fused: the {} updates of {} in one {} launch over their arena{}",
            updates.len(),
            updated.join(", "),
            rule.name(),
            match copies {
                0 => String::new(),
                n => format!(" ({n} gradient(s) copied in: shared or read elsewhere)"),
            }
        ));
    }
    // When nothing but updates runs from the first fused update to the last, every fused
    // launch goes to the last (the launch there is one of theirs, replaced anyway), so a plan
    // can stop where its gradients are done (Plan::run_to_gradients).
    let first = fused_launches.iter().map(|(fl, _)| fl.0).min();
    let last = fused_launches.iter().map(|(fl, _)| fl.1).max();
    let together = match (first, last) {
        (Some(first), Some(last)) if (first..=last).all(|i| ir.launches[i].update.is_some()) => Some(last),
        _ => None,
    };
    for ((_, block_last), launch) in fused_launches {
        with.entry(together.unwrap_or(block_last)).or_default().push(launch);
    }
    ir.rewrite(with);
}
