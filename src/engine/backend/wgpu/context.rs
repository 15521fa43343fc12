//! The GPU context: adapter choice, device creation, and the fault handling that turns wgpu's
//! panics into `Result`s.
//!
//! wgpu's default uncaptured-error handler panics. We replace it with one that records the error,
//! wrap every operation that can fail in error scopes, and record device loss from its callback,
//! so a validation error, an out-of-memory or a lost device comes back from the next call as an
//! [`Error`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::engine::error::{Error, Result};

use super::coop::CoopShape;
use super::launch::{PipelineKey, Source};

/// What went wrong on the device outside any error scope, kept for the next call to report.
#[derive(Default)]
struct Faults {
    uncaptured: Mutex<Option<String>>,
    lost: Mutex<Option<String>>,
}

/// A compute pipeline with its explicit bind group layout, and what it cost to make.
pub struct CachedPipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub name: String,
    pub create_s: f64,
    /// Set by the first run that dispatches it (see `WgpuBackend::run_first_uses`).
    pub first_run_s: OnceLock<f64>,
}

/// One GPU: device, queue, caches. Shared by every buffer, launch and plan made on it.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// The cooperative matrices the device was opened to multiply with (see
    /// [`WgpuBackend::mixed_precision`](super::WgpuBackend::mixed_precision)); `None` on a device
    /// opened without them.
    pub coop: Option<CoopShape>,
    faults: Arc<Faults>,
    pub(super) modules: Mutex<HashMap<Source, wgpu::ShaderModule>>,
    pub(super) pipelines: Mutex<HashMap<PipelineKey, Arc<CachedPipeline>>>,
    /// The same pipelines in the order they were made, for `Backend::pipeline_times`.
    pub(super) made: Mutex<Vec<Arc<CachedPipeline>>>,
    /// MAP_READ buffers for readbacks, reused: a run takes one out and puts it back unmapped.
    pub(super) staging: Mutex<Vec<wgpu::Buffer>>,
    pub(super) submissions: AtomicU64,
    /// Every buffer the backend has created (tensors, uniforms, staging, scratch).
    pub(super) buffers_created: AtomicU64,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: the caches hold only
/// finished objects, so the data is never half-written.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Ranks adapter types: discrete before integrated before virtual before software.
fn preference(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// A one-line description of an adapter: `llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, Cpu]`.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    format!("{} [{:?}, {:?}]", info.name, info.backend, info.device_type)
}

/// Every adapter this machine offers, best first.
pub fn adapters() -> Vec<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let mut list = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    list.sort_by_key(|a| preference(a.get_info().device_type));
    list
}

/// The adapter of `list` that `wanted` names: a number is a position in `list` (as
/// [`adapters`] orders it), anything else a case-insensitive part of a name, or a type
/// (`discrete`, `integrated`, `cpu`). `flag` is where the name came from, for the error.
pub fn find_adapter(list: &[wgpu::Adapter], wanted: &str, flag: &str) -> Result<usize> {
    let w = wanted.trim().to_lowercase();
    let found = match w.parse::<usize>() {
        Ok(i) if i < list.len() => Some(i),
        _ => list.iter().position(|a| {
            let info = a.get_info();
            info.name.to_lowercase().contains(&w) || format!("{:?}", info.device_type).to_lowercase().contains(&w)
        }),
    };
    found.ok_or_else(|| Error::UnknownAdapter {
        flag: flag.into(),
        wanted: wanted.into(),
        available: list
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{i}: {}", describe_adapter(&a.get_info())))
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// Every adapter, or an error saying how to install one when there is none.
pub fn some_adapters() -> Result<Vec<wgpu::Adapter>> {
    let list = adapters();
    if list.is_empty() {
        return Err(Error::NoAdapter {
            detail: " (wgpu found no Vulkan, Metal or DX12 device)".into(),
        });
    }
    Ok(list)
}

/// The error for a device that cannot run the mixed-precision matmul, and why.
pub(super) fn no_mixed_precision(device: String, why: String) -> Error {
    Error::Unsupported {
        what: "the mixed-precision (f16 cooperative matrix) matmul".into(),
        device,
        why,
    }
}

/// The features a device needs for [`CoopShape`] kernels.
const COOP_FEATURES: wgpu::Features = wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX
    .union(wgpu::Features::SHADER_F16)
    .union(wgpu::Features::SUBGROUP);

/// The shape the mixed-precision matmul would use on `adapter`, or why it cannot run there.
pub fn coop_shape(adapter: &wgpu::Adapter) -> std::result::Result<CoopShape, String> {
    let missing: Vec<&str> = [
        (wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX, "cooperative matrices"),
        (wgpu::Features::SHADER_F16, "f16 in shaders"),
        (wgpu::Features::SUBGROUP, "subgroups"),
    ]
    .into_iter()
    .filter(|(f, _)| !adapter.features().contains(*f))
    .map(|(_, name)| name)
    .collect();
    if !missing.is_empty() {
        return Err(format!("it offers no {} (wgpu features)", missing.join(", no ")));
    }
    use wgpu::CooperativeScalarType::{F16, F32};
    let offered = adapter.cooperative_matrix_properties();
    // The largest square f16 × f16 + f32 matrix: 16×16 where there is one (NVIDIA), else 8×8.
    let tile = [16, 8].into_iter().find(|&t| {
        offered
            .iter()
            .any(|c| (c.m_size, c.n_size, c.k_size, c.ab_type, c.cr_type) == (t, t, t, F16, F32))
    });
    let Some(tile) = tile else {
        return Err(format!(
            "it offers no 8×8 or 16×16 cooperative matrix with f16 inputs and f32 sums (it offers {offered:?})"
        ));
    };
    let info = adapter.get_info();
    let subgroup = info.subgroup_max_size;
    if info.subgroup_min_size != subgroup {
        return Err(format!(
            "its subgroups vary from {} to {subgroup} invocations, and the kernel needs exactly four to a workgroup",
            info.subgroup_min_size
        ));
    }
    let limits = adapter.limits();
    // Workgroup memory: two f16 slices of 8·tile² and four f32 tiles.
    let bytes = 48 * tile * tile;
    let invocations = 4 * subgroup;
    if subgroup > tile * tile
        || invocations > limits.max_compute_invocations_per_workgroup
        || bytes > limits.max_compute_workgroup_storage_size
    {
        return Err(format!(
            "a workgroup of {invocations} invocations and {bytes} bytes of workgroup memory does not fit it"
        ));
    }
    Ok(CoopShape { tile, subgroup })
}

impl GpuContext {
    /// Opens the best adapter, or the one `SHADERGRAD_ADAPTER` names (as [`find_adapter`]
    /// reads a name); `coop` asks for its cooperative matrices too.
    pub fn new(coop: bool) -> Result<Self> {
        let list = some_adapters()?;
        let at = match std::env::var("SHADERGRAD_ADAPTER") {
            Ok(wanted) if !wanted.trim().is_empty() => find_adapter(&list, &wanted, "SHADERGRAD_ADAPTER")?,
            _ => 0,
        };
        Self::open(list[at].clone(), coop)
    }

    /// Opens a device on `adapter` (each call a device of its own, so one adapter can hold
    /// several); `coop` asks for its cooperative matrices too, an error where it has none.
    pub fn open(adapter: wgpu::Adapter, coop: bool) -> Result<Self> {
        let info = adapter.get_info();
        // Ask for everything the adapter offers: big tensors need more than WebGPU's defaults
        // (128 MiB per binding), and timestamps let benchmarks time the GPU itself.
        let limits = adapter.limits();
        let mut features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
        let coop = match coop {
            false => None,
            true => Some(coop_shape(&adapter).map_err(|why| no_mixed_precision(describe_adapter(&info), why))?),
        };
        // Experimental features only on request: wgpu warns that they may still hold bugs.
        let mut experimental_features = wgpu::ExperimentalFeatures::disabled();
        if coop.is_some() {
            features |= COOP_FEATURES;
            // SAFETY: the token only unlocks EXPERIMENTAL_COOPERATIVE_MATRIX; the kernels that
            // use it (coop.rs) are tested against the CPU backend on every adapter offering it.
            experimental_features = unsafe { wgpu::ExperimentalFeatures::enabled() };
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("shadergrad"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features,
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu {
            during: format!("opening {}", describe_adapter(&info)),
            message: e.to_string(),
        })?;

        let faults = Arc::new(Faults::default());
        let sink = Arc::clone(&faults);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = lock(&sink.uncaptured);
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
        }));
        let sink = Arc::clone(&faults);
        device.set_device_lost_callback(move |reason, message| {
            *lock(&sink.lost) = Some(format!("{reason:?}: {message}"));
        });

        Ok(GpuContext {
            device,
            queue,
            info,
            limits,
            features,
            coop,
            faults,
            modules: Mutex::new(HashMap::new()),
            pipelines: Mutex::new(HashMap::new()),
            made: Mutex::new(Vec::new()),
            staging: Mutex::new(Vec::new()),
            submissions: AtomicU64::new(0),
            buffers_created: AtomicU64::new(0),
        })
    }

    /// Reports device loss, or an error that escaped every scope, as an `Err`.
    pub fn check_faults(&self) -> Result<()> {
        if let Some(reason) = lock(&self.faults.lost).clone() {
            return Err(Error::DeviceLost { reason });
        }
        if let Some(message) = lock(&self.faults.uncaptured).take() {
            return Err(Error::Gpu {
                during: "an earlier operation".into(),
                message,
            });
        }
        Ok(())
    }

    /// Runs `f` inside validation, out-of-memory and internal error scopes and turns whatever
    /// they catch into an `Err` naming `during`.
    pub fn scoped<R>(&self, during: impl Fn() -> String, f: impl FnOnce() -> R) -> Result<R> {
        self.check_faults()?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let value = f();
        // Scopes pop innermost first.
        let errors = [internal.pop(), validation.pop(), oom.pop()].map(block_on);
        if let Some(e) = errors.into_iter().flatten().next() {
            self.check_faults()?;
            return Err(Error::Gpu {
                during: during(),
                message: e.to_string(),
            });
        }
        Ok(value)
    }

    /// Waits for all submitted work, reporting device loss.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu {
                during: "waiting for the GPU".into(),
                message: e.to_string(),
            })?;
        self.check_faults()
    }

    /// Waits for `submission` and the work submitted before it (not after), reporting device loss.
    pub fn wait_for(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: None,
            })
            .map_err(|e| Error::Gpu {
                during: "waiting for the GPU".into(),
                message: e.to_string(),
            })?;
        self.check_faults()
    }

    /// Lets finished work retire (freeing its staging memory) without blocking.
    pub fn poll_without_waiting(&self) -> Result<()> {
        self.device.poll(wgpu::PollType::Poll).map_err(|e| Error::Gpu {
            during: "polling the GPU".into(),
            message: e.to_string(),
        })?;
        self.check_faults()
    }

    /// Creates a buffer, counting it (so soak tests can see a steady state allocates nothing).
    pub fn create_buffer(&self, desc: &wgpu::BufferDescriptor<'_>) -> wgpu::Buffer {
        self.buffers_created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.device.create_buffer(desc)
    }

    /// The largest buffer one shader may bind, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// True when the adapter can time work with timestamp queries.
    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// The adapter, described in one line.
    pub fn describe(&self) -> String {
        describe_adapter(&self.info)
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    pollster::block_on(f)
}
