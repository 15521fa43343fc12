//! Where each [`Kernel`] lives in `shaders/`: its file, entry point, override constants and
//! workgroup grid. The workgroup sizes here match the `@workgroup_size` of each entry point.

use super::blocked;
use super::shaders::ShaderFile;
use crate::backend::{Kernel, Params};
use crate::error::{Error, Result};
use crate::op::Operand;

/// Where a pipeline's WGSL comes from: a file of `shaders/`, or the generated register-blocked
/// matmul (see `blocked.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    File(ShaderFile),
    Blocked(blocked::Spec),
}

impl Source {
    /// The complete WGSL, `shaders/common.wgsl` first.
    pub fn text(self) -> String {
        match self {
            Source::File(f) => f.source(),
            Source::Blocked(spec) => ShaderFile::with_common(&spec.source()),
        }
    }

    /// A name for errors and labels.
    pub fn name(self) -> String {
        match self {
            Source::File(f) => format!("shaders/{}", f.file_name()),
            Source::Blocked(spec) => format!("the generated blocked matmul {spec:?}"),
        }
    }
}

/// A pipeline's identity: source, entry point and specialisation (override constants).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PipelineKey {
    pub source: Source,
    pub entry: &'static str,
    pub constants: Vec<(&'static str, u32)>,
}

/// Workgroups a blocked matmul should at least make: one per core (lavapipe runs a thread per
/// core). Measured on 2 cores: the biggest block that still fills both cores wins, since loads
/// fall with the block's size and smaller blocks only add them.
fn cpu_cores() -> u32 {
    std::thread::available_parallelism().map_or(2, |n| n.get() as u32)
}

/// True when a product is big enough for 128×128 tiles to still fill a large GPU (at least 64
/// of them); smaller ones take 64×64 tiles, four times as many workgroups.
fn large_tiles(p: &Params) -> bool {
    let (m, n) = (p.dims[0], p.dims[1]);
    m.div_ceil(128) * n.div_ceil(128) >= 64
}

/// The pipeline that runs a kernel. With `blocked_matmul` (the choice on CPU adapters) a matmul
/// runs the register-blocked kernel, its block chosen so every core gets work; otherwise the
/// workgroup-tiled one, its tile chosen by the product's size.
pub fn pipeline_key(kernel: &Kernel, params: &Params, blocked_matmul: bool) -> PipelineKey {
    if let Kernel::Matmul { ta, tb, bias, act } = *kernel {
        if blocked_matmul {
            let [m, n, k, _] = params.dims;
            return PipelineKey {
                source: Source::Blocked(blocked::Spec::choose(m, n, k, ta, tb, bias, cpu_cores())),
                entry: "matmul_blocked",
                constants: vec![("ACT", act.code())],
            };
        }
    }
    let (file, entry, constants): (ShaderFile, &'static str, Vec<(&'static str, u32)>) = match *kernel {
        Kernel::Unary(op) => (ShaderFile::Unary, "unary_forward", vec![("OP", op.code())]),
        Kernel::UnaryGrad(op) => (ShaderFile::Unary, "unary_backward", vec![("OP", op.code())]),
        Kernel::Binary(op) => (ShaderFile::Binary, "binary_forward", vec![("OP", op.code())]),
        Kernel::BinaryGrad(op, wrt) => (
            ShaderFile::Binary,
            "binary_backward",
            vec![("OP", op.code()), ("WRT", (wrt == Operand::B) as u32)],
        ),
        Kernel::Matmul { ta, tb, bias, act } => {
            let entry = match (large_tiles(params), bias) {
                (false, false) => "matmul",
                (false, true) => "matmul_bias",
                (true, false) => "matmul_large",
                (true, true) => "matmul_large_bias",
            };
            let mut constants = vec![("TA", ta as u32), ("TB", tb as u32)];
            if bias {
                constants.push(("ACT", act.code()));
            }
            (ShaderFile::Matmul, entry, constants)
        }
        Kernel::BiasAdd => (ShaderFile::Bias, "bias_forward", vec![]),
        Kernel::ColSum => (ShaderFile::Bias, "bias_backward", vec![]),
        Kernel::RowSum => (ShaderFile::Reduce, "row_sum", vec![]),
        Kernel::RowMax => (ShaderFile::Reduce, "row_max", vec![]),
        Kernel::RowMaxGrad => (ShaderFile::Reduce, "row_max_backward", vec![]),
        Kernel::SumAll => (ShaderFile::Reduce, "sum_all", vec![]),
        Kernel::Broadcast(mode) => (ShaderFile::Reduce, "broadcast", vec![("MODE", mode.code())]),
        Kernel::SoftmaxCe => (ShaderFile::Loss, "softmax_ce_forward", vec![]),
        Kernel::SoftmaxCeGrad => (ShaderFile::Loss, "softmax_ce_backward", vec![]),
        Kernel::Mse => (ShaderFile::Loss, "mse_forward", vec![]),
        Kernel::MseGrad => (ShaderFile::Loss, "mse_backward", vec![]),
        Kernel::Sgd => (ShaderFile::Optim, "sgd", vec![]),
        Kernel::Momentum => (ShaderFile::Optim, "momentum", vec![]),
        Kernel::Adam => (ShaderFile::Optim, "adam", vec![]),
        Kernel::FmaRoof => (ShaderFile::Roof, "fma_roof", vec![]),
    };
    PipelineKey {
        source: Source::File(file),
        entry,
        constants,
    }
}

/// The per-launch uniform, laid out as `Params` in `shaders/common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Uniform {
    dims: [u32; 4],
    scalars: [f32; 8],
}

impl Uniform {
    /// Packs a launch's params; a unary op's constant travels in the first scalar.
    pub fn new(kernel: &Kernel, params: &Params) -> Self {
        let mut scalars = params.scalars.map(|s| s as f32);
        if let Kernel::Unary(op) | Kernel::UnaryGrad(op) = kernel {
            scalars[0] = op.constant() as f32;
        }
        Uniform {
            dims: params.dims,
            scalars,
        }
    }
}

const MAX_GROUPS: u32 = 65_535;

/// The workgroup grid of a launch: `groups` workgroups folded onto x and y.
fn fold(groups: usize, kernel: &Kernel) -> Result<[u32; 3]> {
    if groups == 0 {
        return Ok([0, 0, 0]);
    }
    let x = groups.min(MAX_GROUPS as usize);
    let y = groups.div_ceil(x);
    if y > MAX_GROUPS as usize {
        return Err(Error::Graph(format!(
            "kernel {} needs {groups} workgroups, more than a 65,535 × 65,535 grid holds",
            kernel.name()
        )));
    }
    Ok([x as u32, y as u32, 1])
}

/// The workgroup grid that covers a launch of `kernel` by the pipeline `key`.
pub fn workgroups(kernel: &Kernel, p: &Params, key: &PipelineKey) -> Result<[u32; 3]> {
    if let Source::Blocked(spec) = key.source {
        return Ok(spec.grid(p.dims[0], p.dims[1]));
    }
    let d = |i: usize| p.dims[i] as usize;
    let one_per = |items: usize, per: usize| fold(items.div_ceil(per), kernel);
    match kernel {
        // Four elements per invocation.
        Kernel::Unary(_)
        | Kernel::UnaryGrad(_)
        | Kernel::Binary(_)
        | Kernel::BinaryGrad(..)
        | Kernel::Sgd
        | Kernel::Momentum
        | Kernel::Adam => one_per(d(0), 1024),
        Kernel::MseGrad => one_per(d(0), 256),
        Kernel::BiasAdd | Kernel::RowMaxGrad | Kernel::Broadcast(_) | Kernel::SoftmaxCeGrad => {
            one_per(d(0) * d(1), 256)
        }
        Kernel::FmaRoof => one_per(d(1), 256),
        Kernel::ColSum => one_per(d(1), 32),
        Kernel::RowSum | Kernel::RowMax => one_per(d(0), 1),
        Kernel::SumAll | Kernel::SoftmaxCe | Kernel::Mse => Ok([1, 1, 1]),
        Kernel::Matmul { .. } => {
            let (m, n) = (d(0), d(1));
            let tile = if large_tiles(p) { 128 } else { 64 };
            let gx = n.div_ceil(tile);
            let gy = m.div_ceil(tile);
            if gx > MAX_GROUPS as usize || gy > MAX_GROUPS as usize {
                return Err(Error::Graph(format!(
                    "matmul of a [{m}, {n}] output needs a {gx} × {gy} grid of tiles; the limit is 65,535 per side"
                )));
            }
            if m == 0 || n == 0 {
                return Ok([0, 0, 0]);
            }
            Ok([gx as u32, gy as u32, 1])
        }
    }
}
