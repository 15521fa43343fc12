//! A one-line progress bar on stderr (loss, samples/s, ETA), redrawn at most ten times a second,
//! and only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct ProgressBar {
    enabled: bool,
    last: Option<Instant>,
    started: Instant,
    loss: Option<f64>,
}

impl ProgressBar {
    pub fn new() -> Self {
        ProgressBar {
            enabled: std::io::stderr().is_terminal(),
            last: None,
            started: Instant::now(),
            loss: None,
        }
    }

    /// Redraws after step `done` of `total` steps in the run (`batch` of `batches` in `epoch`).
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        epoch: u64,
        epochs: u64,
        batch: usize,
        batches: usize,
        done: u64,
        total: u64,
        loss: Option<f64>,
        samples_per_s: f64,
    ) {
        if loss.is_some() {
            self.loss = loss;
        }
        if !self.enabled || self.last.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.last = Some(Instant::now());
        let width = 24;
        let filled = (width * batch / batches.max(1)).min(width);
        let per_step = self.started.elapsed().as_secs_f64() / done.max(1) as f64;
        let eta = per_step * total.saturating_sub(done) as f64;
        let loss = self.loss.map_or("-".to_string(), |l| format!("{l:.4}"));
        eprint!(
            "\r  epoch {}/{epochs} [{}{}] {batch}/{batches}  loss {loss}  {:>8.0} samples/s  ETA {}:{:02} ",
            epoch + 1,
            "=".repeat(filled),
            " ".repeat(width - filled),
            samples_per_s,
            eta as u64 / 60,
            eta as u64 % 60
        );
        let _ = std::io::stderr().flush();
    }

    /// Clears the bar before a line of text.
    pub fn clear(&mut self) {
        if self.enabled && self.last.is_some() {
            eprint!("\r{}\r", " ".repeat(100));
            self.last = None;
        }
    }
}
