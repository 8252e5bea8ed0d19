//! Logging in: the agent's keys, the key files (a passphrase-protected one
//! with its passphrase asked), then passwords and one-time codes
//! (keyboard-interactive, password), each prompt asked through the
//! [`Prompter`] lent by whoever runs the operation (the notebook cell).
//!
//! Answers live only for the login that asked them: never stored, logged
//! or reused by a later connection.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::bail;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ssh2::{KeyboardInteractivePrompt, Prompt, Session};

use super::ssh_target::SshTarget;

/// Asks the person at the notebook for a login answer.
pub trait Prompter: Send + Sync {
    /// Whether questions can be asked at all (a frontend may refuse input).
    fn can_ask(&self) -> bool;
    /// Ask `prompt`; `echo` false hides the answer as it is typed.
    fn ask(&self, prompt: &str, echo: bool) -> anyhow::Result<String>;
}

/// The prompter of the operation now running, if any.
static PROMPTER: Mutex<Option<Arc<dyn Prompter>>> = Mutex::new(None);

/// Lends `prompter` to logins until the returned guard is dropped.
pub fn lend_prompter(prompter: Arc<dyn Prompter>) -> PrompterLoan {
    if let Ok(mut slot) = PROMPTER.lock() {
        *slot = Some(prompter);
    }
    PrompterLoan(())
}

/// Takes the lent prompter back when dropped.
pub struct PrompterLoan(());

impl Drop for PrompterLoan {
    fn drop(&mut self) {
        if let Ok(mut slot) = PROMPTER.lock() {
            *slot = None;
        }
    }
}

/// Whether a cell has lent a prompter (a question could be put to someone).
pub(super) fn prompter_lent() -> bool {
    prompter().is_some()
}

fn prompter() -> Option<Arc<dyn Prompter>> {
    PROMPTER.lock().ok().and_then(|slot| slot.clone())
}

/// Log in to `target` on `session`; says how (which key, or which method).
pub fn authenticate(session: &Session, target: &SshTarget) -> anyhow::Result<String> {
    let user = &target.user;
    // Asking for the methods may log in at once (a server with `none` allowed).
    let offered = match session.auth_methods(user) {
        Ok(methods) => methods.to_string(),
        Err(_) if session.authenticated() => return Ok("no credentials (none asked)".into()),
        Err(err) => bail!(
            "{} did not say how {user} may log in: {err}",
            target.describe()
        ),
    };
    let offers = |method: &str| offered.split(',').any(|m| m == method);
    let mut keys_tried = Vec::new();
    if offers("publickey")
        && let Some(how) = keys(session, target, &mut keys_tried)?
    {
        return Ok(how);
    }
    let mut methods_tried = Vec::new();
    for method in ["keyboard-interactive", "password"] {
        if offers(method) {
            methods_tried.push(method);
            if let Some(how) = answer(session, target, method)? {
                return Ok(how);
            }
        }
    }
    if !methods_tried.is_empty() {
        bail!(
            "{} refused the login ({} answered; it offers {offered}): check the answers, or log \
             in with a key (ssh-keygen, then ssh-copy-id {})",
            target.describe(),
            methods_tried.join(", "),
            target.spec
        );
    }
    if !offers("publickey") {
        bail!(
            "{} offers no login this kernel can use ({offered}): ask its admin for public-key, \
             password or keyboard-interactive logins",
            target.describe()
        );
    }
    if keys_tried.is_empty() {
        bail!(
            "no SSH key to log in to {} with: create one (ssh-keygen) or start ssh-agent, \
             and add the public key to ~/.ssh/authorized_keys on the host",
            target.describe()
        );
    }
    bail!(
        "{} refused every key (tried {}): add your public key to ~/.ssh/authorized_keys on the host \
         (ssh-copy-id), or load a passphrase-protected key into ssh-agent",
        target.describe(),
        keys_tried.join(", ")
    )
}

/// The agent's keys (with `IdentitiesOnly`, only those of the key files),
/// then the key files in order (asking the passphrase of an encrypted one
/// the agent did not hold).
fn keys(
    session: &Session,
    target: &SshTarget,
    tried: &mut Vec<String>,
) -> anyhow::Result<Option<String>> {
    let user = &target.user;
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        tried.push("the ssh agent".to_string());
        if let Ok(mut agent) = session.agent()
            && agent.connect().is_ok()
            && agent.list_identities().is_ok()
        {
            let configured = target
                .identities_only
                .then(|| configured_public_keys(target));
            for identity in agent.identities().unwrap_or_default() {
                if configured
                    .as_ref()
                    .is_some_and(|keys| !keys.iter().any(|k| k.as_slice() == identity.blob()))
                {
                    continue;
                }
                if agent.userauth(user, &identity).is_ok() && session.authenticated() {
                    return Ok(Some(format!("the agent's key {}", identity.comment())));
                }
            }
        }
    }
    for key in target.identity_files.iter().filter(|k| k.exists()) {
        tried.push(key.display().to_string());
        let public = public_key_file(key);
        let public = public.exists().then_some(public);
        let passphrase = if is_encrypted(key) {
            let prompt = format!("Passphrase for {}: ", key.display());
            match ask(target, &prompt, false, "the passphrase of an encrypted key")? {
                Some(passphrase) => Some(passphrase),
                None => continue,
            }
        } else {
            None
        };
        if session
            .userauth_pubkey_file(
                user,
                public.as_deref().map(Path::new),
                key,
                passphrase.as_deref(),
            )
            .is_ok()
            && session.authenticated()
        {
            return Ok(Some(key.display().to_string()));
        }
    }
    Ok(None)
}

/// `key`'s public half, as OpenSSH names it (`KEY.pub`).
fn public_key_file(key: &Path) -> std::path::PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".pub");
    name.into()
}

/// The public keys (wire format) of the target's key files that have a
/// `.pub` beside them: the agent keys `IdentitiesOnly` lets through.
fn configured_public_keys(target: &SshTarget) -> Vec<Vec<u8>> {
    target
        .identity_files
        .iter()
        .filter_map(|key| std::fs::read_to_string(public_key_file(key)).ok())
        .filter_map(|text| {
            let encoded = text.split_whitespace().nth(1)?.to_string();
            STANDARD.decode(encoded).ok()
        })
        .collect()
}

/// One question through the lent prompter; `None` when there is none to ask
/// and nothing else can be tried. Fails when asking is impossible.
pub(super) fn ask(
    target: &SshTarget,
    prompt: &str,
    echo: bool,
    what: &str,
) -> anyhow::Result<Option<String>> {
    match prompter() {
        Some(prompter) if prompter.can_ask() => prompter.ask(prompt, echo).map(Some),
        Some(_) => bail!(
            "{} asks for {what}, but this frontend does not accept input (allow_stdin is false): \
             run the cell from JupyterLab, Notebook or jupyter console, or log in with a key \
             without a passphrase or one loaded into ssh-agent (ssh-add)",
            target.describe()
        ),
        None => bail!(
            "{} asks for {what}, which only a running cell can answer: run a %crimpl command \
             in a cell, or log in with a key or ssh-agent",
            target.describe()
        ),
    }
}

/// Answer `method`'s prompts; `Some` once logged in.
fn answer(session: &Session, target: &SshTarget, method: &str) -> anyhow::Result<Option<String>> {
    let user = &target.user;
    if method == "password" {
        let prompt = format!("Password for {}: ", target.describe());
        let Some(password) = ask(target, &prompt, false, "a password")? else {
            return Ok(None);
        };
        return Ok(session
            .userauth_password(user, &password)
            .ok()
            .filter(|_| session.authenticated())
            .map(|_| "a password".into()));
    }
    let mut questions = Questions {
        target,
        failure: None,
    };
    let result = session.userauth_keyboard_interactive(user, &mut questions);
    if let Some(err) = questions.failure {
        return Err(err);
    }
    Ok(result
        .ok()
        .filter(|_| session.authenticated())
        .map(|_| "keyboard-interactive answers".into()))
}

/// libssh2's keyboard-interactive callback, asking each prompt in turn.
struct Questions<'a> {
    target: &'a SshTarget,
    failure: Option<anyhow::Error>,
}

impl KeyboardInteractivePrompt for Questions<'_> {
    fn prompt<'b>(
        &mut self,
        _user: &str,
        instructions: &str,
        prompts: &[Prompt<'b>],
    ) -> Vec<String> {
        let mut answers = Vec::new();
        for (i, prompt) in prompts.iter().enumerate() {
            if self.failure.is_some() {
                answers.push(String::new());
                continue;
            }
            let text = if i == 0 && !instructions.trim().is_empty() {
                format!("{}\n{}", instructions.trim(), prompt.text)
            } else {
                prompt.text.to_string()
            };
            match ask(
                self.target,
                &text,
                prompt.echo,
                "a password or one-time code",
            ) {
                Ok(Some(answer)) => answers.push(answer),
                Ok(None) => answers.push(String::new()),
                Err(err) => {
                    self.failure = Some(err);
                    answers.push(String::new());
                }
            }
        }
        answers
    }
}

/// Whether the private key file is protected by a passphrase (PEM's
/// `ENCRYPTED` header, or a cipher other than `none` in OpenSSH's format).
fn is_encrypted(key: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(key) else {
        return false;
    };
    if text.contains("ENCRYPTED") {
        return true;
    }
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let Ok(bytes) = STANDARD.decode(body.trim()) else {
        return false;
    };
    let Some(rest) = bytes.strip_prefix(b"openssh-key-v1\0") else {
        return false;
    };
    let Some(length) = rest.get(..4) else {
        return false;
    };
    let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
    rest.get(4..4 + length)
        .is_some_and(|cipher| cipher != b"none")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_keys_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        for (name, passphrase) in [("plain", ""), ("locked", "secret words")] {
            let path = dir.path().join(name);
            let made = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
                .arg(&path)
                .status()
                .unwrap();
            assert!(made.success());
        }
        assert!(!is_encrypted(&dir.path().join("plain")));
        assert!(is_encrypted(&dir.path().join("locked")));
        assert!(!is_encrypted(&dir.path().join("missing")));
    }
}
