//! The magics' per-kernel state (current server, latest job, open servers)
//! and the dispatch of a parsed magic line to its command.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::cli::{Command, Parsed, ServerArg, parse, takes_body};
use super::complete::{self, Completion};
use super::env::Variables;
use super::expand::expand_variables;
use super::job_displays::JobDisplays;
use super::login_prompts::CellPrompter;
use super::{
    Cancel, CellInput, MagicError, MagicResult, Output, StreamName, aws, env, jobs, servers, watch,
};
use crate::crimpl::config::DEFAULT_DIRECTORY;
use crate::crimpl::{EngineError, Registry, Server, ServerConfig, suggest};
use anyhow::Context;

/// Name of the built-in server: this machine, jobs in `~/crimpl`. It is
/// always there (a server made with this name takes its place).
pub const DEFAULT_SERVER: &str = "local";

/// The `%crimpl` interpreter of one kernel.
pub struct Magics {
    registry: Registry,
    working_dir: PathBuf,
    state: Mutex<State>,
    variables: Mutex<Variables>,
    displays: Arc<JobDisplays>,
}

#[derive(Default)]
struct State {
    current_server: Option<String>,
    /// The latest job this kernel submitted or named: (server, job).
    latest_job: Option<(String, String)>,
    /// Job names seen per server, for completion.
    known_jobs: HashMap<String, Vec<String>>,
    open: HashMap<String, Arc<Server>>,
    /// AWS instance types chosen by `job create`, per (server, job).
    planned_instances: HashMap<(String, String), String>,
}

impl Magics {
    /// Magics using `registry`, fetching into `working_dir` by default.
    pub fn new(registry: Registry, working_dir: PathBuf) -> Self {
        Self {
            registry,
            working_dir,
            state: Mutex::default(),
            variables: Mutex::default(),
            displays: Arc::default(),
        }
    }

    /// Magics for this process: the user's registry and the current directory.
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

    /// Run one magic: `line` is what follows `%crimpl`/`%%crimpl`, `body`
    /// the rest of a `%%crimpl` cell.
    /// Login questions for connections it opens are asked through `input`.
    pub async fn run(
        &self,
        line: &str,
        body: Option<&str>,
        out: Output,
        input: Arc<dyn CellInput>,
        cancel: Cancel,
    ) -> MagicResult {
        let _loan = crate::crimpl::transport::lend_prompter(Arc::new(CellPrompter(input)));
        let line = expand_variables(line, &self.variables())?;
        let (words, parsed) = match parse(&line)? {
            Parsed::Help(help) => {
                out.stream(StreamName::Stdout, &help);
                return Ok(());
            }
            Parsed::Command { words, line } => (words, line),
        };
        match (&body, takes_body(&parsed.command)) {
            (None, true) => {
                return Err(MagicError::Usage(format!(
                    "`{}` needs a script: write `%%crimpl {line}` on the first line of a cell, and the script below it",
                    words[0]
                )));
            }
            (Some(body), false) if !body.trim().is_empty() => {
                return Err(MagicError::Usage(format!(
                    "`{}` takes no cell body: use `%crimpl {line}` on a line of its own",
                    words[0]
                )));
            }
            _ => {}
        }
        let body = body.unwrap_or_default();
        match parsed.command {
            Command::Server(command) => servers::run(self, command, &out).await,
            Command::Run(args) => jobs::run_script(self, args, body, &out, &cancel).await,
            Command::Submit(args) => jobs::submit(self, *args, body, &out, &cancel).await,
            Command::Jobs(args) => jobs::list(self, &args, &out).await,
            Command::Status(args) => jobs::status(self, &args, &out).await,
            Command::Wait(args) => jobs::wait(self, args, &out, &cancel).await,
            Command::Log(args) => jobs::log(self, args, &out, &cancel).await,
            Command::Ls(args) => jobs::ls(self, &args, &out).await,
            Command::Fetch(args) => jobs::fetch(self, args, &out).await,
            Command::Kill(args) => jobs::kill(self, &args, &out).await,
            Command::Resubmit(args) => jobs::resubmit(self, &args, &out).await,
            Command::Unwatch(args) => watch::unwatch(self, &args, &out),
            Command::Job(command) => aws::job(self, command, &out).await,
            Command::Aws(command) => aws::account(command, &out).await,
            Command::Env(args) => env::run(self, args, &out),
        }
    }

    /// Completions for a magic line at byte `cursor`.
    pub fn complete(&self, line: &str, cursor: usize) -> Completion {
        let (servers, jobs) = {
            let state = self.lock();
            let servers = self.server_names();
            let jobs = state
                .known_jobs
                .values()
                .flatten()
                .cloned()
                .collect::<Vec<_>>();
            (servers, jobs)
        };
        complete::complete(line, cursor, &servers, &jobs)
    }

    /// The help of the command on a magic line (for inspect / Shift-Tab).
    pub fn inspect(&self, line: &str) -> Option<String> {
        complete::help_for(line)
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

    /// The name of the server `arg` means: `--server`, or [`Magics::default_server`].
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
            aws.region = Some(crate::crimpl::aws::Ec2::from_environment()?.region());
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

    /// Lines for the kernel's log at shutdown: crimpl instances still running
    /// on the AWS servers this kernel used (none if it used no AWS server).
    pub async fn shutdown_notes(&self) -> Vec<String> {
        let servers: Vec<Arc<Server>> = self
            .lock()
            .open
            .values()
            .filter(|s| s.aws().is_some())
            .cloned()
            .collect();
        aws::shutdown_notes(servers, std::time::Duration::from_secs(3)).await
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

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
