//! An [`SshTarget`] from the kernel's own reader of `~/.ssh/config` (see
//! [`super::ssh_config`]): the fallback where no `ssh` client is installed
//! (OpenSSH's own resolution is [`super::openssh_target`]).

use std::path::PathBuf;

use anyhow::Context;
use ssh2_config::HostParams;

use super::openssh_config::{Tokens, expand_tilde};
use super::ssh_config::UserConfig;
use super::ssh_target::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_SERVER_ALIVE_COUNT_MAX, DEFAULT_SERVER_ALIVE_INTERVAL,
    Resolver, SshTarget, split_jumps, split_spec,
};

/// The key files OpenSSH tries when the configuration names none, in its order.
const DEFAULT_IDENTITIES: [&str; 7] = [
    "id_rsa",
    "id_ecdsa",
    "id_ecdsa_sk",
    "id_ed25519",
    "id_ed25519_sk",
    "id_xmss",
    "id_dsa",
];

impl SshTarget {
    /// Resolve `spec` with the kernel's reader of `~/.ssh/config` under
    /// `home`, through the jump hosts `jump` instead of the config's
    /// `ProxyJump` when given.
    pub(super) fn resolve_builtin(
        spec: &str,
        jump: Option<&str>,
        home: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let config = UserConfig::load(&home.join(".ssh").join("config"), home)?;
        let mut target = Self::resolve_with(spec, &config, home)?;
        if let Some(jump) = jump {
            target.jumps = parse_jumps(jump, &config, home)
                .with_context(|| format!("bad jump host {jump:?}"))?;
            target.proxy_command = None;
        }
        Ok(target)
    }

    /// Resolve `spec` with the kernel's own reader of `config` (`home`: where `~` is).
    pub(super) fn resolve_with(
        spec: &str,
        config: &UserConfig,
        home: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let mut target = Self::resolve_hop(spec, config, home)?;
        let params = config.params(target.alias(), Some(&target.user))?;
        let proxy_command = params
            .unsupported_fields
            .get("proxycommand")
            .or_else(|| params.ignored_fields.get("proxycommand"))
            .map(|words| words.join(" "))
            .filter(|command| !command.is_empty() && command != "none");
        // As OpenSSH: the first of ProxyJump and ProxyCommand in the config wins;
        // ssh2-config keeps no order, so ProxyJump is preferred when both are set.
        match params.proxy_jump.as_deref() {
            Some([first, ..]) if first != "none" => {
                target.jumps = parse_jumps(
                    &params.proxy_jump.clone().unwrap_or_default().join(","),
                    config,
                    home,
                )
                .with_context(|| format!("bad ProxyJump for {spec:?} in ~/.ssh/config"))?;
            }
            _ => {
                target.proxy_command =
                    proxy_command.map(|command| target.tokens(home).expand(&command))
            }
        }
        Ok(target)
    }

    /// One host with its own config (user, port, keys, known_hosts,
    /// timeout), without its jump hosts or proxy command.
    fn resolve_hop(
        spec: &str,
        config: &UserConfig,
        home: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let (user, alias, port) = split_spec(spec)?;
        let user = user.map(str::to_string);
        let params = config.params(alias, user.as_deref())?;
        // As OpenSSH: `user@` in the host, else `User` from the config, else the local user.
        let user = match user.or(params.user.clone()) {
            Some(user) => user,
            None => local_user()?,
        };
        let ssh_dir = home.join(".ssh");
        let host_name = params
            .host_name
            .as_deref()
            .map_or_else(|| alias.to_string(), |name| name.replace("%h", alias));
        let port = port.or(params.port).unwrap_or(22);
        let host_key_alias = other_field(&params, "hostkeyalias")
            .and_then(|v| v.first())
            .cloned();
        let tokens = Tokens {
            host_name: &host_name,
            port,
            user: &user,
            original: alias,
            host_key: host_key_alias.as_deref().unwrap_or(alias),
            proxy_jump: "",
            home,
        };
        let identity_files = match &params.identity_file {
            // Each file once, as OpenSSH lists them.
            Some(files) => files.iter().fold(Vec::new(), |mut kept, file| {
                let file = expand_tilde(&tokens.expand(&file.to_string_lossy()), home);
                if !kept.contains(&file) {
                    kept.push(file);
                }
                kept
            }),
            None => DEFAULT_IDENTITIES
                .iter()
                .map(|name| ssh_dir.join(name))
                .collect(),
        };
        // As OpenSSH: the user's files, then the system's, each with its default.
        let files = |name: &str, defaults: [PathBuf; 2]| -> Vec<PathBuf> {
            other_field(&params, name)
                .map(|files| {
                    files
                        .iter()
                        .map(|f| expand_tilde(&tokens.expand(f), home))
                        .collect()
                })
                .unwrap_or_else(|| defaults.to_vec())
        };
        let mut known_hosts = files(
            "userknownhostsfile",
            [ssh_dir.join("known_hosts"), ssh_dir.join("known_hosts2")],
        );
        known_hosts.extend(files(
            "globalknownhostsfile",
            [
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2"),
            ],
        ));
        Ok(Self {
            spec: spec.into(),
            host_name,
            port,
            user,
            identity_files,
            identities_only: other_field(&params, "identitiesonly")
                .and_then(|v| v.first())
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            known_hosts,
            host_key_alias,
            server_alive_interval: params
                .server_alive_interval
                .filter(|t| !t.is_zero())
                .unwrap_or(DEFAULT_SERVER_ALIVE_INTERVAL),
            server_alive_count_max: server_alive_count_max(&params)?,
            connect_timeout: params
                .connect_timeout
                .filter(|t| !t.is_zero())
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            jumps: Vec::new(),
            proxy_command: None,
            resolver: Resolver::Builtin,
        })
    }

    /// The host part of `spec` (the name looked up in the config).
    fn alias(&self) -> &str {
        let rest = self
            .spec
            .rsplit_once('@')
            .map_or(self.spec.as_str(), |(_, r)| r);
        match rest.rsplit_once(':') {
            Some((host, _)) if !host.contains(':') => host,
            _ => rest,
        }
    }

    /// The values of OpenSSH's `%` tokens for this target (`home`: `%d`).
    fn tokens<'a>(&'a self, home: &'a std::path::Path) -> Tokens<'a> {
        Tokens {
            host_name: &self.host_name,
            port: self.port,
            user: &self.user,
            original: self.alias(),
            host_key: self.host_key_alias.as_deref().unwrap_or(self.alias()),
            proxy_jump: "",
            home,
        }
    }
}

/// The values of a field ssh2-config keeps but does not interpret (as an
/// unsupported or an unknown field), by its lower-case name.
fn other_field<'p>(params: &'p HostParams, name: &str) -> Option<&'p Vec<String>> {
    params
        .unsupported_fields
        .get(name)
        .or_else(|| params.ignored_fields.get(name))
}

/// `ServerAliveCountMax` (which ssh2-config keeps as an unsupported field).
fn server_alive_count_max(params: &HostParams) -> anyhow::Result<u32> {
    let value = other_field(params, "serveralivecountmax").and_then(|values| values.first());
    match value {
        None => Ok(DEFAULT_SERVER_ALIVE_COUNT_MAX),
        Some(text) => text.parse().with_context(|| {
            format!("ServerAliveCountMax {text:?} in ~/.ssh/config is not a whole number")
        }),
    }
}

/// The hops of a `ProxyJump` value, each resolved with the kernel's reader.
fn parse_jumps(
    value: &str,
    config: &UserConfig,
    home: &std::path::Path,
) -> anyhow::Result<Vec<SshTarget>> {
    split_jumps(value)?
        .into_iter()
        .map(|hop| SshTarget::resolve_hop(hop, config, home))
        .collect()
}

/// The local user's name, from the password database (as `ssh` takes it; `$USER` may be unset).
fn local_user() -> anyhow::Result<String> {
    whoami::username().map_err(|e| {
        anyhow::anyhow!(
            "cannot tell the local user name ({e}): write user@host or set User in ~/.ssh/config"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(text: &str) -> UserConfig {
        UserConfig::from_text(
            text,
            std::path::Path::new("cfg"),
            std::path::Path::new("/home/u"),
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

    #[test]
    fn proxy_jump_chains_resolve_each_hop_with_its_own_config() {
        let config = config(
            "Host target\n  HostName 10.0.0.9\n  ProxyJump gate,carol@inner:2200\n  ConnectTimeout 5\n\
             Host gate\n  HostName gate.example.org\n  User alice\n  IdentityFile ~/.ssh/gate_key\n\
             Host inner\n  HostName 10.0.0.2\n  User dave\n",
        );
        let target =
            SshTarget::resolve_with("target", &config, std::path::Path::new("/home/u")).unwrap();
        assert_eq!(target.connect_timeout, Duration::from_secs(5));
        let hops: Vec<String> = target.jumps.iter().map(SshTarget::describe).collect();
        assert_eq!(hops, ["alice@gate.example.org:22", "carol@10.0.0.2:2200"]);
        assert_eq!(
            target.jumps[0].identity_files,
            vec![PathBuf::from("/home/u/.ssh/gate_key")]
        );
        assert_eq!(target.jumps[1].connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(target.proxy_command, None);
    }

    #[test]
    fn proxy_jump_accepts_ssh_urls_and_none() {
        let config = config("Host a\n  ProxyJump ssh://bob@gate:2022\nHost b\n  ProxyJump none\n");
        let home = std::path::Path::new("/home/u");
        let a = SshTarget::resolve_with("a", &config, home).unwrap();
        assert_eq!(a.jumps[0].describe(), "bob@gate:2022");
        let b = SshTarget::resolve_with("b", &config, home).unwrap();
        assert!(b.jumps.is_empty());
    }

    #[test]
    fn proxy_command_tokens_are_expanded() {
        let config = config(
            "Host box\n  HostName 10.1.1.1\n  Port 2022\n  User eve\n  ProxyCommand ssh -W %h:%p -l %r gate echo %n %%\n",
        );
        let target =
            SshTarget::resolve_with("box", &config, std::path::Path::new("/home/u")).unwrap();
        assert_eq!(
            target.proxy_command.as_deref(),
            Some("ssh -W 10.1.1.1:2022 -l eve gate echo box %")
        );
        assert!(target.jumps.is_empty());
    }

    #[test]
    fn host_name_expands_percent_h() {
        let config = config("Host node*\n  HostName %h.cluster.example.org\n");
        let target =
            SshTarget::resolve_with("node7", &config, std::path::Path::new("/home/u")).unwrap();
        assert_eq!(target.host_name, "node7.cluster.example.org");
    }

    #[test]
    fn specs_take_user_host_and_port_apart_as_openssh_writes_them() {
        assert_eq!(split_spec("h").unwrap(), (None, "h", None));
        assert_eq!(
            split_spec("u@h:2022").unwrap(),
            (Some("u"), "h", Some(2022))
        );
        assert_eq!(
            split_spec("u@[127.0.0.1]:2022").unwrap(),
            (Some("u"), "127.0.0.1", Some(2022))
        );
        assert_eq!(split_spec("[::1]").unwrap(), (None, "::1", None));
        assert_eq!(split_spec("fe80::1").unwrap(), (None, "fe80::1", None));
        assert!(split_spec("u@[h").is_err() && split_spec("[h]x").is_err());
        assert!(split_spec("h:port").is_err() && split_spec("-oX").is_err());
    }

    #[test]
    fn bad_jump_lists_are_refused() {
        let config = config("");
        let home = std::path::Path::new("/home/u");
        assert!(parse_jumps("a,,b", &config, home).is_err());
        assert!(parse_jumps("-oProxyCommand=x", &config, home).is_err());
        assert_eq!(parse_jumps("a,b", &config, home).unwrap().len(), 2);
    }

    #[test]
    fn match_blocks_apply_to_their_own_hosts() {
        let config = config(
            "Host a\n  User alice\nMatch originalhost b\n  User bob\nMatch all\n  Port 2022\n\
             Match host 10.9.* user carol\n  IdentitiesOnly yes\n  HostKeyAlias cluster\n\
             Host c\n  HostName 10.9.0.1\n",
        );
        let home = std::path::Path::new("/home/u");
        let a = SshTarget::resolve_with("a", &config, home).unwrap();
        let b = SshTarget::resolve_with("b", &config, home).unwrap();
        assert_eq!((a.user.as_str(), a.port), ("alice", 2022));
        assert_eq!((b.user.as_str(), b.port), ("bob", 2022));
        let c = SshTarget::resolve_with("carol@c", &config, home).unwrap();
        assert!(c.identities_only);
        assert_eq!(c.known_hosts_name(), "[cluster]:2022");
        let d = SshTarget::resolve_with("dave@c", &config, home).unwrap();
        assert!(!d.identities_only);
        assert_eq!(d.known_hosts_name(), "[10.9.0.1]:2022");
    }

    #[test]
    fn every_identity_file_is_kept_in_order() {
        let config = config("Host h\n  IdentityFile ~/.ssh/one\n  IdentityFile ~/.ssh/two\n");
        let target =
            SshTarget::resolve_with("h", &config, std::path::Path::new("/home/u")).unwrap();
        assert_eq!(
            target.identity_files,
            vec![
                PathBuf::from("/home/u/.ssh/one"),
                PathBuf::from("/home/u/.ssh/two")
            ]
        );
    }
}
