//! The engine: shapes and ops, the graph and its autodiff, the executor (plans), the backends,
//! the checks and the errors. Nothing here knows about models, data sets or files.

pub mod autodiff;
pub mod backend;
pub mod check;
pub mod device;
pub mod element;
pub mod error;
pub mod expr;
pub mod gemm;
pub mod graph;
pub mod kernel;
pub mod op;
pub mod plan;
pub mod pool;
pub mod shape;
