//! Command output on stdout.

use shadergrad::Result;

/// Writes command output to stdout; a reader that has gone (`| head`) ends it quietly.
pub fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(shadergrad::Error::io("stdout", e)),
        _ => Ok(()),
    }
}
