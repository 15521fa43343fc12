//! The device layer: a narrow backend trait (allocate, upload, prepare a kernel launch, run launches
//! and read buffers back) and its two implementations, [`cpu::CpuBackend`] (the ndarray reference,
//! f32 or f64) and [`wgpu::WgpuBackend`] (WGSL compute shaders).
//!
//! Every kernel is named by a [`Kernel`] of the engine's kernel set and sized by [`Params`]; the
//! set says which buffers a launch takes and their lengths, so both backends check launches the
//! same way, and each maps a kernel to its own way of running it.

pub mod cpu;
pub mod wgpu;

use crate::engine::element::Element;
use crate::engine::error::{Error, Result};
use crate::engine::kernel::{Kernel, Params};

/// How a time was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// GPU timestamp queries around the work itself.
    Timestamp,
    /// Wall clock around the work and the wait for it.
    Wall,
}

impl Timing {
    /// `timestamp` or `wall`.
    pub fn name(self) -> &'static str {
        match self {
            Timing::Timestamp => "timestamp",
            Timing::Wall => "wall",
        }
    }
}

/// How long one GPU pipeline took to become ready. Drivers compile at different moments: a
/// hardware GPU's while the pipeline is created, lavapipe's (LLVM) at the pipeline's first
/// dispatch, so both are kept. `first_run_s` is the wall time of that first dispatch alone,
/// submitted and waited for, so it includes one run of the kernel (milliseconds, against
/// seconds of compiling).
///
/// ```
/// use shadergrad::backend::PipelineTime;
/// let t = PipelineTime { name: "matmul".into(), create_s: 0.25, first_run_s: Some(1.5) };
/// assert_eq!(t.total_s(), 1.75);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineTime {
    /// Entry point and source.
    pub name: String,
    /// Seconds to build the shader module (its first pipeline only) and create the pipeline.
    pub create_s: f64,
    /// Seconds of the first dispatch, once one has run.
    pub first_run_s: Option<f64>,
}

impl PipelineTime {
    /// Creation plus first dispatch.
    pub fn total_s(&self) -> f64 {
        self.create_s + self.first_run_s.unwrap_or(0.0)
    }
}

/// One line on what making `times`' pipelines cost, the slowest named:
/// `12 pipelines, 3.4 s (slowest 1.2 s: matmul_blocked (…))`.
///
/// ```
/// use shadergrad::backend::{describe_compile, PipelineTime};
/// let t = |name: &str, s| PipelineTime { name: name.into(), create_s: 0.0, first_run_s: Some(s) };
/// let line = describe_compile(&[t("relu", 0.5), t("matmul", 2.0)]);
/// assert_eq!(line, "2 pipelines, 2.5 s (slowest 2.0 s: matmul)");
/// ```
pub fn describe_compile(times: &[PipelineTime]) -> String {
    let total: f64 = times.iter().map(PipelineTime::total_s).sum();
    let slowest = times.iter().max_by(|a, b| a.total_s().total_cmp(&b.total_s()));
    let plural = if times.len() == 1 { "" } else { "s" };
    match slowest {
        Some(t) => format!(
            "{} pipeline{plural}, {total:.1} s (slowest {:.1} s: {})",
            times.len(),
            t.total_s(),
            t.name
        ),
        None => "no pipelines".into(),
    }
}

/// Runs `launches` for at least 300 ms (and at least three times): a GPU left idle drops its
/// clocks and takes a while to raise them again, so timing it cold measures the idle state
/// (measured on an H100 after a few idle seconds: 100 ms of warm-up left matmuls 2× slow).
pub fn warm_up<B: Backend>(backend: &B, launches: &[B::Launch]) -> Result<()> {
    let start = std::time::Instant::now();
    let mut runs = 0;
    while runs < 3 || (start.elapsed().as_secs_f64() < 0.3 && runs < 10_000) {
        backend.run(launches, &[])?;
        backend.synchronize()?;
        runs += 1;
    }
    Ok(())
}

/// Mean wall-clock seconds per run of `launches`, waiting for the device, after a warm-up.
pub fn wall_time<B: Backend>(backend: &B, launches: &[B::Launch], reps: usize) -> Result<f64> {
    warm_up(backend, launches)?;
    let start = std::time::Instant::now();
    for _ in 0..reps.max(1) {
        backend.run(launches, &[])?;
    }
    backend.synchronize()?;
    Ok(start.elapsed().as_secs_f64() / reps.max(1) as f64)
}

/// Checks that `len` values from `offset` lie inside a buffer of `parent` values, at an offset the
/// backend can bind.
fn check_view<B: Backend>(backend: &B, parent: usize, offset: usize, len: usize) -> Result<()> {
    let align = backend.view_alignment();
    if !offset.is_multiple_of(align) || offset.checked_add(len).is_none_or(|end| end > parent) {
        return Err(Error::invalid(
            "buffer view",
            format!("{len} values from offset {offset}"),
            format!("a range inside the buffer's {parent} values, starting at a multiple of {align}"),
        ));
    }
    Ok(())
}

/// A device that stores tensors and runs kernels. Kept narrow on purpose: everything above it
/// (graphs, autodiff, plans, training) is written once against this trait.
///
/// The unit of work is a *prepared launch*: a kernel with its buffers and params fixed (on the GPU
/// a pipeline plus a bind group, built once). [`Backend::run`] executes a list of launches in
/// order and reads buffers back, as one submission on the GPU.
pub trait Backend: Clone {
    /// The number type of this backend's buffers.
    type Elem: Element;
    /// A buffer of `Elem`s on the device. Cloning gives another handle to the same storage.
    type Buffer: Clone;
    /// A launch whose kernel, buffers and params are fixed.
    type Launch;
    /// Work submitted whose reads are still on their way (see [`Backend::submit`]).
    type Pending;

    /// What this device is, for reports: `"llvmpipe (Vulkan, Cpu)"`, `"cpu f32 (ndarray)"`.
    fn describe(&self) -> String;

    /// True for a GPU backend.
    fn is_gpu(&self) -> bool;

    /// Allocates a zeroed buffer of `len` values; `name` is the tensor it is for (for errors).
    fn alloc(&self, len: usize, name: &str) -> Result<Self::Buffer>;

    /// The most values one buffer may hold (the largest storage binding on the GPU).
    fn max_len(&self) -> usize;

    /// The multiple of values a view's offset must be (the GPU binds storage at aligned offsets).
    fn view_alignment(&self) -> usize;

    /// A buffer of `len` values of `buffer` from `offset` on, sharing its storage: how one
    /// arena holds many tensors, so that one launch can update them all. `offset` must be a
    /// multiple of [`Backend::view_alignment`].
    ///
    /// ```
    /// use shadergrad::backend::{cpu::CpuBackend, Backend};
    /// let cpu = CpuBackend::<f32>::new();
    /// let arena = cpu.alloc(6, "arena")?;
    /// let tail = cpu.view(&arena, 4, 2)?;
    /// cpu.upload(&tail, &[7.0, 8.0])?;
    /// assert_eq!(cpu.download(&[&arena])?[0], vec![0.0, 0.0, 0.0, 0.0, 7.0, 8.0]);
    /// assert!(cpu.view(&arena, 5, 2).is_err());
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    fn view(&self, buffer: &Self::Buffer, offset: usize, len: usize) -> Result<Self::Buffer>;

    /// Writes `data` into `buffer` (the lengths must agree). On the GPU the write is staged and
    /// lands before the next [`Backend::run`]'s work.
    fn upload(&self, buffer: &Self::Buffer, data: &[Self::Elem]) -> Result<()>;

    /// Fixes a kernel's buffers and params, after checking them against [`Kernel::bindings`].
    fn prepare(&self, kernel: Kernel, params: Params, buffers: &[&Self::Buffer]) -> Result<Self::Launch>;

    /// Changes the params of a prepared launch (same sizes: a new learning rate or step count).
    fn set_params(&self, launch: &mut Self::Launch, params: Params) -> Result<()>;

    /// Runs `launches` in order, then reads `read` back: one submission and at most one wait.
    fn run(&self, launches: &[Self::Launch], read: &[&Self::Buffer]) -> Result<Vec<Vec<Self::Elem>>> {
        let pending = self.submit(launches, read)?;
        self.finish(pending)
    }

    /// Runs `launches` in order and starts copying `read` back without waiting: on a GPU one
    /// submission, left running while the caller prepares the next (uploads made meanwhile land
    /// after it); the CPU runs them at once. [`Backend::finish`] waits for it.
    ///
    /// ```
    /// use shadergrad::backend::{cpu::CpuBackend, Backend, Kernel, Params};
    /// use shadergrad::UnaryOp;
    /// let cpu = CpuBackend::<f32>::new();
    /// let (x, y) = (cpu.alloc(2, "x")?, cpu.alloc(2, "y")?);
    /// cpu.upload(&x, &[-1.0, 2.0])?;
    /// let relu = cpu.prepare(Kernel::Unary(UnaryOp::Relu), Params::dims(&[2]), &[&x, &y])?;
    /// let pending = cpu.submit(&[relu], &[&y])?;
    /// cpu.upload(&x, &[5.0, 5.0])?; // the next input, while the first run is on its way
    /// assert_eq!(cpu.finish(pending)?, [vec![0.0, 2.0]]);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    fn submit(&self, launches: &[Self::Launch], read: &[&Self::Buffer]) -> Result<Self::Pending>;

    /// Waits for a [`Backend::submit`]'s work (and what was submitted before it, not after) and
    /// returns what it read.
    fn finish(&self, pending: Self::Pending) -> Result<Vec<Vec<Self::Elem>>>;

    /// Reads buffers back without running anything.
    fn download(&self, read: &[&Self::Buffer]) -> Result<Vec<Vec<Self::Elem>>> {
        self.run(&[], read)
    }

    /// How many submissions this backend has made so far (0 forever on the CPU).
    fn submissions(&self) -> u64;

    /// Every pipeline this device has made so far, in the order it made them, with what each
    /// cost to create and first run (empty on the CPU, which compiles nothing).
    fn pipeline_times(&self) -> Vec<PipelineTime> {
        Vec::new()
    }

    /// Waits until all work handed to the device has finished (a no-op on the CPU).
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    /// Mean seconds per run of `launches` over `reps` runs after one warm-up, and how they were
    /// timed. The default is wall clock around run-and-wait; the GPU uses timestamp queries
    /// where the adapter has them.
    fn time(&self, launches: &[Self::Launch], reps: usize) -> Result<(f64, Timing)> {
        Ok((wall_time(self, launches, reps)?, Timing::Wall))
    }
}
