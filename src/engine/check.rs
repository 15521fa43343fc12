//! Checking gradients and backends: [`gradcheck`] compares analytic gradients with central
//! finite differences computed on the CPU in f64; [`compare_backends`] runs a graph on two
//! backends and names the first node where they part; [`first_non_finite`] is the anomaly mode
//! that names the first node producing NaN or Inf.

use std::collections::HashSet;
use std::fmt;

use crate::engine::backend::cpu::CpuBackend;
use crate::engine::backend::Backend;
use crate::engine::element::Element;
use crate::engine::error::{Error, Result};
use crate::engine::graph::{Graph, NodeId, Op, Tensor};
use crate::engine::plan::{ParamStore, Plan, PlanOptions};

/// Input data for a run, as f64 (converted to each backend's number type).
pub type Feeds<'a> = &'a [(&'a Tensor, &'a [f64])];

/// Runs `outputs` of `graph` once on `backend` and returns their values as f64.
///
/// ```
/// use shadergrad::{Graph, backend::cpu::CpuBackend, check::run_once};
/// let g = Graph::new();
/// let x = g.input("x", []);
/// let y = (&x * 3.0).add_scalar(1.0);
/// let out = run_once(&CpuBackend::<f64>::new(), &g, &[&y], &[(&x, &[2.0])])?;
/// assert_eq!(out[0], vec![7.0]);
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn run_once<B: Backend>(backend: &B, graph: &Graph, outputs: &[&Tensor], feeds: Feeds) -> Result<Vec<Vec<f64>>> {
    let mut store = ParamStore::new(backend);
    let mut plan = Plan::compile(backend, graph, outputs, &mut store)?;
    for (t, data) in feeds {
        plan.set_input_f64(t, data)?;
    }
    let out = plan.run()?;
    outputs
        .iter()
        .map(|t| Ok(out.get(t)?.iter().map(|v| v.as_f64()).collect()))
        .collect()
}

/// How one tensor's analytic gradient compares with finite differences.
#[derive(Clone, Debug)]
pub struct GradError {
    /// The tensor's node name.
    pub name: String,
    /// Largest |analytic − numeric| over its elements.
    pub max_abs: f64,
    /// Largest |analytic − numeric| / max(|analytic|, |numeric|, 1e-8).
    pub max_rel: f64,
    /// The element with the largest relative error.
    pub worst_index: usize,
    /// Analytic and numeric values at that element.
    pub analytic: f64,
    pub numeric: f64,
}

/// The result of [`gradcheck`]: one entry per tensor that takes a gradient.
#[derive(Clone, Debug)]
pub struct GradCheck {
    pub tensors: Vec<GradError>,
}

impl GradCheck {
    /// True when every element is within `abs` or within `rel` of the finite difference.
    pub fn passes(&self, abs: f64, rel: f64) -> bool {
        self.tensors.iter().all(|t| t.max_abs <= abs || t.max_rel <= rel)
    }

    /// The tensor with the largest relative error.
    pub fn worst(&self) -> Option<&GradError> {
        self.tensors.iter().max_by(|a, b| a.max_rel.total_cmp(&b.max_rel))
    }
}

impl fmt::Display for GradCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tensors {
            writeln!(
                f,
                "  {:<24} max abs {:.2e}  max rel {:.2e}  worst [{}]: analytic {:.9} numeric {:.9}",
                t.name, t.max_abs, t.max_rel, t.worst_index, t.analytic, t.numeric
            )?;
        }
        Ok(())
    }
}

/// Compares the analytic gradient of `loss` with central finite differences
/// `(f(x + h) − f(x − h)) / 2h`, both on the CPU in f64, for every parameter and every input
/// that asked for a gradient. Parameters start from their initial values.
///
/// ```
/// use shadergrad::{Graph, check::gradcheck};
/// let g = Graph::new();
/// let x = g.input("x", [3]).with_grad();
/// let loss = x.sigmoid().square().sum();
/// let report = gradcheck(&g, &loss, &[(&x, &[0.5, -1.0, 2.0])], 1e-6)?;
/// assert!(report.passes(1e-8, 1e-6), "{report}");
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn gradcheck(graph: &Graph, loss: &Tensor, feeds: Feeds, h: f64) -> Result<GradCheck> {
    let cpu = CpuBackend::<f64>::new();
    let grads = graph.backward(loss)?;
    let leaves = grads.leaves();
    let mut store = ParamStore::new(&cpu);
    let outputs: Vec<&Tensor> = std::iter::once(loss).chain(leaves.iter().map(|(_, g)| g)).collect();
    let mut analytic_plan = Plan::compile(&cpu, graph, &outputs, &mut store)?;
    let mut loss_plan = Plan::compile(&cpu, graph, &[loss], &mut store)?;
    let mut feeds: Vec<(Tensor, Vec<f64>)> = feeds.iter().map(|(t, d)| ((*t).clone(), d.to_vec())).collect();
    for (t, d) in &feeds {
        analytic_plan.set_input(t, d)?;
        loss_plan.set_input(t, d)?;
    }
    let analytic = analytic_plan.run()?;

    let mut tensors = Vec::new();
    for (leaf, grad) in &leaves {
        let a = analytic.get(grad)?.to_vec();
        let node = graph.node(leaf.id());
        let mut numeric = vec![0.0; a.len()];
        for (i, num) in numeric.iter_mut().enumerate() {
            let mut eval = |delta: f64| -> Result<f64> {
                if node.op == Op::Param {
                    let mut v = store.read(&node.name)?;
                    v[i] += delta;
                    store.set(&node.name, &node.shape, &v)?;
                    let f = loss_plan.run()?.scalar(loss);
                    v[i] -= delta;
                    store.set(&node.name, &node.shape, &v)?;
                    f
                } else {
                    let slot = feeds
                        .iter_mut()
                        .find(|(t, _)| t.id() == leaf.id())
                        .ok_or_else(|| Error::NotFed {
                            name: node.name.clone(),
                            shape: node.shape.clone(),
                        })?;
                    slot.1[i] += delta;
                    loss_plan.set_input(leaf, &slot.1)?;
                    let f = loss_plan.run()?.scalar(loss);
                    slot.1[i] -= delta;
                    loss_plan.set_input(leaf, &slot.1)?;
                    f
                }
            };
            *num = (eval(h)? - eval(-h)?) / (2.0 * h);
        }
        let mut e = GradError {
            name: node.name.clone(),
            max_abs: 0.0,
            max_rel: 0.0,
            worst_index: 0,
            analytic: a.first().copied().unwrap_or(0.0),
            numeric: numeric.first().copied().unwrap_or(0.0),
        };
        for i in 0..a.len() {
            let abs = (a[i] - numeric[i]).abs();
            let rel = abs / a[i].abs().max(numeric[i].abs()).max(1e-8);
            e.max_abs = e.max_abs.max(abs);
            if rel > e.max_rel || !rel.is_finite() {
                e.max_rel = if rel.is_finite() { rel } else { f64::INFINITY };
                e.worst_index = i;
                e.analytic = a[i];
                e.numeric = numeric[i];
            }
        }
        tensors.push(e);
    }
    Ok(GradCheck { tensors })
}

/// Where two backends part on a graph.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// The first node (in topological order) whose values differ beyond tolerance.
    pub node: NodeId,
    pub name: String,
    pub op: String,
    /// The largest difference there, and the element.
    pub max_abs: f64,
    pub index: usize,
    pub a: f64,
    pub b: f64,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backends diverge first at node #{} `{}` ({}): element {} is {} vs {} (|diff| {:.3e})",
            self.node, self.name, self.op, self.index, self.a, self.b, self.max_abs
        )
    }
}

/// Runs `outputs` and everything they depend on on both backends, keeping every value, and
/// returns the first node whose values differ by more than `abs + rel·|a|`, or None.
pub fn compare_backends<A: Backend, B: Backend>(
    a: &A,
    b: &B,
    graph: &Graph,
    outputs: &[&Tensor],
    feeds: Feeds,
    abs: f64,
    rel: f64,
) -> Result<Option<Divergence>> {
    let keep_all = PlanOptions {
        keep_all: true,
        reuse_buffers: false,
        fuse: false,
    };
    let va = run_keep_all(a, graph, outputs, feeds, keep_all)?;
    let vb = run_keep_all(b, graph, outputs, feeds, keep_all)?;
    for ((id, name, x), (_, _, y)) in va.iter().zip(&vb) {
        let mut worst: Option<(usize, f64)> = None;
        for (i, (p, q)) in x.iter().zip(y).enumerate() {
            let d = (p - q).abs();
            let close = d <= abs + rel * p.abs() || (p.is_nan() && q.is_nan());
            let bad = !close;
            if bad && worst.is_none_or(|(_, w)| d > w || d.is_nan()) {
                worst = Some((i, d));
            }
        }
        if let Some((index, max_abs)) = worst {
            return Ok(Some(Divergence {
                node: *id,
                name: name.clone(),
                op: graph.node(*id).op.name(),
                max_abs,
                index,
                a: x[index],
                b: y[index],
            }));
        }
    }
    Ok(None)
}

#[allow(clippy::type_complexity)]
fn run_keep_all<B: Backend>(
    backend: &B,
    graph: &Graph,
    outputs: &[&Tensor],
    feeds: Feeds,
    options: PlanOptions,
) -> Result<Vec<(NodeId, String, Vec<f64>)>> {
    let mut store = ParamStore::new(backend);
    let mut plan = Plan::compile_with(backend, graph, outputs, &mut store, options)?;
    for (t, d) in feeds {
        plan.set_input_f64(t, d)?;
    }
    let out = plan.run()?;
    Ok(out
        .iter()
        .map(|(id, name, v)| (id, name.to_string(), v.iter().map(|x| x.as_f64()).collect()))
        .collect())
}

/// The first node producing a NaN or Inf, found by running every node of `outputs`' graph
/// with all values kept.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFinite {
    pub node: NodeId,
    pub name: String,
    pub op: String,
    /// The first bad element and its value.
    pub index: usize,
    pub value: f64,
}

impl fmt::Display for NonFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node #{} `{}` ({}) produced {} at element {}",
            self.node, self.name, self.op, self.value, self.index
        )
    }
}

/// Anomaly mode: reruns `outputs` on `backend` with every value kept, with the parameters of
/// `store`, and names the first node whose output holds NaN or Inf (None if all are finite).
pub fn first_non_finite<B: Backend>(
    backend: &B,
    graph: &Graph,
    outputs: &[&Tensor],
    store: &mut ParamStore<B>,
    feeds: &[(&Tensor, &[B::Elem])],
) -> Result<Option<NonFinite>> {
    let options = PlanOptions {
        keep_all: true,
        reuse_buffers: false,
        fuse: false,
    };
    // Updates are effects: leave them out, so looking does not change the parameters.
    let values: Vec<&Tensor> = outputs.iter().copied().filter(|t| !t.op().is_effect()).collect();
    let mut plan = Plan::compile_with(backend, graph, &values, store, options)?;
    for (t, d) in feeds {
        plan.set_input(t, d)?;
    }
    let out = plan.run()?;
    // Bytes packed four to an element (a byte input's words) are not numbers: 255, 255, 128, 127
    // reads as NaN. Their unpacked values are checked instead.
    let packed: HashSet<NodeId> = (0..graph.len())
        .map(|id| graph.node(id))
        .filter(|n| matches!(n.op, Op::UnpackBytes(_)))
        .map(|n| n.inputs[0])
        .collect();
    for (id, name, v) in out.iter().filter(|(id, _, _)| !packed.contains(id)) {
        if let Some((index, value)) = v.iter().enumerate().find(|(_, x)| !num_traits::Float::is_finite(**x)) {
            return Ok(Some(NonFinite {
                node: id,
                name: name.to_string(),
                op: graph.node(id).op.name(),
                index,
                value: value.as_f64(),
            }));
        }
    }
    Ok(None)
}
