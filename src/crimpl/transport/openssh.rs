//! Commands on an SSH host through the user's own OpenSSH client, for what
//! libssh2 cannot do (certificates, `@cert-authority` hosts, Kerberos,
//! security keys, smartcards, the user's own ControlMaster).
//!
//! Every command is one `ssh` process riding one ControlMaster connection
//! per server: the user's own, when their configuration names a
//! `ControlPath` and a master is alive there (no new login at all), else
//! the kernel's, with its socket in a private (0700) directory made for this
//! transport and closed (`ssh -O exit`) when the transport is dropped.
//! Prompts go to the notebook through [`super::askpass`]. A command runs as
//! on the libssh2 path ([`super::openssh_command`]): the same bootstrap line
//! for any login shell, the same framing, keepalives, bounded connect.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use wait_timeout::ChildExt;

use super::askpass::AskpassServer;
use super::auth;
use super::openssh_config::{OpenSsh, Settings};
use super::ssh_target::{SshTarget, split_spec};
use super::{Finished, StdinFeed, StdoutSink, Stop, Transport, openssh_command};

/// How long the kernel's master outlives its last command.
const CONTROL_PERSIST: &str = "10m";
/// How long an `ssh -O` control request may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest directory the control socket may be made in: a unix socket's
/// path has at most 107 bytes, and `%C` (40) plus the suffix OpenSSH adds
/// while binding (17) must fit.
const MAX_SOCKET_DIR: usize = 40;

/// Whose ControlMaster the commands ride.
#[derive(Debug, Clone, PartialEq)]
enum Master {
    /// The user's own, alive at their `ControlPath` when the transport was made.
    Users,
    /// The kernel's, at this path (`%C` under the private directory).
    Own(PathBuf),
}

/// An SSH host reached by the system `ssh`, as a [`Transport`].
pub struct OpenSshTransport {
    target: SshTarget,
    openssh: OpenSsh,
    /// Options every `ssh` gets (keepalives, timeouts, host key checking, files).
    options: Vec<OsString>,
    /// `-l USER -p PORT [-J JUMP] -- HOST`.
    destination: Vec<OsString>,
    master: Master,
    /// Whether the kernel's master was started (and must be closed).
    started: Mutex<bool>,
    askpass: AskpassServer,
    /// The private directory of the control socket and the askpass socket.
    _dir: tempfile::TempDir,
}

impl OpenSshTransport {
    /// A transport for `spec` (through the jump hosts `jump`), resolved by
    /// the user's OpenSSH; connects on first use.
    pub fn new(spec: &str, jump: Option<&str>) -> anyhow::Result<Self> {
        let home = dirs::home_dir().context("cannot find the home directory (HOME)")?;
        let openssh = OpenSsh::find(&home).context(
            "no `ssh` client on PATH: install OpenSSH's client (Debian: apt-get install \
             openssh-client), or make the server with --transport libssh2",
        )?;
        let (user, alias, port) = split_spec(spec)?;
        let settings = openssh.settings(alias, user, port)?;
        let target = match SshTarget::resolve_via(spec, jump) {
            Ok(target) => target,
            // Jump hosts the kernel's own connection cannot follow: `ssh` can.
            Err(_) => plain_target(spec, &settings)?,
        };
        let mut destination: Vec<OsString> = Vec::new();
        if let Some(user) = user {
            destination.extend(["-l".into(), user.into()]);
        }
        if let Some(port) = port {
            destination.extend(["-p".into(), port.to_string().into()]);
        }
        if let Some(jump) = jump {
            destination.extend(["-J".into(), jump.into()]);
        }
        destination.extend(["--".into(), alias.into()]);
        let dir = private_dir()?;
        let askpass = AskpassServer::start(dir.path(), target.clone())
            .context("cannot open the kernel's socket for ssh's prompts")?;
        let mut transport = Self {
            options: options(&openssh, &target, &settings),
            master: Master::Own(dir.path().join("%C")),
            target,
            openssh,
            destination,
            started: Mutex::new(false),
            askpass,
            _dir: dir,
        };
        if settings.get("controlpath").is_some() {
            // Their master, if one is alive at their ControlPath; else the kernel's.
            let own = std::mem::replace(&mut transport.master, Master::Users);
            if transport.control("check").is_err() {
                transport.master = own;
            }
        }
        Ok(transport)
    }

    /// Whether the commands ride the user's own live ControlMaster.
    pub fn uses_your_master(&self) -> bool {
        self.master == Master::Users
    }

    /// An `ssh` command with every option, the destination and `remote`.
    pub(super) fn ssh(&self, remote: &str) -> anyhow::Result<Command> {
        let mut command = self.openssh.command();
        command.arg("-T").args(&self.options);
        if let Master::Own(path) = &self.master {
            command
                .arg("-o")
                .arg("ControlMaster=auto")
                .arg("-o")
                .arg(control_path(path))
                .arg("-o")
                .arg(format!("ControlPersist={CONTROL_PERSIST}"));
        }
        if !auth::prompter_lent() {
            // Nobody could answer: fail at once instead of asking.
            command.arg("-o").arg("BatchMode=yes");
        }
        command.args(&self.destination).arg(remote);
        command.envs(self.askpass.env()?);
        Ok(command)
    }

    /// Open the kernel's master now if it is not open (one login, whatever
    /// number of commands start together).
    pub(super) fn ensure_master(&self) -> anyhow::Result<()> {
        if self.master == Master::Users {
            return Ok(());
        }
        let mut started = self
            .started
            .lock()
            .map_err(|_| anyhow::anyhow!("the connection to {} is unusable", self.describe()))?;
        // A master that died since is replaced by the next command itself
        // (`ControlMaster=auto`).
        if *started {
            return Ok(());
        }
        let output = self
            .ssh("exit 0")?
            .stdin(Stdio::null())
            .process_group(0)
            .output()
            .with_context(|| format!("cannot run {:?}", self.openssh.command().get_program()))?;
        if !output.status.success() {
            return Err(self.failure(&String::from_utf8_lossy(&output.stderr)));
        }
        *started = true;
        Ok(())
    }

    /// Run `ssh -O request` on the master the commands ride.
    fn control(&self, request: &str) -> anyhow::Result<()> {
        let mut command = self.openssh.command();
        if let Master::Own(path) = &self.master {
            command.arg("-o").arg(control_path(path));
        }
        let mut child = command
            .arg("-O")
            .arg(request)
            .args(&self.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        match child.wait_timeout(CONTROL_TIMEOUT)? {
            Some(status) if status.success() => Ok(()),
            Some(_) => anyhow::bail!("no master"),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("ssh -O {request} did not answer")
            }
        }
    }

    /// A failed `ssh` as an error that says what to do next.
    pub(super) fn failure(&self, stderr: &str) -> anyhow::Error {
        let mut message = format!(
            "ssh could not reach {} ({}): {}",
            self.target.spec,
            self.describe(),
            stderr.trim()
        );
        if let Some(refusal) = self.askpass.take_refusal() {
            message = format!("{refusal}\n({message})");
        } else if stderr.contains("Host key verification failed") {
            message.push_str(
                "\nThe host's key is not in your known_hosts: check it and log in once with \
                 `ssh` in a terminal, which records it",
            );
        } else if stderr.contains("Permission denied") && !auth::prompter_lent() {
            message.push_str(
                "\nIt needs a password, passphrase or code, which only a running cell can \
                 answer: run a %crimpl command in a cell",
            );
        }
        anyhow::anyhow!(message)
    }
}

impl Drop for OpenSshTransport {
    fn drop(&mut self) {
        if self.started.get_mut().is_ok_and(|started| *started) {
            let _ = self.control("exit");
        }
    }
}

impl Transport for OpenSshTransport {
    fn describe(&self) -> String {
        self.target.describe()
    }

    fn exec_stoppable(
        &self,
        command: &str,
        stdin: Option<StdinFeed<'_>>,
        stdout: StdoutSink<'_>,
        stop: Option<&Stop>,
    ) -> anyhow::Result<Finished> {
        self.ensure_master()?;
        openssh_command::run(self, command, stdin, stdout, stop)
    }
}

/// `-o` options for every `ssh`: the target's keepalives and connect
/// timeout, strict host keys unless the user chose otherwise, and (when the
/// kernel's `HOME` is not OpenSSH's `~`) the files found under `HOME`.
fn options(openssh: &OpenSsh, target: &SshTarget, settings: &Settings) -> Vec<OsString> {
    let mut options = vec![
        format!(
            "ServerAliveInterval={}",
            target.server_alive_interval.as_secs()
        ),
        format!("ServerAliveCountMax={}", target.server_alive_count_max),
        format!("ConnectTimeout={}", target.connect_timeout.as_secs()),
    ];
    if matches!(settings.get("stricthostkeychecking"), Some("ask") | None) {
        // A question about an unknown host has no place in a cell: fail and say so.
        options.push("StrictHostKeyChecking=yes".into());
    }
    if openssh.home_redirected() {
        let files: Vec<String> = settings
            .get("userknownhostsfile")
            .into_iter()
            .flat_map(str::split_whitespace)
            .map(|file| openssh.local_path(file).display().to_string())
            .collect();
        options.push(format!("UserKnownHostsFile={}", files.join(" ")));
        for file in &target.identity_files {
            options.push(format!("IdentityFile={}", file.display()));
        }
        for file in settings.all("certificatefile") {
            let file = openssh.local_path(file);
            options.push(format!("CertificateFile={}", file.display()));
        }
    }
    options
        .into_iter()
        .flat_map(|option| ["-o".into(), option.into()])
        .collect()
}

/// `ControlPath=PATH` with OpenSSH's `%` left as the token it is.
fn control_path(path: &Path) -> OsString {
    let mut option = OsString::from("ControlPath=");
    option.push(path);
    option
}

/// A private (0700) directory with a path short enough for sockets.
fn private_dir() -> anyhow::Result<tempfile::TempDir> {
    let temp = std::env::temp_dir();
    let base = if temp.as_os_str().len() <= MAX_SOCKET_DIR - 20 {
        temp
    } else {
        PathBuf::from("/tmp")
    };
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("crimpl-ssh-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&base)
        .with_context(|| {
            format!(
                "cannot make a private directory for ssh's sockets in {}",
                base.display()
            )
        })
}

/// A target from OpenSSH's settings alone, for hosts whose jump hosts the
/// kernel's own resolution cannot follow (`ssh` follows them itself).
fn plain_target(spec: &str, settings: &Settings) -> anyhow::Result<SshTarget> {
    let (_, alias, _) = split_spec(spec)?;
    let port = settings
        .get("port")
        .and_then(|port| port.parse().ok())
        .unwrap_or(22);
    let mut target = SshTarget::direct(
        settings.get("hostname").unwrap_or(alias),
        port,
        settings.get("user").unwrap_or_default(),
        "~/.ssh/id_ed25519",
        alias,
    )?;
    target.spec = spec.to_string();
    target.identity_files.clear();
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_directory_leaves_room_for_the_socket_name() {
        let dir = private_dir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = dir.path().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // %C is 40 hex digits; OpenSSH adds 17 bytes while binding.
        assert!(dir.path().as_os_str().len() + 1 + 40 + 17 < 108);
    }
}
