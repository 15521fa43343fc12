//! Timing a run by the GPU's own clock: timestamp queries around one compute pass, for
//! benchmarks to print beside the wall clock (`Backend::time`).

use crate::engine::error::{Error, Result};

use super::context::GpuContext;

/// The mean seconds per run, GPU time alone, of `reps` runs of what `encode` records into one
/// compute pass with timestamps written at its start and end (query 0 and 1 of the set it is
/// given).
pub fn time_with_timestamps(
    ctx: &GpuContext,
    reps: usize,
    encode: impl Fn(&mut wgpu::CommandEncoder, &wgpu::QuerySet),
) -> Result<f64> {
    let device = &ctx.device;
    let (query_set, resolve, staging) = ctx.scoped(
        || "creating timestamp queries".into(),
        || {
            let query_set = device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("shadergrad timing"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolve = ctx.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let staging = ctx.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps readback"),
                size: 16,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            (query_set, resolve, staging)
        },
    )?;
    let period = ctx.queue.get_timestamp_period() as f64;
    let mut total = 0.0;
    for _ in 0..reps {
        let mut encoder = device.create_command_encoder(&Default::default());
        encode(&mut encoder, &query_set);
        encoder.resolve_query_set(&query_set, 0..2, &resolve, 0);
        encoder.copy_buffer_to_buffer(&resolve, 0, &staging, 0, 16);
        ctx.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        ctx.wait()?;
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
