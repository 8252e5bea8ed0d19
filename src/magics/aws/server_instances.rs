//! `%crimpl server start|stop|terminate|state|delete-volume|update-image`:
//! the machines of an AWS server, through the engine.

use anyhow::Context;

use crate::crimpl::ServerConfig;
use crate::magics::args::ServerArg;
use crate::magics::offload::{blocking, progress_to};
use crate::magics::state::State;
use crate::magics::{MagicError, MagicResult, Output, render};

/// `server update-image`: pin the current images again, save them, say old -> new.
pub async fn update_image(
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
pub enum InstanceAction {
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
    pub fn command(self) -> &'static str {
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
pub async fn instance_command(
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
