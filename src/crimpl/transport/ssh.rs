//! Commands on an SSH host over one persistent, verified `ssh2` session.
//!
//! The session opens on first use and is reused by every command (status
//! polls, uploads, fetches): one command costs one channel, not one
//! connection. A dropped connection is reopened on the next command, with a
//! growing pause between failed attempts; a command is retried once on a
//! fresh connection only if the old one failed before the command was sent.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ssh2::{MethodType, Session};

use super::connect;
use super::host_keys::HostKeyPolicy;
use super::ssh_target::SshTarget;
use super::{Finished, StdinFeed, StdoutSink, Transport};
use crate::crimpl::scripts::quote;

/// How long each blocking step after connecting may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Keepalive interval on an idle session.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Channel window: large enough to keep a fast link busy on big fetches.
const WINDOW: u32 = 16 * 1024 * 1024;

/// An SSH host as a [`Transport`].
pub struct SshTransport {
    target: SshTarget,
    policy: Mutex<HostKeyPolicy>,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    session: Option<Session>,
    failures: u32,
    next_attempt: Option<Instant>,
}

impl SshTransport {
    /// A transport for `host` (checked against known_hosts strictly),
    /// through the jump hosts `jump` if given; connects on first use.
    pub fn new(host: &str, jump: Option<&str>) -> anyhow::Result<Self> {
        Ok(Self::with_target(
            SshTarget::resolve_via(host, jump)?,
            HostKeyPolicy::Strict,
        ))
    }

    /// A transport for a resolved `target` with a host key `policy`.
    pub fn with_target(target: SshTarget, policy: HostKeyPolicy) -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        spawn_keepalive(Arc::downgrade(&state));
        Self {
            target,
            policy: Mutex::new(policy),
            state,
        }
    }

    /// A transport over an already verified and authenticated `session`
    /// (a dropped connection is reopened strictly, as for any transport).
    pub fn with_session(target: SshTarget, session: Session) -> Self {
        session.set_timeout(TIMEOUT.as_millis() as u32);
        session.set_keepalive(true, KEEPALIVE.as_secs() as u32);
        let transport = Self::with_target(target, HostKeyPolicy::Strict);
        if let Ok(mut state) = transport.state.lock() {
            state.session = Some(session);
        }
        transport
    }

    /// The resolved target.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Set how an unknown host key is treated from the next connection on.
    pub fn set_policy(&self, policy: HostKeyPolicy) {
        if let Ok(mut current) = self.policy.lock() {
            *current = policy;
        }
    }

    /// Connect now (recording the host key if the policy allows), dropping any old session.
    pub fn reconnect(&self) -> anyhow::Result<()> {
        let mut state = self.lock()?;
        state.session = None;
        state.next_attempt = None;
        self.session(&mut state).map(|_| ())
    }

    fn lock(&self) -> anyhow::Result<std::sync::MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| anyhow::anyhow!("the SSH connection to {} is unusable", self.target.spec))
    }

    /// The open session, connecting if needed (respecting the backoff).
    fn session<'a>(&self, state: &'a mut State) -> anyhow::Result<&'a Session> {
        if state.session.is_none() {
            if let Some(when) = state.next_attempt {
                let now = Instant::now();
                if when > now {
                    thread::sleep(when - now);
                }
            }
            match self.connect() {
                Ok(session) => {
                    state.session = Some(session);
                    state.failures = 0;
                    state.next_attempt = None;
                }
                Err(err) => {
                    state.failures += 1;
                    let pause =
                        Duration::from_millis(250 << state.failures.min(5)).min(MAX_BACKOFF);
                    state.next_attempt = Some(Instant::now() + pause);
                    return Err(err);
                }
            }
        }
        state.session.as_ref().context("no session")
    }

    fn connect(&self) -> anyhow::Result<Session> {
        let target = &self.target;
        let policy = self
            .policy
            .lock()
            .map(|p| p.clone())
            .unwrap_or(HostKeyPolicy::Strict);
        let session = connect::open(target, &policy)?;
        session.set_timeout(TIMEOUT.as_millis() as u32);
        session.set_keepalive(true, KEEPALIVE.as_secs() as u32);
        eprintln!(
            "[crimpl] connected to {} (cipher {})",
            target.describe(),
            session.methods(MethodType::CryptSc).unwrap_or("?")
        );
        Ok(session)
    }

    fn run_on(
        &self,
        session: &Session,
        command: &str,
        stdin: &mut Option<StdinFeed<'_>>,
        stdout: &mut StdoutSink<'_>,
    ) -> Result<Finished, Failure> {
        let mut channel = session
            .channel_open("session", WINDOW, 32768, None)
            .map_err(|e| Failure::BeforeSending(e.into()))?;
        channel
            .exec(&format!(
                "exec sh -c {}",
                quote(command).map_err(Failure::BeforeSending)?
            ))
            .map_err(|e| Failure::BeforeSending(e.into()))?;
        let sent = |e: std::io::Error| Failure::AfterSending(e.into());
        if let Some(feed) = stdin.take() {
            feed(&mut channel).map_err(sent)?;
        }
        channel.send_eof().map_err(|e| sent(e.into()))?;
        let mut reader = std::io::BufReader::with_capacity(256 * 1024, &mut channel);
        stdout(&mut reader).map_err(sent)?;
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(sent)?;
        drop(reader);
        let mut stderr = String::new();
        channel.stderr().read_to_string(&mut stderr).map_err(sent)?;
        channel.wait_close().map_err(|e| sent(e.into()))?;
        let code = channel.exit_status().ok();
        Ok(Finished { code, stderr })
    }
}

enum Failure {
    /// The command never reached the host: safe to retry on a new connection.
    BeforeSending(anyhow::Error),
    /// The connection failed while the command ran.
    AfterSending(anyhow::Error),
}

impl Transport for SshTransport {
    fn describe(&self) -> String {
        self.target.describe()
    }

    fn exec(
        &self,
        command: &str,
        stdin: Option<StdinFeed<'_>>,
        mut stdout: StdoutSink<'_>,
    ) -> anyhow::Result<Finished> {
        let mut state = self.lock()?;
        let mut stdin = stdin;
        for attempt in 0..2 {
            let session = self.session(&mut state)?;
            match self.run_on(session, command, &mut stdin, &mut stdout) {
                Ok(finished) => return Ok(finished),
                Err(Failure::BeforeSending(err)) => {
                    state.session = None;
                    if attempt == 1 {
                        return Err(err.context(format!(
                            "lost the connection to {}",
                            self.target.describe()
                        )));
                    }
                }
                Err(Failure::AfterSending(err)) => {
                    state.session = None;
                    return Err(err.context(format!(
                        "the connection to {} failed during a command",
                        self.target.describe()
                    )));
                }
            }
        }
        bail!("could not run a command on {}", self.target.describe())
    }
}

/// Send keepalives on idle sessions so that NAT and firewalls keep them open.
fn spawn_keepalive(state: std::sync::Weak<Mutex<State>>) {
    thread::Builder::new()
        .name("ssh-keepalive".into())
        .spawn(move || {
            loop {
                thread::sleep(KEEPALIVE);
                let Some(state) = state.upgrade() else { return };
                if let Ok(mut state) = state.try_lock() {
                    let failed = state
                        .session
                        .as_ref()
                        .is_some_and(|s| s.keepalive_send().is_err());
                    if failed {
                        state.session = None;
                    }
                }
            }
        })
        .ok();
}
