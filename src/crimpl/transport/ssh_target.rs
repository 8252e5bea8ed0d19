//! Resolving a host as `ssh` would: `user@host:port` on top of the user's
//! `~/.ssh/config` (`Host` aliases, `HostName`, `User`, `Port`,
//! `IdentityFile`, `UserKnownHostsFile`), parsed with `ssh2-config`.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use ssh2_config::{ParseRule, SshConfig};

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
    /// Files of trusted host keys; the first is where new keys are recorded.
    pub known_hosts: Vec<PathBuf>,
    /// The name its key is recorded under instead of `host_name` (OpenSSH's
    /// `HostKeyAlias`), for machines whose address changes.
    pub host_key_alias: Option<String>,
    /// Quiet time after which a keepalive is sent during a command
    /// (`ServerAliveInterval`, 15 s by default; zero sends none).
    pub server_alive_interval: Duration,
    /// Keepalives left unanswered before the connection counts as dead
    /// (`ServerAliveCountMax`, 3 by default).
    pub server_alive_count_max: u32,
}

/// `ServerAliveInterval` when the ssh config sets none.
pub const DEFAULT_SERVER_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// `ServerAliveCountMax` when the ssh config sets none.
pub const DEFAULT_SERVER_ALIVE_COUNT_MAX: u32 = 3;

impl SshTarget {
    /// Resolve `spec` (`alias`, `host`, `user@host`, `user@host:port`) with the user's ssh config.
    pub fn resolve(spec: &str) -> anyhow::Result<Self> {
        let home = dirs::home_dir().context("cannot find the home directory (HOME)")?;
        let config_path = home.join(".ssh").join("config");
        let config = match File::open(&config_path) {
            Ok(file) => SshConfig::default()
                .parse(
                    &mut BufReader::new(file),
                    ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
                )
                .with_context(|| format!("cannot parse {}", config_path.display()))?,
            Err(_) => SshConfig::default(),
        };
        Self::resolve_with(spec, &config, &home)
    }

    fn resolve_with(
        spec: &str,
        config: &SshConfig,
        home: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let (user, rest) = match spec.rsplit_once('@') {
            Some((user, rest)) => (Some(user.to_string()), rest),
            None => (None, spec),
        };
        let (alias, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (
                host,
                Some(
                    port.parse::<u16>()
                        .with_context(|| format!("bad port in {spec:?}"))?,
                ),
            ),
            _ => (rest, None),
        };
        if alias.is_empty() || alias.starts_with('-') || alias.contains(char::is_whitespace) {
            bail!("{spec:?} is not a host: give an ~/.ssh/config alias or user@host");
        }
        let params = config.query(alias);
        if params
            .proxy_jump
            .as_ref()
            .is_some_and(|j| !j.is_empty() && j[0] != "none")
        {
            bail!(
                "{spec:?} uses ProxyJump, which this kernel does not support yet: \
                 forward a local port (ssh -L) and use user@localhost:PORT"
            );
        }
        // As OpenSSH: `user@` in the host, else `User` from the config, else the local user.
        let user = match user.or(params.user.clone()) {
            Some(user) => user,
            None => local_user()?,
        };
        let ssh_dir = home.join(".ssh");
        let identity_files = params.identity_file.clone().unwrap_or_else(|| {
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|name| ssh_dir.join(name))
                .collect()
        });
        let mut known_hosts: Vec<PathBuf> = params
            .unsupported_fields
            .get("userknownhostsfile")
            .or_else(|| params.ignored_fields.get("userknownhostsfile"))
            .map(|files| files.iter().map(|f| expand_home(f, home)).collect())
            .unwrap_or_default();
        if known_hosts.is_empty() {
            known_hosts.push(ssh_dir.join("known_hosts"));
        }
        known_hosts.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
        Ok(Self {
            spec: spec.into(),
            host_name: params
                .host_name
                .clone()
                .unwrap_or_else(|| alias.to_string()),
            port: port.or(params.port).unwrap_or(22),
            user,
            identity_files,
            known_hosts,
            host_key_alias: None,
            server_alive_interval: params
                .server_alive_interval
                .unwrap_or(DEFAULT_SERVER_ALIVE_INTERVAL),
            server_alive_count_max: server_alive_count_max(&params)?,
        })
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
            identity_files: vec![expand_home(key_file, &home)],
            known_hosts: vec![home.join(".ssh").join("known_hosts")],
            host_key_alias: Some(host_key_alias.into()),
            server_alive_interval: DEFAULT_SERVER_ALIVE_INTERVAL,
            server_alive_count_max: DEFAULT_SERVER_ALIVE_COUNT_MAX,
        })
    }

    /// The addresses the host name resolves to (an error names the name and what to check).
    pub fn addresses(&self) -> anyhow::Result<Vec<std::net::SocketAddr>> {
        use std::net::ToSocketAddrs;
        let host = &self.host_name;
        let addresses: Vec<_> = (host.as_str(), self.port)
            .to_socket_addrs()
            .with_context(|| {
                format!(
                    "cannot resolve {host}: check its spelling (in --host, or HostName in \
                     ~/.ssh/config); a name inside a private network needs its VPN connected"
                )
            })?
            .collect();
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

/// `ServerAliveCountMax` (which ssh2-config keeps as an unsupported field).
fn server_alive_count_max(params: &ssh2_config::HostParams) -> anyhow::Result<u32> {
    let value = params
        .unsupported_fields
        .get("serveralivecountmax")
        .or_else(|| params.ignored_fields.get("serveralivecountmax"))
        .and_then(|values| values.first());
    match value {
        None => Ok(DEFAULT_SERVER_ALIVE_COUNT_MAX),
        Some(text) => text.parse().with_context(|| {
            format!("ServerAliveCountMax {text:?} in ~/.ssh/config is not a whole number")
        }),
    }
}

/// The local user's name, from the password database (as `ssh` takes it; `$USER` may be unset).
fn local_user() -> anyhow::Result<String> {
    whoami::username().map_err(|e| {
        anyhow::anyhow!(
            "cannot tell the local user name ({e}): write user@host or set User in ~/.ssh/config"
        )
    })
}

fn expand_home(path: &str, home: &std::path::Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> SshConfig {
        SshConfig::default()
            .home_dir("/home/u")
            .parse(
                &mut text.as_bytes(),
                ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
            )
            .unwrap()
    }

    #[test]
    fn aliases_resolve_through_the_config() {
        let config = config(
            "Host cluster\n  HostName 10.1.2.3\n  User alice\n  Port 2222\n  IdentityFile ~/.ssh/cluster_key\n  UserKnownHostsFile ~/.ssh/kh\n",
        );
        let target =
            SshTarget::resolve_with("cluster", &config, std::path::Path::new("/home/u")).unwrap();
        assert_eq!(target.host_name, "10.1.2.3");
        assert_eq!(target.user, "alice");
        assert_eq!(target.port, 2222);
        assert_eq!(
            target.identity_files,
            vec![PathBuf::from("/home/u/.ssh/cluster_key")]
        );
        assert_eq!(target.known_hosts[0], PathBuf::from("/home/u/.ssh/kh"));
        assert_eq!(target.known_hosts_name(), "[10.1.2.3]:2222");
        assert_eq!(
            (target.server_alive_interval, target.server_alive_count_max),
            (
                DEFAULT_SERVER_ALIVE_INTERVAL,
                DEFAULT_SERVER_ALIVE_COUNT_MAX
            )
        );
    }

    #[test]
    fn keepalive_settings_come_from_the_config() {
        let config = config(
            "Host quick\n  ServerAliveInterval 2\n  ServerAliveCountMax 5\nHost bad\n  ServerAliveCountMax many\n",
        );
        let home = std::path::Path::new("/home/u");
        let target = SshTarget::resolve_with("quick", &config, home).unwrap();
        assert_eq!(target.server_alive_interval, Duration::from_secs(2));
        assert_eq!(target.server_alive_count_max, 5);
        let err = SshTarget::resolve_with("bad", &config, home).unwrap_err();
        assert!(err.to_string().contains("ServerAliveCountMax"), "{err}");
    }

    #[test]
    fn direct_targets_record_their_key_under_the_alias() {
        let target = SshTarget::direct("203.0.113.7", 22, "ubuntu", "/k/id", "i-0abc").unwrap();
        assert_eq!(target.host_name, "203.0.113.7");
        assert_eq!(target.known_hosts_name(), "i-0abc");
        let off_port = SshTarget::direct("10.0.0.5", 2222, "ubuntu", "/k/id", "i-0abc").unwrap();
        assert_eq!(off_port.known_hosts_name(), "[i-0abc]:2222");
    }

    #[test]
    fn explicit_user_and_port_win() {
        let config = config("Host h\n  User alice\n  Port 2222\n");
        let target =
            SshTarget::resolve_with("bob@h:2022", &config, std::path::Path::new("/home/u"))
                .unwrap();
        assert_eq!((target.user.as_str(), target.port), ("bob", 2022));
    }

    #[test]
    fn a_bare_host_logs_in_as_the_local_user() {
        let config = config("Host other\n  User alice\n");
        let target =
            SshTarget::resolve_with("gpu.example.org", &config, std::path::Path::new("/home/u"))
                .unwrap();
        assert_eq!(target.user, whoami::username().unwrap());
        assert!(!target.user.is_empty());
        assert_eq!(
            (target.host_name.as_str(), target.port),
            ("gpu.example.org", 22)
        );
    }

    #[test]
    fn option_like_hosts_are_refused() {
        let config = config("");
        assert!(
            SshTarget::resolve_with("-oProxyCommand=x", &config, std::path::Path::new("/h"))
                .is_err()
        );
    }
}
