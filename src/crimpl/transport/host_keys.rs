//! Host key checking against known_hosts, as OpenSSH does it by default:
//! a known key must match, a changed key is always refused, and an unknown
//! host is refused with its fingerprint and the way to trust it.

use std::fs::OpenOptions;
use std::io::Write;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ssh2::{CheckResult, HashType, HostKeyType, KnownHostFileKind, Session};

use super::ssh_target::SshTarget;

/// What to do with a host whose key is not in known_hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Refuse it, showing the fingerprint (OpenSSH's default behaviour).
    Strict,
    /// Record it, but only if its fingerprint is this one (which the user checked).
    TrustFingerprint(String),
    /// Record it on first contact (only for machines this kernel just created).
    AcceptNew,
}

/// The host's key fingerprint as OpenSSH prints it (`SHA256:...`).
pub fn fingerprint(session: &Session) -> anyhow::Result<String> {
    let hash = session
        .host_key_hash(HashType::Sha256)
        .context("the server sent no host key")?;
    Ok(format!("SHA256:{}", STANDARD_NO_PAD.encode(hash)))
}

/// Check the connected `session`'s host key for `target` under `policy`.
pub fn verify(session: &Session, target: &SshTarget, policy: &HostKeyPolicy) -> anyhow::Result<()> {
    let (key, key_type) = session.host_key().context("the server sent no host key")?;
    let mut known = session.known_hosts()?;
    for file in target.known_hosts.iter().filter(|f| f.exists()) {
        known
            .read_file(file, KnownHostFileKind::OpenSSH)
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    let fingerprint = fingerprint(session)?;
    match known.check_port(target.host_key_name(), target.port, key) {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(ChangedHostKey {
            target: target.describe(),
            fingerprint,
            file: target.known_hosts[0].display().to_string(),
            name: target.known_hosts_name(),
        }
        .into()),
        CheckResult::Failure => bail!("could not check the host key of {}", target.describe()),
        CheckResult::NotFound => match policy {
            HostKeyPolicy::AcceptNew => record(target, key, key_type),
            HostKeyPolicy::TrustFingerprint(expected) if *expected == fingerprint => {
                record(target, key, key_type)
            }
            HostKeyPolicy::TrustFingerprint(expected) => Err(UnexpectedFingerprint {
                target: target.describe(),
                fingerprint,
                expected: expected.clone(),
            }
            .into()),
            HostKeyPolicy::Strict => Err(UnknownHost {
                target: target.spec.clone(),
                fingerprint,
            }
            .into()),
        },
    }
}

/// A host whose key is in no known_hosts file.
#[derive(Debug, thiserror::Error)]
#[error(
    "the host key of {target} is not known. Its fingerprint is {fingerprint}. \
     If you trust it (compare with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host), \
     record it with: %crimpl server trust SERVER {fingerprint}"
)]
pub struct UnknownHost {
    /// The host as the user named it.
    pub target: String,
    /// Its key's fingerprint.
    pub fingerprint: String,
}

/// A host whose key differs from the one recorded: always refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "HOST KEY CHANGED for {target}: the server now presents {fingerprint}, which differs from the key in \
     {file}. This may be an attack, or the host was reinstalled. The connection was refused; if the change \
     is expected, remove the old key with: ssh-keygen -R '{name}'"
)]
pub struct ChangedHostKey {
    /// `user@host:port`.
    pub target: String,
    /// The key it presents now.
    pub fingerprint: String,
    /// The known_hosts file.
    pub file: String,
    /// The name the old key is recorded under.
    pub name: String,
}

/// A host that presents another key than the one the user said to trust.
#[derive(Debug, thiserror::Error)]
#[error("{target} presents {fingerprint}, not {expected}: nothing was recorded")]
pub struct UnexpectedFingerprint {
    /// `user@host:port`.
    pub target: String,
    /// The key it presents.
    pub fingerprint: String,
    /// The key the user named.
    pub expected: String,
}

/// Whether `err` is a refused host key (unknown, changed, or not the one
/// named), which retrying cannot fix.
pub fn is_refused_host_key(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.is::<UnknownHost>()
            || cause.is::<ChangedHostKey>()
            || cause.is::<UnexpectedFingerprint>()
    })
}

/// Append the key to the user's known_hosts (never rewriting existing lines).
fn record(target: &SshTarget, key: &[u8], key_type: HostKeyType) -> anyhow::Result<()> {
    let type_name = match key_type {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => {
            bail!("the host key has an unknown type; record it with ssh instead")
        }
    };
    let path = &target.known_hosts[0];
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(
        file,
        "{} {type_name} {}",
        target.known_hosts_name(),
        STANDARD.encode(key)
    )?;
    Ok(())
}
