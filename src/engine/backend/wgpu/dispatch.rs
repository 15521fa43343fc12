//! How a launch becomes dispatches: every kernel but the matrix product dispatches once, as its
//! shader (`kernels.rs`) says; products go through `matmul.rs`, which picks a tiling for the size
//! and the adapter.

use crate::engine::error::Result;
use crate::engine::kernel::{Kernel, Params};

use super::kernels::shader;
use super::launch::{fold, Dispatch, LaunchPlan, MatmulPath, PipelineKey, Slot, Source};
use super::matmul;

/// The dispatches that run `kernel` with `params`, matrix products on the kernels of `path`.
///
/// ```
/// use shadergrad::backend::{wgpu::{launch_plan, MatmulPath}, Kernel, Params};
/// let plan = launch_plan(&Kernel::RowSum, &Params::dims(&[5, 7]), MatmulPath::Tiled)?;
/// assert_eq!((plan.dispatches.len(), plan.dispatches[0].key.entry), (1, "row_sum"));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn launch_plan(kernel: &Kernel, params: &Params, path: MatmulPath) -> Result<LaunchPlan> {
    let Some(shader) = shader(kernel, params) else {
        return matmul::launch_plan(kernel, params, path);
    };
    let bindings = kernel
        .bindings(params)
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
