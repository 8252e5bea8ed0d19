//! Host key checking against known_hosts, as OpenSSH does it by default:
//! a known key must match, a changed key is always refused, and an unknown
//! host is refused with its fingerprint and the way to trust it.

use std::fs::OpenOptions;
use std::io::Write;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ssh2::{
    CheckResult, HashType, HostKeyType, KnownHostFileKind, KnownHosts, MethodType, Session,
};

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
    let fingerprint = fingerprint(session)?;
    for file in target.known_hosts.iter().filter(|f| f.exists()) {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        if let Some(line) = read_lines(&mut known, &text, file, key) {
            bail!(
                "the host key of {} ({fingerprint}) is marked @revoked in {} line {line}: the \
                 connection was refused; ask the host's admin for its current key",
                target.describe(),
                file.display()
            );
        }
    }
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

/// The host key algorithms to offer `target`: those of the keys the
/// known_hosts files hold for it first, then every other one `session`
/// supports; `None` when the files hold no key for it. A host with keys of
/// several types then presents one that is recorded, and only a key that
/// really differs is called changed.
pub fn preferred_key_types(session: &Session, target: &SshTarget) -> Option<String> {
    let mut known = session.known_hosts().ok()?;
    for file in target.known_hosts.iter().filter(|f| f.exists()) {
        if let Ok(text) = std::fs::read_to_string(file) {
            read_lines(&mut known, &text, file, &[]);
        }
    }
    let mut types: Vec<&str> = Vec::new();
    for host in known.hosts().ok()? {
        let Ok(key) = STANDARD.decode(host.key()) else {
            continue;
        };
        if !matches!(
            known.check_port(target.host_key_name(), target.port, &key),
            CheckResult::Match
        ) {
            continue;
        }
        let algorithms: &[&str] = match key_type_name(&key) {
            Some("ssh-rsa") => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            Some("ssh-ed25519") => &["ssh-ed25519"],
            Some("ecdsa-sha2-nistp256") => &["ecdsa-sha2-nistp256"],
            Some("ecdsa-sha2-nistp384") => &["ecdsa-sha2-nistp384"],
            Some("ecdsa-sha2-nistp521") => &["ecdsa-sha2-nistp521"],
            _ => &[],
        };
        for algorithm in algorithms {
            if !types.contains(algorithm) {
                types.push(algorithm);
            }
        }
    }
    if types.is_empty() {
        return None;
    }
    let supported = session.supported_algs(MethodType::HostKey).ok()?;
    let mut order: Vec<&str> = types
        .into_iter()
        .filter(|t| supported.contains(t))
        .collect();
    for algorithm in supported {
        if !order.contains(&algorithm) {
            order.push(algorithm);
        }
    }
    Some(order.join(","))
}

/// The algorithm name at the start of a public key blob.
fn key_type_name(key: &[u8]) -> Option<&str> {
    let length = u32::from_be_bytes(key.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(key.get(4..4 + length)?).ok()
}

/// Add each line of the known_hosts `text` (from `file`) to `known`, one at
/// a time, so that a line libssh2 cannot read (an unknown key type, a
/// `@cert-authority` line) is skipped with a log line instead of making the
/// whole file unreadable. Returns the number of a `@revoked` line naming
/// `key`, if any.
fn read_lines(
    known: &mut KnownHosts,
    text: &str,
    file: &std::path::Path,
    key: &[u8],
) -> Option<usize> {
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = number + 1;
        if let Some(rest) = line.strip_prefix("@revoked") {
            // `@revoked HOSTS TYPE KEY`: a revoked key is refused for every host.
            let revoked = rest
                .split_whitespace()
                .nth(2)
                .and_then(|k| STANDARD.decode(k).ok());
            if revoked.as_deref() == Some(key) {
                return Some(number);
            }
            continue;
        }
        if line.starts_with('@') {
            eprintln!(
                "[crimpl] {} line {number}: skipped {} (only plain host keys are used)",
                file.display(),
                line.split_whitespace().next().unwrap_or("@")
            );
            continue;
        }
        if known.read_str(line, KnownHostFileKind::OpenSSH).is_err() {
            eprintln!(
                "[crimpl] {} line {number}: skipped, libssh2 cannot read it (key type?)",
                file.display()
            );
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_lines_are_skipped_and_revoked_keys_found() {
        let session = Session::new().unwrap();
        let mut known = session.known_hosts().unwrap();
        let key = b"not really a key, but bytes";
        let encoded = STANDARD.encode(key);
        let good = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
        let text = format!(
            "# comment\n@cert-authority *.example.org ssh-ed25519 {good}\nthis is not a line\n\
             plain.example.org ssh-ed25519 {good}\n@revoked * ssh-ed25519 {encoded}\n"
        );
        let path = std::path::Path::new("kh");
        assert_eq!(read_lines(&mut known, &text, path, key), Some(5));
        assert_eq!(read_lines(&mut known, &text, path, b"another key"), None);
        let good_key = STANDARD.decode(good).unwrap();
        assert!(matches!(
            known.check_port("plain.example.org", 22, &good_key),
            CheckResult::Match
        ));
        assert!(matches!(
            known.check_port("elsewhere.example.org", 22, &good_key),
            CheckResult::NotFound
        ));
    }

    #[test]
    fn hashed_names_are_matched() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        let good = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
        std::fs::write(
            &file,
            format!("[hashed.example.org]:2222 ssh-ed25519 {good}\n"),
        )
        .unwrap();
        let hashed = std::process::Command::new("ssh-keygen")
            .args(["-q", "-H", "-f"])
            .arg(&file)
            .status()
            .unwrap();
        assert!(hashed.success());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("|1|"), "{text}");
        let session = Session::new().unwrap();
        let mut known = session.known_hosts().unwrap();
        assert_eq!(read_lines(&mut known, &text, &file, b"k"), None);
        let key = STANDARD.decode(good).unwrap();
        assert!(matches!(
            known.check_port("hashed.example.org", 2222, &key),
            CheckResult::Match
        ));
        assert!(matches!(
            known.check_port("other.example.org", 2222, &key),
            CheckResult::NotFound
        ));
    }
}
