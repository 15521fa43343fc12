//! Choosing a device: a hardware GPU when there is one, the CPU backend otherwise, overridable
//! by the environment (`SHADERGRAD_BACKEND=cpu|gpu|auto`, `SHADERGRAD_ADAPTER=<name part>`).

use std::sync::Once;

use crate::backend::cpu::CpuBackend;
use crate::backend::wgpu::WgpuBackend;
use crate::backend::Backend;
use crate::error::{Error, Result};

/// A device to run plans on: the wgpu GPU backend or the f32 CPU backend.
#[derive(Clone)]
pub enum Device {
    Gpu(WgpuBackend),
    Cpu(CpuBackend<f32>),
}

impl Device {
    /// The best device: the GPU, unless `SHADERGRAD_BACKEND` says otherwise. When no GPU
    /// adapter exists (and the GPU was not demanded) it says so once on stderr and falls back to
    /// the CPU.
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
    /// and first compiled shaders for 8 s (BENCHMARKS.md).
    pub fn named(name: &str) -> Result<Device> {
        match name.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu(CpuBackend::new())),
            "gpu" => Ok(Device::Gpu(WgpuBackend::new()?)),
            "auto" => match WgpuBackend::new() {
                Ok(gpu) if is_software(&gpu) => {
                    static NOTE: Once = Once::new();
                    NOTE.call_once(|| {
                        eprintln!(
                            "shadergrad: {} is a software GPU; the CPU backend runs the same plans faster \
                             and compiles no shaders, so auto uses it (--backend gpu, or SHADERGRAD_ADAPTER, \
                             picks the adapter)",
                            gpu.context().info.name
                        )
                    });
                    Ok(Device::Cpu(CpuBackend::new()))
                }
                Ok(gpu) => Ok(Device::Gpu(gpu)),
                Err(e @ (Error::UnknownAdapter { .. } | Error::InvalidValue { .. })) => Err(e),
                Err(e) => {
                    static WARN: Once = Once::new();
                    WARN.call_once(|| eprintln!("shadergrad: {e}\nshadergrad: falling back to the CPU backend"));
                    Ok(Device::Cpu(CpuBackend::new()))
                }
            },
            other => Err(Error::invalid("backend", other, "one of gpu, cpu, auto")),
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

/// Whether `auto` should pass over this adapter: a CPU-emulated one, unless the user named one.
fn is_software(gpu: &WgpuBackend) -> bool {
    let named = std::env::var("SHADERGRAD_ADAPTER").is_ok_and(|v| !v.trim().is_empty());
    !named && gpu.context().info.device_type == wgpu::DeviceType::Cpu
}
