//! Which way in for an SSH server: the kernel's own libssh2 connection
//! (fast, measured, with its own prompts) or the user's OpenSSH client
//! ([`super::openssh::OpenSshTransport`]), which can do what libssh2 cannot.
//!
//! `auto` reads OpenSSH's own resolution of the host (`ssh -G`) and picks
//! OpenSSH when it names something libssh2 lacks: a user certificate, a
//! host known through `@cert-authority`, a Kerberos login, a security key
//! or smartcard, the user's own `ControlPath`, or jump hosts the kernel's
//! connection cannot follow. Otherwise libssh2.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::openssh_config::{OpenSsh, Settings};
use super::ssh_target::{SshTarget, split_spec};

/// How a server's SSH commands travel (`--transport`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// OpenSSH where the host's settings need it, else libssh2.
    #[default]
    Auto,
    /// The system `ssh` client over one ControlMaster connection.
    Openssh,
    /// The kernel's own libssh2 connection.
    Libssh2,
}

impl TransportKind {
    /// Its name, as `--transport` takes it.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Auto => "auto",
            TransportKind::Openssh => "openssh",
            TransportKind::Libssh2 => "libssh2",
        }
    }
}

/// The transport chosen for a host, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Whether the commands go through the system `ssh`.
    pub openssh: bool,
    /// Why, for `server show` and `server check`.
    pub why: String,
}

/// Choose the transport for `spec` (through `jump`) under `kind`.
pub fn choose(kind: TransportKind, spec: &str, jump: Option<&str>) -> anyhow::Result<Choice> {
    let home = dirs::home_dir().ok_or_else(|| anyhow::anyhow!("cannot find HOME"))?;
    let openssh = OpenSsh::find(&home);
    match (kind, openssh) {
        (TransportKind::Libssh2, _) => Ok(Choice {
            openssh: false,
            why: "--transport libssh2".into(),
        }),
        (_, None) if kind == TransportKind::Openssh => anyhow::bail!(
            "--transport openssh needs an `ssh` client on PATH: install OpenSSH's client \
             (Debian: apt-get install openssh-client), or use --transport libssh2"
        ),
        (_, None) => Ok(Choice {
            openssh: false,
            why: "auto: no `ssh` client is installed".into(),
        }),
        (TransportKind::Openssh, Some(_)) => Ok(Choice {
            openssh: true,
            why: "--transport openssh".into(),
        }),
        (TransportKind::Auto, Some(openssh)) => {
            let (user, alias, port) = split_spec(spec)?;
            let settings = openssh.settings(alias, user, port)?;
            if let Some(reason) = needs_openssh(&openssh, &settings) {
                return Ok(Choice {
                    openssh: true,
                    why: format!("auto: {reason}, which libssh2 cannot use"),
                });
            }
            if let Err(err) = SshTarget::resolve_via(spec, jump) {
                return Ok(Choice {
                    openssh: true,
                    why: format!("auto: the kernel's own connection cannot follow it ({err:#})"),
                });
            }
            Ok(Choice {
                openssh: false,
                why: "auto: nothing in its ssh settings needs OpenSSH".into(),
            })
        }
    }
}

/// What in `settings` libssh2 cannot do, if anything.
pub(super) fn needs_openssh(openssh: &OpenSsh, settings: &Settings) -> Option<String> {
    if let Some(file) = settings.get("certificatefile") {
        return Some(format!("CertificateFile {file}"));
    }
    for identity in settings.all("identityfile") {
        let key = openssh.local_path(identity);
        let cert = with_suffix(&key, "-cert.pub");
        if cert.exists() {
            return Some(format!("a user certificate ({})", cert.display()));
        }
        let public = std::fs::read_to_string(with_suffix(&key, ".pub")).unwrap_or_default();
        if public.starts_with("sk-") {
            return Some(format!("a security key ({})", key.display()));
        }
    }
    if let Some(provider) = settings.get("pkcs11provider") {
        return Some(format!("a PKCS#11 smartcard (PKCS11Provider {provider})"));
    }
    for keyword in ["userknownhostsfile", "globalknownhostsfile"] {
        for file in settings
            .get(keyword)
            .into_iter()
            .flat_map(str::split_whitespace)
        {
            let file = openssh.local_path(file);
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if text
                .lines()
                .any(|l| l.trim_start().starts_with("@cert-authority"))
            {
                return Some(format!(
                    "a @cert-authority host key line in {}",
                    file.display()
                ));
            }
        }
    }
    if settings.get("gssapiauthentication") == Some("yes") && has_kerberos_ticket() {
        return Some("a Kerberos login (GSSAPIAuthentication and a ticket)".into());
    }
    if let Some(path) = settings.get("controlpath") {
        return Some(format!("your own ControlPath {path}"));
    }
    None
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Whether a Kerberos credential cache exists (`KRB5CCNAME`, or the default file).
fn has_kerberos_ticket() -> bool {
    if std::env::var_os("KRB5CCNAME").is_some() {
        return true;
    }
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    Path::new(&format!("/tmp/krb5cc_{uid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openssh() -> OpenSsh {
        OpenSsh::find(Path::new("/nonexistent-home")).expect("ssh is installed here")
    }

    #[test]
    fn certificates_control_paths_and_smartcards_need_openssh() {
        let openssh = openssh();
        for (text, said) in [
            ("certificatefile /k-cert.pub\n", "CertificateFile"),
            ("pkcs11provider /usr/lib/p11.so\n", "PKCS#11"),
            ("controlpath ~/.ssh/cm-%C\n", "ControlPath"),
        ] {
            let reason = needs_openssh(&openssh, &Settings::parse(text));
            assert!(reason.is_some_and(|r| r.contains(said)), "{text}");
        }
        let plain = Settings::parse("identityfile /nonexistent/id\ncontrolpath none\n");
        assert_eq!(needs_openssh(&openssh, &plain), None);
    }

    #[test]
    fn a_certificate_beside_the_key_and_a_cert_authority_line_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        std::fs::write(
            with_suffix(&key, "-cert.pub"),
            "ssh-ed25519-cert-v01@openssh.com AAAA",
        )
        .unwrap();
        let settings = Settings::parse(&format!("identityfile {}\n", key.display()));
        assert!(needs_openssh(&openssh(), &settings).is_some_and(|r| r.contains("certificate")));
        let known = dir.path().join("known_hosts");
        std::fs::write(&known, "@cert-authority [127.0.0.1]:22 ssh-ed25519 AAAA\n").unwrap();
        let settings = Settings::parse(&format!("userknownhostsfile {}\n", known.display()));
        assert!(
            needs_openssh(&openssh(), &settings).is_some_and(|r| r.contains("@cert-authority"))
        );
    }
}
