//! One error type for the whole crate, a variant per kind of fault, each with the fields that
//! name what is at fault (the tensor, file, shape, kernel or value) and, where there is one, what
//! would fix it. Errors are `Clone` so a graph can keep the first one a builder met and report it
//! again from `backward` and `compile`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::shape::Shape;

/// Everything that can go wrong in shadergrad, from a bad shape to a lost GPU.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// Two tensors whose shapes do not fit the op that combines them.
    #[error("{0}")]
    Shape(Box<ShapeMismatch>),

    /// A tensor whose shape is wrong for an op on its own (a loss that is not a scalar, a
    /// matmul operand that is not a matrix, ...).
    #[error("{0}")]
    BadShape(Box<BadShape>),

    /// Data of the wrong length for the tensor or buffer it is meant for.
    #[error("{what}: expected {expected} values, got {got}")]
    Length { what: String, expected: usize, got: usize },

    /// A kernel launched with buffers whose sizes do not match its parameters.
    #[error("kernel {kernel}: buffer {index} ({role}) holds {got} values but the launch needs {expected}")]
    KernelBuffer {
        kernel: String,
        index: usize,
        role: &'static str,
        expected: usize,
        got: usize,
    },

    /// A kernel launched with the wrong number of buffers.
    #[error("kernel {kernel} takes {expected} buffers ({roles}), got {got}")]
    BufferCount {
        kernel: String,
        expected: usize,
        roles: String,
        got: usize,
    },

    /// A buffer a kernel writes that is also bound elsewhere in the same launch.
    #[error("kernel {kernel}: the buffer bound as `{role}` shares its storage with another binding")]
    SharedStorage { kernel: String, role: &'static str },

    /// A combination of kernel options that no kernel implements.
    #[error("{kernel} is not a kernel: {why}")]
    InvalidKernel { kernel: String, why: &'static str },

    /// A launch whose workgroups do not fit the device's grid.
    #[error("kernel {kernel} needs {detail}, more than the device's 65,535 workgroups per grid dimension allow")]
    GridTooLarge { kernel: String, detail: String },

    /// New params for a prepared launch that would need other pipelines.
    #[error("new params for {kernel} need other pipelines: prepare a new launch")]
    NeedsNewPipelines { kernel: String },

    /// A gradient asked of a tensor the loss does not depend on (or that does not take one).
    #[error("no gradient for `{name}`: {why}")]
    NoGradient { name: String, why: String },

    /// An op the autodiff engine cannot differentiate (a gradient node, an optimizer update).
    #[error("cannot differentiate through {op} (node `{name}`): {why}")]
    NotDifferentiable { op: String, name: String, why: String },

    /// A tensor used with a graph or plan it does not belong to.
    #[error("{context}: `{name}` belongs to another graph")]
    ForeignTensor { name: String, context: String },

    /// Data fed to a tensor that is not an input of the plan's graph.
    #[error("`{name}` is not an input of the graph this plan runs{hint}")]
    NotAnInput { name: String, hint: &'static str },

    /// Bytes fed to a tensor that is not a byte input.
    #[error("`{name}` is not a byte input of the graph this plan runs (see Graph::byte_input)")]
    NotAByteInput { name: String },

    /// A run of a plan with an input it reads that was never fed.
    #[error("input `{name}` of shape {shape} was never fed (call set_input first)")]
    NotFed { name: String, shape: Shape },

    /// A value asked of a plan that does not keep it.
    #[error("`{name}` is not {what}")]
    NotInPlan { name: String, what: &'static str },

    /// A scalar asked of a tensor holding several values.
    #[error("`{name}` holds {len} values, not one")]
    NotScalar { name: String, len: usize },

    /// A parameter name the store does not hold.
    #[error("no parameter named `{name}` in the store (it has: {available})")]
    UnknownParameter { name: String, available: String },

    /// An optimizer update of something that is not a parameter.
    #[error("`{update}` updates `{target}`, which is not a parameter")]
    NotAParameter { update: String, target: String },

    /// No GPU adapter could be found; the message says how to install one.
    #[error("no GPU adapter found{detail}. On headless Linux install Mesa's software Vulkan driver: `sudo apt-get install mesa-vulkan-drivers libvulkan1`; on macOS and Windows update the graphics driver. Set SHADERGRAD_BACKEND=cpu to run on the CPU instead.")]
    NoAdapter { detail: String },

    /// `SHADERGRAD_ADAPTER` or `--devices` named an adapter that does not exist.
    #[error("no GPU adapter matches {flag}={wanted:?}; the adapters here are: {available}")]
    UnknownAdapter {
        flag: String,
        wanted: String,
        available: String,
    },

    /// A bad value of a setting, environment variable or option.
    #[error("invalid value {value:?} for {name}: {expected}")]
    InvalidValue {
        name: String,
        value: String,
        expected: String,
    },

    /// A setting, option or input that must be given and was not: what it is, and what it is
    /// for or what to give.
    #[error("{name} is required {why}")]
    Required { name: String, why: String },

    /// A tensor larger than the device can bind to one shader.
    #[error("tensor `{name}` needs {bytes} bytes but the device allows at most {limit} bytes per storage binding ({device})")]
    TooLarge {
        name: String,
        bytes: u64,
        limit: u64,
        device: String,
    },

    /// A capability the device does not have (the mixed-precision matmul on an adapter without
    /// f16 cooperative matrices), and why.
    #[error("{device} cannot run {what}: {why}")]
    Unsupported { what: String, device: String, why: String },

    /// A GPU validation error, out-of-memory or internal error, caught instead of panicking.
    #[error("GPU error during {during}: {message}")]
    Gpu { during: String, message: String },

    /// The GPU device was lost (driver reset, device destroyed); rebuild the device and resume.
    #[error("the GPU device was lost ({reason}); create a new Device and resume from the last checkpoint")]
    DeviceLost { reason: String },

    /// A value that must be finite was NaN or infinite.
    #[error("non-finite value: {0}")]
    NonFinite(String),

    /// The processes of a data-parallel run disagree, or some of them failed: every process
    /// gets this error at the same point of the run.
    #[error("the processes of the run disagree: {0}")]
    Ranks(String),

    /// A label outside the model's classes.
    #[error("label {label} at position {index} is outside the {classes} classes 0..{classes}")]
    LabelOutOfRange { label: usize, index: usize, classes: usize },

    /// A file that is malformed: bad magic, truncated, inconsistent header.
    #[error("{path}: {why}")]
    BadFile { path: PathBuf, why: String },

    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },

    /// A checkpoint that does not fit the model it is loaded into, or is not one.
    #[error("checkpoint {path}: {why}")]
    Checkpoint { path: PathBuf, why: String },

    /// Data that could not be written in a file format (a tensor safetensors refuses).
    #[error("writing {what}: {why}")]
    Format { what: &'static str, why: String },

    /// An expression that does not parse; `column` is 1-based.
    #[error("parse error at column {column}: {message}\n  {source_text}\n  {caret}")]
    Parse {
        message: String,
        column: usize,
        source_text: String,
        caret: String,
    },
}

/// Two shapes that do not fit together, with the op, both tensors and the source line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeMismatch {
    pub op: String,
    pub lhs_name: String,
    pub lhs: Shape,
    pub rhs_name: String,
    pub rhs: Shape,
    pub why: String,
    pub location: String,
}

impl std::fmt::Display for ShapeMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "shape mismatch in {} at {}: {} has shape {} but {} has shape {} ({})",
            self.op, self.location, self.lhs_name, self.lhs, self.rhs_name, self.rhs, self.why
        )
    }
}

/// A shape wrong for an op on its own, with the op, the tensor and the source line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadShape {
    pub op: String,
    pub name: String,
    pub shape: Shape,
    pub expected: String,
    pub location: String,
}

impl std::fmt::Display for BadShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {}: {} has shape {}, {}",
            self.op, self.location, self.name, self.shape, self.expected
        )
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// A malformed-file error.
    pub fn bad_file(path: impl Into<PathBuf>, why: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.into(),
            why: why.into(),
        }
    }

    /// A setting, option or input that is required and missing: `--task is required for ...`.
    ///
    /// ```
    /// let e = shadergrad::Error::required("--task", "for a table: classify, regress or multilabel");
    /// assert_eq!(e.to_string(), "--task is required for a table: classify, regress or multilabel");
    /// ```
    pub fn required(name: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Required {
            name: name.into(),
            why: why.into(),
        }
    }

    /// An invalid setting, option or environment value.
    pub fn invalid(name: impl Into<String>, value: impl Into<String>, expected: impl Into<String>) -> Self {
        Error::InvalidValue {
            name: name.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }
}
