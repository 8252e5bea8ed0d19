//! Prompts of the system `ssh` answered in the notebook: passwords,
//! one-time codes, key passphrases.
//!
//! `ssh` runs with `SSH_ASKPASS` set to the kernel's own binary and
//! `SSH_ASKPASS_REQUIRE=force`; that binary, started with
//! [`SOCKET_VARIABLE`] in its environment, is the helper ([`helper`]): it
//! sends the prompt to the kernel over a unix socket in the transport's
//! private (0700) directory and prints the answer for `ssh`. The kernel side
//! ([`AskpassServer`]) asks through the [`super::Prompter`] lent by the
//! running cell, exactly as the libssh2 login does. Answers go from the
//! socket to `ssh`'s pipe and nowhere else: never to disk or a log.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use super::auth;
use super::ssh_target::SshTarget;

/// The variable naming the kernel's socket: its presence makes the
/// kernel's binary the askpass helper.
pub const SOCKET_VARIABLE: &str = "CRIMPL_ASKPASS_SOCKET";

/// The kernel's end: answers the helper's questions while it lives.
pub struct AskpassServer {
    path: PathBuf,
    closed: Arc<AtomicBool>,
    refusal: Arc<Mutex<Option<String>>>,
}

impl AskpassServer {
    /// Listen on `askpass.sock` in the private directory `dir`, asking for `target`.
    pub fn start(dir: &Path, target: SshTarget) -> io::Result<Self> {
        let path = dir.join("askpass.sock");
        let listener = UnixListener::bind(&path)?;
        let closed = Arc::new(AtomicBool::new(false));
        let refusal = Arc::new(Mutex::new(None));
        let (stop, said) = (closed.clone(), refusal.clone());
        thread::Builder::new()
            .name("ssh-askpass".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        let _ = serve(stream, &target, &said);
                    }
                }
            })?;
        Ok(Self {
            path,
            closed,
            refusal,
        })
    }

    /// The environment that sends `ssh`'s prompts here.
    pub fn env(&self) -> anyhow::Result<Vec<(&'static str, OsString)>> {
        Ok(vec![
            ("SSH_ASKPASS", std::env::current_exe()?.into_os_string()),
            ("SSH_ASKPASS_REQUIRE", "force".into()),
            (SOCKET_VARIABLE, self.path.clone().into_os_string()),
        ])
    }

    /// Why the last question could not be asked (no input possible), once.
    pub fn take_refusal(&self) -> Option<String> {
        self.refusal.lock().ok().and_then(|mut said| said.take())
    }
}

impl Drop for AskpassServer {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        // Wake the accepting thread so that it sees `closed` and ends.
        let _ = UnixStream::connect(&self.path);
    }
}

/// One question: `KIND\nPROMPT` in, `+ANSWER` or `-WHY` out.
fn serve(
    mut stream: UnixStream,
    target: &SshTarget,
    refusal: &Mutex<Option<String>>,
) -> io::Result<()> {
    let mut request = String::new();
    stream.read_to_string(&mut request)?;
    let (kind, prompt) = request.split_once('\n').unwrap_or(("", &request));
    let reply = match kind {
        // A notice ("touch your security key"): nothing to answer.
        "none" => Ok(String::new()),
        _ => auth::ask(target, prompt.trim_end(), kind == "confirm", &what(prompt))
            .and_then(|answer| answer.ok_or_else(|| anyhow::anyhow!("no answer"))),
    };
    match reply {
        Ok(answer) => stream.write_all(format!("+{answer}").as_bytes()),
        Err(err) => {
            let why = format!("{err:#}");
            if let Ok(mut said) = refusal.lock() {
                *said = Some(why.clone());
            }
            stream.write_all(format!("-{why}").as_bytes())
        }
    }
}

/// What a prompt asks for, for messages.
fn what(prompt: &str) -> String {
    let lower = prompt.to_lowercase();
    if lower.contains("passphrase") {
        "a key passphrase".into()
    } else if lower.contains("password") {
        "a password".into()
    } else {
        format!("an answer to {:?}", prompt.trim())
    }
}

/// The helper's side, run by `ssh` as `SSH_ASKPASS PROMPT`: ask the kernel
/// at `socket`, print the answer; the exit status says whether there is one.
pub fn helper(socket: &Path, prompt: &str) -> i32 {
    let kind = std::env::var("SSH_ASKPASS_PROMPT").unwrap_or_default();
    let asked = (|| {
        let mut stream = UnixStream::connect(socket)?;
        stream.write_all(format!("{kind}\n{prompt}").as_bytes())?;
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        Ok::<_, io::Error>(reply)
    })();
    match asked {
        Ok(reply) => match reply.strip_prefix('+') {
            Some(answer) => {
                println!("{answer}");
                0
            }
            None => {
                eprintln!("crimpl: {}", reply.strip_prefix('-').unwrap_or(&reply));
                1
            }
        },
        Err(err) => {
            eprintln!("crimpl: cannot reach the kernel for this prompt: {err}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crimpl::transport::{Prompter, lend_prompter};

    struct Answers;

    impl Prompter for Answers {
        fn can_ask(&self) -> bool {
            true
        }
        fn ask(&self, prompt: &str, _: bool) -> anyhow::Result<String> {
            Ok(format!("answer to {prompt}"))
        }
    }

    #[test]
    fn a_prompt_goes_to_the_lent_prompter_and_its_answer_back() {
        let dir = tempfile::tempdir().unwrap();
        let target = SshTarget::direct("127.0.0.1", 22, "u", "/k", "h").unwrap();
        let server = AskpassServer::start(dir.path(), target).unwrap();
        let _loan = lend_prompter(Arc::new(Answers));
        let mut stream = UnixStream::connect(dir.path().join("askpass.sock")).unwrap();
        stream.write_all(b"\nPassword: ").unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "+answer to Password:");
        assert_eq!(server.take_refusal(), None);
        assert_eq!(what("Enter passphrase for key '/k': "), "a key passphrase");
    }
}
