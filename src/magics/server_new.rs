//! `%crimpl server new KIND NAME ...`: make a server and remember it.

use super::cli::{NewArgs, NewAwsArgs, NewServer};
use super::offload::{blocking, progress_to};
use super::state::State;
use super::{MagicError, MagicResult, Output, render};
use crate::crimpl::aws::{AwsConfig, InstanceSettings};
use crate::crimpl::transport::SshTarget;
use crate::crimpl::{ServerConfig, scripts};

/// `server new`: check the settings, find or make what the server needs
/// (an AWS volume), and remember it by name.
pub async fn create(state: &State, new: NewArgs, out: &Output) -> MagicResult {
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
