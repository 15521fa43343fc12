//! Shared test helpers: the GPU (failing with install instructions when there is none), seeded
//! data, and closeness checks that print what they compared.
#![allow(dead_code)] // each test binary uses its own subset of these helpers

pub mod cli;
pub mod tables;

use std::sync::OnceLock;

use shadergrad::backend::wgpu::WgpuBackend;
use shadergrad::data::Task;
use shadergrad::nn::{Activation, Init, Mlp};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::plan::ParamStore;
use shadergrad::train::TrainConfig;

/// The GPU every test in a binary shares. Never skipped: without an adapter the test fails and
/// says how to install one.
pub fn gpu() -> WgpuBackend {
    static GPU: OnceLock<Result<WgpuBackend, String>> = OnceLock::new();
    match GPU.get_or_init(|| WgpuBackend::new().map_err(|e| e.to_string())) {
        Ok(g) => g.clone(),
        Err(e) => panic!("GPU tests need a GPU adapter: {e}"),
    }
}

/// A small seeded generator (xorshift64*), so test data is the same on every run and machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }

    /// Values in ±[lo, hi]: random sign, magnitude away from zero.
    pub fn away_from_zero(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let v = self.uniform(lo, hi);
                if self.next_u64() & 1 == 0 {
                    v
                } else {
                    -v
                }
            })
            .collect()
    }

    /// Whole numbers in 0..classes, as the loss kernels take labels.
    pub fn labels(&mut self, n: usize, classes: usize) -> Vec<f64> {
        (0..n).map(|_| (self.next_u64() % classes as u64) as f64).collect()
    }
}

/// Checks `got` against `want` element by element: `|got − want| ≤ abs + rel·scale_i`, where
/// `scale_i` is `|want_i|` or, for sums, the magnitude of the terms (`scale`). Prints one line
/// with the worst errors, so the test output shows every comparison.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], abs: f64, rel: f64, scale: Option<&[f64]>) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let mut worst = (0usize, 0.0f64, 0.0f64); // index, abs error, error / allowed
    let mut max_rel = 0.0f64;
    for i in 0..got.len() {
        let err = (got[i] - want[i]).abs();
        let s = scale.map_or(want[i].abs(), |s| s[i].max(want[i].abs()));
        let allowed = abs + rel * s;
        let ratio = if err == 0.0 { 0.0 } else { err / allowed };
        let within = err <= allowed;
        let not_close = !within || got[i].is_nan() != want[i].is_nan();
        if want[i].is_nan() && got[i].is_nan() {
            continue;
        }
        if not_close || ratio > worst.2 {
            worst = (i, err, if not_close { f64::INFINITY } else { ratio });
        }
        if want[i] != 0.0 {
            max_rel = max_rel.max(err / want[i].abs());
        }
        assert!(
            !not_close,
            "{what}: element {i} is {} but the reference is {} (|diff| {err:.3e} > allowed {allowed:.3e} = {abs:e} + {rel:e}·{s:.3e})",
            got[i], want[i]
        );
    }
    println!(
        "  {what:<48} {} values  max|diff| {:.2e} (at {})  max rel {:.2e}  tol {abs:.0e}+{rel:.0e}·scale",
        got.len(),
        worst.1,
        worst.0,
        max_rel
    );
}

use shadergrad::backend::{Backend, Element, Kernel, Params};

/// What a kernel's write-only outputs hold before it runs: a kernel that forgets to write an
/// element leaves this value behind, and the comparison catches it.
pub const SENTINEL: f64 = -777.0;

/// Runs one kernel on any backend: allocates a buffer per binding, fills it from `init` (one
/// vector per binding; write-only outputs get [`SENTINEL`]), runs, and returns the contents of
/// every buffer the kernel writes, in binding order.
pub fn run_kernel<B: Backend>(b: &B, kernel: Kernel, params: Params, init: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let bindings = kernel.bindings(&params);
    assert_eq!(
        bindings.len(),
        init.len(),
        "{}: one init vector per binding",
        kernel.name()
    );
    let bufs: Vec<B::Buffer> = bindings
        .iter()
        .zip(init)
        .map(|(bd, data)| {
            let buf = b.alloc(bd.len, bd.role).expect("alloc");
            let data: Vec<B::Elem> = if data.is_empty() && bd.write {
                vec![B::Elem::from_f64(SENTINEL); bd.len]
            } else {
                data.iter().map(|&v| B::Elem::from_f64(v)).collect()
            };
            b.upload(&buf, &data).expect("upload");
            buf
        })
        .collect();
    let refs: Vec<&B::Buffer> = bufs.iter().collect();
    let launch = b.prepare(kernel, params, &refs).expect("prepare");
    let writes: Vec<&B::Buffer> = bindings
        .iter()
        .zip(&bufs)
        .filter(|(bd, _)| bd.write)
        .map(|(_, b)| b)
        .collect();
    b.run(&[launch], &writes)
        .expect("run")
        .into_iter()
        .map(|v| v.into_iter().map(Element::as_f64).collect())
        .collect()
}

/// Rounds data to f32 so that both backends start from exactly the same numbers.
pub fn f32_exact(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().map(|x| x as f32 as f64).collect()
}

use shadergrad::{backend::cpu::CpuBackend, check::run_once, Graph, Tensor};

/// Runs `outputs` on the CPU (f64) and on the GPU and returns both results, labelled.
pub fn on_both(graph: &Graph, outputs: &[&Tensor], feeds: &[(&Tensor, &[f64])]) -> Vec<(&'static str, Vec<Vec<f64>>)> {
    vec![
        (
            "cpu",
            run_once(&CpuBackend::<f64>::new(), graph, outputs, feeds).expect("cpu run"),
        ),
        ("gpu", run_once(&gpu(), graph, outputs, feeds).expect("gpu run")),
    ]
}

/// Asserts a scalar is within `tol` of the hand-derived value.
pub fn assert_near(what: &str, backend: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what} on {backend}: got {got}, the seeds derive {want}"
    );
    println!("  {what:<40} {backend}: {got:>12.6}  (seeds: {want})");
}

/// A `.npy` file: `descr` (`<f4`, `>i2`, ...), Fortran or C order, `shape`, raw little- or
/// big-endian data as `descr` says. The header is padded to 64 bytes as NumPy writes it.
pub fn npy(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let order = if fortran { "True" } else { "False" };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A little-endian f64 `.npy` of `shape`.
pub fn npy_f64(shape: &[usize], values: &[f64]) -> Vec<u8> {
    npy(
        "<f8",
        false,
        shape,
        &values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
    )
}

/// An `.npz` archive of `members` (name without `.npy`, bytes), deflated or stored.
pub fn npz(members: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in members {
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A ReLU classifier of the 784-pixel digits through `hidden` layers: `optimizer` at a constant
/// rate, no regularisation, the loss read every step.
pub fn digits_config(hidden: &[usize], optimizer: Optimizer, batch: usize, epochs: u64, seed: u64) -> TrainConfig {
    let sizes: Vec<usize> = [784].iter().chain(hidden).chain(&[10]).copied().collect();
    TrainConfig {
        mlp: Mlp::new(&sizes, Activation::Relu).unwrap(),
        task: Task::Classify,
        init: Init::KaimingUniform,
        optimizer,
        schedule: Schedule::Constant,
        batch,
        epochs,
        seed,
        loss_every: 1,
        regularize: Default::default(),
    }
}

/// Every parameter value of `store` as bits, in the store's order: for bit-for-bit comparisons.
pub fn param_bits<B: Backend>(store: &ParamStore<B>) -> Vec<u64> {
    store
        .read_all()
        .unwrap()
        .into_iter()
        .flat_map(|p| p.2)
        .map(f64::to_bits)
        .collect()
}

use shadergrad::op::Epilogue;

/// Matmul shapes `(m, n, k)` every matmul path is tested on first: 1×1, primes, 1×K and K×1,
/// edges in every dimension, whole tiles.
pub const AWKWARD_MATMULS: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (7, 13, 5),
    (1, 37, 19),
    (37, 1, 19),
    (65, 63, 17),
    (64, 64, 64),
];

/// Every operand layout `(ta, tb)` of a matmul.
pub const MATMUL_LAYOUTS: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

/// The bias and epilogue combinations each matmul path is tested with: none, a bias, a bias and
/// an activation, an activation's derivative.
pub const MATMUL_EPILOGUES: [(bool, Epilogue); 4] = [
    (false, Epilogue::None),
    (true, Epilogue::None),
    (true, Epilogue::Activation(shadergrad::UnaryOp::Relu)),
    (false, Epilogue::ActivationGrad(shadergrad::UnaryOp::Relu)),
];
