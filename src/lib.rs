//! # shadergrad
//!
//! Reverse-mode autodiff for tensor programs, run as WGSL compute shaders through wgpu (so one
//! program trains on any Vulkan, Metal or DX12 GPU), with a plain ndarray CPU backend as the
//! reference every GPU kernel is tested against.

pub mod backend;
pub mod bench;
pub mod error;
pub mod op;
pub mod shape;

pub use error::{Error, Result};
pub use op::{Activation, BinaryOp, Broadcast, Operand, UnaryOp};
pub use shape::Shape;
pub mod autodiff;
pub mod graph;
pub mod optim;
pub mod plan;

pub use autodiff::Gradients;
pub use graph::{Graph, Op, Tensor};
pub use plan::{ParamStore, Plan, PlanOptions, PlanReport};
pub mod check;
pub mod device;

pub use device::Device;
pub mod checkpoint;
pub mod data;
pub mod expr;
pub mod interrupt;
pub mod io;
pub mod nn;
pub mod plot;
pub mod rng;
pub mod train;
pub mod viz;
