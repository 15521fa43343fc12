//! The CPU reference backend: [`CpuBackend`] (`backend.rs`) hands each launch to the reference of
//! its kernel's family, a file each: `elementwise.rs`, `products.rs`, `reductions.rs`,
//! `losses.rs`, `normalization.rs`, `optimizer.rs`, all reading a launch through `launch.rs`;
//! a buffer's values are a `storage.rs` block.

mod backend;
mod elementwise;
mod launch;
mod losses;
mod normalization;
mod optimizer;
mod products;
mod reductions;
mod storage;

pub use backend::CpuBackend;
pub use launch::{CpuBuffer, CpuLaunch};
