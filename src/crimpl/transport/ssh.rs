//! Commands on an SSH host over one persistent, verified `ssh2` session.
//!
//! The session opens on first use and is reused by every command (status
//! polls, uploads, fetches): one command costs one channel, not one
//! connection. A dropped connection is reopened on the next command, with a
//! growing pause between failed attempts; a command is retried once on a
//! fresh connection only if the old one failed before the command was sent.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ssh2::{MethodType, Session};

use super::connect;
use super::host_keys::HostKeyPolicy;
use super::ssh_command::{self, Failure};
use super::ssh_target::SshTarget;
use super::{Finished, StdinFeed, StdoutSink, Stop, Stopped, Transport};

/// How long each blocking step outside a command may take (commands are
/// not bounded: see `ssh_command`).
const TIMEOUT: Duration = Duration::from_secs(30);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

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
        spawn_keepalive(Arc::downgrade(&state), target.server_alive_interval);
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
        set_keepalive(&session, &target);
        let transport = Self::with_target(target, HostKeyPolicy::Strict);
        if let Ok(mut state) = transport.state.lock() {
            state.session = Some(session);
        }
        transport
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
        set_keepalive(&session, target);
        eprintln!(
            "[crimpl] connected to {} (cipher {})",
            target.describe(),
            session.methods(MethodType::CryptSc).unwrap_or("?")
        );
        Ok(session)
    }
}

impl Transport for SshTransport {
    fn describe(&self) -> String {
        self.target.describe()
    }

    fn exec_stoppable(
        &self,
        command: &str,
        stdin: Option<StdinFeed<'_>>,
        mut stdout: StdoutSink<'_>,
        stop: Option<&Stop>,
    ) -> anyhow::Result<Finished> {
        let mut state = self.lock()?;
        let mut stdin = stdin;
        for attempt in 0..2 {
            let session = self.session(&mut state)?;
            match ssh_command::run(
                session,
                &self.target,
                command,
                &mut stdin,
                &mut stdout,
                stop,
            ) {
                Ok(finished) => return Ok(finished),
                Err(Failure::Stopped { report, clean }) => {
                    if !clean {
                        state.session = None;
                    }
                    return Err(Stopped { report }.into());
                }
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

/// libssh2's own keepalives (sent while it blocks, as when connecting)
/// every `ServerAliveInterval`; none if that is zero.
fn set_keepalive(session: &Session, target: &SshTarget) {
    let seconds = target
        .server_alive_interval
        .as_secs()
        .clamp(0, u64::from(u32::MAX));
    session.set_keepalive(true, seconds as u32);
}

/// Send keepalives on idle sessions every `interval` (none if it is zero)
/// so that NAT and firewalls keep them open.
fn spawn_keepalive(state: std::sync::Weak<Mutex<State>>, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    thread::Builder::new()
        .name("ssh-keepalive".into())
        .spawn(move || {
            loop {
                thread::sleep(interval);
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
