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

/// A slow run to interrupt: 50 epochs of small batches on the CPU.
pub const LONG: &[&str] = &[
    "train",
    "--hidden",
    "32",
    "--epochs",
    "50",
    "--batch",
    "16",
    "--backend",
    "cpu",
];

/// A 28×28 black image, as a PGM file's bytes (the bundled digits' size).
pub fn blank_digit() -> Vec<u8> {
    [b"P5 28 28 255\n".as_slice(), &[0u8; 784]].concat()
}

/// Starts `shadergrad args` in `dir` and waits for its first epoch's line; returns it still
/// running, with the rest of its stderr to read.
#[cfg(unix)]
fn past_first_epoch(dir: &Path, args: &[&str]) -> (std::process::Child, std::io::BufReader<std::process::ChildStderr>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_shadergrad"))
        .current_dir(dir)
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("epoch   1/") {
        line.clear();
    }
    (child, stderr)
}

/// Starts `shadergrad args` in `dir`, sends it SIGINT once its first epoch's line is out, and
/// returns what it printed after that; it must exit with 130.
#[cfg(unix)]
pub fn interrupt_after_first_epoch(dir: &Path, args: &[&str]) -> String {
    let (mut child, mut stderr) = past_first_epoch(dir, args);
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "SIGINT sent");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    rest
}

/// Starts `shadergrad args` in `dir`, waits for its first epoch's line, and kills it as a crash
/// would (SIGKILL: nothing is saved on the way out).
#[cfg(unix)]
pub fn crash_after_first_epoch(dir: &Path, args: &[&str]) {
    let (mut child, _stderr) = past_first_epoch(dir, args);
    child.kill().unwrap();
    child.wait().unwrap();
}
