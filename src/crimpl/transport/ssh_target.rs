//! Resolving a host as `ssh` would: `user@host:port` on top of the user's
//! ssh configuration. Where an `ssh` client is installed, OpenSSH itself
//! resolves it (`ssh -G`, see [`super::openssh_config`] and
//! [`super::openssh_target`]); elsewhere the kernel's own reader of
//! `~/.ssh/config` does (`Host` aliases, `Match`, `Include`, `HostName`,
//! `User`, `Port`, `IdentityFile`, `IdentitiesOnly`, `UserKnownHostsFile`,
//! `HostKeyAlias`, `ConnectTimeout`, `ProxyJump`, `ProxyCommand`), parsed
//! with `ssh2-config` (see [`super::ssh_config`]).

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, bail};

use super::openssh_config::{OpenSsh, expand_tilde};

/// Where and as whom to connect, with the keys and known_hosts files to use.
#[derive(Debug, Clone, PartialEq)]
pub struct SshTarget {
    /// The host as the user wrote it (for messages).
    pub spec: String,
    /// The address to connect to.
    pub host_name: String,
    /// TCP port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Private keys to try after the agent's.
    pub identity_files: Vec<PathBuf>,
    /// Offer only `identity_files` (OpenSSH's `IdentitiesOnly`): the agent's
    /// other keys are not tried.
    pub identities_only: bool,
    /// Files of trusted host keys; the first is where new keys are recorded.
    pub known_hosts: Vec<PathBuf>,
    /// The name its key is recorded under instead of `host_name` (OpenSSH's
    /// `HostKeyAlias`), for machines whose address changes.
    pub host_key_alias: Option<String>,
    /// Quiet time after which a keepalive is sent during a command
    /// (`ServerAliveInterval`; 15 s where it is unset or 0, OpenSSH's default).
    pub server_alive_interval: Duration,
    /// Keepalives left unanswered before the connection counts as dead
    /// (`ServerAliveCountMax`, 3 by default).
    pub server_alive_count_max: u32,
    /// How long name resolution, the TCP connect and the SSH handshake may
    /// each take (OpenSSH's `ConnectTimeout`).
    pub connect_timeout: Duration,
    /// The jump hosts to go through, first hop first (`ProxyJump`, `--jump`).
    pub jumps: Vec<SshTarget>,
    /// A command whose standard input and output carry the connection
    /// (`ProxyCommand`, with `%h`, `%p`, `%r`, `%n` and `%%` expanded).
    pub proxy_command: Option<String>,
    /// Who read the ssh configuration for it.
    pub resolver: Resolver,
}

/// Who read the ssh configuration for a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// OpenSSH itself (`ssh -G`): every keyword, `Match` criterion and default.
    OpenSsh,
    /// The kernel's own reader of `~/.ssh/config` (no `ssh` client is installed).
    Builtin,
    /// No configuration was read: address, user and key were given (AWS instances).
    Direct,
}

impl Resolver {
    /// For messages: how the settings were found.
    pub fn describe(self) -> &'static str {
        match self {
            Resolver::OpenSsh => "resolved by OpenSSH (`ssh -G`)",
            Resolver::Builtin => {
                "resolved by the kernel's own ~/.ssh/config reader (no `ssh` client is installed)"
            }
            Resolver::Direct => "given directly, no ssh configuration read",
        }
    }
}

/// `ServerAliveInterval` when the ssh config sets none.
pub const DEFAULT_SERVER_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// `ServerAliveCountMax` when the ssh config sets none.
pub const DEFAULT_SERVER_ALIVE_COUNT_MAX: u32 = 3;
/// The connect timeout when `ConnectTimeout` is not set.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Most jump hosts one connection may go through (a loop in the config ends here).
pub(super) const MAX_JUMPS: usize = 8;

impl SshTarget {
    /// Resolve `spec` (`alias`, `host`, `user@host`, `user@host:port`) with
    /// the user's ssh config, going through the
    /// jump hosts `jump` (`host` or a chain `a,b`, each as `spec` is written)
    /// instead of the config's `ProxyJump` when it is given.
    pub fn resolve_via(spec: &str, jump: Option<&str>) -> anyhow::Result<Self> {
        let home = dirs::home_dir().context("cannot find the home directory (HOME)")?;
        if let Some(openssh) = OpenSsh::find(&home) {
            return Self::resolve_openssh(&openssh, spec, jump);
        }
        Self::resolve_builtin(spec, jump, &home)
    }

    /// A target given directly (no ssh config): an address, port, user and
    /// one key; its host key is recorded under `host_key_alias`.
    pub fn direct(
        address: &str,
        port: u16,
        user: &str,
        key_file: &str,
        host_key_alias: &str,
    ) -> anyhow::Result<Self> {
        let home = dirs::home_dir().context("cannot find the home directory (HOME)")?;
        Ok(Self {
            spec: format!("{user}@{address}:{port}"),
            host_name: address.into(),
            port,
            user: user.into(),
            identity_files: vec![expand_tilde(key_file, &home)],
            identities_only: false,
            known_hosts: vec![home.join(".ssh").join("known_hosts")],
            host_key_alias: Some(host_key_alias.into()),
            server_alive_interval: DEFAULT_SERVER_ALIVE_INTERVAL,
            server_alive_count_max: DEFAULT_SERVER_ALIVE_COUNT_MAX,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            jumps: Vec::new(),
            proxy_command: None,
            resolver: Resolver::Direct,
        })
    }

    /// The addresses the host name resolves to, within the connect timeout
    /// (an error names the name and what to check).
    pub fn addresses(&self) -> anyhow::Result<Vec<std::net::SocketAddr>> {
        let (host, port, timeout) = (self.host_name.clone(), self.port, self.connect_timeout);
        let (tx, rx) = mpsc::channel();
        // The system resolver cannot be cancelled: a stuck lookup ends on its own thread.
        thread::Builder::new()
            .name("ssh-resolve".into())
            .spawn(move || {
                use std::net::ToSocketAddrs;
                let found = (host.as_str(), port)
                    .to_socket_addrs()
                    .map(|addresses| addresses.collect::<Vec<_>>());
                tx.send(found).ok();
            })?;
        let host = &self.host_name;
        let advice = "check its spelling (in --host, or HostName in ~/.ssh/config); a name inside \
                      a private network needs its VPN connected";
        let addresses = match rx.recv_timeout(timeout) {
            Ok(found) => found.with_context(|| format!("cannot resolve {host}: {advice}"))?,
            Err(_) => bail!(
                "resolving {host} took longer than {} s (ConnectTimeout): {advice}, and that this \
                 machine's DNS server answers",
                timeout.as_secs()
            ),
        };
        if addresses.is_empty() {
            bail!("{host} has no address: check the host name");
        }
        Ok(addresses)
    }

    /// `user@host:port`, for messages.
    pub fn describe(&self) -> String {
        format!("{}@{}:{}", self.user, self.host_name, self.port)
    }

    /// The name its key is checked under: the alias, or the host name.
    pub fn host_key_name(&self) -> &str {
        self.host_key_alias.as_deref().unwrap_or(&self.host_name)
    }

    /// The host as written in known_hosts (`host`, or `[host]:port` off port 22).
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host_key_name().to_string()
        } else {
            format!("[{}]:{}", self.host_key_name(), self.port)
        }
    }
}

/// `spec` (`host`, `user@host`, `user@host:port`, `user@[host]:port` as
/// OpenSSH writes jump hosts) taken apart: the user and port when given,
/// and the host (the name looked up in the config).
pub(super) fn split_spec(spec: &str) -> anyhow::Result<(Option<&str>, &str, Option<u16>)> {
    let (user, rest) = match spec.rsplit_once('@') {
        Some((user, rest)) => (Some(user), rest),
        None => (None, spec),
    };
    let port_number = |port: &str| {
        port.parse::<u16>()
            .with_context(|| format!("bad port in {spec:?}"))
    };
    let (alias, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) => match after.strip_prefix(':') {
                Some(port) => (host, Some(port_number(port)?)),
                None => bail!("{spec:?} is not a host: write [HOST]:PORT"),
            },
            None => bail!("{spec:?} is not a host: a `[` without its `]`"),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port_number(port)?)),
            _ => (rest, None),
        }
    };
    if alias.is_empty() || alias.starts_with('-') || alias.contains(char::is_whitespace) {
        bail!("{spec:?} is not a host: give an ~/.ssh/config alias or user@host");
    }
    Ok((user, alias, port))
}

/// The hops of a `ProxyJump` value (`a`, `a,b`, `user@host:port`,
/// `ssh://user@host:port`), each as a host spec.
pub(super) fn split_jumps(value: &str) -> anyhow::Result<Vec<&str>> {
    let hops: Vec<&str> = value
        .split(',')
        .map(|hop| hop.trim())
        .map(|hop| hop.strip_prefix("ssh://").unwrap_or(hop))
        .map(|hop| hop.strip_suffix('/').unwrap_or(hop))
        .collect();
    if hops.iter().any(|hop| hop.is_empty()) {
        bail!("an empty jump host: write HOST or a chain HOST1,HOST2");
    }
    if hops.len() > MAX_JUMPS {
        bail!("more than {MAX_JUMPS} jump hosts");
    }
    Ok(hops)
}
