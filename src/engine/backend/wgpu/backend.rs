//! The wgpu backend: tensors are storage buffers, kernels are WGSL compute pipelines (cached by
//! file, entry point and specialisation), and a list of launches runs as one compute pass in one
//! command buffer, one submit.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::engine::backend::{check_view, wall_time, warm_up, Backend, PipelineTime, Timing};
use crate::engine::error::{Error, Result};
use crate::engine::kernel::{Kernel, Params};

use super::context::{lock, no_mixed_precision, CachedPipeline, GpuContext};
use super::dispatch::launch_plan;
use super::launch::{MatmulPath, PipelineKey, Slot, Source, Uniform};
use super::timestamps::time_with_timestamps;

/// The GPU backend. Cheap to clone: clones share one device.
///
/// ```no_run
/// use shadergrad::backend::{wgpu::WgpuBackend, Backend};
/// let gpu = WgpuBackend::new()?;
/// println!("running on {}", gpu.describe());
/// # Ok::<(), shadergrad::Error>(())
/// ```
#[derive(Clone)]
pub struct WgpuBackend {
    ctx: Arc<GpuContext>,
    matmul: MatmulKernels,
}

/// Which matmul kernels a backend runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulKernels {
    /// Register-blocked on CPU adapters (lavapipe), workgroup-tiled elsewhere.
    Auto,
    /// Always the workgroup-tiled kernels of `shaders/matmul.wgsl`.
    Tiled,
    /// Always the generated register-blocked kernel.
    Blocked,
    /// The mixed-precision kernel on cooperative matrices (f16 operands, f32 sums): only on a
    /// device opened by [`WgpuBackend::mixed_precision`], an error elsewhere.
    Cooperative,
}

/// A GPU tensor's storage: `len` f32 values from byte `offset` of a storage buffer (0 unless
/// the tensor is a view of an arena).
#[derive(Clone, Debug)]
pub struct GpuBuffer {
    buffer: wgpu::Buffer,
    offset: u64,
    len: usize,
    name: Arc<str>,
}

impl GpuBuffer {
    /// The binding of this tensor, padded to whole vec4s like every buffer (views are placed
    /// at offsets of at least 16 bytes, so the padding stays inside their own slot).
    fn binding(&self) -> wgpu::BindingResource<'_> {
        let size = (self.len as u64 * 4).div_ceil(16).max(1) * 16;
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: std::num::NonZeroU64::new(size),
        })
    }
}

/// A prepared GPU launch: its dispatches (pipeline, bind group and grid each, built once), the
/// uniform they share and, for a matmul split along k, the scratch buffer of partial products.
pub struct GpuLaunch {
    kernel: Kernel,
    dispatches: Vec<PreparedDispatch>,
    uniform: wgpu::Buffer,
    lens: Vec<usize>,
    /// Kept alive for the bind groups that use it.
    _scratch: Option<GpuBuffer>,
}

/// A submission whose reads are on their way back ([`Backend::submit`]).
pub struct GpuPending {
    /// How many buffers were asked for (each read back empty when there are no bytes).
    reads: usize,
    readback: Option<Readback>,
}

/// The staging buffer a submission copies its reads into, and the map request that completes
/// when the submission does.
struct Readback {
    staging: wgpu::Buffer,
    bytes: u64,
    /// Each read's byte offset in `staging` and its length in values.
    parts: Vec<(u64, usize)>,
    submission: wgpu::SubmissionIndex,
    mapped: std::sync::mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
}

struct PreparedDispatch {
    key: PipelineKey,
    pipeline: Arc<CachedPipeline>,
    bind_group: wgpu::BindGroup,
    grid: [u32; 3],
}

impl WgpuBackend {
    /// Opens the best GPU (see [`GpuContext::new`] for `SHADERGRAD_ADAPTER`).
    pub fn new() -> Result<Self> {
        Ok(WgpuBackend {
            ctx: Arc::new(GpuContext::new(false)?),
            matmul: MatmulKernels::Auto,
        })
    }

    /// Opens the best GPU (as [`WgpuBackend::new`] picks it) for mixed precision: every matrix
    /// product rounds its operands to f16 and sums in f32 on the adapter's cooperative matrices
    /// (tensor cores on NVIDIA), through wgpu's experimental `EXPERIMENTAL_COOPERATIVE_MATRIX`.
    /// A product then keeps about three significant digits of each operand (f32: seven), and
    /// operands past ±65,504 overflow; everything else runs in f32 as before. An
    /// [`Error::Unsupported`] saying why where the adapter cannot: it needs square 16×16 or
    /// 8×8 f16 × f16 + f32 matrices (NVIDIA on Vulkan; Mesa 26.1's lavapipe, not 25.0's) and subgroups
    /// of one size.
    ///
    /// ```no_run
    /// use shadergrad::backend::{wgpu::WgpuBackend, Backend};
    /// match WgpuBackend::mixed_precision() {
    ///     Ok(gpu) => println!("f16 products on {}", gpu.describe()),
    ///     Err(e) => println!("f32 only: {e}"),
    /// }
    /// ```
    pub fn mixed_precision() -> Result<Self> {
        Ok(WgpuBackend {
            ctx: Arc::new(GpuContext::new(true)?),
            matmul: MatmulKernels::Cooperative,
        })
    }

    /// Opens a device of its own on `adapter` (one of [`adapters`](super::adapters)): several backends on one
    /// adapter are separate devices, as data-parallel replicas on one GPU are.
    pub fn on_adapter(adapter: wgpu::Adapter) -> Result<Self> {
        Ok(WgpuBackend {
            ctx: Arc::new(GpuContext::open(adapter, false)?),
            matmul: MatmulKernels::Auto,
        })
    }

    /// The same device, running the given matmul kernels (to compare or test them).
    pub fn with_matmul(&self, matmul: MatmulKernels) -> Self {
        WgpuBackend {
            ctx: Arc::clone(&self.ctx),
            matmul,
        }
    }

    /// How many buffers this device has created so far: in a steady state (the same plan run
    /// again and again) this stops growing.
    pub fn buffers_created(&self) -> u64 {
        self.ctx.buffers_created.load(Ordering::Relaxed)
    }

    /// The device context (adapter info, limits, raw device and queue).
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// The shader module of `source`, and the seconds it took to build if this call built it.
    fn module(&self, source: Source) -> Result<(wgpu::ShaderModule, f64)> {
        if let Some(m) = lock(&self.ctx.modules).get(&source) {
            return Ok((m.clone(), 0.0));
        }
        let start = Instant::now();
        let text = source.text();
        let name = source.name();
        let module = self.ctx.scoped(
            || format!("compiling {name}"),
            || {
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(&name),
                    source: wgpu::ShaderSource::Wgsl(text.into()),
                };
                // Bounds checks stay on. Loop bounding (a counter wgpu adds to every loop, in
                // case one never ends) goes on GPUs: every loop in these shaders counts up to a
                // bound below 2³² by a constant step (or halves a stride), so each ends, and on an
                // H100 the counter cost the tiled matmul a quarter of its speed (4096³: 23.4
                // TFLOP/s with it, 30.9 without). CPU adapters keep it: without it lavapipe's
                // LLVM took ten times longer over the matmul tests.
                let mut checks = wgpu::ShaderRuntimeChecks::checked();
                checks.force_loop_bounding = self.ctx.info.device_type == wgpu::DeviceType::Cpu;
                // SAFETY: as above, every loop of `shaders/` and of the generated matmul ends.
                unsafe { self.ctx.device.create_shader_module_trusted(desc, checks) }
            },
        )?;
        lock(&self.ctx.modules).insert(source, module.clone());
        Ok((module, start.elapsed().as_secs_f64()))
    }

    /// The matmul kernels this backend runs: by default the register-blocked one on a CPU
    /// Vulkan driver (lavapipe), where it wins, and the tiled ones elsewhere.
    fn matmul_path(&self) -> Result<MatmulPath> {
        Ok(match self.matmul {
            MatmulKernels::Auto if self.ctx.info.device_type == wgpu::DeviceType::Cpu => MatmulPath::Blocked,
            MatmulKernels::Auto | MatmulKernels::Tiled => MatmulPath::Tiled,
            MatmulKernels::Blocked => MatmulPath::Blocked,
            MatmulKernels::Cooperative => MatmulPath::Cooperative(self.ctx.coop.ok_or_else(|| {
                let why = "this device was not opened for it (use WgpuBackend::mixed_precision)";
                no_mixed_precision(self.describe(), why.into())
            })?),
        })
    }

    fn pipeline(&self, key: &PipelineKey, bindings: &[(u32, bool, Slot)]) -> Result<Arc<CachedPipeline>> {
        if let Some(p) = lock(&self.ctx.pipelines).get(key) {
            return Ok(Arc::clone(p));
        }
        let (module, module_s) = self.module(key.source)?;
        let start = Instant::now();
        let mut entries = vec![layout_entry(0, wgpu::BufferBindingType::Uniform)];
        for &(slot, read_only, _) in bindings {
            entries.push(layout_entry(slot, wgpu::BufferBindingType::Storage { read_only }));
        }
        let constants: Vec<(&str, f64)> = key.constants.iter().map(|&(n, v)| (n, v as f64)).collect();
        let cached = self.ctx.scoped(
            || format!("building the pipeline {} ({})", key.entry, key.source.name()),
            || {
                let device = &self.ctx.device;
                let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(key.entry),
                    entries: &entries,
                });
                let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some(key.entry),
                    bind_group_layouts: &[Some(&layout)],
                    immediate_size: 0,
                });
                let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(key.entry),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(key.entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &constants,
                        // Every kernel writes its workgroup memory before reading it.
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                });
                CachedPipeline {
                    pipeline,
                    layout,
                    name: format!("{} ({})", key.entry, key.source.name()),
                    create_s: module_s + start.elapsed().as_secs_f64(),
                    first_run_s: OnceLock::new(),
                }
            },
        )?;
        let cached = Arc::new(cached);
        lock(&self.ctx.pipelines).insert(key.clone(), Arc::clone(&cached));
        lock(&self.ctx.made).push(Arc::clone(&cached));
        Ok(cached)
    }

    /// Runs `launches` up to and including the last dispatch of a pipeline never run before,
    /// each such dispatch in a submit of its own, timed (what runs before it is submitted and
    /// waited for first): lavapipe compiles a pipeline at its first dispatch, and this is how
    /// [`Backend::pipeline_times`] learns what that cost. Returns how many dispatches it ran;
    /// the caller encodes the rest as usual. Only a pipeline's first run pays for this.
    fn run_first_uses(&self, launches: &[GpuLaunch]) -> Result<usize> {
        let dispatches = || all_dispatches(launches).filter(|d| !d.grid.contains(&0));
        let is_new = |d: &PreparedDispatch| d.pipeline.first_run_s.get().is_none();
        let Some(last_new) = dispatches()
            .enumerate()
            .filter(|(_, d)| is_new(d))
            .map(|(i, _)| i)
            .last()
        else {
            return Ok(0);
        };
        let submit = |ds: &[&PreparedDispatch]| -> Result<()> {
            if ds.is_empty() {
                return Ok(());
            }
            self.ctx.scoped(
                || "running kernels".into(),
                || {
                    let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
                    self.encode(&mut encoder, ds.iter().copied(), None);
                    self.ctx.queue.submit([encoder.finish()]);
                },
            )?;
            self.ctx.submissions.fetch_add(1, Ordering::Relaxed);
            self.ctx.wait()
        };
        let mut pending = Vec::new();
        for d in dispatches().take(last_new + 1) {
            if !is_new(d) {
                pending.push(d);
                continue;
            }
            submit(&pending)?;
            pending.clear();
            let start = Instant::now();
            submit(&[d])?;
            // A pipeline dispatched twice in this run is timed at its first dispatch only.
            let _ = d.pipeline.first_run_s.set(start.elapsed().as_secs_f64());
        }
        submit(&pending)?;
        Ok(last_new + 1)
    }

    /// Encodes `dispatches` as one compute pass, optionally bracketed by timestamp writes.
    fn encode<'a>(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        dispatches: impl Iterator<Item = &'a PreparedDispatch>,
        timestamps: Option<&wgpu::QuerySet>,
    ) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("shadergrad step"),
            timestamp_writes: timestamps.map(|query_set| wgpu::ComputePassTimestampWrites {
                query_set,
                beginning_of_pass_write_index: Some(0),
                end_of_pass_write_index: Some(1),
            }),
        });
        for d in dispatches {
            if d.grid.contains(&0) {
                continue;
            }
            pass.set_pipeline(&d.pipeline.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            pass.dispatch_workgroups(d.grid[0], d.grid[1], d.grid[2]);
        }
    }

    /// A staging buffer of at least `bytes`, taken from the pool (or made, sized to a power
    /// of two so later readbacks fit). Give it back with [`Self::return_staging`].
    fn take_staging(&self, bytes: u64) -> wgpu::Buffer {
        let mut pool = lock(&self.ctx.staging);
        if let Some(i) = pool.iter().position(|b| b.size() >= bytes) {
            return pool.swap_remove(i);
        }
        drop(pool);
        self.ctx.create_buffer(&wgpu::BufferDescriptor {
            label: Some("shadergrad readback"),
            size: bytes.next_power_of_two().max(256),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn return_staging(&self, buffer: wgpu::Buffer) {
        lock(&self.ctx.staging).push(buffer);
    }

    /// Waits for a readback's submission and returns the f32 values at each of its parts.
    fn collect(&self, r: &Readback) -> Result<Vec<Vec<f32>>> {
        self.ctx.wait_for(r.submission.clone())?;
        let failed = |message: String| Error::Gpu {
            during: "reading results back".into(),
            message,
        };
        match r.mapped.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.ctx.check_faults()?;
                return Err(failed(e.to_string()));
            }
            Err(_) => {
                self.ctx.check_faults()?;
                return Err(failed("the buffer was never mapped".into()));
            }
        }
        let slice = r.staging.slice(..r.bytes);
        let out = {
            let view = slice.get_mapped_range().map_err(|e| failed(e.to_string()))?;
            let all: &[f32] = bytemuck::cast_slice(&view);
            r.parts
                .iter()
                .map(|&(offset, len)| {
                    let start = (offset / 4) as usize;
                    all[start..start + len].to_vec()
                })
                .collect()
        };
        r.staging.unmap();
        Ok(out)
    }
}

/// Every dispatch of `launches`, in order.
fn all_dispatches(launches: &[GpuLaunch]) -> impl Iterator<Item = &PreparedDispatch> {
    launches.iter().flat_map(|l| &l.dispatches)
}

fn layout_entry(slot: u32, ty: wgpu::BufferBindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding: slot,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

impl Backend for WgpuBackend {
    type Elem = f32;
    type Buffer = GpuBuffer;
    type Launch = GpuLaunch;
    type Pending = GpuPending;

    fn describe(&self) -> String {
        match (self.matmul, self.ctx.coop) {
            (MatmulKernels::Cooperative, Some(c)) => format!(
                "{}, f16 products on {}×{} cooperative matrices",
                self.ctx.describe(),
                c.tile,
                c.tile
            ),
            _ => self.ctx.describe(),
        }
    }

    fn is_gpu(&self) -> bool {
        true
    }

    fn alloc(&self, len: usize, name: &str) -> Result<GpuBuffer> {
        let bytes = (len as u64).saturating_mul(4);
        let limit = self.ctx.max_binding_bytes();
        if bytes > limit {
            return Err(Error::TooLarge {
                name: name.into(),
                bytes,
                limit,
                device: self.describe(),
            });
        }
        let buffer = self.ctx.scoped(
            || format!("allocating {bytes} bytes for `{name}`"),
            || {
                self.ctx.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(name),
                    // Padded to 16 bytes: kernels may read any buffer as vec4s (and a binding
                    // must not be empty).
                    size: bytes.div_ceil(16).max(1) * 16,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            },
        )?;
        Ok(GpuBuffer {
            buffer,
            offset: 0,
            len,
            name: name.into(),
        })
    }

    fn max_len(&self) -> usize {
        (self.ctx.max_binding_bytes() / 4) as usize
    }

    fn view_alignment(&self) -> usize {
        (self.ctx.limits.min_storage_buffer_offset_alignment as usize / 4).max(4)
    }

    fn view(&self, buffer: &GpuBuffer, offset: usize, len: usize) -> Result<GpuBuffer> {
        check_view(self, buffer.len, offset, len)?;
        Ok(GpuBuffer {
            buffer: buffer.buffer.clone(),
            offset: buffer.offset + offset as u64 * 4,
            len,
            name: buffer.name.clone(),
        })
    }

    fn upload(&self, buffer: &GpuBuffer, data: &[f32]) -> Result<()> {
        if data.len() != buffer.len {
            return Err(Error::Length {
                what: format!("upload to `{}`", buffer.name),
                expected: buffer.len,
                got: data.len(),
            });
        }
        self.ctx.check_faults()?;
        if !data.is_empty() {
            self.ctx
                .queue
                .write_buffer(&buffer.buffer, buffer.offset, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    fn prepare(&self, kernel: Kernel, params: Params, buffers: &[&GpuBuffer]) -> Result<GpuLaunch> {
        let lens: Vec<usize> = buffers.iter().map(|b| b.len).collect();
        kernel.check_buffers(&params, &lens)?;
        let plan = launch_plan(&kernel, &params, self.matmul_path()?)?;
        let scratch = match plan.scratch {
            0 => None,
            len => Some(self.alloc(len, "split-k partial products")?),
        };
        let device = &self.ctx.device;
        let uniform = self.ctx.scoped(
            || format!("creating the params of {}", kernel.name()),
            || {
                self.ctx.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("params"),
                    size: std::mem::size_of::<Uniform>() as u64,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            },
        )?;
        self.ctx
            .queue
            .write_buffer(&uniform, 0, bytemuck::bytes_of(&Uniform::new(&kernel, &plan.params)));
        let mut dispatches = Vec::with_capacity(plan.dispatches.len());
        for d in plan.dispatches {
            let pipeline = self.pipeline(&d.key, &d.bindings)?;
            let bind_group = self.ctx.scoped(
                || format!("binding buffers for {}", kernel.name()),
                || {
                    let mut entries = vec![wgpu::BindGroupEntry {
                        binding: 0,
                        resource: uniform.as_entire_binding(),
                    }];
                    for &(slot, _, which) in &d.bindings {
                        let buffer = match (which, &scratch) {
                            (Slot::Arg(i), _) => buffers[i],
                            (Slot::Scratch, Some(s)) => s,
                            (Slot::Scratch, None) => unreachable!("launch plans with scratch bindings allocate it"),
                        };
                        entries.push(wgpu::BindGroupEntry {
                            binding: slot,
                            resource: buffer.binding(),
                        });
                    }
                    device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some("shadergrad launch"),
                        layout: &pipeline.layout,
                        entries: &entries,
                    })
                },
            )?;
            dispatches.push(PreparedDispatch {
                key: d.key,
                pipeline,
                bind_group,
                grid: d.grid,
            });
        }
        Ok(GpuLaunch {
            kernel,
            dispatches,
            uniform,
            lens,
            _scratch: scratch,
        })
    }

    fn set_params(&self, launch: &mut GpuLaunch, params: Params) -> Result<()> {
        launch.kernel.check_buffers(&params, &launch.lens)?;
        let plan = launch_plan(&launch.kernel, &params, self.matmul_path()?)?;
        let same = plan.dispatches.len() == launch.dispatches.len()
            && plan
                .dispatches
                .iter()
                .zip(&launch.dispatches)
                .all(|(p, d)| p.key == d.key);
        if !same {
            return Err(Error::NeedsNewPipelines {
                kernel: launch.kernel.name(),
            });
        }
        for (p, d) in plan.dispatches.iter().zip(&mut launch.dispatches) {
            d.grid = p.grid;
        }
        self.ctx.check_faults()?;
        self.ctx.queue.write_buffer(
            &launch.uniform,
            0,
            bytemuck::bytes_of(&Uniform::new(&launch.kernel, &plan.params)),
        );
        Ok(())
    }

    fn submit(&self, launches: &[GpuLaunch], read: &[&GpuBuffer]) -> Result<GpuPending> {
        let mut parts = Vec::with_capacity(read.len());
        let mut bytes = 0u64;
        for b in read {
            parts.push((bytes, b.len));
            bytes += b.len as u64 * 4;
        }
        let ran = self.run_first_uses(launches)?;
        let staging = (bytes > 0).then(|| self.take_staging(bytes));
        let submission = self.ctx.scoped(
            || "running kernels".into(),
            || {
                let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
                if !launches.is_empty() {
                    let rest = all_dispatches(launches).filter(|d| !d.grid.contains(&0)).skip(ran);
                    self.encode(&mut encoder, rest, None);
                }
                if let Some(staging) = &staging {
                    for (b, &(offset, len)) in read.iter().zip(&parts) {
                        if len > 0 {
                            encoder.copy_buffer_to_buffer(&b.buffer, b.offset, staging, offset, len as u64 * 4);
                        }
                    }
                }
                self.ctx.queue.submit([encoder.finish()])
            },
        )?;
        self.ctx.submissions.fetch_add(1, Ordering::Relaxed);
        let Some(staging) = staging else {
            // Nothing to read: let the GPU run ahead; faults surface from the next call.
            self.ctx.poll_without_waiting()?;
            return Ok(GpuPending {
                reads: read.len(),
                readback: None,
            });
        };
        // Mapped once the submission is done; `finish` waits for that.
        let (tx, mapped) = std::sync::mpsc::channel();
        staging.slice(..bytes).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        Ok(GpuPending {
            reads: read.len(),
            readback: Some(Readback {
                staging,
                bytes,
                parts,
                submission,
                mapped,
            }),
        })
    }

    fn finish(&self, pending: GpuPending) -> Result<Vec<Vec<f32>>> {
        let Some(readback) = pending.readback else {
            return Ok(vec![Vec::new(); pending.reads]);
        };
        let values = self.collect(&readback);
        if values.is_ok() {
            self.return_staging(readback.staging);
        }
        values
    }

    fn submissions(&self) -> u64 {
        self.ctx.submissions.load(Ordering::Relaxed)
    }

    fn pipeline_times(&self) -> Vec<PipelineTime> {
        lock(&self.ctx.made)
            .iter()
            .map(|p| PipelineTime {
                name: p.name.clone(),
                create_s: p.create_s,
                first_run_s: p.first_run_s.get().copied(),
            })
            .collect()
    }

    fn synchronize(&self) -> Result<()> {
        self.ctx.wait()
    }

    fn time(&self, launches: &[GpuLaunch], reps: usize) -> Result<(f64, Timing)> {
        if self.ctx.has_timestamps() {
            warm_up(self, launches)?;
            let encode = |encoder: &mut wgpu::CommandEncoder, queries: &wgpu::QuerySet| {
                self.encode(encoder, all_dispatches(launches), Some(queries))
            };
            return Ok((time_with_timestamps(&self.ctx, reps, encode)?, Timing::Timestamp));
        }
        Ok((wall_time(self, launches, reps)?, Timing::Wall))
    }
}
