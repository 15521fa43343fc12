//! `shadergrad bench`: GPU against CPU backprop, per kernel and per training step.

use std::path::PathBuf;

use shadergrad::backend::cpu::CpuBackend;
use shadergrad::backend::wgpu::WgpuBackend;
use shadergrad::backend::Backend;
use shadergrad::backend::{describe_compile, PipelineTime, Timing};
use shadergrad::bench::{self, Record, RUNS};
use shadergrad::nn::{Activation, Mlp};
use shadergrad::plot::{Axis, Chart, Series};
use shadergrad::{Devices, Error, Result};

use crate::cli::flags;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// gpu, cpu or both.
    #[arg(long, default_value = "both", value_parser = ["gpu", "cpu", "both"])]
    backend: String,
    /// One JSON object per line on stdout (JSON Lines), a row each.
    #[arg(long)]
    json: bool,
    /// Samples/s against batch size per backend, .svg or .png.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Measure each device's fp32 FMA roof and give every figure as a share of it.
    #[arg(long)]
    roof: bool,
    /// Fewer and smaller sizes.
    #[arg(long)]
    quick: bool,
    /// Square matmul sizes to time, e.g. 1024,4096 [default: 64,256,512,1024,2048].
    #[arg(long)]
    sizes: Option<String>,
    /// The MLP of the training-step rows [default: 784-256-256-10].
    #[arg(long)]
    mlp: Option<String>,
    /// Batch sizes of the training-step rows [default: 1,32,128,1024,4096].
    #[arg(long)]
    batches: Option<String>,
    /// Data-parallel rows too: steps split across each of these numbers of devices, e.g.
    /// 1,2,4 (GPUs as `train --devices N` picks them; CPU replicas on the CPU), at batch 128
    /// and 2048 (or --batches).
    #[arg(long)]
    replicas: Option<String>,
    /// Instead of kernels and steps: time loading this CSV to the feature matrix train uses
    /// (five loads: each, the median, and the peak memory), with --target.
    #[arg(long)]
    table: Option<PathBuf>,
    /// The target column(s) of --table.
    #[arg(long, value_delimiter = ',')]
    target: Vec<String>,
    /// What --table's targets are for: classify, regress or multilabel [default: regress].
    #[arg(long, value_parser = ["classify", "regress", "multilabel"])]
    task: Option<String>,
}

pub fn bench(a: &BenchArgs) -> Result<()> {
    if let Some(path) = &a.table {
        return crate::cli::bench_table::bench(path, &a.target, a.task.as_deref());
    }
    if let Some(path) = &a.plot {
        flags::chart_path(path, "--plot")?;
    }
    let (want_cpu, want_gpu) = match a.backend.as_str() {
        "both" => (true, true),
        "cpu" => (true, false),
        "gpu" => (false, true),
        other => return Err(Error::invalid("--backend", other, "gpu, cpu or both")),
    };
    let gpu = if want_gpu {
        match WgpuBackend::new() {
            Ok(g) => Some(g),
            Err(e) if a.backend == "both" => {
                eprintln!("shadergrad: {e}\nshadergrad: benchmarking the CPU only");
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let cpu = want_cpu.then(CpuBackend::<f32>::new);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "shadergrad bench: {}{}",
        gpu.as_ref()
            .map_or(String::new(), |g| format!("gpu = {}; ", g.describe())),
        cpu.as_ref().map_or(String::new(), |c| format!(
            "cpu = {} on {threads} threads",
            c.describe()
        ))
    );

    let sizes: Vec<u32> = match &a.sizes {
        Some(t) => flags::sizes(t, "--sizes")?.into_iter().map(|n| n as u32).collect(),
        None => bench::matmul_sizes(a.quick),
    };
    let batches = match &a.batches {
        Some(t) => flags::sizes(t, "--batches")?,
        None => bench::step_batches(a.quick),
    };
    let mlp = match &a.mlp {
        Some(t) => Mlp::new(&flags::sizes(&t.replace('-', ","), "--mlp")?, Activation::Relu)?,
        None => bench::peer_mlp(),
    };
    let mut records: Vec<Record> = Vec::new();
    let (mut gpu_roof, mut cpu_roof) = (None, None);
    if a.roof {
        if let Some(g) = &gpu {
            let (r, timing) = bench::gpu_roof(g)?;
            gpu_roof = Some(r);
            records.push(roof_record("gpu", r, timing));
        }
        if cpu.is_some() {
            let r = bench::cpu_roof();
            cpu_roof = Some(r);
            records.push(roof_record("cpu", r, Timing::Wall));
        }
    }
    // The GPU first: kept busy from its roof on, it stays at full clocks.
    if let Some(g) = &gpu {
        records.extend(bench::kernel_records(g, &sizes, gpu_roof)?);
        records.extend(bench::step_records(g, &mlp, &batches)?);
        records.push(compile_record(&g.pipeline_times()));
        // Mixed precision where the adapter offers it, on a device of its own.
        match WgpuBackend::mixed_precision() {
            Ok(mixed) => records.extend(bench::mixed_matmul_records(&mixed, &sizes)?),
            Err(e @ Error::Unsupported { .. }) => eprintln!("shadergrad bench: no mixed-precision rows: {e}"),
            Err(e) => return Err(e),
        }
    }
    if let Some(c) = &cpu {
        records.extend(bench::kernel_records(c, &sizes, cpu_roof)?);
        records.extend(bench::step_records(c, &mlp, &batches)?);
    }
    if let Some(text) = &a.replicas {
        let counts = flags::sizes(text, "--replicas")?;
        let most = counts.iter().copied().max().unwrap_or(1).to_string();
        let batches = match &a.batches {
            Some(_) => batches.clone(),
            None => vec![128, 2048],
        };
        if gpu.is_some() {
            let Devices::Gpu(gpus) = shadergrad::Device::several("gpu", &most)? else {
                unreachable!("the GPU backend opens GPUs")
            };
            records.extend(bench::replica_records(&gpus, &counts, &mlp, &batches)?);
        }
        if cpu.is_some() {
            let cpus: Vec<CpuBackend<f32>> = (0..counts.iter().copied().max().unwrap_or(1))
                .map(|_| CpuBackend::new())
                .collect();
            records.extend(bench::replica_records(&cpus, &counts, &mlp, &batches)?);
        }
    }
    if a.json {
        for r in &records {
            println!("{}", r.to_json());
        }
    } else {
        print!(
            "{}{}{}",
            table(&records, gpu_roof, cpu_roof),
            pipeline_table(&records),
            replica_table(&records)
        );
    }
    if let Some(path) = &a.plot {
        chart(&records, &mlp).write(path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn roof_record(backend: &'static str, gflops: f64, timing: Timing) -> Record {
    let shape = if backend == "gpu" {
        "vec4 FMA chains"
    } else {
        "8-wide FMA chains, all cores"
    };
    Record {
        gflops: Some(gflops),
        roof_pct: Some(100.0),
        timing,
        ..Record::wall("fp32 FMA roof", backend, shape, 0.0, 0.0)
    }
}

/// What making every pipeline of the run cost (creation plus first dispatch, where lavapipe
/// compiles), with the slowest named in its shape.
fn compile_record(times: &[PipelineTime]) -> Record {
    let total: f64 = times.iter().map(PipelineTime::total_s).sum();
    let slowest = times.iter().map(PipelineTime::total_s).fold(0.0, f64::max);
    Record::wall(COMPILE, "gpu", describe_compile(times), total, slowest)
}

const COMPILE: &str = "compile (every pipeline: create + first dispatch)";

fn find<'a>(records: &'a [Record], backend: &str, name: &str, shape: &str) -> Option<&'a Record> {
    records
        .iter()
        .find(|r| r.backend == backend && r.name == name && r.shape == shape)
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// The table: kernels, then training steps, then where the GPU starts to win.
fn table(records: &[Record], gpu_roof: Option<f64>, cpu_roof: Option<f64>) -> String {
    let mut s = String::new();
    if let (Some(g), Some(c)) = (gpu_roof, cpu_roof) {
        s += &format!("fp32 FMA roof: gpu {g:.1} GFLOP/s, cpu {c:.1} GFLOP/s\n");
    } else if let Some(r) = gpu_roof.or(cpu_roof) {
        s += &format!("fp32 FMA roof: {r:.1} GFLOP/s\n");
    }
    if let Some(c) = records.iter().find(|r| r.name == COMPILE) {
        s += &format!(
            "compile: {} (create + first dispatch of each; a driver's disk cache shortens later runs)\n",
            c.shape
        );
    }
    // Kernel rows: GFLOP/s, no batch, not the roof.
    let is_kernel = |r: &Record| r.batch.is_none() && r.gflops.is_some() && r.name != "fp32 FMA roof";
    s += &format!(
        "\n{:<28} {:>15} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9}\n",
        "kernel",
        "shape",
        "cpu ms",
        "best",
        "gpu ms",
        "best",
        "gpu ts ms",
        "cpu GF/s",
        "gpu GF/s",
        "gpu/cpu",
        "cpu roof%",
        "gpu roof%"
    );
    let mut seen = Vec::new();
    for r in records.iter().filter(|r| is_kernel(r)) {
        if seen.contains(&(&r.name, &r.shape)) {
            continue;
        }
        seen.push((&r.name, &r.shape));
        let (c, g) = (
            find(records, "cpu", &r.name, &r.shape),
            find(records, "gpu", &r.name, &r.shape),
        );
        let speedup = c.zip(g).map(|(c, g)| c.seconds / g.seconds);
        s += &format!(
            "{:<28} {:>15} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9}\n",
            r.name,
            r.shape,
            cell(c.map(|c| c.seconds * 1e3), 3),
            cell(c.map(|c| c.best_seconds * 1e3), 3),
            cell(g.map(|g| g.seconds * 1e3), 3),
            cell(g.map(|g| g.best_seconds * 1e3), 3),
            cell(g.and_then(|g| g.timestamp_seconds).map(|t| t * 1e3), 3),
            cell(c.and_then(|c| c.gflops), 2),
            cell(g.and_then(|g| g.gflops), 2),
            cell(speedup, 2),
            cell(c.and_then(|c| c.roof_pct), 1),
            cell(g.and_then(|g| g.roof_pct), 1),
        );
    }
    s += &format!(
        "(ms: the median of {RUNS} runs of at least 0.1 s each, wall clock around Backend::run and the wait for it; \
         best: the fastest run; GF/s from the median; gpu ts: the GPU's own time from timestamp queries)\n"
    );
    s += &format!(
        "\n{:<40} {:>11} {:>9} {:>9} {:>9} {:>9} {:>14} {:>14} {:>8}\n",
        "training step", "batch", "cpu ms", "best", "gpu ms", "best", "cpu samples/s", "gpu samples/s", "gpu/cpu"
    );
    for r in records.iter().filter(|r| r.name.starts_with("fixed cost")) {
        s += &format!(
            "{:<40} {:>11} {:>9} {:>9} ms\n",
            r.name,
            r.backend,
            format!("{:.3}", r.seconds * 1e3),
            format!("{:.3}", r.best_seconds * 1e3),
        );
    }
    let single: Vec<Record> = records
        .iter()
        .filter(|r| r.devices.is_none() && !r.pipelined)
        .cloned()
        .collect();
    let records = single.as_slice();
    let mut batches: Vec<usize> = records.iter().filter_map(|r| r.batch).collect();
    batches.sort_unstable();
    batches.dedup();
    let mut wins = None;
    for b in &batches {
        let pick = |backend: &str| records.iter().find(|r| r.backend == backend && r.batch == Some(*b));
        let (c, g) = (pick("cpu"), pick("gpu"));
        let speedup = c.zip(g).map(|(c, g)| c.seconds / g.seconds);
        if wins.is_none() && speedup.is_some_and(|x| x > 1.0) {
            wins = Some(*b);
        }
        s += &format!(
            "{:<40} {:>11} {:>9} {:>9} {:>9} {:>9} {:>14} {:>14} {:>8}\n",
            c.or(g).map_or(String::new(), |r| r.name.clone()),
            b,
            cell(c.map(|c| c.seconds * 1e3), 3),
            cell(c.map(|c| c.best_seconds * 1e3), 3),
            cell(g.map(|g| g.seconds * 1e3), 3),
            cell(g.map(|g| g.best_seconds * 1e3), 3),
            cell(c.and_then(|c| c.samples_per_s), 0),
            cell(g.and_then(|g| g.samples_per_s), 0),
            cell(speedup, 2),
        );
    }
    s += &format!(
        "(a step is Trainer::step reading the loss back: gather and upload the batch, forward, backward, update, \
         read the loss; median and best of {RUNS} runs of at least 0.1 s each, wall clock)\n"
    );
    let both = records.iter().any(|r| r.backend == "cpu") && records.iter().any(|r| r.backend == "gpu");
    if both {
        s += &match wins {
            Some(b) => format!("\nthe GPU starts to win at batch {b}\n"),
            None => format!(
                "\nthe GPU does not win at any batch measured (up to {})\n",
                batches.last().copied().unwrap_or(0)
            ),
        };
    }
    s
}

/// The pipelined step rows beside the step that waits for each loss.
fn pipeline_table(records: &[Record]) -> String {
    let rows: Vec<&Record> = records.iter().filter(|r| r.pipelined).collect();
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut s = format!(
        "\n{:<40} {:>11} {:>9} {:>9} {:>14} {:>14}\n",
        format!("{}, pipelined", first.name),
        "batch",
        "gpu ms",
        "best",
        "gpu samples/s",
        "vs waiting"
    );
    for r in &rows {
        let waiting = records
            .iter()
            .find(|w| w.backend == r.backend && w.batch == r.batch && w.devices.is_none() && !w.pipelined);
        s += &format!(
            "{:<40} {:>11} {:>9.3} {:>9.3} {:>14.0} {:>14}\n",
            "",
            r.batch.unwrap_or(0),
            r.seconds * 1e3,
            r.best_seconds * 1e3,
            r.samples_per_s.unwrap_or(0.0),
            cell(waiting.map(|w| w.seconds / r.seconds), 2),
        );
    }
    s + &format!(
        "(Trainer::submit_step: the same step, its loss read back one step later, the next batch gathered and \
         uploaded while the GPU computes; median and best of {RUNS} runs)\n"
    )
}

/// The data-parallel rows: samples/s by device count against one device, and the all-reduce.
fn replica_table(records: &[Record]) -> String {
    let rows: Vec<&Record> = records.iter().filter(|r| r.devices.is_some()).collect();
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut s = format!(
        "\n{:<40} {:>4} {:>6} {:>8} {:>9} {:>9} {:>11} {:>9} {:>13} {:>11}\n",
        first.name, "", "batch", "devices", "ms", "best", "samples/s", "vs one", "all-reduce ms", "all-reduce%"
    );
    for r in &rows {
        let one = rows
            .iter()
            .find(|o| o.backend == r.backend && o.batch == r.batch && o.devices == Some(1));
        let reduce = r.reduce_seconds.unwrap_or(0.0);
        s += &format!(
            "{:<40} {:>4} {:>6} {:>8} {:>9.3} {:>9.3} {:>11.0} {:>9} {:>13.3} {:>11.1}\n",
            "",
            r.backend,
            r.batch.unwrap_or(0),
            r.devices.unwrap_or(1),
            r.seconds * 1e3,
            r.best_seconds * 1e3,
            r.samples_per_s.unwrap_or(0.0),
            cell(one.map(|o| o.seconds / r.seconds), 2),
            reduce * 1e3,
            100.0 * reduce / r.seconds
        );
    }
    s + &format!(
        "(Trainer::replicated's step, reading the loss back, median and best of {RUNS} runs; the all-reduce is the host \
         summing every device's gradients and writing the sum back; devices on one adapter, or CPU replicas on one \
         machine, share its cores)\n"
    )
}

/// Samples/s against batch size, one line per backend.
fn chart(records: &[Record], mlp: &Mlp) -> Chart {
    let series = [("gpu", [214, 39, 40]), ("cpu", [31, 119, 180])]
        .into_iter()
        .filter_map(|(backend, color)| {
            let points: Vec<(f64, f64)> = records
                .iter()
                .filter(|r| r.backend == backend && r.devices.is_none() && !r.pipelined)
                .filter_map(|r| Some((r.batch? as f64, r.samples_per_s?)))
                .collect();
            (!points.is_empty()).then(|| Series {
                name: format!("{backend} samples/s"),
                color,
                axis: Axis::Left,
                points,
            })
        })
        .collect();
    Chart {
        title: format!("training step {}: samples/s by batch size", mlp.describe()),
        x_label: "batch size (log scale)".into(),
        left_label: "samples/s".into(),
        right_label: String::new(),
        log_x: true,
        series,
    }
}
