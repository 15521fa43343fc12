//! Choosing a device: a hardware GPU when there is one, the CPU backend otherwise, overridable
//! by the environment (`SHADERGRAD_BACKEND=cpu|gpu|auto`, `SHADERGRAD_ADAPTER=<name part>`).

use std::sync::Once;

use crate::engine::backend::cpu::CpuBackend;
use crate::engine::backend::wgpu::WgpuBackend;
use crate::engine::backend::Backend;
use crate::engine::error::{Error, Result};

/// A device to run plans on: the wgpu GPU backend or the f32 CPU backend.
#[derive(Clone)]
pub enum Device {
    Gpu(WgpuBackend),
    Cpu(CpuBackend<f32>),
}

impl Device {
    /// The best device: the GPU, unless `SHADERGRAD_BACKEND` says otherwise. When no GPU
    /// adapter exists (and the GPU was not demanded) it falls back to the CPU.
    ///
    /// ```
    /// let device = shadergrad::Device::best()?;
    /// println!("training on {}", device.describe());
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn best() -> Result<Device> {
        let choice = std::env::var("SHADERGRAD_BACKEND").unwrap_or_default();
        Self::named(if choice.trim().is_empty() {
            "auto"
        } else {
            choice.trim()
        })
    }

    /// The device a `--backend` flag names: `gpu` (an error without an adapter), `cpu`, or
    /// `auto`: a hardware GPU if there is one, else the CPU backend. A software rasterizer
    /// (Mesa's lavapipe) counts as no GPU for `auto` unless `SHADERGRAD_ADAPTER` asks for an
    /// adapter: on a 2-core machine it trained the digits MLP 5× slower than the CPU backend
    /// and first compiled shaders for 8 s (BENCHMARKS.md). Says nothing; see
    /// [`Device::with_note`] for why `auto` chose what it chose.
    pub fn named(name: &str) -> Result<Device> {
        Self::with_note(name).map(|(device, _)| device)
    }

    /// [`Device::named`], and a line for the user when `auto` passed over a GPU: a software
    /// one, or none that would open (with why).
    ///
    /// ```
    /// let (device, note) = shadergrad::Device::with_note("cpu")?;
    /// assert!(note.is_none() && !device.describe().is_empty());
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn with_note(name: &str) -> Result<(Device, Option<String>)> {
        match name.to_ascii_lowercase().as_str() {
            "cpu" => Ok((Device::Cpu(CpuBackend::new()), None)),
            "gpu" => Ok((Device::Gpu(WgpuBackend::new()?), None)),
            "auto" => match best_software_adapter() {
                // Told from the adapter's info, before opening a device on it (which costs tens
                // of milliseconds, most of a small table's run).
                Some(name) => {
                    let note = format!(
                        "note: {name} is a software GPU, so the CPU backend runs this (faster here; --backend gpu picks the GPU)"
                    );
                    Ok((Device::Cpu(CpuBackend::new()), Some(note)))
                }
                None => Self::auto_gpu(),
            },
            other => Err(Error::invalid("backend", other, "one of gpu, cpu, auto")),
        }
    }

    /// `auto` when the best adapter is not a software one: the GPU, or the CPU backend with a
    /// note saying why when no GPU would open.
    fn auto_gpu() -> Result<(Device, Option<String>)> {
        match WgpuBackend::new() {
            Ok(gpu) => Ok((Device::Gpu(gpu), None)),
            Err(e @ (Error::UnknownAdapter { .. } | Error::InvalidValue { .. })) => Err(e),
            Err(e) => Ok((
                Device::Cpu(CpuBackend::new()),
                Some(format!("note: {e}\nnote: the CPU backend runs this instead")),
            )),
        }
    }

    /// What the device is.
    pub fn describe(&self) -> String {
        match self {
            Device::Gpu(b) => b.describe(),
            Device::Cpu(b) => b.describe(),
        }
    }
}

/// Devices of one kind, each to hold one data-parallel replica of a model.
pub enum Devices {
    Gpu(Vec<WgpuBackend>),
    Cpu(Vec<CpuBackend<f32>>),
}

impl Devices {
    /// How many devices.
    pub fn len(&self) -> usize {
        match self {
            Devices::Gpu(v) => v.len(),
            Devices::Cpu(v) => v.len(),
        }
    }

    /// True when there are none (never, from [`Device::several`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Device {
    /// The devices a `--devices` flag asks for on the backend `backend` names (as
    /// [`Device::named`] reads it). A count `N` takes the first GPU (or `SHADERGRAD_ADAPTER`'s)
    /// and the next of its kind on the same graphics API, sharing them round-robin when there
    /// are fewer than `N` (saying so once: two devices on one adapter run one after the other);
    /// on the CPU backend it makes `N` CPU replicas. A list `0,2` or `nvidia,amd` names
    /// adapters as `SHADERGRAD_ADAPTER` does, or by their place in [`adapters`](crate::engine::backend::wgpu::adapters);
    /// naming one that is not there, or one twice, is an error listing the adapters.
    ///
    /// ```
    /// use shadergrad::{Device, Devices};
    /// let Devices::Cpu(replicas) = Device::several("cpu", "2")? else { unreachable!() };
    /// assert_eq!(replicas.len(), 2);
    /// assert!(Device::several("cpu", "0").is_err());
    /// assert!(Device::several("cpu", "0,1").is_err()); // the CPU has no adapters to name
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn several(backend: &str, devices: &str) -> Result<Devices> {
        let spec = devices.trim();
        let bad = |why: &str| Error::invalid("--devices", spec, why);
        let count = spec.parse::<usize>().ok();
        let names: Vec<&str> = spec.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
        if count == Some(0) || names.is_empty() {
            return Err(bad(
                "a number of devices (1 or more), or adapters by number or name: 0,1",
            ));
        }
        let gpu = match Self::named(backend)? {
            Device::Cpu(_) if count.is_none() && backend.eq_ignore_ascii_case("cpu") => {
                return Err(bad("a number of CPU replicas: the CPU backend has no adapters to name"))
            }
            Device::Cpu(_) if count.is_some() => false,
            _ => true,
        };
        if !gpu {
            return Ok(Devices::Cpu(
                (0..count.unwrap_or(1)).map(|_| CpuBackend::new()).collect(),
            ));
        }
        let list = crate::engine::backend::wgpu::some_adapters()?;
        let chosen = match count {
            Some(n) => spread(&list, n)?,
            None => {
                let mut chosen: Vec<usize> = Vec::new();
                for name in &names {
                    let at = crate::engine::backend::wgpu::find_adapter(&list, name, "--devices")?;
                    if let Some(j) = chosen.iter().position(|&c| c == at) {
                        return Err(bad(&format!(
                            "each adapter once: `{}` and `{name}` both name {}",
                            names[j],
                            crate::engine::backend::wgpu::describe_adapter(&list[at].get_info())
                        )));
                    }
                    chosen.push(at);
                }
                chosen
            }
        };
        let backends = chosen
            .into_iter()
            .map(|i| WgpuBackend::on_adapter(list[i].clone()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Devices::Gpu(backends))
    }
}

impl Device {
    /// Device `index` of those [`Device::several`] would pick for a count (how each MPI rank
    /// on a host takes its own GPU by its local rank): on the CPU backend, the CPU.
    ///
    /// ```
    /// use shadergrad::{Device, Devices};
    /// let Devices::Cpu(cpu) = Device::nth("cpu", 3)? else { unreachable!() };
    /// assert_eq!(cpu.len(), 1);
    /// # Ok::<(), shadergrad::Error>(())
    /// ```
    pub fn nth(backend: &str, index: usize) -> Result<Devices> {
        match Self::named(backend)? {
            Device::Cpu(cpu) => Ok(Devices::Cpu(vec![cpu])),
            Device::Gpu(_) => {
                let list = crate::engine::backend::wgpu::some_adapters()?;
                let at = spread(&list, index + 1)?[index];
                Ok(Devices::Gpu(vec![WgpuBackend::on_adapter(list[at].clone())?]))
            }
        }
    }
}

/// `n` adapters of `list` for a count: the first (or `SHADERGRAD_ADAPTER`'s), then the others
/// of its kind (hardware or software) on the same graphics API, round-robin when too few.
fn spread(list: &[wgpu::Adapter], n: usize) -> Result<Vec<usize>> {
    let first = match std::env::var("SHADERGRAD_ADAPTER") {
        Ok(w) if !w.trim().is_empty() => crate::engine::backend::wgpu::find_adapter(list, &w, "SHADERGRAD_ADAPTER")?,
        _ => 0,
    };
    let lead = list[first].get_info();
    let software = |t: wgpu::DeviceType| t == wgpu::DeviceType::Cpu;
    let mut kin = vec![first];
    kin.extend((0..list.len()).filter(|&i| {
        let info = list[i].get_info();
        i != first && info.backend == lead.backend && software(info.device_type) == software(lead.device_type)
    }));
    if kin.len() < n {
        static NOTE: Once = Once::new();
        NOTE.call_once(|| {
            eprintln!(
                "shadergrad: {n} devices on {} adapter{} ({}): replicas on one adapter share it",
                kin.len(),
                if kin.len() == 1 { "" } else { "s" },
                crate::engine::backend::wgpu::describe_adapter(&lead)
            )
        });
    }
    Ok((0..n).map(|i| kin[i % kin.len()]).collect())
}

/// The name of the adapter `auto` would open when it is a CPU-emulated one (Mesa's lavapipe),
/// which `auto` passes over; None when it is a hardware GPU, when there is none, or when the user
/// named an adapter with `SHADERGRAD_ADAPTER`.
fn best_software_adapter() -> Option<String> {
    if std::env::var("SHADERGRAD_ADAPTER").is_ok_and(|v| !v.trim().is_empty()) {
        return None;
    }
    let info = crate::engine::backend::wgpu::adapters().first()?.get_info();
    (info.device_type == wgpu::DeviceType::Cpu).then_some(info.name)
}
