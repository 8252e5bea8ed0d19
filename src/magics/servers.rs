//! `%crimpl server ...`: make, list, choose, show, forget and trust servers.

use super::aws::{self, InstanceAction};
use super::check;
use super::cli::{ServerArg, ServerCommand};
use super::offload::blocking;
use super::server_new;
use super::state::{DEFAULT_SERVER, State};
use super::{MagicError, MagicResult, Output, render};
use crate::crimpl::ServerConfig;
use crate::crimpl::config::DEFAULT_DIRECTORY;

/// Run a `server` subcommand.
pub async fn run(state: &State, command: ServerCommand, out: &Output) -> MagicResult {
    match command {
        ServerCommand::New(new) => server_new::create(state, *new, out).await,
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
