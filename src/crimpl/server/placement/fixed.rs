//! A fixed place: this machine, or one SSH host (a login node, for Slurm).

use std::sync::Arc;

use anyhow::bail;

use super::{Launch, Placement, SurveyRead};
use crate::crimpl::job::JobRecord;
use crate::crimpl::login_shell::LoginShell;
use crate::crimpl::progress::Progress;
use crate::crimpl::scripts;
use crate::crimpl::server::options::SubmitOptions;
use crate::crimpl::transport::{
    HostKeyPolicy, LocalTransport, OpenSshTransport, SshTransport, Transport, TransportKind, choose,
};

/// Commands run on one transport, always there.
pub struct Fixed {
    transport: Arc<dyn Transport>,
    /// The libssh2 session under `transport`, for SSH hosts reached that way.
    ssh: Option<Arc<SshTransport>>,
}

impl Fixed {
    /// This machine.
    pub fn local() -> Self {
        Self {
            transport: Arc::new(LocalTransport),
            ssh: None,
        }
    }

    /// The SSH host `host` (through `jump`) by the way in `kind` chooses,
    /// in a login shell if `login_shell`.
    pub fn ssh(
        host: &str,
        jump: Option<&str>,
        kind: TransportKind,
        login_shell: bool,
    ) -> anyhow::Result<Self> {
        let (inner, ssh): (Arc<dyn Transport>, _) = if choose(kind, host, jump)?.openssh {
            (Arc::new(OpenSshTransport::new(host, jump)?), None)
        } else {
            let ssh = Arc::new(SshTransport::new(host, jump)?);
            (ssh.clone(), Some(ssh))
        };
        let transport: Arc<dyn Transport> = if login_shell {
            Arc::new(LoginShell::new(inner))
        } else {
            inner
        };
        Ok(Self { transport, ssh })
    }
}

impl Placement for Fixed {
    fn describe(&self) -> String {
        self.transport.describe()
    }

    fn run_target(&self) -> String {
        self.transport.describe()
    }

    fn submit_target(&self, _: &SubmitOptions) -> anyhow::Result<String> {
        Ok(self.transport.describe())
    }

    fn probe(&self, directory: &str, mode: &str) -> anyhow::Result<()> {
        let directory = scripts::directory_word(directory)?;
        self.transport.check(
            &format!("mkdir -p -m {mode} {directory}"),
            None,
            "creating the server directory",
        )?;
        Ok(())
    }

    fn trust_host_key(&self, fingerprint: &str) -> anyhow::Result<()> {
        let Some(ssh) = &self.ssh else {
            bail!(
                "this server's host key is checked by your OpenSSH client (or it is this \
                 machine): log in once with `ssh` in a terminal to record the key"
            );
        };
        ssh.set_policy(HostKeyPolicy::TrustFingerprint(fingerprint.into()));
        let result = ssh.reconnect();
        ssh.set_policy(HostKeyPolicy::Strict);
        result
    }

    fn transport(&self, _: bool, _: Progress<'_>) -> anyhow::Result<Arc<dyn Transport>> {
        Ok(self.transport.clone())
    }

    fn run_transport(&self, _: Progress<'_>) -> anyhow::Result<Arc<dyn Transport>> {
        Ok(self.transport.clone())
    }

    fn launch(&self, _: &str, _: &SubmitOptions, _: Progress<'_>) -> anyhow::Result<Launch> {
        Ok(Launch {
            transport: self.transport.clone(),
            launched: Vec::new(),
            entries: Vec::new(),
            placement: Default::default(),
        })
    }

    fn job_placed(&self, _: &str, _: &str) -> anyhow::Result<()> {
        Ok(())
    }

    fn placement_failed(&self, _: &Launch, _: Progress<'_>) -> anyhow::Result<()> {
        Ok(())
    }

    fn after_job(&self, _: &SubmitOptions) -> Option<&'static str> {
        None
    }

    fn survey(&self, _: &str, read: SurveyRead<'_>) -> anyhow::Result<Vec<JobRecord>> {
        read(self.transport.as_ref(), false)
    }

    fn unproven_missing(&self, _: &str, _: &str) -> Option<anyhow::Error> {
        None
    }

    fn resubmit_refusal(&self) -> Option<&'static str> {
        None
    }
}
