//! The EC2 placement: jobs live on one EBS volume, reached through whichever
//! instance holds it (the server instance, or a job's own instance, launched
//! for it and ended after it).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};

use super::{Launch, Placement, SurveyRead};
use crate::crimpl::aws::{self, AwsConfig, AwsServer, HelperSet};
use crate::crimpl::job::JobRecord;
use crate::crimpl::kept_log::KeptLog;
use crate::crimpl::layout;
use crate::crimpl::progress::Progress;
use crate::crimpl::registry::Registry;
use crate::crimpl::scripts::helpers;
use crate::crimpl::server::entries::Entry;
use crate::crimpl::server::options::SubmitOptions;
use crate::crimpl::transport::Transport;

/// The end of a job instance's wrapper: shut down in a minute. A detached
/// sleep, not `shutdown -h +1`: a scheduled shutdown makes logind write
/// `/run/nologin` at once, and PAM then refuses the kernel that logs in
/// within that minute to record the job's end and keep its log.
const SHUTDOWN_AFTER_JOB: &str =
    "setsid sh -c 'sleep 60; sudo -n shutdown -h now' < /dev/null > /dev/null 2>&1 &";

/// The instances that hold a server's volume.
pub struct Ec2Placement {
    name: String,
    aws: AwsServer,
}

impl Ec2Placement {
    /// The placement of the AWS server `name`.
    pub fn new(name: &str, config: AwsConfig) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.into(),
            aws: AwsServer::new(name, config, records_dir())?,
        })
    }

    /// The EC2 instance type for a submission: `--instance-type`, or by `--nprocs`.
    fn instance_type(&self, options: &SubmitOptions) -> anyhow::Result<String> {
        match &options.instance_type {
            Some(instance_type) => Ok(instance_type.clone()),
            None => self.aws.config().job_type(options.nprocs.unwrap_or(1)),
        }
    }
}

/// Where this machine keeps its records of AWS servers (job ends, kept
/// logs): beside the server registry.
fn records_dir() -> Result<PathBuf, String> {
    Registry::from_environment()
        .map(|registry| registry.dir().to_path_buf())
        .map_err(|err| format!("{err:#}"))
}

/// The files that let a sweep's runner use its helper instances: the list,
/// the array's key pair, and the scripts that run a task on a helper.
fn helper_entries(set: &HelperSet) -> Vec<Entry> {
    vec![
        Entry::text(helpers::HELPERS_FILE, &set.list, 0o644),
        Entry::text(helpers::KEY_FILE, &set.private_key, 0o600),
        Entry::text(
            helpers::PUBLIC_KEY_FILE,
            &format!("{}\n", set.public_key),
            0o644,
        ),
        Entry::text(helpers::REMOTE_TASK, &helpers::remote_task(), 0o755),
        Entry::text(helpers::HELPER_WAIT, &helpers::helper_wait(), 0o755),
    ]
}

impl Placement for Ec2Placement {
    fn aws(&self) -> Option<&AwsServer> {
        Some(&self.aws)
    }

    fn describe(&self) -> String {
        format!(
            "AWS EC2 instances with volume {}",
            self.aws.config().volume_id
        )
    }

    fn run_target(&self) -> String {
        format!("the server instance of {}", self.name)
    }

    fn submit_target(&self, options: &SubmitOptions) -> anyhow::Result<String> {
        let instance_type = self.instance_type(options)?;
        Ok(match (&options.array, options.instances) {
            (Some(_), Some(k)) if k > 1 => format!(
                "{k} new {instance_type} job instances (one holds the volume, {} helper(s) end with the sweep)",
                k - 1
            ),
            _ => format!("a new {instance_type} job instance"),
        })
    }

    /// The volume exists (the directory is created when an instance mounts it).
    fn probe(&self, _: &str, _: &str) -> anyhow::Result<()> {
        self.aws.state().map(|_| ())
    }

    fn trust_host_key(&self, fingerprint: &str) -> anyhow::Result<()> {
        self.aws.trust_host_key(fingerprint)
    }

    /// The instance holding the volume, or the server instance started to
    /// hold it if `start` and none runs.
    fn transport(&self, start: bool, progress: Progress<'_>) -> anyhow::Result<Arc<dyn Transport>> {
        if let Some((_, transport)) = self.aws.holder(progress)? {
            return Ok(transport);
        }
        if !start {
            bail!(
                "no instance of server {name} runs, so its volume cannot be read: %crimpl server start {name}",
                name = self.name
            );
        }
        progress(&format!(
            "No instance holds the volume of {name}: starting the server instance to reach it \
             (it shuts down after {idle} idle minutes, or: %crimpl server stop {name}).",
            name = self.name,
            idle = self.aws.config().instances.idle_stop_minutes
        ));
        self.aws.start(progress)?;
        self.aws
            .holder(progress)?
            .map(|(_, transport)| transport)
            .context("the server instance started but cannot be reached")
    }

    /// `run` is for setup work on the server instance: it is started.
    fn run_transport(&self, progress: Progress<'_>) -> anyhow::Result<Arc<dyn Transport>> {
        self.aws.start(progress)?;
        self.transport(false, progress)
    }

    /// A new instance for the job, alive for its walltime and a margin.
    fn launch(
        &self,
        job: &str,
        options: &SubmitOptions,
        progress: Progress<'_>,
    ) -> anyhow::Result<Launch> {
        let max_minutes = aws::lifetime::job_minutes(
            options.slurm.walltime.as_deref(),
            self.aws.config().instances.lifetime_margin_minutes,
        )?;
        let instance_type = self.instance_type(options)?;
        if matches!((&options.array, options.instances), (Some(_), Some(k)) if k > 1) {
            self.aws.check_helpers_reachable()?;
        }
        let placed = self.aws.start_job_instance(
            job,
            &instance_type,
            options.image_id.as_deref(),
            options.keep_instance,
            max_minutes,
            progress,
        )?;
        let instance = &placed.instance;
        let mut launch = Launch {
            launched: placed
                .launched
                .then(|| instance.id.clone())
                .into_iter()
                .collect(),
            entries: Vec::new(),
            placement: [
                ("aws_instance_id", &instance.id),
                ("aws_instance_type", &instance.instance_type),
                ("aws_image_id", &instance.image_id),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
            transport: placed.transport,
        };
        let helpers = match (&options.array, options.instances) {
            (Some(_), Some(k)) if k > 1 => k - 1,
            _ => return Ok(launch),
        };
        match self.aws.launch_helpers(
            job,
            helpers,
            &instance_type,
            options.image_id.as_deref(),
            max_minutes,
            launch.transport.as_ref(),
            progress,
        ) {
            Ok(set) => {
                launch.launched.extend(set.ids.iter().cloned());
                launch
                    .placement
                    .insert("aws_helper_ids".into(), set.ids.join(" "));
                launch.entries = helper_entries(&set);
                Ok(launch)
            }
            Err(err) => {
                self.placement_failed(&launch, progress)?;
                Err(err)
            }
        }
    }

    /// The job's instance takes the job's name.
    fn job_placed(&self, base: &str, job: &str) -> anyhow::Result<()> {
        if job != base {
            self.aws.rename_job_instance(base, job)?;
        }
        Ok(())
    }

    /// Never leave an instance running for a job that does not exist.
    fn placement_failed(&self, launch: &Launch, progress: Progress<'_>) -> anyhow::Result<()> {
        for id in &launch.launched {
            progress(&format!(
                "The job was not submitted: terminating the instance {id} launched for it."
            ));
            self.aws.terminate_instance(id)?;
        }
        Ok(())
    }

    /// A job instance shuts down (and so terminates) unless it is kept. The
    /// minute's grace lets a watching kernel read the end and record it on
    /// the volume's tags before it terminates the instance itself; with no
    /// kernel watching, the instance ends a minute later.
    fn after_job(&self, options: &SubmitOptions) -> Option<&'static str> {
        (!options.keep_instance).then_some(SHUTDOWN_AFTER_JOB)
    }

    /// From the volume through the instance holding it (and a finished
    /// job's instance is then terminated through the API; the ends seen are
    /// remembered on this machine), or, when none runs, from the ends
    /// recorded in the volume's tags and then this machine's. One
    /// DescribeInstances (or DescribeVolumes) per call, however many jobs.
    fn survey(&self, pattern: &str, read: SurveyRead<'_>) -> anyhow::Result<Vec<JobRecord>> {
        let quiet = |_: &str| {};
        let wanted = |name: &str| pattern.ends_with('*') || pattern == layout::job_dir_name(name);
        let Some((holder, transport)) = self.aws.holder(&quiet)? else {
            return self.aws.recorded_records(wanted);
        };
        let mut records = read(transport.as_ref(), true)?;
        self.aws.explain_lost(&mut records);
        self.aws
            .after_survey(&holder, transport.as_ref(), &records)?;
        Ok(records)
    }

    fn unproven_missing(&self, server: &str, job: &str) -> Option<anyhow::Error> {
        // What EC2 says of the job's instance, if it ended: from the API
        // alone a job instance ended after its job (terminated by the kernel)
        // and one ended under it (a console terminate) look the same.
        let instance = match self.aws.job_instance_ends(&[job.to_string()]) {
            Ok(ends) => ends
                .into_iter()
                .next()
                .map_or(String::new(), |(_, what)| format!(", {what}")),
            Err(_) => String::new(),
        };
        Some(anyhow::anyhow!(
            "job {job:?} has no recorded end on server {server} (its volume keeps the latest {}, \
             this machine the ends it saw){instance}, and no instance runs to read the volume: \
             %crimpl server start {server}, then ask again",
            aws::MAX_JOB_STATUSES
        ))
    }

    fn kept_log(&self, job: &str) -> Option<KeptLog> {
        self.aws.kept_logs().ok()?.get(job)
    }

    fn resubmit_refusal(&self) -> Option<&'static str> {
        Some(
            "on AWS a job runs on its own new instance: submit the cell again (with another --job name)",
        )
    }
}
