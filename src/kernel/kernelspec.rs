//! Installing the kernelspec (`kernel.json` and logos) where Jupyter finds it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The kernel's name in `jupyter kernelspec list`.
pub const KERNEL_NAME: &str = "crimpl";

const TEMPLATE: &str =
    include_str!("../../kernelspec/data/share/jupyter/kernels/crimpl/kernel.json");
const LOGOS: [(&str, &[u8]); 3] = [
    (
        "logo-32x32.png",
        include_bytes!("../../kernelspec/data/share/jupyter/kernels/crimpl/logo-32x32.png"),
    ),
    (
        "logo-64x64.png",
        include_bytes!("../../kernelspec/data/share/jupyter/kernels/crimpl/logo-64x64.png"),
    ),
    (
        "logo-svg.svg",
        include_bytes!("../../kernelspec/data/share/jupyter/kernels/crimpl/logo-svg.svg"),
    ),
];

/// Where to install, as `jupyter kernelspec install` understands it.
#[derive(Debug, Clone)]
pub enum Destination {
    /// The user's Jupyter data directory.
    User,
    /// The `share/jupyter` of the Python environment on PATH (`sys.prefix`).
    SysPrefix,
    /// `PREFIX/share/jupyter`.
    Prefix(PathBuf),
}

/// The Jupyter data directory for `destination`.
pub fn data_dir(destination: &Destination) -> anyhow::Result<PathBuf> {
    match destination {
        Destination::User => {
            if let Some(dir) = std::env::var_os("JUPYTER_DATA_DIR") {
                return Ok(PathBuf::from(dir));
            }
            user_data_dir(std::env::consts::OS, dirs::home_dir(), dirs::data_dir())
                .context("cannot find the user's data directory: set JUPYTER_DATA_DIR")
        }
        Destination::SysPrefix => {
            let output = Command::new("python3")
                .args(["-c", "import sys; print(sys.prefix)"])
                .output()
                .context("--sys-prefix needs python3 on PATH (the Python that runs Jupyter)")?;
            if !output.status.success() {
                bail!("python3 could not report sys.prefix");
            }
            let prefix = String::from_utf8_lossy(&output.stdout).trim().to_string();
            Ok(Path::new(&prefix).join("share").join("jupyter"))
        }
        Destination::Prefix(prefix) => Ok(prefix.join("share").join("jupyter")),
    }
}

/// Where Jupyter reads a user's data on `os` (as `jupyter --data-dir` says):
/// `~/Library/Jupyter` on macOS, `jupyter` in the platform's data directory
/// elsewhere (`$XDG_DATA_HOME` or `~/.local/share` on Linux, `%APPDATA%` on Windows).
fn user_data_dir(os: &str, home: Option<PathBuf>, data: Option<PathBuf>) -> Option<PathBuf> {
    match os {
        "macos" => home.map(|home| home.join("Library").join("Jupyter")),
        _ => data.map(|data| data.join("jupyter")),
    }
}

/// Write the kernelspec, pointing at `executable`; returns its directory.
pub fn install(destination: &Destination, executable: &Path) -> anyhow::Result<PathBuf> {
    let dir = data_dir(destination)?.join("kernels").join(KERNEL_NAME);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut spec: serde_json::Value = serde_json::from_str(TEMPLATE)?;
    spec["argv"][0] = serde_json::Value::String(executable.display().to_string());
    std::fs::write(
        dir.join("kernel.json"),
        serde_json::to_string_pretty(&spec)?,
    )?;
    for (name, bytes) in LOGOS {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(dir)
}

/// Remove the kernelspec; returns its directory if it existed.
pub fn uninstall(destination: &Destination) -> anyhow::Result<Option<PathBuf>> {
    let dir = data_dir(destination)?.join("kernels").join(KERNEL_NAME);
    if !dir.exists() {
        return Ok(None);
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(Some(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_dir_is_where_jupyter_reads() {
        let home = Some(PathBuf::from("/Users/me"));
        assert_eq!(
            user_data_dir(
                "macos",
                home.clone(),
                Some("/Users/me/Library/Application Support".into())
            ),
            Some(PathBuf::from("/Users/me/Library/Jupyter"))
        );
        assert_eq!(
            user_data_dir("linux", home, Some("/home/me/.local/share".into())),
            Some(PathBuf::from("/home/me/.local/share/jupyter"))
        );
    }

    #[test]
    fn install_writes_spec_with_executable_and_logos() {
        let prefix = tempfile::tempdir().unwrap();
        let destination = Destination::Prefix(prefix.path().into());
        let dir = install(&destination, Path::new("/opt/bin/crimpl-kernel")).unwrap();
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("kernel.json")).unwrap())
                .unwrap();
        assert_eq!(spec["argv"][0], "/opt/bin/crimpl-kernel");
        assert_eq!(spec["argv"][3], "{connection_file}");
        assert_eq!(spec["language"], "rust");
        // jupyter_client's `transport_encryption="auto"` encrypts kernels that declare CurveZMQ.
        assert_eq!(
            spec["metadata"]["supported_encryption"],
            serde_json::json!(["curve"])
        );
        assert!(dir.join("logo-64x64.png").exists());
        assert_eq!(uninstall(&destination).unwrap(), Some(dir.clone()));
        assert!(!dir.exists());
    }
}
