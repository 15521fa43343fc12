//! Writing files so that nothing a user saved is lost: write a temporary file beside the target,
//! flush it to disk, then rename it over the target (a rename is atomic on one file system). An
//! interrupted or failed write leaves the previous file intact and no temporary file behind.
//! And what those files hold: [`Tensors`].

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::engine::error::{Error, Result};

/// Tensors by name, f32, with their shapes: what model and resume files hold.
pub type Tensors = std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Writes `bytes` to `path` atomically.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out.txt");
/// shadergrad::io::write_atomic(&path, b"hello")?;
/// assert_eq!(std::fs::read(&path)?, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Writes through `fill` into a temporary file beside `path`, flushes it to disk, then renames
/// it over `path`. Any failure removes the temporary file and leaves `path` as it was.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut fs::File) -> std::io::Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy().into_owned());
    let result = (|| {
        // Dropping the temporary file on an early return deletes it.
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)?;
        fill(tmp.as_file_mut())?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    })();
    result.map_err(|e| Error::io(path, e))
}
