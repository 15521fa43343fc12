//! The device layer: a narrow backend trait (allocate, upload, prepare a kernel launch, run launches
//! and read buffers back) and its two implementations, [`cpu::CpuBackend`] (the ndarray reference,
//! f32 or f64) and [`wgpu::WgpuBackend`] (WGSL compute shaders).
//!
//! Every kernel is named by a [`Kernel`] and sized by [`Params`]; [`Kernel::bindings`] lists the
//! buffers a launch takes and their lengths, so both backends check launches the same way.

pub mod cpu;
pub mod wgpu;

use crate::error::{Error, Result};
use crate::op::{Activation, BinaryOp, Broadcast, Operand, UnaryOp};

/// The number type a backend computes in: `f32` on the GPU and CPU, `f64` on the CPU for
/// gradient checking.
pub trait Element:
    num_traits::Float
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + bytemuck::Pod
    + Default
    + std::fmt::Debug
    + std::fmt::Display
    + std::iter::Sum
    + Send
    + Sync
    + 'static
{
    /// The nearest value of this type.
    fn from_f64(v: f64) -> Self;
    /// The value as f64 (exact for both types).
    fn as_f64(self) -> f64;
    /// An element holding a 32-bit word of packed bytes (see [`pack_bytes`]).
    fn from_word(word: u32) -> Self;
    /// The word an element made by [`Element::from_word`] holds.
    fn to_word(self) -> u32;
    /// [`pack_bytes`] for this type.
    fn pack_bytes(bytes: &[u8], out: &mut Vec<Self>) {
        out.clear();
        let mut words = bytes.chunks_exact(4);
        out.extend(
            words
                .by_ref()
                .map(|c| Self::from_word(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        );
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 4];
            word[..rest.len()].copy_from_slice(rest);
            out.push(Self::from_word(u32::from_le_bytes(word)));
        }
    }
}

impl Element for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
    /// The word's bits: a GPU kernel reads the buffer as `array<u32>`.
    fn from_word(word: u32) -> Self {
        f32::from_bits(word)
    }
    fn to_word(self) -> u32 {
        self.to_bits()
    }
    /// A copy: an f32 holding a word is that word's bits (a batch of pixels is on the hot path).
    fn pack_bytes(bytes: &[u8], out: &mut Vec<Self>) {
        if cfg!(target_endian = "big") {
            out.clear();
            out.extend(bytes.chunks(4).map(|c| {
                let mut word = [0u8; 4];
                word[..c.len()].copy_from_slice(c);
                f32::from_bits(u32::from_le_bytes(word))
            }));
            return;
        }
        out.clear();
        out.resize(bytes.len().div_ceil(4), 0.0);
        bytemuck::cast_slice_mut::<f32, u8>(out)[..bytes.len()].copy_from_slice(bytes);
    }
}

impl Element for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn as_f64(self) -> f64 {
        self
    }
    /// The word's value (exact: every u32 is an f64).
    fn from_word(word: u32) -> Self {
        word as f64
    }
    fn to_word(self) -> u32 {
        self as u32
    }
}

/// Packs bytes four to an element, little-endian (the last word padded with zeros), for a
/// [`Kernel::UnpackBytes`] launch: a batch of 8-bit pixels travels to the device in a quarter of
/// the bytes f32 values take.
///
/// ```
/// use shadergrad::backend::{pack_bytes, Element};
/// let mut words: Vec<f32> = Vec::new();
/// pack_bytes(&[1, 2, 3, 4, 255], &mut words);
/// assert_eq!(words.iter().map(|w| w.to_word()).collect::<Vec<_>>(), [0x0403_0201, 0xff]);
/// ```
pub fn pack_bytes<E: Element>(bytes: &[u8], out: &mut Vec<E>) {
    E::pack_bytes(bytes, out)
}

/// A kernel of the kernel set: which computation a launch runs. Sizes come with [`Params`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kernel {
    /// `y = f(x)`; dims `[n]`.
    Unary(UnaryOp),
    /// `dx = dy · f'(x)` (from `x`, the saved `y` and `dy`); dims `[n]`.
    UnaryGrad(UnaryOp),
    /// `c = f(a, b)`; dims `[n]`.
    Binary(BinaryOp),
    /// `da` or `db` of `c = f(a, b)` from `a`, `b` and `dc`; dims `[n]`.
    BinaryGrad(BinaryOp, Operand),
    /// `c[m, n] = op(a)·op(b)`, `op` transposing the stored matrix when the flag is set
    /// (`a` stored `[m, k]`, or `[k, m]` with `ta`; `b` stored `[k, n]`, or `[n, k]` with `tb`);
    /// with `bias`, `c = act(op(a)·op(b) + bias)`, bias `[n]`; with `act` [`Activation::ReluMask`],
    /// `c = op(a)·op(b) · [mask > 0]`, mask `[m, n]` (a ReLU's output). dims `[m, n, k]`.
    Matmul {
        ta: bool,
        tb: bool,
        bias: bool,
        act: Activation,
    },
    /// `y[i, j] = x[i, j] + bias[j]`; dims `[rows, cols]`.
    BiasAdd,
    /// `y[j] = Σ_i x[i, j]` (the bias gradient); dims `[rows, cols]`.
    ColSum,
    /// `y[i] = Σ_j x[i, j]`; dims `[rows, cols]`.
    RowSum,
    /// `y[i] = max_j x[i, j]`; dims `[rows, cols]`.
    RowMax,
    /// `dx[i, j] = dy[i]` where `x[i, j]` is the row's maximum, else 0; dims `[rows, cols]`.
    RowMaxGrad,
    /// `y[0] = Σ x`; dims `[n]`.
    SumAll,
    /// Spreads a reduced tensor back over `[rows, cols]`; dims `[rows, cols]`.
    Broadcast(Broadcast),
    /// Softmax cross-entropy of logits `[rows, cols]` against class labels `[rows]` (class
    /// indices stored as numbers): writes the probabilities and the mean loss; dims `[rows, cols]`.
    SoftmaxCe,
    /// `dlogits = (p − onehot(labels)) · dloss / rows`; dims `[rows, cols]`.
    SoftmaxCeGrad,
    /// Both at once, for a training step: the mean loss and `dlogits` from the logits, labels and
    /// `dloss`, without keeping the probabilities; dims `[rows, cols]`.
    SoftmaxCeFused,
    /// `y[i] = scale · byte i` of bytes packed four to an element by [`pack_bytes`]; dims `[n]`;
    /// scalars `[scale]`.
    UnpackBytes,
    /// Mean squared error `Σ (p − t)² / n`; dims `[n]`.
    Mse,
    /// `dp = 2 (p − t) · dloss / n`; dims `[n]`.
    MseGrad,
    /// `w −= lr · (g + wd·w)`; dims `[n]`; scalars `[lr, weight_decay]`.
    Sgd,
    /// PyTorch's momentum SGD; dims `[n, nesterov]`; scalars `[lr, momentum, weight_decay]`.
    Momentum,
    /// Adam (`dims[1] = 0`) or AdamW (`dims[1] = 1`); dims `[n, decoupled]`; scalars
    /// `[lr, beta1, beta2, eps, weight_decay, 1 − beta1ᵗ, 1 − beta2ᵗ]`.
    Adam,
    /// The device's fp32 FMA roof: `invocations` lanes each run `iterations` × 64 flops and
    /// write one value; dims `[iterations, invocations]`; scalars `[mul, add]`.
    FmaRoof,
}

/// The sizes and constants of one launch. `dims` are counts (see each [`Kernel`]); `scalars` are
/// constants such as a learning rate, kept in f64 so the f64 CPU backend loses nothing.
///
/// ```
/// use shadergrad::backend::Params;
/// let p = Params::dims(&[4, 8, 16]).with_scalars(&[0.5]);
/// assert_eq!(p.dims, [4, 8, 16, 0]);
/// assert_eq!(p.scalars[0], 0.5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Params {
    pub dims: [u32; 4],
    pub scalars: [f64; 8],
}

impl Params {
    /// Params with the given dims (at most 4) and no scalars.
    pub fn dims(dims: &[u32]) -> Self {
        let mut p = Params::default();
        p.dims[..dims.len()].copy_from_slice(dims);
        p
    }

    /// The same params with the given scalars (at most 8).
    pub fn with_scalars(mut self, scalars: &[f64]) -> Self {
        self.scalars[..scalars.len()].copy_from_slice(scalars);
        self
    }

    fn d(&self, i: usize) -> usize {
        self.dims[i] as usize
    }
}

/// One buffer a kernel binds: its binding slot in the shader, its role, how many values it must
/// hold, and whether the kernel writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    pub slot: u32,
    pub role: &'static str,
    pub len: usize,
    pub write: bool,
}

const fn read(slot: u32, role: &'static str, len: usize) -> Binding {
    Binding {
        slot,
        role,
        len,
        write: false,
    }
}

const fn write(slot: u32, role: &'static str, len: usize) -> Binding {
    Binding {
        slot,
        role,
        len,
        write: true,
    }
}

impl Kernel {
    /// The buffers a launch of this kernel takes, in order, with the lengths `params` imply.
    /// Slots match the `@binding` numbers in the kernel's WGSL file (slot 0 is the uniform).
    pub fn bindings(&self, p: &Params) -> Vec<Binding> {
        let n = p.d(0);
        let (rows, cols) = (p.d(0), p.d(1));
        match *self {
            Kernel::Unary(_) => vec![read(1, "x", n), write(2, "y", n)],
            Kernel::UnaryGrad(_) => vec![read(1, "x", n), read(3, "y", n), read(4, "dy", n), write(5, "dx", n)],
            Kernel::Binary(_) => vec![read(1, "a", n), read(2, "b", n), write(3, "c", n)],
            Kernel::BinaryGrad(..) => vec![read(1, "a", n), read(2, "b", n), read(4, "dc", n), write(5, "grad", n)],
            Kernel::Matmul {
                ta: _,
                tb: _,
                bias,
                act,
            } => {
                let (m, n, k) = (p.d(0), p.d(1), p.d(2));
                let mut b = vec![read(1, "a", m * k), read(2, "b", k * n)];
                if bias {
                    b.push(read(3, "bias", n));
                }
                if act == Activation::ReluMask {
                    b.push(read(6, "mask", m * n));
                }
                b.push(write(4, "c", m * n));
                b
            }
            Kernel::BiasAdd => vec![
                read(1, "x", rows * cols),
                read(2, "bias", cols),
                write(3, "y", rows * cols),
            ],
            Kernel::ColSum => vec![read(1, "x", rows * cols), write(4, "y", cols)],
            Kernel::RowSum | Kernel::RowMax => vec![read(1, "x", rows * cols), write(2, "y", rows)],
            Kernel::RowMaxGrad => vec![
                read(1, "x", rows * cols),
                read(3, "y", rows),
                read(4, "dy", rows),
                write(5, "dx", rows * cols),
            ],
            Kernel::SumAll => vec![read(1, "x", n), write(2, "y", 1)],
            Kernel::Broadcast(mode) => {
                let src = match mode {
                    Broadcast::Scalar => 1,
                    Broadcast::Rows => rows,
                    Broadcast::Cols => cols,
                };
                vec![read(1, "src", src), write(5, "dst", rows * cols)]
            }
            Kernel::SoftmaxCe => vec![
                read(1, "logits", rows * cols),
                read(2, "labels", rows),
                write(3, "probs", rows * cols),
                write(4, "loss", 1),
            ],
            Kernel::SoftmaxCeGrad => vec![
                read(5, "probs", rows * cols),
                read(2, "labels", rows),
                read(6, "dloss", 1),
                write(7, "dlogits", rows * cols),
            ],
            Kernel::SoftmaxCeFused => vec![
                read(1, "logits", rows * cols),
                read(2, "labels", rows),
                read(6, "dloss", 1),
                write(4, "loss", 1),
                write(7, "dlogits", rows * cols),
            ],
            Kernel::UnpackBytes => vec![read(1, "bytes", n.div_ceil(4)), write(2, "y", n)],
            Kernel::Mse => vec![read(1, "pred", n), read(2, "target", n), write(4, "loss", 1)],
            Kernel::MseGrad => vec![
                read(1, "pred", n),
                read(2, "target", n),
                read(6, "dloss", 1),
                write(7, "dpred", n),
            ],
            Kernel::Sgd => vec![write(1, "w", n), read(2, "g", n)],
            Kernel::Momentum => vec![write(1, "w", n), read(2, "g", n), write(3, "v", n)],
            Kernel::Adam => vec![write(1, "w", n), read(2, "g", n), write(3, "m", n), write(4, "v", n)],
            Kernel::FmaRoof => vec![write(1, "sink", p.d(1))],
        }
    }

    /// A readable name: `relu_forward`, `matmul[tA]`, `adam`.
    pub fn name(&self) -> String {
        match self {
            Kernel::Unary(op) => format!("{}_forward", op.name()),
            Kernel::UnaryGrad(op) => format!("{}_backward", op.name()),
            Kernel::Binary(op) => format!("{}_forward", op.name()),
            Kernel::BinaryGrad(op, Operand::A) => format!("{}_backward_a", op.name()),
            Kernel::BinaryGrad(op, Operand::B) => format!("{}_backward_b", op.name()),
            Kernel::Matmul { ta, tb, bias, act } => {
                let mut s = String::from("matmul");
                if *ta || *tb {
                    s.push('[');
                    if *ta {
                        s.push_str("tA");
                    }
                    if *tb {
                        s.push_str(if *ta { ",tB" } else { "tB" });
                    }
                    s.push(']');
                }
                if *bias {
                    s.push_str("+bias");
                }
                match act {
                    Activation::None => {}
                    Activation::Relu => s.push_str("+relu"),
                    Activation::ReluMask => s.push_str("+relu_mask"),
                }
                s
            }
            Kernel::Broadcast(m) => format!("broadcast_{m:?}").to_lowercase(),
            other => {
                // CamelCase variant name to snake_case: ColSum -> col_sum.
                let raw = format!("{other:?}");
                let mut s = String::new();
                for (i, ch) in raw.chars().enumerate() {
                    if ch.is_uppercase() && i > 0 {
                        s.push('_');
                    }
                    s.push(ch.to_ascii_lowercase());
                }
                s
            }
        }
    }

    /// Checks a launch's buffers against what its params imply.
    pub fn check_buffers(&self, p: &Params, lens: &[usize]) -> Result<()> {
        if let Kernel::Matmul {
            bias: true,
            act: Activation::ReluMask,
            ..
        } = self
        {
            return Err(Error::Graph(format!(
                "{} is not a kernel: the ReLU-mask epilogue (a ReLU's backward) adds no bias",
                self.name()
            )));
        }
        let bindings = self.bindings(p);
        if lens.len() != bindings.len() {
            return Err(Error::Graph(format!(
                "kernel {} takes {} buffers ({}), got {}",
                self.name(),
                bindings.len(),
                bindings.iter().map(|b| b.role).collect::<Vec<_>>().join(", "),
                lens.len()
            )));
        }
        for (index, (b, &got)) in bindings.iter().zip(lens).enumerate() {
            if got != b.len {
                return Err(Error::KernelBuffer {
                    kernel: self.name(),
                    index,
                    role: b.role,
                    expected: b.len,
                    got,
                });
            }
        }
        Ok(())
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
    if offset % align != 0 || offset.checked_add(len).is_none_or(|end| end > parent) {
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

    /// What this device is, for reports: `"llvmpipe (Vulkan, Cpu)"`, `"cpu f32 (ndarray)"`.
    fn describe(&self) -> String;

    /// True for a GPU backend.
    fn is_gpu(&self) -> bool;

    /// Allocates a zeroed buffer of `len` values; `name` is the tensor it is for (for errors).
    fn alloc(&self, len: usize, name: &str) -> Result<Self::Buffer>;

    /// The number of values a buffer holds.
    fn len(&self, buffer: &Self::Buffer) -> usize;

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
    fn run(&self, launches: &[Self::Launch], read: &[&Self::Buffer]) -> Result<Vec<Vec<Self::Elem>>>;

    /// Reads buffers back without running anything.
    fn download(&self, read: &[&Self::Buffer]) -> Result<Vec<Vec<Self::Elem>>> {
        self.run(&[], read)
    }

    /// How many submissions this backend has made so far (0 forever on the CPU).
    fn submissions(&self) -> u64;

    /// Waits until all work handed to the device has finished (a no-op on the CPU).
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    /// Mean seconds per run of `launches` over `reps` runs after one warm-up, and how they were
    /// timed. The default is wall clock around run-and-wait; the GPU uses timestamp queries
    /// where the adapter has them.
    fn time(&self, launches: &[Self::Launch], reps: usize) -> Result<(f64, crate::bench::Timing)> {
        Ok((wall_time(self, launches, reps)?, crate::bench::Timing::Wall))
    }
}
