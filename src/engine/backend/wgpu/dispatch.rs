//! How a launch becomes dispatches: the pipeline (shader source, entry point, override
//! constants), the storage bindings and the workgroup grid of each. Every kernel but the matrix
//! product dispatches once, as its spec in `backend/kernel.rs` says; products go through
//! `matmul.rs`, which picks a tiling for the size and the adapter.

use super::blocked;
use super::matmul;
use super::shaders::ShaderFile;
use crate::backend::{Kernel, Params};
use crate::error::{Error, Result};

/// Where a pipeline's WGSL comes from: a file of `shaders/`, or the generated register-blocked
/// matmul (see `blocked.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    File(ShaderFile),
    Blocked(blocked::Spec),
}

impl Source {
    /// The complete WGSL, with its prelude.
    pub fn text(self) -> String {
        match self {
            Source::File(f) => f.source(),
            Source::Blocked(spec) => ShaderFile::with_unary_math(&spec.source()),
        }
    }

    /// A name for errors and labels.
    pub fn name(self) -> String {
        match self {
            Source::File(f) => format!("shaders/{}", f.file_name()),
            Source::Blocked(spec) => format!("the generated blocked matmul {}", spec.describe()),
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

/// The per-launch uniform, laid out as `Params` in `shaders/common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Uniform {
    dims: [u32; 4],
    scalars: [f32; 8],
}

impl Uniform {
    /// Packs a launch's params; a unary op's constant (an elementwise op's, or a matmul
    /// epilogue's activation's) travels in the first scalar.
    pub fn new(kernel: &Kernel, params: &Params) -> Self {
        let mut scalars = params.scalars.map(|s| s as f32);
        if let Some(op) = kernel.unary_op() {
            scalars[0] = op.constant() as f32;
        }
        Uniform {
            dims: params.dims,
            scalars,
        }
    }
}

pub const MAX_GROUPS: u32 = 65_535;

/// The workgroup grid of a launch: `groups` workgroups folded onto x and y.
pub fn fold(groups: usize, kernel: &Kernel) -> Result<[u32; 3]> {
    if groups == 0 {
        return Ok([0, 0, 0]);
    }
    let x = groups.min(MAX_GROUPS as usize);
    let y = groups.div_ceil(x);
    if y > MAX_GROUPS as usize {
        return Err(Error::GridTooLarge {
            kernel: kernel.name(),
            detail: format!("{groups} workgroups"),
        });
    }
    Ok([x as u32, y as u32, 1])
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
    /// The `@workgroup_size` the grid assumes (checked against the WGSL in `tests/shaders.rs`).
    pub workgroup: [u32; 3],
}

/// How a launch runs on the GPU: its dispatches, the scratch buffer they share (values), and
/// the params its uniform carries.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchPlan {
    pub dispatches: Vec<Dispatch>,
    pub scratch: usize,
    pub params: Params,
}

/// The dispatches that run `kernel` with `params`; `blocked_matmul` picks the register-blocked
/// product (CPU adapters) over the workgroup-tiled ones.
pub fn launch_plan(kernel: &Kernel, params: &Params, blocked_matmul: bool) -> Result<LaunchPlan> {
    let spec = kernel.spec(params);
    let Some(shader) = spec.shader else {
        return matmul::launch_plan(kernel, params, blocked_matmul);
    };
    let bindings = spec
        .bindings
        .iter()
        .enumerate()
        .map(|(i, b)| (b.slot, !b.write, Slot::Arg(i)))
        .collect();
    Ok(LaunchPlan {
        dispatches: vec![Dispatch {
            grid: fold(shader.groups(), kernel)?,
            key: PipelineKey {
                source: Source::File(shader.file),
                entry: shader.entry,
                constants: shader.constants,
            },
            bindings,
            workgroup: shader.workgroup,
        }],
        scratch: 0,
        params: *params,
    })
}
