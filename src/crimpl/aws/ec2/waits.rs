//! Waiting on EC2's state changes, bounded and with progress: an instance
//! passes through `pending`, `stopping` and `shutting-down` for seconds to
//! minutes, is unknown to DescribeInstances for a moment after RunInstances,
//! and its volume stays `in-use` (AttachVolume and DeleteVolume answer
//! `VolumeInUse`) until it has shut down.
//!
//! The SDK's waiters are not used for instances: they fail as soon as an
//! instance is in a state on the way (`InstanceTerminated` fails on
//! `pending` or `stopping`, `InstanceRunning` on `stopping`), where crimpl
//! wants to wait through it.

use std::time::{Duration, Instant};

use anyhow::bail;

use super::{Ec2, Instance, error_code};

pub use crate::crimpl::progress::Progress;

/// How long an instance may take to reach a state.
const STATE_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a volume may stay in use by an instance shutting down (so how
/// long after a launch the volume may be attached).
pub const VOLUME_TIMEOUT: Duration = Duration::from_secs(600);

/// The pause between two polls: short at first, then every 5 s.
fn pause(attempt: u32) -> Duration {
    Duration::from_millis(500 * u64::from(attempt.clamp(1, 10)))
}

/// Call `call` until it succeeds or fails with an error code not in
/// `codes`, for at most `timeout`; `waiting` is said once, at the first retry.
fn retrying<T>(
    codes: &[&str],
    timeout: Duration,
    progress: Progress<'_>,
    waiting: &str,
    mut call: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    for attempt in 1.. {
        match call() {
            Err(err)
                if error_code(&err).is_some_and(|code| codes.contains(&code))
                    && started.elapsed() < timeout =>
            {
                if attempt == 1 {
                    progress(waiting);
                }
                std::thread::sleep(pause(attempt));
            }
            outcome => return outcome,
        }
    }
    unreachable!("the loop returns")
}

impl Ec2 {
    /// Wait until instance `instance_id` is in one of the `wanted` states
    /// (`terminated` also when EC2 has forgotten it), saying each state it
    /// passes through; an error if it reaches a state it cannot leave for
    /// them, or after 10 minutes.
    pub fn wait_for(
        &self,
        instance_id: &str,
        wanted: &[&str],
        progress: Progress<'_>,
    ) -> anyhow::Result<Option<Instance>> {
        let started = Instant::now();
        let mut said = String::new();
        for attempt in 1.. {
            let found = self.instance(instance_id)?;
            let state = match &found {
                Some(instance) => instance.state.as_str(),
                // Not yet known just after RunInstances; long gone after a terminate.
                None if wanted.contains(&"terminated") => "terminated",
                None => "not yet known to EC2",
            };
            if wanted.contains(&state) {
                return Ok(found);
            }
            if matches!(state, "terminated" | "shutting-down") && !wanted.contains(&"terminated") {
                bail!(
                    "instance {instance_id} is {state}: it will not be {} (see its system log in the EC2 console)",
                    wanted.join(" or ")
                );
            }
            if started.elapsed() > STATE_TIMEOUT {
                bail!(
                    "instance {instance_id} was still {state} after {} s, not {}: see the EC2 console",
                    STATE_TIMEOUT.as_secs(),
                    wanted.join(" or ")
                );
            }
            if said != state {
                progress(&format!(
                    "Instance {instance_id} is {state}: waiting for it to be {}…",
                    wanted.join(" or ")
                ));
                said = state.to_string();
            }
            std::thread::sleep(pause(attempt));
        }
        unreachable!("the loop returns")
    }

    /// Wait until the instance runs; returns it.
    pub fn wait_running(
        &self,
        instance_id: &str,
        progress: Progress<'_>,
    ) -> anyhow::Result<Instance> {
        self.wait_for(instance_id, &["running"], progress)?
            .ok_or_else(|| anyhow::anyhow!("instance {instance_id} disappeared"))
    }

    /// Start a stopped (or stopping) instance and wait until it runs.
    pub fn start_and_wait(
        &self,
        instance_id: &str,
        progress: Progress<'_>,
    ) -> anyhow::Result<Instance> {
        let found = self.wait_for(instance_id, &["stopped", "running", "pending"], progress)?;
        if found.is_some_and(|i| i.state == "stopped") {
            progress(&format!("Starting instance {instance_id}…"));
            let ids = [instance_id.to_string()];
            retrying(
                &["IncorrectInstanceState"],
                STATE_TIMEOUT,
                progress,
                &format!("Instance {instance_id} cannot start yet: retrying…"),
                || self.start(&ids),
            )?;
        }
        self.wait_running(instance_id, progress)
    }

    /// Stop an instance (once it has left `pending`), without waiting for it to stop.
    pub fn stop_when_running(
        &self,
        instance_id: &str,
        progress: Progress<'_>,
    ) -> anyhow::Result<()> {
        let ids = [instance_id.to_string()];
        retrying(
            &["IncorrectInstanceState"],
            STATE_TIMEOUT,
            progress,
            &format!("Instance {instance_id} cannot stop yet: waiting…"),
            || self.stop(&ids),
        )
    }

    /// Terminate instances (in any state) and wait until they are gone.
    pub fn terminate(&self, ids: &[String], progress: Progress<'_>) -> anyhow::Result<()> {
        self.terminate_now(ids)?;
        for id in ids {
            self.wait_for(id, &["terminated"], progress)?;
        }
        Ok(())
    }

    /// Attach the volume to the instance, waiting while the volume is still
    /// in use by an instance shutting down.
    pub fn attach_when_free(
        &self,
        volume_id: &str,
        instance_id: &str,
        progress: Progress<'_>,
    ) -> anyhow::Result<()> {
        retrying(
            &["VolumeInUse", "IncorrectState"],
            VOLUME_TIMEOUT,
            progress,
            &format!("The volume {volume_id} is still in use: waiting for it to be free…"),
            || self.attach(volume_id, instance_id),
        )
    }

    /// Delete the volume, waiting while it is still in use by an instance shutting down.
    pub fn delete_volume_when_free(
        &self,
        volume_id: &str,
        progress: Progress<'_>,
    ) -> anyhow::Result<()> {
        retrying(
            &["VolumeInUse", "IncorrectState"],
            VOLUME_TIMEOUT,
            progress,
            &format!("The volume {volume_id} is still in use: waiting for it to be free…"),
            || self.delete_volume(volume_id),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crimpl::aws::ec2::AwsError;

    fn coded(code: &str) -> anyhow::Error {
        anyhow::Error::new(AwsError {
            what: "AttachVolume".into(),
            code: Some(code.into()),
            detail: code.into(),
        })
    }

    #[test]
    fn retries_only_the_codes_it_is_given() {
        let said = std::sync::Mutex::new(Vec::new());
        let progress = |line: &str| said.lock().unwrap().push(line.to_string());
        let mut calls = 0;
        let ok = retrying(
            &["VolumeInUse"],
            STATE_TIMEOUT,
            &progress,
            "waiting",
            || {
                calls += 1;
                if calls < 3 {
                    Err(coded("VolumeInUse"))
                } else {
                    Ok(calls)
                }
            },
        );
        assert_eq!(ok.unwrap(), 3);
        assert_eq!(said.lock().unwrap().as_slice(), ["waiting"]);
        let failed: anyhow::Result<()> = retrying(
            &["VolumeInUse"],
            STATE_TIMEOUT,
            &progress,
            "waiting",
            || Err(coded("UnauthorizedOperation")),
        );
        assert_eq!(
            error_code(&failed.unwrap_err()),
            Some("UnauthorizedOperation")
        );
    }
}
