//! # shadergrad
//!
//! Reverse-mode autodiff for tensor programs, run as WGSL compute shaders through wgpu (so one
//! program trains on any Vulkan, Metal or DX12 GPU), with a plain ndarray CPU backend as the
//! reference every GPU kernel is tested against.
//!
//! The crate is three layers, each using only its own and those below it (`tests/layers.rs`
//! checks it), with the command line in `src/bin` on top:
//!
//! | layer | `src/` | modules |
//! |---|---|---|
//! | reports and pictures | `reports/` | [`plot`], [`viz`] (circuit diagrams), [`bench`](mod@bench) |
//! | training toolkit | `training/` | [`nn`], [`optim`], [`data`], [`metrics`], [`train`], [`group`], [`model`], [`checkpoint`], [`io`], [`rng`] |
//! | engine | `engine/` | [`shape`], [`element`], [`op`], [`error`], [`graph`], [`autodiff`], [`plan`], [`backend`], [`check`], [`device`], [`expr`] |

mod engine;
mod reports;
mod training;

pub use engine::{autodiff, backend, check, device, element, error, expr, gemm, graph, op, plan, pool, shape};
pub use reports::{bench, plot, viz};
pub use training::{checkpoint, data, group, io, metrics, model, nn, optim, rng, train};

pub use autodiff::Gradients;
pub use device::{Device, Devices};
pub use element::Element;
pub use error::{Error, Result};
pub use graph::{Graph, Op, Tensor};
pub use op::{BinaryOp, Broadcast, Operand, UnaryOp};
pub use plan::{ParamStore, Plan, PlanOptions, PlanReport, Submitted};
pub use shape::Shape;
