//! An [`SshTarget`] from OpenSSH's own resolution of a host (`ssh -G`, see
//! [`super::openssh_config`]), jump hosts included.
//!
//! A `ProxyJump` chain `a,b` is reached as OpenSSH reaches it: `ssh a`
//! first, through `a`'s own `ProxyJump` if its configuration has one (so a
//! bastion behind a bastion needs nothing but the user's config), then `b`
//! through `a`, then the host through `b`. Like `ssh -J`, the later hops'
//! own `ProxyJump` lines do not apply.

use std::time::Duration;

use anyhow::{Context, bail};

use super::openssh_config::{OpenSsh, Settings, Tokens};
use super::ssh_target::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_SERVER_ALIVE_COUNT_MAX, DEFAULT_SERVER_ALIVE_INTERVAL,
    MAX_JUMPS, Resolver, SshTarget, split_jumps, split_spec,
};

impl SshTarget {
    /// Resolve `spec` with OpenSSH, going through the jump hosts `jump`
    /// (`--jump`) instead of the configuration's `ProxyJump` when given.
    pub(super) fn resolve_openssh(
        openssh: &OpenSsh,
        spec: &str,
        jump: Option<&str>,
    ) -> anyhow::Result<Self> {
        let (mut target, settings) = hop(openssh, spec)?;
        let context = || format!("bad ProxyJump for {spec:?} in the ssh configuration");
        match jump {
            Some(jump) => {
                target.jumps =
                    chain(openssh, jump, 0).with_context(|| format!("bad jump host {jump:?}"))?;
            }
            None => match settings.get("proxyjump") {
                Some(jumps) => target.jumps = chain(openssh, jumps, 0).with_context(context)?,
                None => {
                    target.proxy_command = settings
                        .get("proxycommand")
                        .map(|command| tokens(&target, &settings, openssh).expand(command));
                }
            },
        }
        Ok(target)
    }
}

/// One host as OpenSSH resolves it, without its jump hosts or proxy
/// command, and OpenSSH's settings for it.
fn hop(openssh: &OpenSsh, spec: &str) -> anyhow::Result<(SshTarget, Settings)> {
    let (user, alias, port) = split_spec(spec)?;
    let settings = openssh.settings(alias, user, port)?;
    let number = |keyword: &str| -> anyhow::Result<Option<u64>> {
        settings
            .get(keyword)
            .map(|value| {
                value.parse::<u64>().with_context(|| {
                    format!("{keyword} {value:?} in the ssh configuration is not a whole number")
                })
            })
            .transpose()
    };
    let seconds = |keyword: &str, default: Duration| -> anyhow::Result<Duration> {
        Ok(number(keyword)?
            .filter(|s| *s > 0)
            .map_or(default, Duration::from_secs))
    };
    let mut target = SshTarget {
        spec: spec.into(),
        host_name: settings.get("hostname").unwrap_or(alias).to_string(),
        port: settings
            .get("port")
            .map(str::parse)
            .transpose()
            .with_context(|| format!("OpenSSH gave a bad port for {spec:?}"))?
            .unwrap_or(22),
        user: settings
            .get("user")
            .context("OpenSSH gave no user")?
            .to_string(),
        identity_files: Vec::new(),
        identities_only: settings.get("identitiesonly") == Some("yes"),
        known_hosts: ["userknownhostsfile", "globalknownhostsfile"]
            .iter()
            .filter_map(|keyword| settings.get(keyword))
            .flat_map(str::split_whitespace)
            .map(|path| openssh.local_path(path))
            .collect(),
        host_key_alias: settings.get("hostkeyalias").map(str::to_string),
        // OpenSSH's default, 0, sends no keepalive; the kernel sends one
        // after 15 s of silence, so that a dead host is noticed.
        server_alive_interval: seconds("serveraliveinterval", DEFAULT_SERVER_ALIVE_INTERVAL)?,
        server_alive_count_max: number("serveralivecountmax")?
            .map_or(DEFAULT_SERVER_ALIVE_COUNT_MAX, |n| {
                u32::try_from(n).unwrap_or(u32::MAX)
            }),
        connect_timeout: seconds("connecttimeout", DEFAULT_CONNECT_TIMEOUT)?,
        jumps: Vec::new(),
        proxy_command: None,
        resolver: Resolver::OpenSsh,
    };
    let expand = tokens(&target, &settings, openssh);
    target.identity_files = settings
        .all("identityfile")
        .iter()
        .map(|file| openssh.local_path(&expand.expand(file)))
        .collect();
    Ok((target, settings))
}

/// The `%` tokens' values for `target`.
fn tokens<'a>(target: &'a SshTarget, settings: &'a Settings, openssh: &'a OpenSsh) -> Tokens<'a> {
    let original = split_spec(&target.spec).map_or(target.spec.as_str(), |(_, alias, _)| alias);
    Tokens {
        host_name: &target.host_name,
        port: target.port,
        user: &target.user,
        original,
        host_key: target.host_key_alias.as_deref().unwrap_or(original),
        proxy_jump: settings.get("proxyjump").unwrap_or(""),
        home: openssh.home(),
    }
}

/// A jump host as the user wrote it: `ssh -G` prints `user@[host]:port`,
/// which needs the brackets only for an IPv6 address.
fn as_written(spec: &str) -> String {
    let (user, rest) = spec
        .rsplit_once('@')
        .map_or(("", spec), |(user, rest)| (user, rest));
    let at = if user.is_empty() { "" } else { "@" };
    match rest
        .strip_prefix('[')
        .and_then(|inner| inner.split_once(']'))
    {
        Some((host, port)) if !host.contains(':') => format!("{user}{at}{host}{port}"),
        _ => spec.to_string(),
    }
}

/// The hosts to go through for the `ProxyJump` value `value`: the first
/// hop's own jump hosts (`depth` of them were added already), then each hop.
fn chain(openssh: &OpenSsh, value: &str, depth: usize) -> anyhow::Result<Vec<SshTarget>> {
    let mut hosts = Vec::new();
    for (i, spec) in split_jumps(value)?.into_iter().enumerate() {
        let (target, settings) = hop(openssh, &as_written(spec))?;
        if i == 0 {
            if let Some(own) = settings.get("proxyjump") {
                if depth + 1 >= MAX_JUMPS {
                    bail!(
                        "more than {MAX_JUMPS} jump hosts (does a ProxyJump lead back to itself?)"
                    );
                }
                hosts.extend(chain(openssh, own, depth + 1)?);
            } else if settings.get("proxycommand").is_some() {
                bail!(
                    "jump host {spec:?} has a ProxyCommand of its own, which the kernel's SSH \
                     connection cannot follow: reach it with ProxyJump instead"
                );
            }
        }
        hosts.push(target);
    }
    if hosts.len() > MAX_JUMPS {
        bail!("more than {MAX_JUMPS} jump hosts");
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::as_written;

    #[test]
    fn jump_hosts_read_as_written_but_ipv6_keeps_its_brackets() {
        assert_eq!(as_written("u@[127.0.0.1]:2022"), "u@127.0.0.1:2022");
        assert_eq!(as_written("[gate]:22"), "gate:22");
        assert_eq!(as_written("u@[::1]:2022"), "u@[::1]:2022");
        assert_eq!(as_written("u@gate"), "u@gate");
    }
}
