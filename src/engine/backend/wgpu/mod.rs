//! The wgpu backend: tensors are storage buffers, kernels are WGSL compute pipelines (cached by
//! file, entry point and specialisation), and a list of launches runs as one compute pass in one
//! command buffer, one submit.
//!
//! From the bottom up: the WGSL sources (`shaders.rs`) and the generated matmuls (`blocked.rs`,
//! `coop.rs`); each kernel's entry point and grid (`kernels.rs`); what a launch is made of
//! (`launch.rs`) and how one is planned (`matmul.rs`, `dispatch.rs`); the device (`context.rs`)
//! and its clock (`timestamps.rs`); the backend itself (`backend.rs`).

mod backend;
pub mod blocked;
mod context;
mod coop;
mod dispatch;
mod kernels;
mod launch;
mod matmul;
mod shaders;
mod timestamps;

pub use backend::{GpuBuffer, GpuLaunch, GpuPending, MatmulKernels, WgpuBackend};
pub use context::{adapters, coop_shape, describe_adapter, find_adapter, some_adapters, GpuContext};
pub use coop::{CoopShape, Spec as CoopSpec};
pub use dispatch::launch_plan;
pub use kernels::{shader, Grid, Shader};
pub use launch::{Dispatch, LaunchPlan, MatmulPath, PipelineKey, Slot, Source};
pub use shaders::ShaderFile;
