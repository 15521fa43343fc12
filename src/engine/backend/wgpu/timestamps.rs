//! Timing a run by the GPU's own clock: timestamp queries around one compute pass, for
//! benchmarks to print beside the wall clock (`Backend::time`).

use super::{all_dispatches, GpuLaunch, WgpuBackend};
use crate::error::{Error, Result};

impl WgpuBackend {
    /// Times `launches` with timestamp queries around one compute pass per run, `reps` runs
    /// after a warm-up: the mean seconds per run, GPU time alone.
    pub(super) fn time_with_timestamps(&self, launches: &[GpuLaunch], reps: usize) -> Result<f64> {
        crate::backend::warm_up(self, launches)?;
        let device = &self.ctx.device;
        let (query_set, resolve, staging) = self.ctx.scoped(
            || "creating timestamp queries".into(),
            || {
                let query_set = device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("shadergrad timing"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                });
                let resolve = self.ctx.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps"),
                    size: 16,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                let staging = self.ctx.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps readback"),
                    size: 16,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                (query_set, resolve, staging)
            },
        )?;
        let period = self.ctx.queue.get_timestamp_period() as f64;
        let mut total = 0.0;
        for _ in 0..reps {
            let mut encoder = device.create_command_encoder(&Default::default());
            self.encode(&mut encoder, all_dispatches(launches), Some(&query_set));
            encoder.resolve_query_set(&query_set, 0..2, &resolve, 0);
            encoder.copy_buffer_to_buffer(&resolve, 0, &staging, 0, 16);
            self.ctx.queue.submit([encoder.finish()]);
            let slice = staging.slice(..);
            slice.map_async(wgpu::MapMode::Read, |_| {});
            self.ctx.wait()?;
            let ticks: [u64; 2] = {
                let view = slice.get_mapped_range().map_err(|e| Error::Gpu {
                    during: "reading timestamps".into(),
                    message: e.to_string(),
                })?;
                bytemuck::pod_read_unaligned(&view[..16])
            };
            staging.unmap();
            total += ticks[1].saturating_sub(ticks[0]) as f64 * period * 1e-9;
        }
        Ok(total / reps.max(1) as f64)
    }
}
