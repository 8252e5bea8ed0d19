//! Named servers, remembered across kernel restarts in one JSON file in the
//! user's config directory. Every change is a locked read-modify-write whose
//! result replaces the file atomically, so two kernels never lose each
//! other's servers and a crash never leaves half a file.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::config::ServerConfig;
use super::error::EngineError;

/// Environment variable that moves the config directory (tests, several setups).
pub const CONFIG_DIR_ENV: &str = "CRIMPL_CONFIG_DIR";

#[derive(Default, Serialize, Deserialize)]
struct RegistryFile {
    servers: BTreeMap<String, ServerConfig>,
}

/// The file of remembered servers.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// The registry in `$CRIMPL_CONFIG_DIR`, or `<user config dir>/crimpl-kernel`.
    pub fn from_environment() -> anyhow::Result<Self> {
        let dir = match std::env::var_os(CONFIG_DIR_ENV) {
            Some(dir) => PathBuf::from(dir),
            None => dirs::config_dir()
                .context("cannot find the user's config directory; set CRIMPL_CONFIG_DIR")?
                .join("crimpl-kernel"),
        };
        Ok(Self::in_dir(dir))
    }

    /// The registry kept in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The registry's directory, where crimpl keeps what it remembers beside it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registry file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join("servers.json")
    }

    /// All servers by name.
    pub fn list(&self) -> anyhow::Result<BTreeMap<String, ServerConfig>> {
        Ok(self.read()?.servers)
    }

    /// The server called `name`.
    pub fn get(&self, name: &str) -> anyhow::Result<Option<ServerConfig>> {
        Ok(self.read()?.servers.remove(name))
    }

    /// Remember a new server; an existing name is an error unless `replace`.
    pub fn add(&self, name: &str, config: ServerConfig, replace: bool) -> anyhow::Result<()> {
        validate_server_name(name)?;
        self.update(|file| {
            if file.servers.contains_key(name) && !replace {
                bail!(EngineError::Exists(format!(
                    "a server named {name:?} exists already: add --replace, remove it first \
                     (%crimpl server remove {name}), or pick another name"
                )));
            }
            file.servers.insert(name.to_string(), config);
            Ok(())
        })
    }

    /// Forget a server; returns its settings.
    pub fn remove(&self, name: &str) -> anyhow::Result<ServerConfig> {
        let mut removed = None;
        self.update(|file| {
            removed = file.servers.remove(name);
            if removed.is_none() {
                bail!(EngineError::NotFound(format!("no server named {name:?}")));
            }
            Ok(())
        })?;
        removed.context("no server removed")
    }

    fn read(&self) -> anyhow::Result<RegistryFile> {
        read_file(&self.path())
    }

    fn update(
        &self,
        change: impl FnOnce(&mut RegistryFile) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("servers.lock"))
            .context("cannot open the registry lock")?;
        lock.lock().context("cannot lock the server registry")?;
        let path = self.path();
        let mut file = read_file(&path)?;
        change(&mut file)?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(serde_json::to_string_pretty(&file)?.as_bytes())?;
        temp.as_file().sync_all()?;
        temp.persist(&path)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot write {}", path.display()))?;
        drop(lock);
        Ok(())
    }
}

fn read_file(path: &Path) -> anyhow::Result<RegistryFile> {
    match File::open(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(RegistryFile::default()),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
        Ok(file) => serde_json::from_reader(file).with_context(|| {
            format!(
                "{} is not a valid server registry: fix or move it away",
                path.display()
            )
        }),
    }
}

/// Server names follow the job-name rules, so they are safe everywhere they appear.
pub fn validate_server_name(name: &str) -> anyhow::Result<()> {
    super::layout::validate_job_name(name)
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().replacen("job name", "server name", 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(dir: &str) -> ServerConfig {
        ServerConfig::Local {
            directory: dir.into(),
        }
    }

    #[test]
    fn servers_survive_a_new_registry_handle() {
        let dir = tempfile::tempdir().unwrap();
        Registry::in_dir(dir.path())
            .add("a", local("/x"), false)
            .unwrap();
        assert_eq!(
            Registry::in_dir(dir.path()).get("a").unwrap(),
            Some(local("/x"))
        );
        assert!(
            Registry::in_dir(dir.path())
                .add("a", local("/y"), false)
                .is_err()
        );
        Registry::in_dir(dir.path())
            .add("a", local("/y"), true)
            .unwrap();
        assert_eq!(
            Registry::in_dir(dir.path()).get("a").unwrap(),
            Some(local("/y"))
        );
        Registry::in_dir(dir.path()).remove("a").unwrap();
        assert!(Registry::in_dir(dir.path()).list().unwrap().is_empty());
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|scope| {
            for i in 0..8 {
                let path = dir.path().to_path_buf();
                scope.spawn(move || {
                    Registry::in_dir(path)
                        .add(&format!("s{i}"), local("/d"), false)
                        .unwrap()
                });
            }
        });
        assert_eq!(Registry::in_dir(dir.path()).list().unwrap().len(), 8);
    }

    #[test]
    fn hostile_server_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Registry::in_dir(dir.path())
                .add("a b", local("/d"), false)
                .is_err()
        );
    }
}
