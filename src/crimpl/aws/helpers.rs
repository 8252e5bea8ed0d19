//! The helper instances of a sweep spread over `--instances K`: the job
//! instance holding the volume runs the array and sends tasks to K-1
//! helpers of the same type, launched with it and ended with it. The
//! helpers hold no volume; the holder reaches them over the VPC with a key
//! pair made on it for this array alone, which the kernel installs on each
//! helper (and the array's runner removes when the array ends).

use super::server::NewInstance;
use super::{AwsServer, Instance, Progress};
use crate::crimpl::scripts::quote;
use crate::crimpl::transport::{HostKeyPolicy, Transport};

/// The `crimpl.level` of a helper instance.
pub const HELPER_LEVEL: &str = "helper";

/// The helpers launched for one array, and what its runner needs to reach them.
pub struct HelperSet {
    /// Their instance ids.
    pub ids: Vec<String>,
    /// One line per helper, `USER@ADDRESS PORT`, its address inside the VPC.
    pub list: String,
    /// The array's private key (OpenSSH format).
    pub private_key: String,
    /// Its public key line, as the helpers' `authorized_keys` hold it.
    pub public_key: String,
}

impl AwsServer {
    /// Refuse a spread sweep before anything is launched when the server's
    /// security group keeps the helpers from the job's instance, which
    /// reaches them at their private addresses: a group that lets SSH in only
    /// from the user's own address (as `server new` suggests) would leave
    /// every helper idle and billed.
    pub fn check_helpers_reachable(&self) -> anyhow::Result<()> {
        let settings = &self.config().instances;
        let (group_id, port) = (&settings.security_group_id, settings.ssh_port);
        let subnet = self.ec2.subnet(&settings.subnet_id)?;
        let group = self.ec2.security_group(group_id)?;
        if group.admits_its_own(group_id, &subnet.cidr, port) {
            return Ok(());
        }
        anyhow::bail!(
            "security group {group_id} does not let its own instances reach each other on port \
             {port}, and a sweep's job instance reaches its helpers at their private addresses \
             (in {cidr}): nothing was launched. Let the group admit itself: aws ec2 \
             authorize-security-group-ingress --group-id {group_id} --protocol tcp --port {port} \
             --source-group {group_id}; or submit without --instances",
            cidr = subnet.cidr
        )
    }

    /// Launch `count` helper instances of `instance_type` for `job`'s sweep
    /// (each ending within `max_minutes`, like the job's own instance), and
    /// let `holder`, the job's instance, reach them. Every helper launched
    /// is terminated again if any step fails.
    #[allow(clippy::too_many_arguments)]
    pub fn launch_helpers(
        &self,
        job: &str,
        count: u32,
        instance_type: &str,
        image_id: Option<&str>,
        max_minutes: u32,
        holder: &dyn Transport,
        progress: Progress<'_>,
    ) -> anyhow::Result<HelperSet> {
        let (private_key, public_key) = array_key(holder, job)?;
        progress(&format!(
            "Launching {count} helper {instance_type} instance(s): the sweep's tasks are spread over them too…"
        ));
        let mut ids = Vec::new();
        let reached = (|| -> anyhow::Result<String> {
            for _ in 0..count {
                let (id, _) = self.run_instance(
                    &NewInstance {
                        level: HELPER_LEVEL,
                        job: Some((job, false)),
                        instance_type,
                        image_id,
                        terminate_on_shutdown: true,
                        max_minutes,
                        mounts: false,
                    },
                    progress,
                )?;
                ids.push(id);
            }
            let mut list = String::new();
            for id in &ids {
                let helper = self.ec2.wait_running(id, progress)?;
                self.let_in(&helper, &public_key, progress)?;
                list.push_str(&self.helper_line(&helper)?);
            }
            Ok(list)
        })();
        match reached {
            Ok(list) => Ok(HelperSet {
                ids,
                list,
                private_key,
                public_key,
            }),
            Err(err) => {
                if !ids.is_empty() {
                    progress(&format!(
                        "Terminating the helper instance(s) {}: the sweep cannot use them.",
                        ids.join(" ")
                    ));
                    if let Err(also) = self.ec2.terminate_now(&ids) {
                        return Err(err.context(format!(
                            "terminating them failed too ({also:#}): end them with %crimpl aws terminate {}",
                            ids.join(" ")
                        )));
                    }
                }
                Err(err)
            }
        }
    }

    /// Once `helper` answers over SSH, add the array's `public_key` to its
    /// user's `authorized_keys`.
    fn let_in(
        &self,
        helper: &Instance,
        public_key: &str,
        progress: Progress<'_>,
    ) -> anyhow::Result<()> {
        let transport = self.reach(
            helper,
            HostKeyPolicy::AcceptNew,
            ("true", "it does not answer"),
            progress,
        )?;
        transport.check(
            &format!(
                "umask 077 && mkdir -p .ssh && printf '%s\\n' {} >> .ssh/authorized_keys",
                quote(public_key)?
            ),
            None,
            "letting the job instance in",
        )?;
        Ok(())
    }

    /// How the job instance reaches `helper`: by its address inside the VPC.
    fn helper_line(&self, helper: &Instance) -> anyhow::Result<String> {
        let address = helper
            .private_ip
            .as_ref()
            .or(helper.public_ip.as_ref())
            .ok_or_else(|| anyhow::anyhow!("the helper instance {} has no address", helper.id))?;
        Ok(format!(
            "{}@{address} {}\n",
            self.config.instances.username, self.config.instances.ssh_port
        ))
    }

    /// Terminate the helpers of `job`'s sweep that still run (without waiting).
    pub fn end_helpers(&self, job: &str) -> anyhow::Result<()> {
        let ids: Vec<String> = self
            .instances()?
            .into_iter()
            .filter(|i| i.level == HELPER_LEVEL && i.job_name.as_deref() == Some(job))
            .map(|i| i.id)
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        self.ec2.terminate_now(&ids)
    }
}

/// A new ed25519 key pair made on `holder` for `job`'s sweep, and removed
/// there (the kernel puts the private half in the job's directory on the
/// volume, and nowhere else): (private, public).
fn array_key(holder: &dyn Transport, job: &str) -> anyhow::Result<(String, String)> {
    let comment = quote(&format!(
        "crimpl-array-{job}-{}",
        uuid::Uuid::new_v4().simple()
    ))?;
    let made = holder.check(
        &format!(
            "d=$(mktemp -d) && ssh-keygen -q -t ed25519 -N '' -C {comment} -f \"$d/k\" && cat \"$d/k.pub\" \"$d/k\"; s=$?; rm -rf \"$d\"; exit $s"
        ),
        None,
        "making the sweep's key for its helper instances (ssh-keygen)",
    )?;
    let made = String::from_utf8(made)?;
    let (public, private) = made
        .split_once('\n')
        .filter(|(public, private)| {
            public.starts_with("ssh-ed25519 ") && private.contains("PRIVATE KEY")
        })
        .ok_or_else(|| anyhow::anyhow!("ssh-keygen on the job instance made no key pair"))?;
    Ok((private.to_string(), public.to_string()))
}
