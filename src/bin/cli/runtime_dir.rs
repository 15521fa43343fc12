//! The Vulkan loader's window-system probing prints `error: XDG_RUNTIME_DIR is invalid or not
//! set in the environment.` on headless machines, which reads as a failure to a new user. Compute
//! needs no runtime directory, so when none is usable the command line points the variable at a
//! private one of its own before wgpu starts.

use std::path::PathBuf;

/// Sets `XDG_RUNTIME_DIR` to a private directory (mode 0700, under the temporary directory)
/// when it is unset or not a directory. Called first thing, while the process has one thread.
pub fn ensure() {
    let usable = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| PathBuf::from(d).is_dir());
    if usable {
        return;
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    let dir = std::env::temp_dir().join(format!("shadergrad-runtime-{user}"));
    if std::fs::create_dir_all(&dir).is_err() {
        return; // the loader's message is then the worst that happens
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    std::env::set_var("XDG_RUNTIME_DIR", dir);
}
