//! Where each [`Kernel`] lives in `shaders/`: its file, entry point, override constants and
//! workgroup grid. The workgroup sizes here match the `@workgroup_size` of each entry point.

use super::blocked;
use super::shaders::ShaderFile;
use crate::backend::{Kernel, Params};
use crate::error::{Error, Result};
use crate::op::{Activation, Operand};

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
            let masked = act == Activation::ReluMask;
            let entry = match (large_tiles(params), bias, masked) {
                (false, _, true) => "matmul_mask",
                (true, _, true) => "matmul_large_mask",
                (false, false, false) => "matmul",
                (false, true, false) => "matmul_bias",
                (true, false, false) => "matmul_large",
                (true, true, false) => "matmul_large_bias",
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
        Kernel::SoftmaxCeFused => (ShaderFile::Loss, "softmax_ce_fused", vec![]),
        Kernel::UnpackBytes => (ShaderFile::Data, "unpack_bytes", vec![]),
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
        | Kernel::Adam
        | Kernel::UnpackBytes => one_per(d(0), 1024),
        Kernel::MseGrad => one_per(d(0), 256),
        Kernel::BiasAdd | Kernel::RowMaxGrad | Kernel::Broadcast(_) | Kernel::SoftmaxCeGrad => {
            one_per(d(0) * d(1), 256)
        }
        Kernel::FmaRoof => one_per(d(1), 256),
        Kernel::ColSum => one_per(d(1), 32),
        Kernel::RowSum | Kernel::RowMax => one_per(d(0), 1),
        Kernel::SumAll | Kernel::SoftmaxCe | Kernel::SoftmaxCeFused | Kernel::Mse => Ok([1, 1, 1]),
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

/// A buffer a dispatch binds: one of the launch's own, by index, or its scratch buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Arg(usize),
    Scratch,
}

/// One dispatch of a launch.
#[derive(Clone, Debug, PartialEq)]
pub struct Dispatch {
    pub key: PipelineKey,
    /// `(binding slot, read-only, buffer)` for every storage binding.
    pub bindings: Vec<(u32, bool, Slot)>,
    pub grid: [u32; 3],
}

/// How a launch runs on the GPU: its dispatches, the scratch buffer they share (values), and
/// the params its uniform carries.
pub struct LaunchPlan {
    pub dispatches: Vec<Dispatch>,
    pub scratch: usize,
    pub params: Params,
}

/// A masked matmul on a CPU adapter: the register-blocked product into scratch, then the mask
/// (`split_reduce_mask` over one slab). Generating the mask into the blocked kernel's unrolled
/// epilogue made lavapipe compile for many seconds per kernel.
fn blocked_masked(ta: bool, tb: bool, params: &Params, kernel: &Kernel) -> Result<LaunchPlan> {
    let [m, n, _, _] = params.dims;
    let plain = Kernel::Matmul {
        ta,
        tb,
        bias: false,
        act: Activation::None,
    };
    let key = pipeline_key(&plain, params, true);
    let grid = workgroups(&plain, params, &key)?;
    let mut uniform = *params;
    uniform.dims[3] = 1;
    Ok(LaunchPlan {
        dispatches: vec![
            Dispatch {
                key,
                bindings: vec![
                    (1, true, Slot::Arg(0)),
                    (2, true, Slot::Arg(1)),
                    (4, false, Slot::Scratch),
                ],
                grid,
            },
            Dispatch {
                key: PipelineKey {
                    source: Source::File(ShaderFile::Matmul),
                    entry: "split_reduce_mask",
                    constants: vec![],
                },
                bindings: vec![
                    (5, true, Slot::Scratch),
                    (6, true, Slot::Arg(2)),
                    (4, false, Slot::Arg(3)),
                ],
                grid: fold((m as usize * n as usize).div_ceil(256), kernel)?,
            },
        ],
        scratch: (m * n) as usize,
        params: uniform,
    })
}

/// Slices along k for a tiled matmul whose 64×64 tiles are too few to fill a big GPU (about
/// 132 multiprocessors on an H100): enough slices for ~2 workgroups each, of at least 64 k.
fn split_k(kernel: &Kernel, p: &Params, blocked_matmul: bool) -> u32 {
    let Kernel::Matmul { .. } = kernel else { return 1 };
    if blocked_matmul || large_tiles(p) {
        return 1;
    }
    let [m, n, k, _] = p.dims;
    let tiles = m.div_ceil(64) * n.div_ceil(64);
    if tiles == 0 || tiles >= 132 {
        return 1;
    }
    264u32.div_ceil(tiles).min(k.div_ceil(64)).max(1)
}

/// The dispatches that run `kernel` with `params`.
pub fn launch_plan(kernel: &Kernel, params: &Params, blocked_matmul: bool) -> Result<LaunchPlan> {
    if let (
        Kernel::Matmul {
            ta,
            tb,
            act: Activation::ReluMask,
            ..
        },
        true,
    ) = (*kernel, blocked_matmul)
    {
        return blocked_masked(ta, tb, params, kernel);
    }
    let split = split_k(kernel, params, blocked_matmul);
    if let (Kernel::Matmul { ta, tb, bias, act }, true) = (*kernel, split > 1) {
        let [m, n, _, _] = params.dims;
        let mut uniform = *params;
        uniform.dims[3] = split;
        let matmul_key = PipelineKey {
            source: Source::File(ShaderFile::Matmul),
            entry: "matmul_split",
            constants: vec![("TA", ta as u32), ("TB", tb as u32)],
        };
        let masked = act == Activation::ReluMask;
        let (entry, constants) = match (bias, masked) {
            (_, true) => ("split_reduce_mask", vec![]),
            (true, false) => ("split_reduce_bias", vec![("ACT", act.code())]),
            (false, false) => ("split_reduce", vec![]),
        };
        // The launch's own buffers: a, b, then bias and mask where present, then c.
        let mut reduce_bindings = vec![(5, true, Slot::Scratch)];
        let mut next = 2;
        if bias {
            reduce_bindings.push((3, true, Slot::Arg(next)));
            next += 1;
        }
        if masked {
            reduce_bindings.push((6, true, Slot::Arg(next)));
            next += 1;
        }
        reduce_bindings.push((4, false, Slot::Arg(next)));
        return Ok(LaunchPlan {
            dispatches: vec![
                Dispatch {
                    key: matmul_key,
                    bindings: vec![
                        (1, true, Slot::Arg(0)),
                        (2, true, Slot::Arg(1)),
                        (4, false, Slot::Scratch),
                    ],
                    grid: [n.div_ceil(64), m.div_ceil(64), split],
                },
                Dispatch {
                    key: PipelineKey {
                        source: Source::File(ShaderFile::Matmul),
                        entry,
                        constants,
                    },
                    bindings: reduce_bindings,
                    grid: fold((m as usize * n as usize).div_ceil(256), kernel)?,
                },
            ],
            scratch: (split * m * n) as usize,
            params: uniform,
        });
    }
    let key = pipeline_key(kernel, params, blocked_matmul);
    let grid = workgroups(kernel, params, &key)?;
    let bindings = kernel
        .bindings(params)
        .iter()
        .enumerate()
        .map(|(i, b)| (b.slot, !b.write, Slot::Arg(i)))
        .collect();
    Ok(LaunchPlan {
        dispatches: vec![Dispatch { key, bindings, grid }],
        scratch: 0,
        params: *params,
    })
}
