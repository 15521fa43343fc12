//! Reports and pictures: training curves and charts, circuit diagrams, benchmarks.

pub mod bench;
pub mod plot;
pub mod viz;
