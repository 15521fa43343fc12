//! Circuit diagrams as the seeds draw them: one box per gate, the forward value on each wire in
//! green and the gradient flowing back under it in red. SVG (no external program needed) and
//! Graphviz DOT.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::engine::backend::Backend;

use crate::engine::check::Feeds;
use crate::engine::element::Element;
use crate::engine::error::{Error, Result};
use crate::engine::expr::Expression;
use crate::engine::graph::{Graph, NodeId, Op, Tensor};
use crate::engine::plan::{ParamStore, Plan, PlanOptions};
use crate::reports::escape_xml;

/// One gate (or input) of a circuit: the value on its output wire, the gradient of the output
/// with respect to it (summed over its uses), and the gradient flowing back along each of its
/// input wires (one term of that sum at a fork).
#[derive(Clone, Debug)]
pub struct Gate {
    pub node: NodeId,
    pub label: String,
    /// Indices into [`Circuit::gates`].
    pub inputs: Vec<usize>,
    pub value: Vec<f64>,
    pub grad: Option<Vec<f64>>,
    /// Per input wire: the gradient flowing back along it.
    pub input_grads: Vec<Option<Vec<f64>>>,
    pub leaf: bool,
}

/// A forward graph with its values and gradients, ready to draw.
#[derive(Clone, Debug)]
pub struct Circuit {
    /// Gates in topological order; the last is the output.
    pub gates: Vec<Gate>,
}

/// An expression evaluated at a point: its value, the partial derivative of each variable, and
/// the circuit to draw.
#[derive(Clone, Debug)]
pub struct AtPoint {
    pub value: f64,
    /// Each variable's `∂f/∂variable`, in the expression's order.
    pub gradients: Vec<(String, f64)>,
    pub circuit: Circuit,
}

/// Evaluates the expression `e` at `at` (a value for each of its variables, by name) on
/// `backend`: what `shadergrad grad` prints and draws. A name that is not a variable, or a
/// variable without a value, is an error naming it.
///
/// ```
/// use shadergrad::{expr, viz, backend::cpu::CpuBackend};
/// let e = expr::parse("x * y + 3")?;
/// let p = viz::at_point(&CpuBackend::<f64>::new(), &e, &[("x".into(), 2.0), ("y".into(), -4.0)])?;
/// assert_eq!((p.value, p.gradients), (-5.0, vec![("x".into(), -4.0), ("y".into(), 2.0)]));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn at_point<B: Backend>(backend: &B, e: &Expression, at: &[(String, f64)]) -> Result<AtPoint> {
    for (name, _) in at {
        if !e.variables.iter().any(|(v, _)| v == name) {
            return Err(Error::invalid("at", name.as_str(), "a variable of the expression"));
        }
    }
    let mut values = Vec::new();
    for (name, t) in &e.variables {
        let Some((_, v)) = at.iter().find(|(n, _)| n == name) else {
            return Err(Error::invalid(
                "at",
                name.as_str(),
                format!("a value for the variable `{name}` ({name}=1, say)"),
            ));
        };
        values.push((t, [*v]));
    }
    let feeds: Vec<(&Tensor, &[f64])> = values.iter().map(|(t, v)| (*t, &v[..])).collect();
    let circuit = evaluate(backend, &e.graph, &e.output, &feeds)?;
    let gate = |t: &Tensor| circuit.gates.iter().find(|g| g.node == t.id());
    let value = gate(&e.output).map_or(f64::NAN, |g| g.value[0]);
    let gradients = e
        .variables
        .iter()
        .map(|(n, t)| (n.clone(), gate(t).and_then(|g| g.grad.as_ref()).map_or(0.0, |g| g[0])))
        .collect();
    Ok(AtPoint {
        value,
        gradients,
        circuit,
    })
}

/// Runs `output` and its gradient with respect to every node it depends on, on `backend`, and
/// collects the circuit to draw.
///
/// ```
/// use shadergrad::{expr, viz, backend::cpu::CpuBackend};
/// let e = expr::parse("(x + y) * z")?;
/// let at: Vec<(&shadergrad::Tensor, &[f64])> = vec![(&e.variables[0].1, &[-2.0]), (&e.variables[1].1, &[5.0]), (&e.variables[2].1, &[-4.0])];
/// let c = viz::evaluate(&CpuBackend::<f64>::new(), &e.graph, &e.output, &at)?;
/// assert_eq!(c.gates.last().unwrap().value, vec![-12.0]);
/// assert!(c.to_svg().contains("-12.00"));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn evaluate<B: Backend>(backend: &B, graph: &Graph, output: &Tensor, feeds: Feeds) -> Result<Circuit> {
    let nodes = graph.nodes();
    let mut on_path = vec![false; output.id() + 1];
    on_path[output.id()] = true;
    for id in (0..=output.id()).rev() {
        if on_path[id] {
            for &i in &nodes[id].inputs {
                on_path[i] = true;
            }
        }
    }
    // Gradients for every node on the path: make every leaf take one for the drawing's sake.
    let grads = graph.backward(output)?;
    let ids: Vec<NodeId> = (0..=output.id()).filter(|&i| on_path[i]).collect();
    let grad_of: HashMap<NodeId, Tensor> = ids
        .iter()
        .filter_map(|&i| grads.get(&graph.tensor(i)).map(|g| (i, g)))
        .collect();
    let mut along: HashMap<(NodeId, usize), Tensor> = HashMap::new();
    for &i in &ids {
        for k in 0..nodes[i].inputs.len() {
            if let Some(g) = grads.along(&graph.tensor(i), k) {
                along.insert((i, k), g);
            }
        }
    }
    let mut outputs: Vec<Tensor> = vec![output.clone()];
    outputs.extend(grad_of.values().cloned());
    outputs.extend(along.values().cloned());
    let refs: Vec<&Tensor> = outputs.iter().collect();
    let mut store = ParamStore::new(backend);
    let options = PlanOptions {
        keep_all: true,
        reuse_buffers: false,
        fuse: false,
    };
    let mut plan = Plan::compile_with(backend, graph, &refs, &mut store, options)?;
    for (t, d) in feeds {
        plan.set_input_f64(t, d)?;
    }
    let out = plan.run()?;
    let values: HashMap<NodeId, Vec<f64>> = out
        .iter()
        .map(|(id, _, v)| (id, v.iter().map(|x| x.as_f64()).collect()))
        .collect();

    let mut index = HashMap::new();
    let mut gates = Vec::new();
    for &id in &ids {
        let n = &nodes[id];
        let label = match &n.op {
            Op::Input | Op::Param | Op::Constant => n.name.clone(),
            op => op.name(),
        };
        index.insert(id, gates.len());
        gates.push(Gate {
            node: id,
            label,
            inputs: n.inputs.iter().map(|i| index[i]).collect(),
            value: values.get(&id).cloned().unwrap_or_default(),
            grad: grad_of.get(&id).and_then(|g| values.get(&g.id()).cloned()),
            input_grads: (0..n.inputs.len())
                .map(|k| along.get(&(id, k)).and_then(|g| values.get(&g.id()).cloned()))
                .collect(),
            leaf: n.op.is_leaf(),
        });
    }
    Ok(Circuit { gates })
}

/// A wire from `from` through the columns it crosses (`via`: where it passes each, straight
/// across) to a gate's port at `to`: between columns a slant, then a short straight lead into
/// the next place. Slants run in the first part of the gap between columns and leads in the
/// rest, so no wire crosses another's lead; the value sits above the last lead in green, the
/// gradient flowing back below it in red.
fn wire(s: &mut String, from: (f64, f64), via: &[(f64, f64)], to: (f64, f64), value: &[f64], grad: Option<&[f64]>) {
    let mut points = vec![from];
    for &(x, y) in via {
        points.extend([(x - LEAD, y), (x + BOX_W, y)]);
    }
    points.extend([(to.0 - LEAD, to.1), to]);
    let path: Vec<String> = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = writeln!(
        s,
        r#"<polyline points="{}" fill="none" stroke="black"/>"#,
        path.join(" ")
    );
    let lx = to.0 - LEAD / 2.0;
    let _ = writeln!(
        s,
        r##"<text x="{lx:.1}" y="{:.1}" fill="#1a7f37" text-anchor="middle">{}</text>"##,
        to.1 - 4.0,
        escape_xml(&show(value))
    );
    if let Some(grad) = grad {
        let _ = writeln!(
            s,
            r##"<text x="{lx:.1}" y="{:.1}" fill="#cf222e" text-anchor="middle">{}</text>"##,
            to.1 + 13.0,
            escape_xml(&show(grad))
        );
    }
}

/// A gate's box and label at `(x, y)`, or an input's name and its summed gradient.
fn gate(s: &mut String, g: &Gate, (x, y): (f64, f64)) {
    if g.leaf {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-weight="bold">{}</text>"#,
            x + 36.0,
            y + 4.0,
            escape_xml(&g.label)
        );
        if let Some(total) = &g.grad {
            // The gradient of an input: its wires' gradients added up.
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#cf222e" font-size="11">Σ {}</text>"##,
                x + 36.0,
                y + 20.0,
                escape_xml(&show(total))
            );
        }
        return;
    }
    let h = PORT_GAP * (g.inputs.len().max(1) as f64 - 1.0) + 28.0;
    let _ = writeln!(
        s,
        r##"<rect x="{x:.1}" y="{:.1}" width="{BOX_W}" height="{h:.1}" rx="8" fill="#f6f8fa" stroke="black"/>"##,
        y - h / 2.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        x + BOX_W / 2.0,
        y + 4.0,
        escape_xml(&g.label)
    );
}

/// A value as the seeds write it: two decimals for one number, the count for a tensor.
fn show(v: &[f64]) -> String {
    match v {
        [x] if x.abs() >= 0.01 || *x == 0.0 => format!("{x:.2}"),
        [x] => format!("{x:.2e}"),
        many => format!("[{} values]", many.len()),
    }
}

const COL: f64 = 190.0;
const ROW: f64 = 110.0;
const BOX_W: f64 = 96.0;
const PORT_GAP: f64 = 36.0;
const LEAD: f64 = 56.0;

/// Where the gates and the wires between them are drawn.
struct Layout {
    /// Each gate's position: its column's left edge and its middle row.
    gates: Vec<(f64, f64)>,
    /// Per gate, per input: the heights at which that wire crosses each column between its
    /// source and the gate (a wire longer than one column passes through a place of its own in
    /// each column it crosses, so it never cuts a gate or a label there).
    waypoints: Vec<Vec<Vec<(f64, f64)>>>,
}

impl Circuit {
    /// Columns by depth (inputs at the left). A wire that skips columns gets a place in each
    /// column it crosses, as a gate would; within a column, gates and crossing wires sit in the
    /// order of the mean height of what feeds them, which keeps most wires from crossing.
    fn layout(&self) -> Layout {
        let mut depth = vec![0usize; self.gates.len()];
        for (i, g) in self.gates.iter().enumerate() {
            depth[i] = g.inputs.iter().map(|&j| depth[j] + 1).max().unwrap_or(0);
        }
        // Every place in a column: a gate, or a wire (into gate, input) crossing it.
        #[derive(Clone, Copy)]
        enum Place {
            Gate(usize),
            Crossing(usize, usize),
        }
        let columns = depth.iter().max().map_or(0, |d| d + 1);
        let mut members: Vec<Vec<Place>> = vec![Vec::new(); columns];
        for (i, g) in self.gates.iter().enumerate() {
            members[depth[i]].push(Place::Gate(i));
            for (k, &j) in g.inputs.iter().enumerate() {
                for column in &mut members[depth[j] + 1..depth[i]] {
                    column.push(Place::Crossing(i, k));
                }
            }
        }
        let mut gates = vec![(0.0, 0.0); self.gates.len()];
        let mut waypoints: Vec<Vec<Vec<(f64, f64)>>> =
            self.gates.iter().map(|g| vec![Vec::new(); g.inputs.len()]).collect();
        for (d, places) in members.iter().enumerate() {
            // What feeds each place: a gate's inputs, or a crossing's previous place.
            let fed_at = |p: &Place| -> f64 {
                match *p {
                    Place::Gate(i) if self.gates[i].inputs.is_empty() => i as f64,
                    Place::Gate(i) => {
                        let ins = &self.gates[i].inputs;
                        ins.iter().map(|&j| gates[j].1).sum::<f64>() / ins.len() as f64
                    }
                    Place::Crossing(i, k) => waypoints[i][k].last().map_or(gates[self.gates[i].inputs[k]].1, |w| w.1),
                }
            };
            let mut order: Vec<(f64, usize)> = places.iter().enumerate().map(|(n, p)| (fed_at(p), n)).collect();
            order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (row, &(_, n)) in order.iter().enumerate() {
                let at = (30.0 + d as f64 * COL, 50.0 + row as f64 * ROW);
                match places[n] {
                    Place::Gate(i) => gates[i] = at,
                    Place::Crossing(i, k) => waypoints[i][k].push(at),
                }
            }
        }
        Layout { gates, waypoints }
    }

    /// The diagram as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let layout = self.layout();
        let pos = &layout.gates;
        let all = pos.iter().chain(layout.waypoints.iter().flatten().flatten());
        let (right, bottom) = all.fold((0.0f64, 0.0f64), |(r, b), p| (r.max(p.0), b.max(p.1)));
        let width = right + BOX_W + COL;
        let height = bottom + ROW;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="monospace" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        for (i, g) in self.gates.iter().enumerate() {
            let (x, y) = pos[i];
            for (k, &j) in g.inputs.iter().enumerate() {
                let (sx, sy) = pos[j];
                let start = if self.gates[j].leaf { sx + 40.0 } else { sx + BOX_W };
                let port = y + (k as f64 - (g.inputs.len() as f64 - 1.0) / 2.0) * PORT_GAP;
                let via = &layout.waypoints[i][k];
                wire(
                    &mut s,
                    (start, sy),
                    via,
                    (x, port),
                    &self.gates[j].value,
                    g.input_grads[k].as_deref(),
                );
            }
            gate(&mut s, g, (x, y));
        }
        if let Some(last) = self.gates.last() {
            let (x, y) = pos[self.gates.len() - 1];
            let start = if last.leaf { x + 40.0 } else { x + BOX_W };
            // The output's own gradient is 1: the seed of the backward pass.
            wire(
                &mut s,
                (start, y),
                &[],
                (start + COL - 40.0, y),
                &last.value,
                last.grad.as_deref(),
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="10" y="{:.0}" fill="#555">green: forward value on each wire; red: gradient of the output flowing back along it (Σ: summed at a fork)</text>"##,
            height - 12.0
        );
        s.push_str("</svg>\n");
        s
    }

    /// The diagram in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let mut s =
            String::from("digraph circuit {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=monospace];\n");
        let label = |value: &[f64], grad: Option<&[f64]>| {
            let grad = grad.map(show).unwrap_or_default();
            format!(
                r##"<<font color="#1a7f37">{}</font><br/><font color="#cf222e">{}</font>>"##,
                escape_xml(&show(value)),
                escape_xml(&grad)
            )
        };
        for (i, g) in self.gates.iter().enumerate() {
            let shape = if g.leaf { ", shape=plaintext" } else { "" };
            let _ = writeln!(s, "  n{i} [label=\"{}\"{shape}];", g.label.replace('"', "\\\""));
        }
        for (i, g) in self.gates.iter().enumerate() {
            for (k, &j) in g.inputs.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "  n{j} -> n{i} [label={}];",
                    label(&self.gates[j].value, g.input_grads[k].as_deref())
                );
            }
        }
        if let Some(last) = self.gates.last() {
            let _ = writeln!(
                s,
                "  out [shape=point];\n  n{} -> out [label={}];",
                self.gates.len() - 1,
                label(&last.value, last.grad.as_deref())
            );
        }
        s.push_str("}\n");
        s
    }
}
