//! `shadergrad train`: its flags (`args.rs`) and the settings they make (`settings.rs`), where
//! the run writes (`outputs.rs`), what it needs before it trains (`launch.rs`), and the run
//! itself (`run.rs`).

mod args;
mod launch;
mod outputs;
mod run;
mod settings;

pub use args::TrainArgs;
#[cfg(feature = "mpi")]
pub use launch::Ranks;
pub use run::train;
