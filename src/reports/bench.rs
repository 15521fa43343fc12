//! Measuring: kernels and training steps on any backend, and each device's own fp32 FMA roof,
//! so every figure can also be read as a share of what the device can do.
//!
//! Every time is the wall clock around work a user's own timer can wrap: a kernel's run and the
//! wait for it (`Backend::run`, then `synchronize`), or a whole training step (`Trainer::step`:
//! gather and upload the batch, forward, backward, update, read the loss back). Each figure is
//! the median of [`RUNS`] timed runs, the best kept beside it, so the spread shows. Where the
//! adapter has timestamp queries a kernel's GPU time is kept too: measured on lavapipe it agreed
//! with the wall clock within 5% at 1024³ and read 20% faster at 256³, where submitting and
//! waiting are a fifth of a run.

use std::time::Instant;

use crate::engine::backend::{Backend, Timing};

use crate::engine::element::Element;

use crate::engine::error::{Error, Result};
use crate::engine::kernel::{Kernel, Params};
use crate::engine::op::{Epilogue, UnaryOp};
use crate::training::data::{Dataset, Digits, Task};
use crate::training::nn::{Activation, Init, Mlp};
use crate::training::optim::{Optimizer, Schedule};
use crate::training::rng::Rng;
use crate::training::train::{TrainConfig, Trainer};

/// One measurement, as `shadergrad bench --json` writes it (one object per line).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Record {
    pub name: String,
    pub backend: &'static str,
    pub shape: String,
    /// The median of the timed runs (seconds per kernel run or step).
    pub seconds: f64,
    /// The best of them.
    pub best_seconds: f64,
    /// The GPU's own time per run from timestamp queries, where the adapter has them.
    pub timestamp_seconds: Option<f64>,
    pub gflops: Option<f64>,
    pub samples_per_s: Option<f64>,
    pub roof_pct: Option<f64>,
    #[serde(serialize_with = "timing_name")]
    pub timing: Timing,
    /// The batch of a training step.
    pub batch: Option<usize>,
    /// The devices a data-parallel step split its batch across.
    pub devices: Option<usize>,
    /// Of a data-parallel step's time, the host's summing of the gradients and writing them
    /// back (seconds per step, [`Trainer::reduce_time`]).
    pub reduce_seconds: Option<f64>,
    /// A training step timed as [`Trainer::submit_step`] (pipelined), not [`Trainer::step`].
    pub pipelined: bool,
}

fn timing_name<S: serde::Serializer>(t: &Timing, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(t.name())
}

impl Record {
    /// A wall-clock row of `median_s` (best `best_s`) with no rates; set the rest with struct
    /// update syntax.
    ///
    /// ```
    /// use shadergrad::bench::Record;
    /// let r = Record { gflops: Some(2.0), ..Record::wall("matmul", "cpu", "2x2x2", 1.0, 0.5) };
    /// assert_eq!((r.seconds, r.best_seconds, r.batch), (1.0, 0.5, None));
    /// ```
    pub fn wall(
        name: impl Into<String>,
        backend: &'static str,
        shape: impl Into<String>,
        median_s: f64,
        best_s: f64,
    ) -> Record {
        Record {
            name: name.into(),
            backend,
            shape: shape.into(),
            seconds: median_s,
            best_seconds: best_s,
            timestamp_seconds: None,
            gflops: None,
            samples_per_s: None,
            roof_pct: None,
            timing: Timing::Wall,
            batch: None,
            devices: None,
            reduce_seconds: None,
            pipelined: false,
        }
    }

    /// The record as one line of JSON (non-finite figures as null).
    ///
    /// ```
    /// use shadergrad::{backend::Timing, bench::Record};
    /// let r = Record {
    ///     name: "a \"quoted\" \\ naïve name".into(),
    ///     backend: "gpu",
    ///     shape: "1x1".into(),
    ///     seconds: 0.5,
    ///     best_seconds: 0.4,
    ///     timestamp_seconds: None,
    ///     gflops: Some(f64::NAN),
    ///     samples_per_s: None,
    ///     roof_pct: None,
    ///     timing: Timing::Wall,
    ///     batch: None,
    ///     devices: None,
    ///     reduce_seconds: None,
    ///     pipelined: false,
    /// };
    /// let back: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    /// assert_eq!(back["name"], "a \"quoted\" \\ naïve name");
    /// assert!(back["gflops"].is_null());
    /// ```
    pub fn to_json(&self) -> String {
        // Plain fields only, so serialising cannot fail; say so in JSON if it ever did.
        serde_json::to_string(self).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
    }
}

/// Timed runs behind every figure of `shadergrad bench`.
pub const RUNS: usize = 5;

/// The median and the best of [`RUNS`] timed runs, in seconds per repetition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median_s: f64,
    pub best_s: f64,
}

impl Spread {
    /// Times `rep` in [`RUNS`] runs, each repeating it until `min_s` has passed (at least once).
    ///
    /// ```
    /// use shadergrad::bench::Spread;
    /// let s = Spread::measure(0.001, || { std::thread::sleep(std::time::Duration::from_micros(100)); Ok(()) })?;
    /// assert!(s.best_s <= s.median_s && s.best_s >= 100e-6);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn measure(min_s: f64, mut rep: impl FnMut() -> Result<()>) -> Result<Spread> {
        let mut runs = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let start = Instant::now();
            let mut n = 0u32;
            while n == 0 || start.elapsed().as_secs_f64() < min_s {
                rep()?;
                n += 1;
            }
            runs.push(start.elapsed().as_secs_f64() / n as f64);
        }
        runs.sort_by(f64::total_cmp);
        Ok(Spread {
            median_s: runs[RUNS / 2],
            best_s: runs[0],
        })
    }
}

/// One kernel on fresh random buffers, prepared (the buffers kept alive beside its launch).
fn prepare_random<B: Backend>(backend: &B, kernel: Kernel, params: Params) -> Result<(Vec<B::Buffer>, B::Launch)> {
    let mut rng = Rng::new(1);
    let mut buffers = Vec::new();
    for b in kernel.bindings(&params) {
        let buf = backend.alloc(b.len, b.role)?;
        // Positive values keep every op (log, sqrt, labels as class 0) on its domain.
        let data: Vec<B::Elem> = (0..b.len).map(|_| B::Elem::from_f64(rng.uniform(0.1, 1.0))).collect();
        backend.upload(&buf, &data)?;
        buffers.push(buf);
    }
    let refs: Vec<&B::Buffer> = buffers.iter().collect();
    let launch = backend.prepare(kernel, params, &refs)?;
    Ok((buffers, launch))
}

/// A kernel's wall time per run and wait (after a warm-up), and its timestamp time where the
/// backend has timestamps.
pub fn time_kernel<B: Backend>(backend: &B, kernel: Kernel, params: Params) -> Result<(Spread, Option<f64>)> {
    let (_buffers, launch) = prepare_random(backend, kernel, params)?;
    let launches = std::slice::from_ref(&launch);
    // The GPU's timing warms it up first; the CPU has no timestamps and only needs the warm-up.
    let stamps = if backend.is_gpu() {
        match backend.time(launches, 3)? {
            (s, Timing::Timestamp) => Some(s),
            _ => None,
        }
    } else {
        crate::engine::backend::warm_up(backend, launches)?;
        None
    };
    let wall = Spread::measure(0.1, || {
        backend.run(launches, &[])?;
        backend.synchronize()
    })?;
    Ok((wall, stamps))
}

/// The device's fp32 FMA rate in GFLOP/s: a WGSL (or CPU) kernel of independent vec4 FMA
/// chains, sized to keep every core busy; the best of three timings, as for the CPU's roof.
pub fn gpu_roof<B: Backend>(backend: &B) -> Result<(f64, Timing)> {
    let invocations: u32 = 1 << 16;
    let iterations: u32 = 2048;
    let params = Params::dims(&[iterations, invocations]).with_scalars(&[0.999, 1e-3]);
    let mut best = (f64::INFINITY, Timing::Wall);
    for _ in 0..3 {
        let (_buffers, launch) = prepare_random(backend, Kernel::FmaRoof, params)?;
        let (s, timing) = backend.time(std::slice::from_ref(&launch), 3)?;
        if s < best.0 {
            best = (s, timing);
        }
    }
    Ok((64.0 * iterations as f64 * invocations as f64 / best.0 / 1e9, best.1))
}

/// The CPU's fp32 FMA rate in GFLOP/s on every core: independent FMA chains in the widest
/// registers the processor has (AVX-512, else AVX2+FMA, detected at run time as the CPU
/// backend's matrix product does). The
/// best of five runs: a roof is a peak, and on a shared machine one run can land on a busy
/// moment (measured here: one run at 99 GFLOP/s between runs at 164–182).
pub fn cpu_roof() -> f64 {
    (0..5).map(|_| cpu_roof_once()).fold(0.0, f64::max)
}

fn cpu_roof_once() -> f64 {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let iterations = 20_000_000usize;
    let start = Instant::now();
    let sinks: Vec<f32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || fma_chains(iterations, t as f32)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0.0)).collect()
    });
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(sinks);
    // 12 chains × 8 lanes × 2 flops per iteration.
    192.0 * iterations as f64 * threads as f64 / secs / 1e9
}

fn fma_chains(iterations: usize, seed: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature the function is compiled for was just detected. A quarter of
            // the iterations, each four times the AVX2 loop's flops: the same count.
            return unsafe { fma_chains_avx512(iterations / 4, seed) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the features the function is compiled for were just detected.
            return unsafe { fma_chains_avx2(iterations, seed) };
        }
    }
    fma_chains_portable(iterations, seed)
}

/// Twelve independent 8-wide FMA chains, each in its own AVX2 register (named, so the compiler
/// cannot spill them to memory): enough to hide the FMA latency on both FMA ports, so the loop
/// runs at the core's FMA rate.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_chains_avx2(iterations: usize, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let mul = _mm256_set1_ps(std::hint::black_box(0.999));
    let add = _mm256_set1_ps(std::hint::black_box(1e-3));
    let start = |i: f32| _mm256_set1_ps(seed + i * 1e-3);
    let (mut a0, mut a1, mut a2, mut a3) = (start(0.0), start(1.0), start(2.0), start(3.0));
    let (mut a4, mut a5, mut a6, mut a7) = (start(4.0), start(5.0), start(6.0), start(7.0));
    let (mut a8, mut a9, mut a10, mut a11) = (start(8.0), start(9.0), start(10.0), start(11.0));
    for _ in 0..iterations {
        a0 = _mm256_fmadd_ps(a0, mul, add);
        a1 = _mm256_fmadd_ps(a1, mul, add);
        a2 = _mm256_fmadd_ps(a2, mul, add);
        a3 = _mm256_fmadd_ps(a3, mul, add);
        a4 = _mm256_fmadd_ps(a4, mul, add);
        a5 = _mm256_fmadd_ps(a5, mul, add);
        a6 = _mm256_fmadd_ps(a6, mul, add);
        a7 = _mm256_fmadd_ps(a7, mul, add);
        a8 = _mm256_fmadd_ps(a8, mul, add);
        a9 = _mm256_fmadd_ps(a9, mul, add);
        a10 = _mm256_fmadd_ps(a10, mul, add);
        a11 = _mm256_fmadd_ps(a11, mul, add);
    }
    let sum = [a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11]
        .into_iter()
        .fold(a0, |s, a| _mm256_add_ps(s, a));
    let mut out = [0f32; 8];
    _mm256_storeu_ps(out.as_mut_ptr(), sum);
    out.iter().sum()
}

/// Twenty-four independent 16-wide FMA chains in zmm registers (of 32): the AVX-512 rate, which
/// the CPU backend's matrix product uses where the processor has it (768 flops an iteration,
/// four times the AVX2 loop's 192).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_chains_avx512(iterations: usize, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let mul = _mm512_set1_ps(std::hint::black_box(0.999));
    let add = _mm512_set1_ps(std::hint::black_box(1e-3));
    let mut acc: [__m512; 24] = std::array::from_fn(|i| _mm512_set1_ps(seed + i as f32 * 1e-3));
    for _ in 0..iterations {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(*a, mul, add);
        }
    }
    let sum = acc[1..].iter().fold(acc[0], |s, &a| _mm512_add_ps(s, a));
    _mm512_reduce_add_ps(sum)
}

/// The same work in plain Rust, for processors without AVX2 and FMA.
fn fma_chains_portable(iterations: usize, seed: f32) -> f32 {
    let mut acc = [[0f32; 8]; 12];
    for (i, chain) in acc.iter_mut().enumerate() {
        for (j, v) in chain.iter_mut().enumerate() {
            *v = seed + (i * 8 + j) as f32 * 1e-3;
        }
    }
    let (mul, add) = (std::hint::black_box(0.999f32), std::hint::black_box(1e-3f32));
    for _ in 0..iterations {
        for chain in acc.iter_mut() {
            for v in chain.iter_mut() {
                *v = v.mul_add(mul, add);
            }
        }
    }
    acc.iter().flatten().sum()
}

/// The MLP of the peers' benchmark: 784-256-256-10, ReLU, softmax-CE, SGD lr 0.05.
pub fn peer_mlp() -> Mlp {
    Mlp::new(&[784, 256, 256, 10], Activation::Relu).expect("sizes and activation are valid")
}

/// Seconds per training step (upload a batch, forward, backward, update, read the loss back)
/// of `mlp` at `batch`: the mean over at least `steps` steps and at least 0.25 s (a fast step
/// timed a few times is mostly noise), after 300 ms of warm-up.
pub fn time_training_step<B: Backend>(backend: &B, mlp: &Mlp, batch: usize, steps: usize) -> Result<f64> {
    let (mut trainer, digits, indices) = warm_trainer(std::slice::from_ref(backend), mlp, batch)?;
    let start = Instant::now();
    let mut done = 0;
    while done < steps || start.elapsed().as_secs_f64() < 0.25 {
        trainer.step(&digits, &indices, true)?;
        done += 1;
    }
    Ok(start.elapsed().as_secs_f64() / done as f64)
}

/// The benchmarks' trainer (SGD lr 0.05, classes) for `mlp` at `batch` on `backends` (one, or
/// several data-parallel), a batch of data and its indices, after 300 ms (and at least two
/// steps) of training: an idle GPU needs that to raise its clocks.
fn warm_trainer<B: Backend>(backends: &[B], mlp: &Mlp, batch: usize) -> Result<(Trainer<B>, Dataset, Vec<usize>)> {
    let config = TrainConfig {
        mlp: mlp.clone(),
        task: Task::Classify,
        init: Init::KaimingUniform,
        optimizer: Optimizer::sgd(0.05),
        schedule: Schedule::Constant,
        batch,
        epochs: 1,
        seed: 0,
        loss_every: 1,
        regularize: Default::default(),
    };
    let digits = synthetic_digits(batch, mlp.inputs(), mlp.classes());
    let mut trainer = Trainer::replicated(backends, config)?;
    let indices: Vec<usize> = (0..batch).collect();
    let warm = Instant::now();
    let mut warm_steps = 0;
    while warm_steps < 2 || warm.elapsed().as_secs_f64() < 0.3 {
        trainer.step(&digits, &indices, true)?;
        warm_steps += 1;
    }
    Ok((trainer, digits, indices))
}

/// A training step's wall time ([`Trainer::step`] with the loss read back: gather and upload
/// the batch, forward, backward, update, read the loss) at `batch`, after 300 ms of warm-up;
/// `pipelined`, [`Trainer::submit_step`]'s instead (the same work, the loss read a step later,
/// the next batch gathered and uploaded while the device computes).
pub fn step_spread<B: Backend>(backend: &B, mlp: &Mlp, batch: usize, pipelined: bool) -> Result<Spread> {
    let (mut trainer, digits, indices) = warm_trainer(std::slice::from_ref(backend), mlp, batch)?;
    if !pipelined {
        return Spread::measure(0.1, || trainer.step(&digits, &indices, true).map(drop));
    }
    let spread = Spread::measure(0.1, || trainer.submit_step(&digits, &indices, true).map(drop))?;
    trainer.flush()?;
    Ok(spread)
}

/// Random images and labels of the given size (benchmarks need shapes, not digits).
fn synthetic_digits(n: usize, features: usize, classes: usize) -> Dataset {
    let mut rng = Rng::new(5);
    let mut data = Digits {
        images: (0..n * features).map(|_| (rng.next_u64() & 0xff) as u8).collect(),
        labels: (0..n).map(|_| rng.below(classes) as u8).collect(),
        rows: 1,
        cols: features,
    }
    .into_dataset();
    if let crate::training::data::Targets::Classes { labels, .. } = &mut data.targets {
        *labels = (0..classes).map(|c| c as f64).collect();
    }
    data
}

/// Matmul sizes (n for n³) timed by default; `quick` keeps the small ones.
pub fn matmul_sizes(quick: bool) -> Vec<u32> {
    if quick {
        vec![64, 256, 512]
    } else {
        vec![64, 256, 512, 1024, 2048]
    }
}

/// The kernels `shadergrad bench` and the criterion benches time: name, shape, kernel, params
/// and flops per run; square matmuls of the given sizes first.
pub fn kernel_cases(sizes: &[u32]) -> Vec<(String, String, Kernel, Params, f64)> {
    let mut cases = Vec::new();
    for &n in sizes {
        let plain = Kernel::Matmul {
            ta: false,
            tb: false,
            bias: false,
            epilogue: Epilogue::None,
        };
        cases.push((
            "matmul".into(),
            format!("{n}x{n}x{n}"),
            plain,
            Params::dims(&[n, n, n]),
            2.0 * (n as f64).powi(3),
        ));
    }
    // The MLP's own products at batch 128, all three transpose layouts, and its first layer's
    // weight gradient at batch 2048 (the long sum over the batch: a batch-2048 step's slowest
    // product on the CPU).
    for (label, ta, tb, m, n, k) in [
        ("matmul x·Wᵀ (forward)", false, true, 128, 256, 784),
        ("matmul dYᵀ·X (dW)", true, false, 256, 784, 128),
        ("matmul dY·W (dX)", false, false, 128, 784, 256),
        ("matmul dYᵀ·X (dW)", true, false, 256, 784, 2048),
    ] {
        let kernel = Kernel::Matmul {
            ta,
            tb,
            bias: false,
            epilogue: Epilogue::None,
        };
        cases.push((
            label.into(),
            format!("{m}x{n}x{k}"),
            kernel,
            Params::dims(&[m, n, k]),
            2.0 * (m * n * k) as f64,
        ));
    }
    let n = 1 << 20;
    cases.push((
        "relu forward".into(),
        format!("{n}"),
        Kernel::Unary(UnaryOp::Relu),
        Params::dims(&[n]),
        n as f64,
    ));
    cases.push((
        "sigmoid backward".into(),
        format!("{n}"),
        Kernel::UnaryGrad(UnaryOp::Sigmoid),
        Params::dims(&[n]),
        3.0 * n as f64,
    ));
    cases.push((
        "softmax-CE forward".into(),
        "1024x10".into(),
        Kernel::SoftmaxCe {
            smoothing: 0.0,
            weighted: false,
        },
        Params::dims(&[1024, 10]),
        5.0 * 10240.0,
    ));
    cases.push((
        "column sum (bias grad)".into(),
        "1024x256".into(),
        Kernel::ColSum,
        Params::dims(&[1024, 256]),
        262_144.0,
    ));
    cases
}

/// Batch sizes of the training-step rows.
pub fn step_batches(quick: bool) -> Vec<usize> {
    if quick {
        vec![1, 32, 128]
    } else {
        vec![1, 32, 128, 1024, 4096]
    }
}

/// Kernel rows for one backend.
pub fn kernel_records<B: Backend>(backend: &B, sizes: &[u32], roof: Option<f64>) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for (label, shape, kernel, params, flops) in kernel_cases(sizes) {
        out.push(kernel_record(backend, label, shape, kernel, params, flops, roof)?);
    }
    Ok(out)
}

/// Name of the square-matmul rows of a mixed-precision backend.
pub const MIXED_MATMUL: &str = "matmul, f16 in, f32 sums";

/// The square-matmul rows of a mixed-precision GPU ([`WgpuBackend::mixed_precision`]), as
/// [`MIXED_MATMUL`]: against no fp32 roof, since cooperative matrices (tensor cores) have
/// their own.
///
/// [`WgpuBackend::mixed_precision`]: crate::engine::backend::wgpu::WgpuBackend::mixed_precision
pub fn mixed_matmul_records<B: Backend>(backend: &B, sizes: &[u32]) -> Result<Vec<Record>> {
    let squares = kernel_cases(sizes).into_iter().take(sizes.len());
    let mut out = Vec::new();
    for (_, shape, kernel, params, flops) in squares {
        out.push(kernel_record(
            backend,
            MIXED_MATMUL.into(),
            shape,
            kernel,
            params,
            flops,
            None,
        )?);
    }
    Ok(out)
}

/// One kernel row: wall-clock median and best, GFLOP/s from the median, share of `roof`.
fn kernel_record<B: Backend>(
    backend: &B,
    label: String,
    shape: String,
    kernel: Kernel,
    params: Params,
    flops: f64,
    roof: Option<f64>,
) -> Result<Record> {
    let name = if backend.is_gpu() { "gpu" } else { "cpu" };
    let (wall, timestamp_seconds) = time_kernel(backend, kernel, params)?;
    let gflops = flops / wall.median_s / 1e9;
    Ok(Record {
        timestamp_seconds,
        gflops: Some(gflops),
        roof_pct: roof.map(|r| 100.0 * gflops / r),
        ..Record::wall(label, name, shape, wall.median_s, wall.best_s)
    })
}

/// Training-step rows for one backend, after a first row for the fixed cost of a step: a 2-2-2
/// MLP at batch 1, where upload, dispatch, submit, wait and readback are nearly all there is.
pub fn step_records<B: Backend>(backend: &B, mlp: &Mlp, batches: &[usize]) -> Result<Vec<Record>> {
    let name = if backend.is_gpu() { "gpu" } else { "cpu" };
    let mut out = Vec::new();
    let tiny = Mlp::new(&[2, 2, 2], Activation::Relu)?;
    let fixed = step_spread(backend, &tiny, 1, false)?;
    out.push(Record::wall(
        "fixed cost of a step (2-2-2 MLP)",
        name,
        "batch 1",
        fixed.median_s,
        fixed.best_s,
    ));
    // Pipelining changes nothing on the CPU, which runs each step as it is submitted.
    let ways: &[bool] = if backend.is_gpu() { &[false, true] } else { &[false] };
    for &batch in batches {
        for &pipelined in ways {
            let step = step_spread(backend, mlp, batch, pipelined)?;
            let seconds = step.median_s;
            out.push(Record {
                gflops: Some(6.0 * mlp_macs(mlp) as f64 * batch as f64 / seconds / 1e9),
                samples_per_s: Some(batch as f64 / seconds),
                batch: Some(batch),
                pipelined,
                ..Record::wall(
                    format!("training step {}", mlp.describe()),
                    name,
                    format!("batch {batch}"),
                    seconds,
                    step.best_s,
                )
            });
        }
    }
    Ok(out)
}

/// Data-parallel training steps of `mlp`: for each count of `devices` (the first that many)
/// and each batch, [`Trainer::step`]'s wall time on the replicated trainer (median and best of
/// [`RUNS`]) and the all-reduce's host time per step within it.
///
/// ```
/// use shadergrad::{backend::cpu::CpuBackend, bench, nn::{Activation, Mlp}};
/// let mlp = Mlp::new(&[8, 4, 2], Activation::Relu)?;
/// let rows = bench::replica_records(&[CpuBackend::<f32>::new(), CpuBackend::new()], &[1, 2], &mlp, &[16])?;
/// assert_eq!(rows.iter().map(|r| r.devices).collect::<Vec<_>>(), [Some(1), Some(2)]);
/// assert_eq!(rows[0].reduce_seconds, Some(0.0)); // one device sums nothing
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn replica_records<B: Backend>(
    devices: &[B],
    counts: &[usize],
    mlp: &Mlp,
    batches: &[usize],
) -> Result<Vec<Record>> {
    let name = if devices.first().is_some_and(Backend::is_gpu) {
        "gpu"
    } else {
        "cpu"
    };
    let mut out = Vec::new();
    for &n in counts {
        let Some(replicas) = devices.get(..n).filter(|r| !r.is_empty()) else {
            return Err(Error::invalid(
                "replicas",
                n.to_string(),
                format!("1 to {} (the devices opened)", devices.len()),
            ));
        };
        for &batch in batches {
            let (mut trainer, digits, indices) = warm_trainer(replicas, mlp, batch)?;
            let before = trainer.reduce_time();
            let step = Spread::measure(0.1, || trainer.step(&digits, &indices, true).map(drop))?;
            let after = trainer.reduce_time();
            let reduced = (after.steps - before.steps).max(1) as f64;
            out.push(Record {
                gflops: Some(6.0 * mlp_macs(mlp) as f64 * batch as f64 / step.median_s / 1e9),
                samples_per_s: Some(batch as f64 / step.median_s),
                batch: Some(batch),
                devices: Some(n),
                reduce_seconds: Some((after.seconds - before.seconds) / reduced),
                ..Record::wall(
                    format!("data-parallel step {}", mlp.describe()),
                    name,
                    format!("batch {batch} on {n}"),
                    step.median_s,
                    step.best_s,
                )
            });
        }
    }
    Ok(out)
}

/// Multiply-adds of one example's forward pass (a step is about three times as many, times 2 flops).
fn mlp_macs(mlp: &Mlp) -> usize {
    mlp.sizes.windows(2).map(|w| w[0] * w[1]).sum()
}
