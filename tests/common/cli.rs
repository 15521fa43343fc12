//! Running the `shadergrad` binary as a user would: in a folder of its own, its output as text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `shadergrad args` in `dir`, with `env` set besides the test's own environment.
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shadergrad"));
    c.current_dir(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run shadergrad")
}

/// What a run printed: stdout, then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh, empty folder for one test, named by `tag` and the process.
pub fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sg-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `line` (words split at spaces; no path in it has one) in `dir` and expects success;
/// returns its stdout and stderr.
pub fn succeeds(dir: &Path, line: &str) -> (String, String) {
    let o = run(dir, &line.split_whitespace().collect::<Vec<_>>(), &[]);
    assert!(o.status.success(), "shadergrad {line}: {}", text(&o));
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs `line` in `dir` and expects failure, with each of `wants` in the message and no panic.
pub fn refuses(dir: &Path, line: &str, wants: &[&str]) {
    let o = run(dir, &line.split_whitespace().collect::<Vec<_>>(), &[]);
    let t = text(&o);
    assert!(!o.status.success(), "shadergrad {line} should fail: {t}");
    assert!(!t.contains("panicked"), "{t}");
    for w in wants {
        assert!(t.contains(w), "expected `{w}` in: {t}");
    }
    println!("  refused: {}", t.trim());
}
