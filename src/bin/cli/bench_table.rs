//! `shadergrad bench --table FILE --target COL`: how long a table takes from opening the file to
//! the feature matrix `train` trains on (reading, inferring each column, splitting, fitting the
//! preprocessing on the training split, encoding and standardising both splits), and the
//! process's peak memory: the figures to hold against `pandas.read_csv` and `polars.read_csv`.

use std::path::Path;
use std::time::Instant;

use shadergrad::data::table::Columns;
use shadergrad::data::{Source, Task};
use shadergrad::{Error, Result};

/// Times of this many loads, of which the median is the figure.
const LOADS: usize = 5;

/// Loads `path` [`LOADS`] times for `target` (`task`: classify, regress or multilabel; regress
/// unless said) and prints each time, the median and the peak resident memory.
pub fn bench(path: &Path, target: &[String], task: Option<&str>) -> Result<()> {
    let task = match task {
        Some("classify") => Task::Classify,
        Some("multilabel") => Task::Multilabel,
        _ => Task::Regress,
    };
    if target.is_empty() {
        return Err(Error::required(
            "--target",
            "with --table (the column train would predict)",
        ));
    }
    let source = Source::Csv {
        path: path.to_path_buf(),
        columns: Columns {
            targets: target.to_vec(),
            ..Columns::default()
        },
    };
    let mut times = Vec::with_capacity(LOADS);
    let mut shape = (0, 0);
    for _ in 0..LOADS {
        let started = Instant::now();
        let split = source.load_split(task, None, 0, true)?;
        times.push(started.elapsed().as_secs_f64());
        shape = (split.rows, split.train.feature_count);
        drop(split);
    }
    let each: Vec<String> = times.iter().map(|t| format!("{t:.3}")).collect();
    times.sort_by(f64::total_cmp);
    let peak = peak_memory().map_or(String::new(), |kb| {
        format!("; peak memory {:.0} MB", kb as f64 / 1024.0)
    });
    println!(
        "{}: {} rows to a feature matrix of {} inputs: median {:.3} s of {LOADS} loads ({} s){peak}",
        path.display(),
        shape.0,
        shape.1,
        times[LOADS / 2],
        each.join(", ")
    );
    Ok(())
}

/// The process's peak resident memory in KiB (`VmHWM`), where the system says (Linux).
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
