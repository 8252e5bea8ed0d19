//! Reaching an instance over SSH: its address, its host key recorded under
//! its instance id, the wait until it is ready, and the one connection the
//! server keeps to the instance holding the volume.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::server::READY_TIMEOUT;
use super::{AwsServer, HELPER_LEVEL, Instance, Progress, SshAddress, VOLUME_MARKER};
use crate::crimpl::scripts;
use crate::crimpl::transport::{
    HostKeyPolicy, SshTarget, SshTransport, Transport, is_refused_host_key,
};

impl AwsServer {
    /// Record the host key of the running instance holding the volume if its
    /// fingerprint is `fingerprint` (which the user compared with the
    /// instance's own, e.g. in its system log), and connect to it.
    pub fn trust_host_key(&self, fingerprint: &str) -> anyhow::Result<()> {
        let holder = self
            .instances()?
            .into_iter()
            .find(|i| i.state == "running")
            .context("no instance of this server runs: start one first")?;
        let quiet = |_: &str| {};
        self.connect(
            &holder,
            HostKeyPolicy::TrustFingerprint(fingerprint.into()),
            &quiet,
        )?;
        Ok(())
    }

    /// SSH to `instance` once it has mounted the volume (bounded wait, with
    /// progress). Its host key is recorded under its instance id, which
    /// outlives its address: learnt on first contact under `AcceptNew` (an
    /// instance this server just launched), checked ever after.
    pub(super) fn connect(
        &self,
        instance: &Instance,
        policy: HostKeyPolicy,
        progress: Progress<'_>,
    ) -> anyhow::Result<Arc<SshTransport>> {
        let marker = format!(
            "test -f {}/{VOLUME_MARKER}",
            scripts::quote(&self.config.mount_point())?
        );
        let transport = self.reach(
            instance,
            policy,
            (&marker, "the volume is not mounted"),
            progress,
        )?;
        if let Ok(mut connection) = self.connection.lock() {
            *connection = Some((instance.id.clone(), transport.clone()));
        }
        Ok(transport)
    }

    /// SSH to `instance` once the command of `ready` succeeds there (bounded
    /// wait, with progress; the error says `ready`'s reason if it never
    /// does), its host key recorded as [`Self::connect`] says.
    pub(super) fn reach(
        &self,
        instance: &Instance,
        policy: HostKeyPolicy,
        (ready, not_ready): (&str, &str),
        progress: Progress<'_>,
    ) -> anyhow::Result<Arc<SshTransport>> {
        let address = match self.config.instances.ssh_address {
            SshAddress::Public => instance.public_ip.clone(),
            SshAddress::Private => instance.private_ip.clone(),
        }
        .with_context(|| {
            format!(
                "instance {} has no {:?} address: use --ssh-address {}",
                instance.id,
                self.config.instances.ssh_address,
                if self.config.instances.ssh_address == SshAddress::Public {
                    "private"
                } else {
                    "public"
                }
            )
        })?;
        let target = SshTarget::direct(
            &address,
            self.config.instances.ssh_port,
            &self.config.instances.username,
            &self.config.instances.key_file,
            &instance.id,
        )?;
        let transport = Arc::new(SshTransport::with_target(target, policy));
        let started = Instant::now();
        let mut said = false;
        loop {
            match transport.capture(ready, None) {
                Ok(captured) if captured.finished.success() => break,
                Err(err) if is_refused_host_key(&err) => return Err(err),
                outcome => {
                    if started.elapsed() > READY_TIMEOUT {
                        let why = match outcome {
                            Err(err) => format!("{err:#}"),
                            Ok(_) => not_ready.to_string(),
                        };
                        bail!(
                            "instance {} was not ready after {} s ({why}); see its system log in the EC2 console",
                            instance.id,
                            READY_TIMEOUT.as_secs()
                        );
                    }
                    if !said {
                        progress(&format!("Waiting for {address} to boot ({not_ready} yet)…"));
                        said = true;
                    }
                    std::thread::sleep(Duration::from_secs(2));
                }
            }
        }
        transport.set_policy(HostKeyPolicy::Strict);
        progress(&format!("Instance {} is ready at {address}.", instance.id));
        Ok(transport)
    }

    /// The running instance holding the volume, if any, with a connection to it
    /// (one DescribeInstances; the connection is reused while the holder stays).
    pub fn holder(
        &self,
        progress: Progress<'_>,
    ) -> anyhow::Result<Option<(Instance, Arc<dyn Transport>)>> {
        let holder = self
            .instances()?
            .into_iter()
            .find(|i| i.state == "running" && i.level != HELPER_LEVEL);
        let Some(holder) = holder else {
            return Ok(None);
        };
        if let Some((id, transport)) = self.connection.lock().ok().and_then(|c| c.clone())
            && id == holder.id
        {
            return Ok(Some((holder, transport as Arc<dyn Transport>)));
        }
        let transport = self.connect(&holder, HostKeyPolicy::Strict, progress)?;
        Ok(Some((holder, transport as Arc<dyn Transport>)))
    }

    /// Drop the kept connection if it goes to `instance_id` (which is ending).
    pub(super) fn forget_connection(&self, instance_id: &str) {
        if let Ok(mut connection) = self.connection.lock()
            && connection.as_ref().is_some_and(|(id, _)| id == instance_id)
        {
            *connection = None;
        }
    }
}
