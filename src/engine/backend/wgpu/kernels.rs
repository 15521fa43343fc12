//! The WGSL side of the kernel set: for each kernel, the entry point of a `shaders/` file that
//! runs it, its override constants and `@workgroup_size`, and how its workgroups cover the work.
//! The matrix product is not here: `matmul.rs` tiles it by size and adapter.
//! `tests/shaders.rs` checks every kernel's shader against the WGSL with naga (entry point,
//! workgroup size, and the storage bindings the entry point really uses, read-only or written).

use crate::engine::kernel::{Kernel, Params};
use crate::engine::op::{Axis, Operand};

use super::shaders::ShaderFile;

/// How a kernel's workgroups cover its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grid {
    /// One workgroup does everything (losses and small reductions).
    Single,
    /// One workgroup per row.
    Rows(usize),
    /// One workgroup per `workgroup[0]` columns (each x lane a column).
    Columns(usize),
    /// `count` elements, `per_invocation` per invocation (4: one vec4).
    Elements { count: usize, per_invocation: usize },
}

/// Where a kernel's GPU code lives and how it is dispatched: the entry point of a `shaders/` file,
/// its override constants and `@workgroup_size`, and its grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Shader {
    pub file: ShaderFile,
    pub entry: &'static str,
    pub constants: Vec<(&'static str, u32)>,
    pub workgroup: [u32; 3],
    pub grid: Grid,
}

impl Shader {
    /// Workgroups the grid needs (before folding onto a 2-D grid).
    pub fn groups(&self) -> usize {
        let [x, y, z] = self.workgroup.map(|v| v as usize);
        match self.grid {
            Grid::Single => 1,
            Grid::Rows(rows) => rows,
            Grid::Columns(cols) => cols.div_ceil(x),
            Grid::Elements { count, per_invocation } => count.div_ceil(x * y * z * per_invocation),
        }
    }
}

/// The usual elementwise launch: `count` values, four per invocation of 256.
fn vec4s(file: ShaderFile, entry: &'static str, constants: Vec<(&'static str, u32)>, count: usize) -> Shader {
    Shader {
        file,
        entry,
        constants,
        workgroup: [256, 1, 1],
        grid: Grid::Elements {
            count,
            per_invocation: 4,
        },
    }
}

/// An entry point of `file` over a grid with workgroups of `workgroup` invocations along x.
fn entry(file: ShaderFile, name: &'static str, workgroup: u32, grid: Grid) -> Shader {
    Shader {
        file,
        entry: name,
        constants: Vec::new(),
        workgroup: [workgroup, 1, 1],
        grid,
    }
}

/// A loss's kernel: its entry point `[plain, weighted]` (the weighted twin binds the weights),
/// 256 invocations a workgroup, over `grid`.
fn loss(weighted: bool, [plain, with_weights]: [&'static str; 2], grid: Grid) -> Shader {
    entry(ShaderFile::Loss, if weighted { with_weights } else { plain }, 256, grid)
}

/// One invocation per element.
fn scalars(count: usize) -> Grid {
    Grid::Elements {
        count,
        per_invocation: 1,
    }
}

/// How many rows or columns a normalisation along `axis` has statistics for (a workgroup each).
fn lines(axis: Axis, rows: usize, cols: usize) -> usize {
    match axis {
        Axis::Rows => rows,
        Axis::Columns => cols,
    }
}

/// The shader that runs `kernel` with `p`; `None` for the matrix product (see `matmul.rs`).
///
/// ```
/// use shadergrad::backend::{wgpu::{shader, Grid}, Kernel, Params};
/// let s = shader(&Kernel::RowSum, &Params::dims(&[5, 7])).unwrap();
/// assert_eq!((s.entry, s.workgroup, s.grid), ("row_sum", [64, 1, 1], Grid::Rows(5)));
/// ```
pub fn shader(kernel: &Kernel, p: &Params) -> Option<Shader> {
    use ShaderFile::*;
    let n = p.d(0);
    let (rows, cols) = (p.d(0), p.d(1));
    let items = rows * cols;
    Some(match *kernel {
        Kernel::Unary(op) => vec4s(Unary, "unary_forward", vec![("OP", op.code())], n),
        Kernel::UnaryGrad(op) => vec4s(Unary, "unary_backward", vec![("OP", op.code())], n),
        Kernel::Binary(op) => vec4s(Binary, "binary_forward", vec![("OP", op.code())], n),
        Kernel::BinaryGrad(op, wrt) => vec4s(
            Binary,
            "binary_backward",
            vec![("OP", op.code()), ("WRT", (wrt == Operand::B) as u32)],
            n,
        ),
        Kernel::Matmul { .. } => return None,
        Kernel::BiasAdd => entry(Bias, "bias_forward", 256, scalars(items)),
        Kernel::ColSum => Shader {
            workgroup: [32, 8, 1],
            ..entry(Bias, "bias_backward", 32, Grid::Columns(cols))
        },
        Kernel::RowSum => entry(Reduce, "row_sum", 64, Grid::Rows(rows)),
        Kernel::RowMax => entry(Reduce, "row_max", 64, Grid::Rows(rows)),
        Kernel::RowMaxGrad => entry(Reduce, "row_max_backward", 256, scalars(items)),
        Kernel::SumAll => entry(Reduce, "sum_all", 256, Grid::Single),
        Kernel::Broadcast(mode) => Shader {
            constants: vec![("MODE", mode.code())],
            ..entry(Reduce, "broadcast", 256, scalars(items))
        },
        Kernel::LogSoftmax => entry(Reduce, "log_softmax_forward", 64, Grid::Rows(rows)),
        Kernel::LogSoftmaxGrad => entry(Reduce, "log_softmax_backward", 64, Grid::Rows(rows)),
        // A loss's forward (and fused form) is one workgroup; its backward one invocation per
        // element.
        Kernel::SoftmaxCe { weighted, .. } => loss(
            weighted,
            ["softmax_ce_forward", "softmax_ce_forward_weighted"],
            Grid::Single,
        ),
        Kernel::SoftmaxCeGrad { weighted, .. } => loss(
            weighted,
            ["softmax_ce_backward", "softmax_ce_backward_weighted"],
            scalars(items),
        ),
        Kernel::SoftmaxCeFused { weighted, .. } => loss(
            weighted,
            ["softmax_ce_fused", "softmax_ce_fused_weighted"],
            Grid::Single,
        ),
        Kernel::SigmoidBce { weighted } => loss(
            weighted,
            ["sigmoid_bce_forward", "sigmoid_bce_forward_weighted"],
            Grid::Single,
        ),
        Kernel::SigmoidBceGrad { weighted } => loss(
            weighted,
            ["sigmoid_bce_backward", "sigmoid_bce_backward_weighted"],
            scalars(n),
        ),
        Kernel::SigmoidBceFused { weighted } => loss(
            weighted,
            ["sigmoid_bce_fused", "sigmoid_bce_fused_weighted"],
            Grid::Single,
        ),
        Kernel::Mse { weighted } => loss(weighted, ["mse_forward", "mse_forward_weighted"], Grid::Single),
        Kernel::MseGrad { weighted } => loss(weighted, ["mse_backward", "mse_backward_weighted"], scalars(n)),
        Kernel::Dropout { .. } => vec4s(Unary, "dropout", vec![], n),
        Kernel::Normalize { axis, .. } => Shader {
            constants: vec![("AXIS", axis.code())],
            ..entry(Reduce, "normalize_forward", 64, Grid::Rows(lines(axis, rows, cols)))
        },
        Kernel::NormalizeGrad { axis, .. } => Shader {
            constants: vec![("AXIS", axis.code())],
            ..entry(Reduce, "normalize_backward", 64, Grid::Rows(lines(axis, rows, cols)))
        },
        Kernel::UnpackBytes => vec4s(Data, "unpack_bytes", vec![], n),
        Kernel::Sgd => vec4s(Optim, "sgd", vec![], n),
        Kernel::Momentum => vec4s(Optim, "momentum", vec![], n),
        Kernel::Adam => vec4s(Optim, "adam", vec![], n),
        Kernel::FmaRoof => entry(Roof, "fma_roof", 256, scalars(p.d(1))),
    })
}
