//! `%crimpl server ...`: make, list, choose, show, forget and trust servers.

use super::cli::{NewArgs, NewServer, ServerCommand};
use super::context::{DEFAULT_SERVER, Magics};
use super::watch::blocking;
use super::{MagicError, MagicResult, Output, render};
use crate::crimpl::{ServerConfig, scripts};

/// Run a `server` subcommand.
pub async fn run(magics: &Magics, command: ServerCommand, out: &Output) -> MagicResult {
    match command {
        ServerCommand::New(new) => create(magics, new, out).await,
        ServerCommand::List => {
            let servers = magics.registry().list()?;
            let current = magics.current_server();
            let mut rows: Vec<Vec<String>> = servers
                .iter()
                .map(|(name, config)| {
                    let marker = if current.as_deref() == Some(name) {
                        "*"
                    } else {
                        ""
                    };
                    vec![
                        marker.to_string(),
                        name.clone(),
                        config.kind().to_string(),
                        config.host().unwrap_or("").to_string(),
                        config.directory().to_string(),
                    ]
                })
                .collect();
            if rows.is_empty() {
                rows.push(vec![
                    "*".into(),
                    format!("{DEFAULT_SERVER} (default)"),
                    "local".into(),
                    String::new(),
                    crate::crimpl::config::DEFAULT_DIRECTORY.into(),
                ]);
            }
            let view = render::table(
                &format!(
                    "Servers (remembered in {})",
                    magics.registry().path().display()
                ),
                &["", "name", "kind", "host", "directory"],
                &rows,
            );
            out.display(&view, None);
            Ok(())
        }
        ServerCommand::Use { name } => {
            magics.open_server(&name)?;
            magics.set_current_server(Some(name.clone()));
            out.display(&render::message(&format!("Using server {name}")), None);
            Ok(())
        }
        ServerCommand::Show { name } => {
            let server = magics.server(&super::cli::ServerArg { server: name })?;
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
            magics.registry().remove(&name)?;
            magics.close_server(&name);
            out.display(
                &render::message(&format!("Forgot server {name} (nothing on it was touched)")),
                None,
            );
            Ok(())
        }
        ServerCommand::Trust { name, fingerprint } => {
            let server = magics.open_server(&name)?;
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

async fn create(magics: &Magics, new: NewArgs, out: &Output) -> MagicResult {
    let (name, config) = match new.kind {
        NewServer::Local { name, directory } => (name, ServerConfig::Local { directory }),
        NewServer::Ssh {
            name,
            host,
            directory,
        } => (name, ServerConfig::Ssh { host, directory }),
        NewServer::Slurm {
            name,
            host,
            directory,
            mail_user,
        } => (
            name,
            ServerConfig::Slurm {
                host,
                directory,
                mail_user,
            },
        ),
    };
    scripts::directory_word(config.directory())?;
    magics.registry().add(&name, config.clone(), new.replace)?;
    magics.close_server(&name);
    let server = magics.open_server(&name)?;
    // Reach the server now, so a wrong host or key shows up here, not at the first job.
    let directory = scripts::directory_word(config.directory())?;
    let probe = server.clone();
    let reached = blocking(move || {
        probe
            .transport()
            .check(
                &format!("mkdir -p {directory}"),
                None,
                "creating the server directory",
            )
            .map(|_| ())
    })
    .await;
    let summary = format!(
        "Server {name} ({}) saved: jobs go to {} on {}",
        config.kind(),
        config.directory(),
        server.transport().describe()
    );
    match reached {
        Ok(()) => {
            out.display(&render::message(&summary), None);
            Ok(())
        }
        Err(err) => Err(MagicError::Crimpl(anyhow::anyhow!(
            "{summary}, but it cannot be reached yet: {err}"
        ))),
    }
}
