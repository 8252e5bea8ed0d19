//! `%crimpl server ...`: make, list, choose, show, forget and trust servers.

use anyhow::Context;

use super::check;
use super::cli::{NewArgs, NewAwsArgs, NewServer, ServerArg, ServerCommand};
use super::offload::{blocking, progress_to};
use super::state::{DEFAULT_SERVER, State};
use super::{MagicError, MagicResult, Output, render};
use crate::crimpl::aws::{AwsConfig, InstanceSettings};
use crate::crimpl::config::DEFAULT_DIRECTORY;
use crate::crimpl::transport::SshTarget;
use crate::crimpl::{ServerConfig, scripts};

/// Run a `server` subcommand.
pub async fn run(state: &State, command: ServerCommand, out: &Output) -> MagicResult {
    match command {
        ServerCommand::New(new) => create(state, *new, out).await,
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
            let rows: Vec<Vec<String>> = server
                .config()
                .settings()
                .into_iter()
                .map(|(key, value)| vec![key.to_string(), value])
                .collect();
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
            instance_command(state, name, InstanceAction::Start, out).await
        }
        ServerCommand::Stop { name } => {
            instance_command(state, name, InstanceAction::Stop, out).await
        }
        ServerCommand::Terminate { name } => {
            instance_command(state, name, InstanceAction::Terminate, out).await
        }
        ServerCommand::State { name } => {
            instance_command(state, name, InstanceAction::State, out).await
        }
        ServerCommand::UpdateImage { name, image_id } => {
            update_image(state, name, image_id, out).await
        }
        ServerCommand::DeleteVolume { name, yes } => {
            if !yes {
                return Err(MagicError::Usage(
                    "delete-volume deletes the server's files for good: add --yes to confirm"
                        .into(),
                ));
            }
            instance_command(state, name, InstanceAction::DeleteVolume, out).await
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

async fn create(state: &State, new: NewArgs, out: &Output) -> MagicResult {
    let (name, config) = match new.kind {
        NewServer::Local { name, directory } => (name, ServerConfig::Local { directory }),
        NewServer::Ssh {
            name,
            host,
            directory,
            login_shell,
            jump,
        } => (
            name,
            ServerConfig::Ssh {
                host,
                directory,
                login_shell,
                jump,
            },
        ),
        NewServer::Slurm {
            name,
            host,
            directory,
            mail_user,
            defaults,
            poll_floor,
            login_shell,
            jump,
        } => (
            name,
            ServerConfig::Slurm {
                host,
                directory,
                mail_user,
                defaults: defaults.settings(),
                poll_floor_seconds: poll_floor,
                login_shell,
                jump,
            },
        ),
        NewServer::Aws(args) => {
            crate::crimpl::registry::validate_server_name(&args.name)?;
            let name = args.name.clone();
            // Refuse before touching AWS, so a name clash never leaves a new volume behind.
            if !new.replace && state.registry().get(&name)?.is_some() {
                return Err(MagicError::Usage(format!(
                    "a server named {name:?} exists already: add --replace to find or make its volume again, \
                     or pick another name"
                )));
            }
            let progress = progress_to(out);
            let volume_name = name.clone();
            let volume_size = args.volume_size;
            let region = args.region.clone();
            let settings = instance_settings(args)?;
            let config = blocking(move || {
                AwsConfig::create(
                    region.as_deref(),
                    &volume_name,
                    volume_size,
                    settings,
                    &progress,
                )
            })
            .await?;
            (name, ServerConfig::Aws(config))
        }
    };
    // Everything that can be wrong without reaching the server is checked
    // before it is saved: a failed `server new` leaves the registry as it was.
    crate::crimpl::registry::validate_server_name(&name)?;
    scripts::directory_word(config.directory())?;
    if !new.replace && state.registry().get(&name)?.is_some() {
        return Err(MagicError::Usage(format!(
            "a server named {name:?} exists already: add --replace, remove it first \
             (%crimpl server remove {name}), or pick another name"
        )));
    }
    // A host name that does not resolve is a typo far more often than an outage.
    if let Some(host) = config.host() {
        let target = SshTarget::resolve_via(host, config.jump())?;
        // Through jump hosts, only the first hop's name must resolve here.
        target
            .jumps
            .first()
            .unwrap_or(&target)
            .addresses()
            .map_err(|err| anyhow::anyhow!("{err:#}; nothing was saved"))?;
    }
    let opened = crate::crimpl::Server::open(&name, config.clone())?;
    let described = opened.describe();
    drop(opened);
    state.registry().add(&name, config.clone(), new.replace)?;
    state.close_server(&name);
    let server = state.open_server(&name)?;
    // Reach the server now, so a wrong host or key shows up here, not at the
    // first job. A valid server that cannot be reached yet stays saved.
    let probe = server.clone();
    let reached = blocking(move || probe.probe()).await;
    let summary = format!(
        "Server {name} ({}) saved: jobs go to {} on {described}",
        config.kind(),
        config.directory(),
    );
    match reached {
        Ok(()) => {
            out.display(&render::message(&summary), None);
            Ok(())
        }
        Err(err) => Err(MagicError::Crimpl(anyhow::anyhow!(
            "{summary}, but it cannot be reached yet: {}\n\
             %crimpl server check {name} shows every step to it and what to do; \
             %crimpl server remove {name} forgets it",
            format!("{err:#}").replace("server trust SERVER ", &format!("server trust {name} "))
        ))),
    }
}

fn instance_settings(args: NewAwsArgs) -> Result<InstanceSettings, MagicError> {
    let key_name = match args.key_name {
        Some(name) => name,
        // As crimpl does: the key pair is named like its key file.
        None => std::path::Path::new(&args.key_file)
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
            .ok_or_else(|| {
                MagicError::Usage("--key-name is needed: the key file has no usable name".into())
            })?,
    };
    Ok(InstanceSettings {
        key_file: args.key_file,
        key_name,
        subnet_id: args.subnet_id,
        security_group_id: args.security_group_id,
        image_id: args.image_id,
        images: Default::default(),
        server_type: crate::crimpl::aws::SERVER_TYPE.into(),
        job_types: Vec::new(),
        username: args.username,
        ssh_address: args.ssh_address,
        ssh_port: args.ssh_port,
        directory: args.directory,
        idle_stop_minutes: args.idle_stop_minutes,
        max_hours: args.max_hours,
        lifetime_margin_minutes: args.lifetime_margin_minutes,
    })
}

/// `server update-image`: pin the current images again, save them, say old -> new.
async fn update_image(
    state: &State,
    name: Option<String>,
    image_id: Option<String>,
    out: &Output,
) -> MagicResult {
    let server = state.server(&ServerArg { server: name })?;
    if server.aws().is_none() {
        return Err(MagicError::Usage(format!(
            "server {} is {}: `server update-image` is for AWS servers",
            server.name(),
            server.config().kind()
        )));
    }
    let worker = server.clone();
    let update = blocking(move || {
        worker
            .aws()
            .context("not an AWS server")?
            .update_image(image_id.as_deref())
    })
    .await?;
    let name = server.name().to_string();
    state
        .registry()
        .add(&name, ServerConfig::Aws(update.config), true)?;
    state.close_server(&name);
    let message = if update.changes.is_empty() {
        format!(
            "Server {name}'s image is current: {} (nothing changed)",
            update.images.join(" and ")
        )
    } else {
        format!(
            "Server {name}'s instances launch from new images: {}. Pinned {}",
            update.changes.join(", "),
            update.images.join(" and ")
        )
    };
    out.display(&render::message(&message), None);
    Ok(())
}

/// What `server start|stop|terminate|state|delete-volume` does to an AWS
/// server's machines.
#[derive(Debug, Clone, Copy)]
enum InstanceAction {
    /// Start the server instance (creating it if needed).
    Start,
    /// Stop the server instance.
    Stop,
    /// Terminate the server instance.
    Terminate,
    /// Say the server instance's state.
    State,
    /// Terminate every instance and delete the volume.
    DeleteVolume,
}

impl InstanceAction {
    /// The `server` subcommand that asks for it.
    fn command(self) -> &'static str {
        match self {
            InstanceAction::Start => "start",
            InstanceAction::Stop => "stop",
            InstanceAction::Terminate => "terminate",
            InstanceAction::State => "state",
            InstanceAction::DeleteVolume => "delete-volume",
        }
    }
}

/// `server start|stop|terminate|state|delete-volume` of an AWS server.
async fn instance_command(
    state: &State,
    name: Option<String>,
    action: InstanceAction,
    out: &Output,
) -> MagicResult {
    let server = state.server(&ServerArg { server: name })?;
    if server.aws().is_none() {
        return Err(MagicError::Usage(format!(
            "server {} is {}: `server {}` is for AWS servers",
            server.name(),
            server.config().kind(),
            action.command()
        )));
    }
    let progress = progress_to(out);
    let worker = server.clone();
    let message = blocking(move || {
        let aws = worker.aws().context("not an AWS server")?;
        Ok(match action {
            InstanceAction::Start => {
                let instance = aws.start(&progress)?;
                format!(
                    "Server instance {} of {} is running",
                    instance.id,
                    worker.name()
                )
            }
            InstanceAction::Stop => match aws.stop(&progress)? {
                Some(instance) if matches!(instance.state.as_str(), "stopping" | "stopped") => {
                    format!(
                        "Server instance {} is {} already (the volume stays)",
                        instance.id, instance.state
                    )
                }
                Some(instance) => {
                    format!(
                        "Stopping server instance {} (the volume stays)",
                        instance.id
                    )
                }
                None => "No server instance exists".into(),
            },
            InstanceAction::Terminate => match aws.terminate(&progress)? {
                Some(id) => format!("Terminated server instance {id} (the volume stays)"),
                None => "No server instance exists".into(),
            },
            InstanceAction::DeleteVolume => {
                let ids = aws.delete_volume(&progress)?;
                format!(
                    "Deleted volume {} of {}{}",
                    aws.config().volume_id,
                    worker.name(),
                    if ids.is_empty() {
                        String::new()
                    } else {
                        format!(" after terminating {}", ids.join(", "))
                    }
                )
            }
            InstanceAction::State => {
                format!("Server instance of {}: {}", worker.name(), aws.state()?)
            }
        })
    })
    .await?;
    if let InstanceAction::DeleteVolume = action {
        state.registry().remove(server.name())?;
        state.close_server(server.name());
    }
    out.display(&render::message(&message), None);
    Ok(())
}
