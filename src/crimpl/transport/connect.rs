//! Opening a verified, authenticated SSH session to a target, every step
//! bounded by its `ConnectTimeout`: name resolution, the TCP connect (each
//! resolved address in turn) and the SSH handshake. The bytes travel over
//! TCP, through the target's `ProxyCommand`, or through its jump hosts
//! (each hop verified and logged in with its own settings).

use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use anyhow::{Context, bail};
use ssh2::{ErrorCode, MethodType, Session};

use super::auth::authenticate;
use super::host_keys::{self, HostKeyPolicy};
use super::ssh_target::SshTarget;
use super::{jump, proxy_command};

/// Cipher preference, fastest first *in our libssh2*: chacha20-poly1305
/// (also OpenSSH's first choice) is computed by OpenSSL's vectorised code
/// (see `vendor/README.md`) a whole packet per call, while libssh2 runs AES
/// (GCM or CTR) through OpenSSL one 16-byte block per call, which costs more
/// than the cipher itself.
const CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes256-ctr,aes192-ctr";
/// libssh2's code for a blocking call that passed the session's timeout.
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;

/// The byte stream an SSH session runs on.
pub enum Carrier {
    /// A TCP connection to the host.
    Tcp(TcpStream),
    /// A local socket bridged to the host (a jump host's channel or a proxy command).
    Tunnel(UnixStream),
}

impl AsRawFd for Carrier {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Carrier::Tcp(tcp) => tcp.as_raw_fd(),
            Carrier::Tunnel(socket) => socket.as_raw_fd(),
        }
    }
}

/// A session with the descriptor it runs on (which a bridge thread polls).
pub struct Connected {
    /// The session, verified and logged in.
    pub session: Session,
    /// The descriptor of its carrier.
    pub fd: RawFd,
}

/// Connect to `target` all the way: carrier, handshake, host key under
/// `policy` (applied at every hop), login.
pub fn open(target: &SshTarget, policy: &HostKeyPolicy) -> anyhow::Result<Session> {
    let carrier = carrier(target, policy)?;
    Ok(log_in(carrier, target, policy)?.session)
}

/// The carrier to `target`: its proxy command, a channel through its last
/// jump host (opening every hop), or a TCP connection.
pub fn carrier(target: &SshTarget, policy: &HostKeyPolicy) -> anyhow::Result<Carrier> {
    if let Some(command) = &target.proxy_command {
        return proxy_command::spawn(command, target).map(Carrier::Tunnel);
    }
    let Some(last) = last_hop(target, policy)? else {
        return tcp(target).map(Carrier::Tcp);
    };
    jump::tunnel(last, target).map(Carrier::Tunnel)
}

/// Every jump host of `target` opened in turn; the last one, if any.
pub fn last_hop(target: &SshTarget, policy: &HostKeyPolicy) -> anyhow::Result<Option<Connected>> {
    let mut previous: Option<Connected> = None;
    for hop in &target.jumps {
        let carrier = match previous.take() {
            None => Carrier::Tcp(tcp(hop).with_context(|| jump_failed(hop))?),
            Some(before) => {
                Carrier::Tunnel(jump::tunnel(before, hop).with_context(|| jump_failed(hop))?)
            }
        };
        previous = Some(log_in(carrier, hop, policy).with_context(|| jump_failed(hop))?);
    }
    Ok(previous)
}

fn jump_failed(hop: &SshTarget) -> String {
    format!("jump host {} ({})", hop.spec, hop.describe())
}

/// Handshake, host key and login on `carrier`.
pub fn log_in(
    carrier: Carrier,
    target: &SshTarget,
    policy: &HostKeyPolicy,
) -> anyhow::Result<Connected> {
    let fd = carrier.as_raw_fd();
    let session = handshake(carrier, target)?;
    host_keys::verify(&session, target, policy)?;
    authenticate(&session, target)?;
    Ok(Connected { session, fd })
}

/// A TCP connection to the first of `addresses` that accepts one within the
/// timeout, or every address's error.
pub fn connect_any(
    target: &SshTarget,
    addresses: &[SocketAddr],
) -> Result<TcpStream, Vec<(SocketAddr, std::io::Error)>> {
    let mut failures = Vec::new();
    for address in addresses {
        match TcpStream::connect_timeout(address, target.connect_timeout) {
            Ok(tcp) => {
                tcp.set_nodelay(true).ok();
                return Ok(tcp);
            }
            Err(err) => failures.push((*address, err)),
        }
    }
    Err(failures)
}

/// Resolve and connect to `target` over TCP.
fn tcp(target: &SshTarget) -> anyhow::Result<TcpStream> {
    let addresses = target.addresses()?;
    connect_any(target, &addresses).map_err(|failures| {
        let detail = failures
            .iter()
            .map(|(address, err)| format!("{address}: {err}"))
            .collect::<Vec<_>>()
            .join("; ");
        anyhow::anyhow!(
            "cannot connect to {} ({detail}); the connect timeout is {} s (ConnectTimeout in \
             ~/.ssh/config)",
            target.describe(),
            target.connect_timeout.as_secs()
        )
    })
}

/// Start SSH on `carrier`: cipher preferences, then the handshake, which
/// must end within the target's connect timeout.
pub fn handshake(carrier: Carrier, target: &SshTarget) -> anyhow::Result<Session> {
    let mut session = Session::new()?;
    session.set_timeout(
        target
            .connect_timeout
            .as_millis()
            .try_into()
            .unwrap_or(u32::MAX),
    );
    // See CIPHERS: the server's other ciphers stay acceptable.
    for direction in [MethodType::CryptCs, MethodType::CryptSc] {
        session.method_pref(direction, CIPHERS)?;
    }
    if let Some(types) = host_keys::preferred_key_types(&session, target) {
        session.method_pref(MethodType::HostKey, &types)?;
    }
    session.set_tcp_stream(carrier);
    match session.handshake() {
        Ok(()) => Ok(session),
        Err(err) if err.code() == ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT) => bail!(
            "{} accepted the connection but did not start SSH within {} s (ConnectTimeout): \
             check that port {} is an SSH server's (`ssh -v {}` shows the same exchange)",
            target.describe(),
            target.connect_timeout.as_secs(),
            target.port,
            target.spec
        ),
        Err(err) => {
            Err(err).with_context(|| format!("SSH handshake with {} failed", target.describe()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn every_address_is_tried_in_turn() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_address = closed.local_addr().unwrap();
        drop(closed);
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let open_address = open.local_addr().unwrap();
        let target = SshTarget::direct("127.0.0.1", open_address.port(), "u", "/k", "h").unwrap();
        let tcp = connect_any(&target, &[closed_address, open_address]).unwrap();
        assert_eq!(tcp.peer_addr().unwrap(), open_address);
        let failures = connect_any(&target, &[closed_address]).unwrap_err();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].1.kind(), std::io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn a_handshake_with_a_mute_host_ends_at_the_connect_timeout() {
        let mute = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = mute.local_addr().unwrap();
        let mut target = SshTarget::direct("127.0.0.1", address.port(), "u", "/k", "h").unwrap();
        target.connect_timeout = std::time::Duration::from_secs(1);
        let tcp = connect_any(&target, &[address]).unwrap();
        let _held = mute.accept().unwrap();
        let err = handshake(Carrier::Tcp(tcp), &target).err().unwrap();
        let message = format!("{err:#}");
        assert!(
            message.contains("did not start SSH within 1 s"),
            "{message}"
        );
        assert!(message.contains("ConnectTimeout"), "{message}");
    }
}
