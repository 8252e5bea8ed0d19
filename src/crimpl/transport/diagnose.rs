//! The connection steps of `server check` for one SSH target, taken one at
//! a time so that the one that fails is named: name resolution, TCP
//! connect, SSH protocol, host key, authentication. The session they open
//! serves the check's later steps.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ssh2::{MethodType, Session};

use super::host_keys::{self, ChangedHostKey, HostKeyPolicy, UnknownHost};
use super::ssh::{SshTransport, authenticate, handshake};
use super::ssh_target::SshTarget;
use crate::crimpl::check::{Checklist, Found, problem};

/// The names of the steps [`connect_steps`] records, in order.
pub const STEPS: &[&str] = &[
    "name resolution",
    "TCP connect",
    "SSH protocol",
    "host key",
    "authentication",
];

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
    let rest = |list: &mut Checklist<'_>, done: usize| list.skip_after_failure(&STEPS[done..]);
    let Some(addresses) = list.step(STEPS[0], || resolve(target)) else {
        rest(list, 1);
        return None;
    };
    let Some(tcp) = list.step(STEPS[1], || tcp_connect(target, &addresses)) else {
        rest(list, 2);
        return None;
    };
    let Some(session) = list.step(STEPS[2], || protocol(target, tcp)) else {
        rest(list, 3);
        return None;
    };
    if list
        .step(STEPS[3], || host_key(&session, target, name))
        .is_none()
    {
        rest(list, 4);
        return None;
    }
    list.step(STEPS[4], || login(&session, target))?;
    Some(SshTransport::with_session(target.clone(), session))
}

fn resolve(target: &SshTarget) -> Found<Vec<SocketAddr>> {
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
    let detail = format!("{} is {}", target.host_name, listed.join(", "));
    Ok((addresses, detail))
}

fn tcp_connect(target: &SshTarget, addresses: &[SocketAddr]) -> Found<TcpStream> {
    let mut failures = Vec::new();
    for address in addresses {
        match TcpStream::connect_timeout(address, CONNECT_TIMEOUT) {
            Ok(tcp) => return Ok((tcp, format!("{address} accepted the connection"))),
            Err(err) => failures.push((address, err)),
        }
    }
    let port = target.port;
    let host = &target.host_name;
    let refused = failures
        .iter()
        .any(|(_, e)| e.kind() == std::io::ErrorKind::ConnectionRefused);
    let detail = failures
        .iter()
        .map(|(address, err)| format!("{address}: {err}"))
        .collect::<Vec<_>>()
        .join("; ");
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
            CONNECT_TIMEOUT.as_secs()
        )
    };
    Err(problem(detail, next))
}

fn protocol(target: &SshTarget, tcp: TcpStream) -> Found<Session> {
    let session = handshake(tcp, target).map_err(|err| {
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
            "this kernel logs in with keys: ask the host's admin to allow public-key logins",
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
