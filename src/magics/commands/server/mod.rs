//! `%crimpl server ...`: make, list, choose, show, forget and trust servers.

mod check;
mod new;

use clap::Subcommand;

use crate::crimpl::ServerConfig;
use crate::crimpl::config::DEFAULT_DIRECTORY;
use crate::crimpl::transport::{SshTarget, TransportKind, choose, diagnose};
use crate::magics::args::ServerArg;
use crate::magics::aws::{self, InstanceAction};
use crate::magics::offload::blocking;
use crate::magics::state::{DEFAULT_SERVER, State};
use crate::magics::{MagicError, MagicResult, Output, render};
pub use new::NewArgs;

/// `%crimpl server ...`
#[derive(Subcommand, Debug)]
pub enum ServerCommand {
    /// Make a new server and remember it by name.
    New(Box<NewArgs>),
    /// List the remembered servers.
    List,
    /// Make NAME the server for commands without --server.
    Use {
        /// The server's name.
        name: String,
    },
    /// Check every step from here to a working job: ok / failed / skipped, each with its time and next step.
    Check {
        /// The server's name (default: the one a command without --server uses).
        name: Option<String>,
    },
    /// Show a server's settings.
    Show {
        /// The server's name (default: the current one).
        name: Option<String>,
    },
    /// Forget a server (nothing on the server is touched).
    Remove {
        /// The server's name.
        name: String,
    },
    /// AWS: start the server instance (1 vCPU) with the volume mounted.
    Start {
        /// The server's name (default: the current one).
        name: Option<String>,
    },
    /// AWS: stop the server instance (the volume stays).
    Stop {
        /// The server's name (default: the current one).
        name: Option<String>,
    },
    /// AWS: terminate the server instance (the volume stays).
    Terminate {
        /// The server's name (default: the current one).
        name: Option<String>,
    },
    /// AWS: pin the current Ubuntu 24.04 LTS images (or --image-id) for the server's instances.
    UpdateImage {
        /// The server's name (default: the current one).
        name: Option<String>,
        /// Pin this image instead (for its architecture).
        #[arg(long)]
        image_id: Option<String>,
    },
    /// AWS: the server instance's state.
    State {
        /// The server's name (default: the current one).
        name: Option<String>,
    },
    /// AWS: terminate the server's instances and delete its volume (its files are lost).
    DeleteVolume {
        /// The server's name (default: the current one).
        name: Option<String>,
        /// Confirm.
        #[arg(long)]
        yes: bool,
    },
    /// Trust an SSH host's key: record it in known_hosts if it has FINGERPRINT.
    Trust {
        /// The server's name.
        name: String,
        /// The fingerprint shown by the error (SHA256:...), checked against the host's own.
        fingerprint: String,
    },
}

/// Run a `server` subcommand.
pub async fn run(state: &State, command: ServerCommand, out: &Output) -> MagicResult {
    match command {
        ServerCommand::New(new) => new::create(state, *new, out).await,
        ServerCommand::List => list(state, out),
        ServerCommand::Use { name } => {
            state.open_server(&name)?;
            state.set_current_server(Some(name.clone()));
            out.display(&render::message(&format!("Using server {name}")), None);
            Ok(())
        }
        ServerCommand::Check { name } => check::run(state, name, out).await,
        ServerCommand::Show { name } => {
            let server = state.server(&ServerArg { server: name })?;
            let mut rows: Vec<Vec<String>> = server
                .config()
                .settings()
                .into_iter()
                .map(|(key, value)| vec![key.to_string(), value])
                .collect();
            if let Some(host) = server.config().host() {
                let (host, jump) = (host.to_string(), server.config().jump().map(str::to_string));
                let (host_again, jump_again) = (host.clone(), jump.clone());
                let resolved = blocking(move || {
                    Ok(match SshTarget::resolve_via(&host, jump.as_deref()) {
                        Ok(target) => format!(
                            "{}{} (keys: {}); {}",
                            target.describe(),
                            diagnose::route(&target),
                            diagnose::key_list(&target),
                            target.resolver.describe()
                        ),
                        Err(err) => format!("cannot be resolved: {err:#}"),
                    })
                })
                .await?;
                rows.push(vec!["resolves to".into(), resolved]);
                let (host, jump) = (host_again, jump_again);
                let kind = server.config().transport().unwrap_or_default();
                let way = blocking(move || Ok(way_in(kind, &host, jump.as_deref()))).await?;
                rows.push(vec!["way in".into(), way]);
            }
            out.display(
                &render::table(
                    &format!("Server {}", server.name()),
                    &["setting", "value"],
                    &rows,
                ),
                None,
            );
            Ok(())
        }
        ServerCommand::Remove { name } => {
            if state.registry().get(&name)?.is_none() {
                return Err(if name == DEFAULT_SERVER {
                    MagicError::Usage(format!(
                        "{DEFAULT_SERVER} is built in (this machine, {DEFAULT_DIRECTORY}): there is nothing to forget"
                    ))
                } else {
                    state.unknown_server(&name)
                });
            }
            state.registry().remove(&name)?;
            state.close_server(&name);
            out.display(
                &render::message(&format!("Forgot server {name} (nothing on it was touched)")),
                None,
            );
            Ok(())
        }
        ServerCommand::Start { name } => {
            aws::instance_command(state, name, InstanceAction::Start, out).await
        }
        ServerCommand::Stop { name } => {
            aws::instance_command(state, name, InstanceAction::Stop, out).await
        }
        ServerCommand::Terminate { name } => {
            aws::instance_command(state, name, InstanceAction::Terminate, out).await
        }
        ServerCommand::State { name } => {
            aws::instance_command(state, name, InstanceAction::State, out).await
        }
        ServerCommand::UpdateImage { name, image_id } => {
            aws::update_image(state, name, image_id, out).await
        }
        ServerCommand::DeleteVolume { name, yes } => {
            if !yes {
                return Err(MagicError::Usage(
                    "delete-volume deletes the server's files for good: add --yes to confirm"
                        .into(),
                ));
            }
            aws::instance_command(state, name, InstanceAction::DeleteVolume, out).await
        }
        ServerCommand::Trust { name, fingerprint } => {
            let server = state.open_server(&name)?;
            let checked = fingerprint.clone();
            blocking(move || server.trust_host_key(&checked)).await?;
            out.display(
                &render::message(&format!(
                    "Recorded the host key {fingerprint} of server {name} in known_hosts"
                )),
                None,
            );
            Ok(())
        }
    }
}

/// `server list`: every server, the built-in `local` included, with the one
/// a command without `--server` uses marked.
fn list(state: &State, out: &Output) -> MagicResult {
    let mut servers = state.registry().list()?;
    servers
        .entry(DEFAULT_SERVER.to_string())
        .or_insert_with(|| ServerConfig::Local {
            directory: DEFAULT_DIRECTORY.into(),
        });
    let default = state.default_server()?;
    let rows: Vec<Vec<String>> = servers
        .iter()
        .map(|(name, config)| {
            let marker = if default.as_deref() == Some(name) {
                "*"
            } else {
                ""
            };
            vec![
                marker.to_string(),
                name.clone(),
                config.kind().to_string(),
                match config {
                    ServerConfig::Local { .. } => "this machine".to_string(),
                    ServerConfig::Aws(aws) => format!("EC2, volume {}", aws.volume_id),
                    _ => config.host().unwrap_or_default().to_string(),
                },
                config.directory().to_string(),
            ]
        })
        .collect();
    let caption = format!(
        "Servers (remembered in {}); * = used without --server{}",
        state.registry().path().display(),
        if default.is_none() {
            ": none while several exist (choose with %crimpl server use NAME)"
        } else {
            ""
        }
    );
    let view = render::table(&caption, &["", "name", "kind", "host", "directory"], &rows);
    out.display(&view, None);
    Ok(())
}

/// Which transport `kind` chooses for `host`, and why, for `server show`.
fn way_in(kind: TransportKind, host: &str, jump: Option<&str>) -> String {
    match choose(kind, host, jump) {
        Ok(choice) if choice.openssh => format!("openssh: the system ssh ({})", choice.why),
        Ok(choice) => format!("libssh2: the kernel's own connection ({})", choice.why),
        Err(err) => format!("cannot be chosen: {err:#}"),
    }
}
