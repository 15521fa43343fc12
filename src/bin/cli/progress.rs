//! The training progress bar on stderr: steps of the run, the epoch, the last loss read,
//! samples/s and the time left. indicatif draws it only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct TrainingBar {
    bar: ProgressBar,
    loss: Option<f64>,
    /// Whether it draws and prints at all.
    shown: bool,
}

impl TrainingBar {
    /// A bar over `total` steps, `done` of them already taken (a resumed run); drawn only when
    /// `shown` (one MPI rank draws it for all).
    pub fn new(total: u64, done: u64, shown: bool) -> Self {
        let target = if shown {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        let style = ProgressStyle::with_template("  {prefix} [{bar:24}] {pos}/{len} steps  {msg}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_position(done);
        bar.reset_eta();
        TrainingBar { bar, loss: None, shown }
    }

    /// After a step of `epoch` (0-based) of `epochs`.
    pub fn step(&mut self, epoch: u64, epochs: u64, loss: Option<f64>, samples_per_s: f64) {
        if loss.is_some() {
            self.loss = loss;
        }
        self.bar.set_prefix(format!("epoch {}/{epochs}", epoch + 1));
        let loss = self.loss.map_or("-".to_string(), |l| format!("{l:.4}"));
        self.bar
            .set_message(format!("loss {loss}  {samples_per_s:>8.0} samples/s"));
        self.bar.inc(1);
    }

    /// Prints a line above the bar.
    pub fn println(&self, line: &str) {
        if self.shown {
            self.bar.suspend(|| eprintln!("{line}"));
        }
    }

    /// Prints a line on stdout with the bar out of the way.
    pub fn suspend_print(&self, line: &str) {
        if self.shown {
            self.bar.suspend(|| println!("{line}"));
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
