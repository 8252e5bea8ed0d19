//! `%crimpl server new KIND NAME ...`: make a server and remember it.

use clap::{Args, Subcommand};

use crate::crimpl::aws::{AwsConfig, InstanceSettings};
use crate::crimpl::slurm::SlurmDefaults;
use crate::crimpl::transport::{SshTarget, TransportKind};
use crate::crimpl::{ServerConfig, scripts};
use crate::magics::numbers;
use crate::magics::offload::{blocking, progress_to};
use crate::magics::state::State;
use crate::magics::{MagicError, MagicResult, Output, render};

/// `%crimpl server new [--replace] KIND ...`
#[derive(Args, Debug)]
pub struct NewArgs {
    /// Replace a remembered server of the same name (re-runnable notebooks).
    #[arg(long, global = true)]
    pub replace: bool,
    /// The kind of server.
    #[command(subcommand)]
    pub kind: NewServer,
}

/// The kinds of `%crimpl server new`.
#[derive(Subcommand, Debug)]
pub enum NewServer {
    /// Jobs run on this machine.
    Local {
        /// The server's name.
        name: String,
        /// Directory holding the jobs.
        #[arg(long, default_value = crate::crimpl::config::DEFAULT_DIRECTORY)]
        directory: String,
    },
    /// Jobs run detached on an SSH host.
    Ssh {
        /// The server's name.
        name: String,
        /// An ~/.ssh/config alias or user@host[:port].
        #[arg(long)]
        host: String,
        /// Directory holding the jobs on the host.
        #[arg(long, default_value = crate::crimpl::config::DEFAULT_DIRECTORY)]
        directory: String,
        /// Run commands in a login shell (site PATHs from /etc/profile.d, `module`); slower.
        #[arg(long)]
        login_shell: bool,
        /// Jump host(s) to go through, as `ssh -J`: HOST, user@host:port, or a chain A,B
        /// (instead of ProxyJump in ~/.ssh/config).
        #[arg(long, value_name = "HOST")]
        jump: Option<String>,
        /// Let your group read the server and job directories (0750; default: private, 0700).
        #[arg(long)]
        group_readable: bool,
        /// The way in: `auto` (OpenSSH where the host's ssh settings need it:
        /// certificates, Kerberos, security keys, a ControlPath...), `openssh` or `libssh2`.
        #[arg(long, value_enum, default_value = "auto")]
        transport: TransportKind,
    },
    /// Jobs go through sbatch on a Slurm cluster's login node.
    Slurm {
        /// The server's name.
        name: String,
        /// The login node: an ~/.ssh/config alias or user@host[:port].
        #[arg(long)]
        host: String,
        /// Directory holding the jobs on the cluster.
        #[arg(long, default_value = crate::crimpl::config::DEFAULT_DIRECTORY)]
        directory: String,
        /// Jump host(s) to go through, as `ssh -J`: HOST, user@host:port, or a chain A,B
        /// (instead of ProxyJump in ~/.ssh/config).
        #[arg(long, value_name = "HOST")]
        jump: Option<String>,
        /// Where Slurm mails job events.
        #[arg(long)]
        mail_user: Option<String>,
        /// Defaults for every job's sbatch options (a job's own options win).
        #[command(flatten)]
        defaults: SlurmDefaults,
        /// Least seconds between two squeue of this server's watchers (1 to 86400; default 30).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86400))]
        poll_floor: Option<u64>,
        /// Run commands and the batch script in a login shell (site PATHs, `module`); slower.
        #[arg(long)]
        login_shell: bool,
        /// Let your group read the server and job directories (0750; default: private, 0700).
        #[arg(long)]
        group_readable: bool,
        /// The way in: `auto` (OpenSSH where the host's ssh settings need it:
        /// certificates, Kerberos, security keys, a ControlPath...), `openssh` or `libssh2`.
        #[arg(long, value_enum, default_value = "auto")]
        transport: TransportKind,
    },
    /// An EBS volume, a 1-vCPU server instance and job instances on AWS EC2.
    Aws(NewAwsArgs),
}

/// `%crimpl server new aws NAME ...`
#[derive(Args, Debug)]
pub struct NewAwsArgs {
    /// The server's name (an existing crimpl volume of that name is reused).
    pub name: String,
    /// Private key file of the EC2 key pair.
    #[arg(long)]
    pub key_file: String,
    /// The key pair's name in EC2 (default: the key file's name).
    #[arg(long)]
    pub key_name: Option<String>,
    /// The region, saved with the server for all its calls (default: the
    /// kernel's, from AWS_REGION or the profile).
    #[arg(long)]
    pub region: Option<String>,
    /// Subnet for the instances (the volume is made in its availability zone).
    #[arg(long)]
    pub subnet_id: String,
    /// Security group for the instances (must allow SSH).
    #[arg(long)]
    pub security_group_id: String,
    /// Volume size in GiB (1 to 16384).
    #[arg(long, default_value_t = 4, value_parser = numbers::volume_gib())]
    pub volume_size: i32,
    /// AMI for every instance (default: the newest Ubuntu 24.04 LTS from
    /// Canonical for each architecture, pinned until `server update-image`).
    #[arg(long)]
    pub image_id: Option<String>,
    /// The image's login user.
    #[arg(long, default_value = "ubuntu")]
    pub username: String,
    /// Reach instances by their public or private address.
    #[arg(long, value_enum, default_value = "public")]
    pub ssh_address: crate::crimpl::aws::SshAddress,
    /// SSH port of the instances (1 to 65535).
    #[arg(long, default_value_t = 22, value_parser = numbers::port())]
    pub ssh_port: u16,
    /// Where the volume is mounted: the server directory.
    #[arg(long, default_value = crate::crimpl::config::DEFAULT_DIRECTORY)]
    pub directory: String,
    /// Instances shut down after this many idle minutes (no job or `run` script,
    /// no terminal login; 1 to 10080); a kernel's open connection does not count.
    #[arg(long, default_value_t = 30, value_parser = numbers::idle_minutes())]
    pub idle_stop_minutes: u32,
    /// Hard limit: the server instance shuts down this many hours after each
    /// boot, whatever runs (1 to 8760).
    #[arg(long, default_value_t = crate::crimpl::aws::lifetime::DEFAULT_MAX_HOURS, value_parser = numbers::max_hours())]
    pub max_hours: u32,
    /// Hard limit: a job instance shuts down this many minutes after its
    /// --walltime (default 2 days) has passed (1 to 10080).
    #[arg(long, default_value_t = crate::crimpl::aws::lifetime::DEFAULT_MARGIN_MINUTES, value_parser = numbers::idle_minutes())]
    pub lifetime_margin_minutes: u32,
}

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
            group_readable,
            transport,
        } => (
            name,
            ServerConfig::Ssh {
                host,
                directory,
                login_shell,
                jump,
                group_readable,
                transport,
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
            group_readable,
            transport,
        } => (
            name,
            ServerConfig::Slurm {
                transport,
                host,
                directory,
                mail_user,
                defaults,
                poll_floor_seconds: poll_floor,
                login_shell,
                jump,
                group_readable,
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
