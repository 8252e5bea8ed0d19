//! What a server is, as remembered between kernel sessions.

use serde::{Deserialize, Serialize};

use super::aws::AwsConfig;
use super::slurm::SlurmDefaults;
use super::transport::TransportKind;

/// The default server directory, as in crimpl.
pub const DEFAULT_DIRECTORY: &str = "~/crimpl";

/// One server's settings; the `kind` tag names its kind in the registry file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ServerConfig {
    /// Jobs run on this machine.
    Local {
        /// The server directory holding the job directories.
        directory: String,
    },
    /// Jobs run detached on an SSH host.
    Ssh {
        /// Anything `ssh` accepts: an `~/.ssh/config` alias or `user@host[:port]`.
        host: String,
        /// The server directory on the host.
        directory: String,
        /// Run commands in a login shell (site PATHs, `module`).
        #[serde(default, skip_serializing_if = "is_false")]
        login_shell: bool,
        /// Jump hosts to go through (`--jump`, as `ssh -J`), instead of the config's `ProxyJump`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jump: Option<String>,
        /// The directories it creates may be read by the user's group (0750, not 0700).
        #[serde(default, skip_serializing_if = "is_false")]
        group_readable: bool,
        /// Which way in (`--transport`): `auto` picks by the host's ssh settings.
        #[serde(default, skip_serializing_if = "is_auto")]
        transport: TransportKind,
    },
    /// Jobs go through `sbatch` on a Slurm login node reached by SSH.
    Slurm {
        /// The login node, as for `Ssh`.
        host: String,
        /// The server directory on the cluster.
        directory: String,
        /// Jump hosts to the login node, as for `Ssh`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jump: Option<String>,
        /// Where Slurm sends mail (`--mail-user`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mail_user: Option<String>,
        /// Defaults for every job's sbatch options (`--account`, ...).
        #[serde(default, flatten)]
        defaults: SlurmDefaults,
        /// Least seconds between two `squeue` of this server's watchers
        /// (default [`super::slurm::SLURM_FLOOR_SECONDS`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        poll_floor_seconds: Option<u64>,
        /// Run commands and the batch script in a login shell.
        #[serde(default, skip_serializing_if = "is_false")]
        login_shell: bool,
        /// The directories it creates may be read by the user's group (0750, not 0700).
        #[serde(default, skip_serializing_if = "is_false")]
        group_readable: bool,
        /// Which way in (`--transport`): `auto` picks by the host's ssh settings.
        #[serde(default, skip_serializing_if = "is_auto")]
        transport: TransportKind,
    },
    /// An EBS volume with a server instance and job instances on AWS EC2.
    Aws(AwsConfig),
}

fn is_false(value: &bool) -> bool {
    !value
}

fn is_auto(kind: &TransportKind) -> bool {
    *kind == TransportKind::Auto
}

impl ServerConfig {
    /// Whether commands run in a login shell (`--login-shell`).
    pub fn login_shell(&self) -> bool {
        match self {
            ServerConfig::Ssh { login_shell, .. } | ServerConfig::Slurm { login_shell, .. } => {
                *login_shell
            }
            _ => false,
        }
    }

    /// The mode of the server and job directories the kernel creates:
    /// private to the user (`700`: others on a shared login node cannot read
    /// a job's script, parameters or outputs), or `750` with `--group-readable`.
    pub fn directory_mode(&self) -> &'static str {
        match self {
            ServerConfig::Ssh { group_readable, .. }
            | ServerConfig::Slurm { group_readable, .. }
                if *group_readable =>
            {
                "750"
            }
            _ => "700",
        }
    }

    /// The kind's name: `local`, `ssh`, `slurm`, `aws`.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerConfig::Local { .. } => "local",
            ServerConfig::Ssh { .. } => "ssh",
            ServerConfig::Slurm { .. } => "slurm",
            ServerConfig::Aws(_) => "aws",
        }
    }

    /// The server directory.
    pub fn directory(&self) -> &str {
        match self {
            ServerConfig::Local { directory }
            | ServerConfig::Ssh { directory, .. }
            | ServerConfig::Slurm { directory, .. } => directory,
            ServerConfig::Aws(aws) => &aws.instances.directory,
        }
    }

    /// The SSH host, for kinds reached over SSH.
    pub fn host(&self) -> Option<&str> {
        match self {
            ServerConfig::Local { .. } | ServerConfig::Aws(_) => None,
            ServerConfig::Ssh { host, .. } | ServerConfig::Slurm { host, .. } => Some(host),
        }
    }

    /// The jump hosts given with `--jump`, for kinds reached over SSH.
    pub fn jump(&self) -> Option<&str> {
        match self {
            ServerConfig::Ssh { jump, .. } | ServerConfig::Slurm { jump, .. } => jump.as_deref(),
            ServerConfig::Local { .. } | ServerConfig::Aws(_) => None,
        }
    }

    /// How SSH commands travel (`--transport`), for kinds reached over SSH.
    pub fn transport(&self) -> Option<TransportKind> {
        match self {
            ServerConfig::Ssh { transport, .. } | ServerConfig::Slurm { transport, .. } => {
                Some(*transport)
            }
            ServerConfig::Local { .. } | ServerConfig::Aws(_) => None,
        }
    }

    /// Settings as (name, value) pairs, for display.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![("kind", self.kind().to_string())];
        if let Some(host) = self.host() {
            settings.push(("host", host.to_string()));
        }
        if let Some(jump) = self.jump() {
            settings.push(("jump", jump.to_string()));
        }
        if let Some(transport) = self.transport() {
            settings.push(("transport", transport.name().to_string()));
        }
        settings.push(("directory", self.directory().to_string()));
        settings.push((
            "new directories",
            match self.directory_mode() {
                "750" => "readable by your group (0750)".to_string(),
                mode => format!("private to you (0{mode})"),
            },
        ));
        if self.login_shell() {
            settings.push(("login shell", "yes".into()));
        }
        if let ServerConfig::Slurm {
            mail_user,
            defaults,
            poll_floor_seconds,
            ..
        } = self
        {
            if let Some(mail) = mail_user {
                settings.push(("mail-user", mail.clone()));
            }
            settings.extend(defaults.pairs());
            if let Some(floor) = poll_floor_seconds {
                settings.push(("poll-floor", format!("{floor} s")));
            }
        }
        if let ServerConfig::Aws(aws) = self {
            settings.extend([
                (
                    "volume",
                    format!(
                        "{} ({} GiB, {})",
                        aws.volume_id, aws.volume_size, aws.availability_zone
                    ),
                ),
                (
                    "region",
                    aws.region
                        .clone()
                        .unwrap_or_else(|| "the kernel's (saved at first use)".into()),
                ),
                (
                    "key",
                    format!("{} ({})", aws.instances.key_name, aws.instances.key_file),
                ),
                ("subnet", aws.instances.subnet_id.clone()),
                ("security group", aws.instances.security_group_id.clone()),
                (
                    "image",
                    if aws.instances.images.is_empty() {
                        aws.instances.image_id.clone().unwrap_or_else(|| {
                            "Ubuntu 24.04 LTS, pinned at the first launch".into()
                        })
                    } else {
                        aws.instances
                            .images
                            .iter()
                            .map(|(arch, id)| format!("{id} ({arch})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                ),
                (
                    "ssh",
                    format!(
                        "{}@{:?} address, port {}",
                        aws.instances.username, aws.instances.ssh_address, aws.instances.ssh_port
                    ),
                ),
                (
                    "instance types",
                    format!(
                        "{} (server); {} (jobs)",
                        aws.instances.server_type,
                        if aws.instances.job_types.is_empty() {
                            "c6i by --nprocs".to_string()
                        } else {
                            aws.instances.job_types.join(", ")
                        }
                    ),
                ),
                (
                    "idle stop",
                    format!("{} minutes", aws.instances.idle_stop_minutes),
                ),
            ]);
        }
        settings
    }
}
