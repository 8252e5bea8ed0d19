//! The connection steps of `server check` for one SSH target, taken one at
//! a time so that the one that fails is named: one step per jump host,
//! then name resolution, TCP connect (or the channel through the last jump
//! host, or the ProxyCommand), SSH protocol, host key, authentication. The
//! session they open serves the check's later steps.

use std::net::SocketAddr;

use ssh2::{MethodType, Session};

use super::auth::authenticate;
use super::connect::{self, Carrier, Connected};
use super::host_keys::{self, ChangedHostKey, HostKeyPolicy, UnknownHost};
use super::ssh::SshTransport;
use super::ssh_target::SshTarget;
use crate::crimpl::checklist::{Checklist, Found, problem};

/// The names of the steps [`connect_steps`] records, in order.
pub const STEPS: &[&str] = &[
    "name resolution",
    "TCP connect",
    "SSH protocol",
    "host key",
    "authentication",
];

/// How `target` is reached, for messages: `""` when directly.
pub fn route(target: &SshTarget) -> String {
    if let Some(command) = &target.proxy_command {
        return format!(" through ProxyCommand `{command}`");
    }
    if target.jumps.is_empty() {
        return String::new();
    }
    let hops: Vec<String> = target
        .jumps
        .iter()
        .map(|hop| format!("{} ({})", hop.spec, hop.describe()))
        .collect();
    format!(" through jump host {}", hops.join(", then "))
}

/// The keys `target` logs in with, for messages.
pub fn key_list(target: &SshTarget) -> String {
    let mut keys: Vec<String> = target
        .identity_files
        .iter()
        .filter(|k| k.exists())
        .map(|k| k.display().to_string())
        .collect();
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        keys.insert(0, "ssh-agent".into());
    }
    if keys.is_empty() {
        "none found".into()
    } else {
        keys.join(", ")
    }
}

/// Connect to `target` step by step (server `name` is named in the next
/// steps); returns a transport over the authenticated session, or `None`
/// once a step failed (the steps after it are then recorded as skipped).
pub fn connect_steps(
    list: &mut Checklist<'_>,
    target: &SshTarget,
    name: &str,
) -> Option<SshTransport> {
    let hop_names: Vec<String> = target
        .jumps
        .iter()
        .enumerate()
        .map(|(i, hop)| format!("jump host {}: {}", i + 1, hop.spec))
        .collect();
    let rest = |list: &mut Checklist<'_>, hops_done: usize, done: usize| {
        let hops = hop_names[hops_done.min(hop_names.len())..].iter();
        let names: Vec<&str> = hops
            .map(String::as_str)
            .chain(STEPS[done..].iter().copied())
            .collect();
        list.skip_after_failure(&names);
    };
    let mut previous: Option<Connected> = None;
    for (i, hop) in target.jumps.iter().enumerate() {
        let before = previous.take();
        let Some(connected) = list.step(&hop_names[i], || jump_hop(before, hop, name)) else {
            rest(list, i + 1, 0);
            return None;
        };
        previous = Some(connected);
    }
    let Some(addresses) = list.step(STEPS[0], || resolve(target)) else {
        rest(list, usize::MAX, 1);
        return None;
    };
    let Some(carrier) = list.step(STEPS[1], || carry(target, addresses, previous)) else {
        rest(list, usize::MAX, 2);
        return None;
    };
    let Some(session) = list.step(STEPS[2], || protocol(target, carrier)) else {
        rest(list, usize::MAX, 3);
        return None;
    };
    if list
        .step(STEPS[3], || host_key(&session, target, name))
        .is_none()
    {
        rest(list, usize::MAX, 4);
        return None;
    }
    list.step(STEPS[4], || login(&session, target))?;
    Some(SshTransport::with_session(target.clone(), session))
}

/// One jump host, connected through the one `before` it (or directly),
/// verified and logged in.
fn jump_hop(before: Option<Connected>, hop: &SshTarget, name: &str) -> Found<Connected> {
    let opened = match before {
        None => hop.addresses().and_then(|addresses| {
            connect::connect_any(hop, &addresses)
                .map(Carrier::Tcp)
                .map_err(|failures| anyhow::anyhow!("cannot connect: {}", failure_list(&failures)))
        }),
        Some(before) => super::jump::tunnel(before, hop).map(Carrier::Tunnel),
    }
    .and_then(|carrier| connect::log_in(carrier, hop, &HostKeyPolicy::Strict));
    match opened {
        Ok(connected) => {
            let fingerprint =
                host_keys::fingerprint(&connected.session).unwrap_or_else(|e| format!("{e:#}"));
            let detail = format!(
                "{} reached, host key {fingerprint} known, logged in",
                hop.describe()
            );
            Ok((connected, detail))
        }
        Err(err) => {
            let next = match err.downcast_ref::<UnknownHost>() {
                Some(unknown) => format!(
                    "compare {fp} with the jump host's own key, then: %crimpl server trust {name} {fp} \
                     (or connect once with `ssh {spec}` and accept it)",
                    fp = unknown.fingerprint,
                    spec = hop.spec
                ),
                None => format!(
                    "this jump host must work on its own first: try `ssh -v {}` (its Host entry in \
                     ~/.ssh/config applies to it)",
                    hop.spec
                ),
            };
            Err(problem(
                format!("{} ({}): {err:#}", hop.spec, hop.describe()),
                next,
            ))
        }
    }
}

/// The target's addresses when this machine connects to it; through a jump
/// host or a ProxyCommand the name is resolved at the other end.
fn resolve(target: &SshTarget) -> Found<Vec<SocketAddr>> {
    if target.proxy_command.is_some() || !target.jumps.is_empty() {
        let by = if target.proxy_command.is_some() {
            "the ProxyCommand"
        } else {
            "the last jump host"
        };
        return Ok((
            Vec::new(),
            format!(
                "{} is resolved by {by}; ssh settings {}",
                target.host_name,
                target.resolver.describe()
            ),
        ));
    }
    let addresses = target.addresses().map_err(|err| {
        problem(
            format!("cannot resolve {}: {}", target.host_name, err.root_cause()),
            format!(
                "check the spelling of {} (in --host, or HostName in ~/.ssh/config); a name \
                 inside a private network needs its VPN connected",
                target.host_name
            ),
        )
    })?;
    let listed: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
    let detail = format!(
        "{} is {}; ssh settings {}",
        target.host_name,
        listed.join(", "),
        target.resolver.describe()
    );
    Ok((addresses, detail))
}

/// The byte stream to the target: its ProxyCommand, a channel through the
/// last jump host `via`, or TCP to one of `addresses`.
fn carry(target: &SshTarget, addresses: Vec<SocketAddr>, via: Option<Connected>) -> Found<Carrier> {
    if let Some(command) = &target.proxy_command {
        return super::proxy_command::spawn(command, target)
            .map(|socket| (Carrier::Tunnel(socket), format!("started `{command}`")))
            .map_err(|err| {
                problem(
                    format!("{err:#}"),
                    "run the ProxyCommand in a terminal to see why it fails",
                )
            });
    }
    if let Some(via) = via {
        let hop = target
            .jumps
            .last()
            .map_or("the jump host", |hop| hop.spec.as_str());
        return super::jump::tunnel(via, target)
            .map(|socket| {
                let detail = format!(
                    "{hop} opened a channel to {}:{}",
                    target.host_name, target.port
                );
                (Carrier::Tunnel(socket), detail)
            })
            .map_err(|err| {
                problem(
                    format!("{err:#}"),
                    format!(
                        "check that {}:{} is the target's address as {hop} sees it, and that \
                         {hop}'s sshd allows forwarding (AllowTcpForwarding)",
                        target.host_name, target.port
                    ),
                )
            });
    }
    tcp_connect(target, &addresses).map(|(tcp, detail)| (Carrier::Tcp(tcp), detail))
}

fn failure_list(failures: &[(SocketAddr, std::io::Error)]) -> String {
    failures
        .iter()
        .map(|(address, err)| format!("{address}: {err}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn tcp_connect(target: &SshTarget, addresses: &[SocketAddr]) -> Found<std::net::TcpStream> {
    let failures = match connect::connect_any(target, addresses) {
        Ok(tcp) => {
            let detail = tcp.peer_addr().map_or("connected".into(), |a| {
                format!("{a} accepted the connection")
            });
            return Ok((tcp, detail));
        }
        Err(failures) => failures,
    };
    let port = target.port;
    let host = &target.host_name;
    let refused = failures
        .iter()
        .any(|(_, e)| e.kind() == std::io::ErrorKind::ConnectionRefused);
    let detail = failure_list(&failures);
    let next = if refused {
        format!(
            "nothing listens on port {port} of {host}: check the port (host:PORT in --host, or \
             Port in ~/.ssh/config) and that the SSH server runs there"
        )
    } else {
        format!(
            "no answer from port {port} of {host} within {} s: a firewall (or an AWS security \
             group) drops the connection, or the host is down; check from this machine with \
             `nc -vz {host} {port}`",
            target.connect_timeout.as_secs()
        )
    };
    Err(problem(detail, next))
}

fn protocol(target: &SshTarget, carrier: Carrier) -> Found<Session> {
    let session = connect::handshake(carrier, target).map_err(|err| {
        problem(
            format!("{err:#}"),
            format!(
                "port {} of {} does not speak SSH (or dropped the connection): check the port; \
                 `ssh -v {}` shows the same exchange",
                target.port, target.host_name, target.spec
            ),
        )
    })?;
    let detail = format!(
        "{} (key exchange {}, cipher {})",
        session.banner().unwrap_or("no banner"),
        session.methods(MethodType::Kex).unwrap_or("?"),
        session.methods(MethodType::CryptCs).unwrap_or("?"),
    );
    Ok((session, detail))
}

fn host_key(session: &Session, target: &SshTarget, name: &str) -> Found<()> {
    let kind = session
        .host_key()
        .map_or("unknown".into(), |(_, kind)| format!("{kind:?}"));
    let fingerprint = host_keys::fingerprint(session).unwrap_or_else(|e| format!("{e:#}"));
    match host_keys::verify(session, target, &HostKeyPolicy::Strict) {
        Ok(()) => Ok((
            (),
            format!(
                "known: {kind} key {fingerprint}, recorded as {}",
                target.known_hosts_name()
            ),
        )),
        Err(err) if err.is::<UnknownHost>() => Err(problem(
            format!(
                "unknown: {kind} key {fingerprint} is in no known_hosts file ({})",
                target.known_hosts[0].display()
            ),
            format!(
                "compare {fingerprint} with the host's own (`ssh-keygen -lf \
                 /etc/ssh/ssh_host_ed25519_key.pub` there, or ask its admin), then: \
                 %crimpl server trust {name} {fingerprint}"
            ),
        )),
        Err(err) if err.is::<ChangedHostKey>() => Err(problem(
            format!(
                "CHANGED: the host now presents {kind} key {fingerprint}, not the key recorded \
                 for {} in {}: this may be an attack, or the host was reinstalled",
                target.known_hosts_name(),
                target.known_hosts[0].display()
            ),
            format!(
                "ask the host's admin whether its key changed; only if so: ssh-keygen -R '{}', \
                 then %crimpl server trust {name} {fingerprint}",
                target.known_hosts_name()
            ),
        )),
        Err(err) => Err(problem(
            format!("{err:#}"),
            "check that the known_hosts files are readable (ssh-keygen -F HOST reads them too)",
        )),
    }
}

fn login(session: &Session, target: &SshTarget) -> Found<()> {
    let user = &target.user;
    let offered = match session.auth_methods(user) {
        Ok(methods) => methods.to_string(),
        Err(_) if session.authenticated() => {
            return Ok(((), format!("as {user}: the server asked for no key")));
        }
        Err(err) => {
            return Err(problem(
                format!("the server did not say how {user} may log in: {err}"),
                "check that the host runs an SSH server that accepts logins",
            ));
        }
    };
    match authenticate(session, target) {
        Ok(key) => Ok((
            (),
            format!("as {user} with {key} (server offers {offered})"),
        )),
        Err(err) if !offered.split(',').any(|m| m == "publickey") => Err(problem(
            format!("{err:#}; the server offers only {offered}"),
            "answer the server's questions when the cell asks them (from a frontend that accepts \
             input), or ask the host's admin to allow public-key logins",
        )),
        Err(err) => {
            let existing = target.identity_files.iter().find(|k| k.exists());
            let (make, public) = match existing {
                Some(key) => (String::new(), format!("{}.pub", key.display())),
                None => (
                    "make a key (ssh-keygen -t ed25519), then ".to_string(),
                    "~/.ssh/id_ed25519.pub".to_string(),
                ),
            };
            Err(problem(
                format!("{err:#} (server offers {offered})"),
                format!(
                    "{make}add {public} to ~/.ssh/authorized_keys of {user} on the host: \
                     `ssh-copy-id -i {public} -p {} {user}@{}`, or ask its admin",
                    target.port, target.host_name
                ),
            ))
        }
    }
}
