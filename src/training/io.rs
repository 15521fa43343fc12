//! Writing files so that nothing a user saved is lost: write a temporary file beside the target,
//! flush it to disk, then rename it over the target (a rename is atomic on one file system). An
//! interrupted or failed write leaves the previous file intact and no temporary file behind. The
//! file gets the mode an ordinary write would give it: an existing file's own, a new one
//! `0666 & !umask` (a temporary file is private until then). And what those files hold:
//! [`Tensors`]; and reading a large file quickly ([`read_whole`]).

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::engine::error::{Error, Result};

/// Tensors by name, f32, with their shapes: what model and resume files hold.
pub type Tensors = std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The bytes of the file at `path`, its parts read at once by the CPU's workers where the system
/// reads at an offset (Unix): a large table comes from the page cache about twice as fast. A
/// file that changes size while it is read is read again, whole.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("t.csv");
/// std::fs::write(&path, b"a,b\n1,2\n")?;
/// assert_eq!(shadergrad::io::read_whole(&path)?, b"a,b\n1,2\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_whole(path: &Path) -> Result<Vec<u8>> {
    let io = |e| Error::io(path, e);
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let file = fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len() as usize;
        // Below a few megabytes one read is as quick.
        if len >= 1 << 22 {
            let mut bytes = vec![0u8; len];
            let parts = crate::engine::pool::ranges(len, crate::engine::pool::threads(), 1 << 20);
            let slices: Vec<std::sync::Mutex<(usize, &mut [u8], bool)>> = {
                let mut rest: &mut [u8] = &mut bytes;
                parts
                    .iter()
                    .map(|r| {
                        let (part, tail) = std::mem::take(&mut rest).split_at_mut(r.len());
                        rest = tail;
                        std::sync::Mutex::new((r.start, part, false))
                    })
                    .collect()
            };
            crate::engine::pool::run(slices.len(), |i| {
                let mut slot = slices[i].lock().unwrap_or_else(|e| e.into_inner());
                let (at, ref mut part, ref mut ok) = *slot;
                *ok = file.read_exact_at(part, at as u64).is_ok();
            });
            let whole = slices
                .into_iter()
                .all(|s| s.into_inner().unwrap_or_else(|e| e.into_inner()).2);
            let same_size = file.metadata().map_err(io)?.len() as usize == len;
            if whole && same_size {
                return Ok(bytes);
            }
        }
    }
    fs::read(path).map_err(io)
}

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
        let mut tmp = temporary_beside(dir, &name)?;
        // An existing file keeps its mode, as an ordinary write would leave it.
        if let Ok(existing) = fs::metadata(path) {
            tmp.as_file().set_permissions(existing.permissions())?;
        }
        fill(tmp.as_file_mut())?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    })();
    result.map_err(|e| Error::io(path, e))
}

/// A temporary file in `dir` named after `name`, created with the mode an ordinary new file
/// gets (`0666`, less the umask, which the system applies), not the temporary file's private one.
fn temporary_beside(dir: &Path, name: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Checks, before any work, that [`write_atomic`] could write `path`: that it is not a
/// directory, and that its directory exists and takes a new file (one is made there and
/// removed). The error names what is wrong.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// assert!(shadergrad::io::check_writable(&dir.path().join("model.safetensors")).is_ok());
/// let err = shadergrad::io::check_writable(&dir.path().join("no/such/dir/m.safetensors")).unwrap_err();
/// assert!(err.to_string().contains("no/such/dir"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_writable(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
        ));
    }
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        ));
    }
    let name = path
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy().into_owned());
    temporary_beside(dir, &name).map(drop).map_err(|e| Error::io(dir, e))
}
