//! What a compiled plan does: the figures of [`PlanReport`], and the launch-by-launch account
//! of [`crate::engine::plan::Plan::describe`] (kernels, sizes, buffers, and what the fusion passes decided).

use std::fmt;

use super::lower::{Ir, Place};
use crate::engine::graph::Node;
use crate::engine::kernel::Kernel;

/// What a compiled plan does per run, for reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanReport {
    /// Kernel launches per run.
    pub dispatches: usize,
    /// Bytes of buffers the plan allocated for intermediate values.
    pub intermediate_bytes: u64,
    /// Bytes a buffer per intermediate value would take.
    pub naive_bytes: u64,
    /// Bytes of inputs, constants and parameters it uses.
    pub persistent_bytes: u64,
    /// Submissions the last run made (1 on the GPU; 0 on the CPU, which submits nothing).
    pub submits_per_run: u64,
    /// Nodes the plan computes.
    pub nodes: usize,
    /// Groups fused into one launch: matmul + bias (+ activation), matmul + an activation's
    /// backward, softmax-CE forward + backward, the updates of a parameter block.
    pub fused: usize,
}

impl PlanReport {
    /// The share of the naive bytes that buffer reuse saved, in percent (never printed as -0:
    /// arena padding can make the two differ by a few bytes).
    fn saved_pct(&self) -> f64 {
        if self.naive_bytes == 0 {
            return 0.0;
        }
        let pct = (100.0 * (1.0 - self.intermediate_bytes as f64 / self.naive_bytes as f64)).round();
        if pct == 0.0 {
            0.0
        } else {
            pct
        }
    }
}

impl fmt::Display for PlanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} nodes, {} dispatches ({} fused), intermediates {:.1} KiB allocated vs {:.1} KiB naive ({:.0}% saved), {:.1} KiB persistent, {} submit(s) per run",
            self.nodes,
            self.dispatches,
            self.fused,
            self.intermediate_bytes as f64 / 1024.0,
            self.naive_bytes as f64 / 1024.0,
            self.saved_pct(),
            self.persistent_bytes as f64 / 1024.0,
            self.submits_per_run
        )
    }
}

/// One launch, as [`crate::engine::plan::Plan::describe`] prints it.
#[derive(Clone, Debug)]
struct LaunchLine {
    kernel: String,
    sizes: String,
    reads: Vec<String>,
    writes: Vec<String>,
    nodes: Vec<String>,
}

/// The launch list a plan was compiled to, and the fusion passes' notes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Description {
    launches: Vec<LaunchLine>,
    notes: Vec<String>,
    fusion_off: Option<&'static str>,
}

/// `m×n×k` for a product, `rows×cols` or `n` for the rest.
fn sizes(kernel: &Kernel, dims: [u32; 4]) -> String {
    match kernel {
        Kernel::Matmul { .. } => format!("{}×{}×{}", dims[0], dims[1], dims[2]),
        _ => {
            let dims: Vec<String> = dims.iter().filter(|&&d| d > 0).map(|d| d.to_string()).collect();
            dims.join("×")
        }
    }
}

impl Description {
    pub fn new(ir: &Ir, nodes: &[Node], fusion_off: Option<&'static str>) -> Self {
        let value = |v: usize| {
            let value = &ir.values[v];
            let place = match &value.place {
                Place::Input => " (input)",
                Place::Param(_) => " (param)",
                Place::Constant(_) => " (constant)",
                Place::Computed => "",
                Place::State(..) => " (optimizer state)",
                Place::ParamArena(_) | Place::GradArena(_) | Place::StateArena(..) => "",
                Place::GradSlot { .. } => " (in the gradient arena)",
            };
            format!("{}{}{place}", value.name, value.shape)
        };
        let launches = ir
            .launches
            .iter()
            .map(|l| {
                let (reads, writes) = l.reads_and_writes();
                LaunchLine {
                    kernel: l.kernel.name(),
                    sizes: sizes(&l.kernel, l.params.dims),
                    reads: reads.into_iter().map(value).collect(),
                    writes: writes.into_iter().map(value).collect(),
                    nodes: l.nodes.iter().map(|&n| nodes[n].name.clone()).collect(),
                }
            })
            .collect();
        Description {
            launches,
            notes: ir.notes.clone(),
            fusion_off,
        }
    }
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} launches, in run order:", self.launches.len())?;
        for (i, l) in self.launches.iter().enumerate() {
            writeln!(
                f,
                "  #{i:<3} {:<26} {:<14} {} → {}",
                l.kernel,
                l.sizes,
                l.reads.join(", "),
                l.writes.join(", ")
            )?;
            if l.nodes.len() > 1 {
                writeln!(f, "        does the work of {}", l.nodes.join(" + "))?;
            }
        }
        match self.fusion_off {
            Some(why) => writeln!(f, "fusion: off ({why})")?,
            None if self.notes.is_empty() => writeln!(f, "fusion: nothing to fuse")?,
            None => {
                writeln!(f, "fusion:")?;
                for n in &self.notes {
                    writeln!(f, "  {n}")?;
                }
            }
        }
        Ok(())
    }
}
