//! The magics' per-kernel state: the registry, the working directory, the
//! current server, this kernel's latest and known jobs, its open servers,
//! planned instances, variables and job displays. Command handlers take it;
//! it imports no handler.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::MagicError;
use super::args::ServerArg;
use super::job_displays::JobDisplays;
use super::variables::Variables;
use crate::crimpl::config::DEFAULT_DIRECTORY;
use crate::crimpl::{EngineError, Registry, Server, ServerConfig, suggest};
use anyhow::Context;

/// Name of the built-in server: this machine, jobs in `~/crimpl`. It is
/// always there (a server made with this name takes its place).
pub const DEFAULT_SERVER: &str = "local";

/// What the `%crimpl` commands of one kernel share.
pub struct State {
    registry: Registry,
    working_dir: PathBuf,
    remembered: Mutex<Remembered>,
    variables: Mutex<Variables>,
    displays: Arc<JobDisplays>,
}

/// What this kernel remembers between cells.
#[derive(Default)]
struct Remembered {
    current_server: Option<String>,
    /// The latest job this kernel submitted or named: (server, job).
    latest_job: Option<(String, String)>,
    /// Job names seen per server, for completion.
    known_jobs: HashMap<String, Vec<String>>,
    open: HashMap<String, Arc<Server>>,
    /// AWS instance types chosen by `job create`, per (server, job).
    planned_instances: HashMap<(String, String), String>,
}

impl State {
    /// State using `registry`, fetching into `working_dir` by default.
    pub fn new(registry: Registry, working_dir: PathBuf) -> Self {
        Self {
            registry,
            working_dir,
            remembered: Mutex::default(),
            variables: Mutex::default(),
            displays: Arc::default(),
        }
    }

    /// State for this process: the user's registry and the current directory.
    pub fn from_environment() -> anyhow::Result<Self> {
        Ok(Self::new(
            Registry::from_environment()?,
            std::env::current_dir().context("cannot read the current directory")?,
        ))
    }

    /// The server registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The notebook's working directory.
    pub fn working_dir(&self) -> &PathBuf {
        &self.working_dir
    }

    /// Every server's name: the remembered ones and the built-in `local`.
    pub fn server_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .registry
            .list()
            .map(|servers| servers.into_keys().collect())
            .unwrap_or_default();
        if !names.iter().any(|n| n == DEFAULT_SERVER) {
            names.insert(0, DEFAULT_SERVER.to_string());
        }
        names
    }

    /// The server a command without `--server` means: the one chosen with
    /// `server use`, else the only one made, else `local` when none was
    /// made; `None` when several were made and none is chosen.
    pub fn default_server(&self) -> Result<Option<String>, MagicError> {
        if let Some(current) = self.current_server() {
            return Ok(Some(current));
        }
        let made = self.registry.list()?;
        Ok(match made.len() {
            0 => Some(DEFAULT_SERVER.to_string()),
            1 => made.into_keys().next(),
            _ => None,
        })
    }

    /// The name of the server `arg` means: `--server`, or [`State::default_server`].
    pub fn server_name(&self, arg: &ServerArg) -> Result<String, MagicError> {
        if let Some(name) = &arg.server {
            return Ok(name.clone());
        }
        self.default_server()?.ok_or_else(|| {
            MagicError::Usage(format!(
                "several servers exist ({}) and none is chosen: add --server NAME, or choose one \
                 for this kernel with %crimpl server use NAME",
                self.server_names().join(", ")
            ))
        })
    }

    /// The server named by `--server`, or the one a command without it means.
    pub fn server(&self, arg: &ServerArg) -> Result<Arc<Server>, MagicError> {
        let name = self.server_name(arg)?;
        self.open_server(&name)
    }

    /// The settings of server `name` (the built-in `local` included).
    pub fn server_config(&self, name: &str) -> Result<ServerConfig, MagicError> {
        match self.registry.get(name)? {
            Some(config) => Ok(config),
            None if name == DEFAULT_SERVER => Ok(ServerConfig::Local {
                directory: DEFAULT_DIRECTORY.into(),
            }),
            None => Err(self.unknown_server(name)),
        }
    }

    /// "No server named ...", with the closest existing names.
    pub fn unknown_server(&self, name: &str) -> MagicError {
        let names = self.server_names();
        MagicError::Crimpl(
            EngineError::NotFound(format!(
                "no server named {name:?}{}: %crimpl server list shows them, %crimpl server new makes one",
                suggest::did_you_mean(name, names.iter().map(String::as_str))
            ))
            .into(),
        )
    }

    /// Open (or reuse) the server called `name`.
    pub fn open_server(&self, name: &str) -> Result<Arc<Server>, MagicError> {
        if let Some(server) = self.lock().open.get(name) {
            return Ok(server.clone());
        }
        let mut config = self.server_config(name)?;
        if let ServerConfig::Aws(aws) = &mut config
            && aws.region.is_none()
        {
            // Saved before regions were: the kernel's region is saved now, and used ever after.
            aws.region = Some(crate::crimpl::aws::region::current()?);
            self.registry().add(name, config.clone(), true)?;
        }
        let server = Arc::new(Server::open(name, config)?);
        self.lock().open.insert(name.to_string(), server.clone());
        Ok(server)
    }

    /// Make `name` the server for commands without `--server`.
    pub fn set_current_server(&self, name: Option<String>) {
        self.lock().current_server = name;
    }

    /// The current server's name, if one was chosen.
    pub fn current_server(&self) -> Option<String> {
        self.lock().current_server.clone()
    }

    /// Forget an open server (after it was removed or changed).
    pub fn close_server(&self, name: &str) {
        let mut state = self.lock();
        state.open.remove(name);
        if state.current_server.as_deref() == Some(name) {
            state.current_server = None;
        }
    }

    /// The job named, or this kernel's latest job on `server`.
    pub fn job_name(&self, server: &Server, job: &Option<String>) -> Result<String, MagicError> {
        if let Some(job) = job {
            return Ok(job.clone());
        }
        match &self.lock().latest_job {
            Some((latest_server, job)) if latest_server == server.name() => Ok(job.clone()),
            _ => Err(MagicError::Usage(format!(
                "no job of this kernel on server {}: name one (%crimpl jobs --server {} lists them)",
                server.name(),
                server.name()
            ))),
        }
    }

    /// Remember `job` as this kernel's latest.
    pub fn set_latest_job(&self, server: &Server, job: &str) {
        self.lock().latest_job = Some((server.name().to_string(), job.to_string()));
        self.remember_jobs(server, [job.to_string()]);
    }

    /// The open AWS servers of this kernel (for its shutdown notes).
    pub fn open_aws_servers(&self) -> Vec<Arc<Server>> {
        self.lock()
            .open
            .values()
            .filter(|s| s.aws().is_some())
            .cloned()
            .collect()
    }

    /// Every job name seen on any server, for completion.
    pub fn known_job_names(&self) -> Vec<String> {
        self.lock().known_jobs.values().flatten().cloned().collect()
    }

    /// The status displays of this kernel's jobs and their watchers.
    pub fn job_displays(&self) -> Arc<JobDisplays> {
        self.displays.clone()
    }

    /// Stop every background watcher (the kernel is shutting down: `reason`).
    pub fn stop_watching(&self, reason: &str) {
        self.displays.stop(None, reason);
    }

    /// Remember the instance type `job create` chose for `job` on `server`.
    pub fn plan_job_instance(&self, server: &Server, job: &str, instance_type: &str) {
        self.lock().planned_instances.insert(
            (server.name().to_string(), job.to_string()),
            instance_type.to_string(),
        );
    }

    /// The instance type `job create` chose for `job` on `server`, if any.
    pub fn planned_job_instance(&self, server: &Server, job: &str) -> Option<String> {
        self.lock()
            .planned_instances
            .get(&(server.name().to_string(), job.to_string()))
            .cloned()
    }

    /// Remember job names seen on `server`, for completion.
    pub fn remember_jobs(&self, server: &Server, jobs: impl IntoIterator<Item = String>) {
        let mut state = self.lock();
        let known = state
            .known_jobs
            .entry(server.name().to_string())
            .or_default();
        for job in jobs {
            if !known.contains(&job) {
                known.push(job);
            }
        }
    }

    /// The variables `$VAR` expands to (`%crimpl env`).
    pub fn variables(&self) -> std::sync::MutexGuard<'_, Variables> {
        self.variables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.remembered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
