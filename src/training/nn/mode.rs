//! How an MLP's graph is built: what it is for (training or evaluation) and how a batch's
//! features enter it.

use crate::training::data::Features;

/// What an MLP's graph is for: training draws dropout masks, smooths labels and, `weighted`,
/// takes a `[batch]` input of example weights (`weights`) its loss is the weighted mean by;
/// evaluation and prediction do none of these.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Train { label_smoothing: f64, weighted: bool },
    Eval,
}

/// How a batch's features enter a graph.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    /// Bytes used as `scale · byte` (pixels), fed with `Plan::set_input_bytes`.
    Bytes { scale: f64 },
    /// Numbers.
    Floats,
}

impl Input {
    /// How `features` enter.
    pub fn of(features: &Features) -> Input {
        match features {
            Features::Bytes { scale, .. } => Input::Bytes { scale: *scale },
            Features::Floats(_) => Input::Floats,
        }
    }
}
