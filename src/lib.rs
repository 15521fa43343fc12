//! # shadergrad
//!
//! Reverse-mode autodiff for tensor programs, run as WGSL compute shaders through wgpu (so one
//! program trains on any Vulkan, Metal or DX12 GPU), with a plain ndarray CPU backend as the
//! reference every GPU kernel is tested against.
//!
//! The crate is three layers, each using only its own and those below it (`tests/layers.rs`
//! checks it on the imports themselves), with the command line in `src/bin` on top:
//!
//! | layer | `src/` | modules |
//! |---|---|---|
//! | reports and pictures | `reports/` | [`plot`], [`viz`] (circuit diagrams), [`bench`](mod@bench), [`onnx`] (export) |
//! | training toolkit | `training/` | [`nn`], [`optim`], [`data`], [`metrics`], [`train`], [`group`], [`model`], [`checkpoint`], [`io`], [`rng`] |
//! | engine | `engine/` | [`shape`], [`pool`], [`error`], [`gemm`], [`element`], [`op`], [`kernel`], [`backend`], [`graph`], [`autodiff`], [`plan`], [`check`], [`device`], [`expr`] |
//!
//! This file is the public API and nothing else: the modules above under short paths
//! (`shadergrad::graph`, `shadergrad::backend`, ...) and the names most programs use at the top
//! (`shadergrad::{Graph, Plan, ...}`). Inside the crate every module names what it uses by its
//! real path (`crate::engine::graph::Tensor`), so the imports draw the architecture.

mod engine;
mod reports;
mod training;

pub use engine::{autodiff, check, device, element, error, expr, gemm, graph, kernel, op, plan, pool, shape};
pub use reports::{bench, onnx, plot, viz};
pub use training::{checkpoint, data, group, io, metrics, model, nn, optim, rng, train};

/// The device layer: a narrow backend trait (allocate, upload, prepare a kernel launch, run
/// launches and read buffers back) and its two implementations,
/// [`cpu::CpuBackend`](crate::backend::cpu::CpuBackend) (the ndarray reference, f32 or f64) and
/// [`wgpu::WgpuBackend`](crate::backend::wgpu::WgpuBackend) (WGSL compute shaders); with the
/// kernel set ([`Kernel`](crate::kernel::Kernel), [`Params`](crate::kernel::Params),
/// [`Binding`](crate::kernel::Binding)) and the element types ([`Element`]) they
/// run, as the device layer has always offered them.
pub mod backend {
    pub use crate::engine::backend::*;
    pub use crate::engine::element::{pack_bytes, Element};
    pub use crate::engine::kernel::{Binding, Family, Kernel, Params};
}

pub use engine::autodiff::Gradients;
pub use engine::device::{Device, Devices};
pub use engine::element::Element;
pub use engine::error::{Error, Result};
pub use engine::graph::{Graph, Op, Tensor};
pub use engine::op::{BinaryOp, Broadcast, Operand, UnaryOp};
pub use engine::plan::{ParamStore, Plan, PlanOptions, PlanReport, Submitted};
pub use engine::shape::Shape;
