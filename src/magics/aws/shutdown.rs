//! The kernel's parting words about AWS: the instances still running (and
//! costing money) of the servers it used.

use std::sync::Arc;
use std::time::Duration;

use crate::crimpl::Server;
use crate::crimpl::aws::HELPER_LEVEL;
use crate::magics::offload::blocking;

/// What to say when the kernel shuts down: each instance of the AWS
/// `servers` this kernel used that still runs (and costs money), with the
/// command that ends it. Bounded by `timeout` so shutdown never hangs.
pub async fn shutdown_notes(servers: Vec<Arc<Server>>, timeout: Duration) -> Vec<String> {
    if servers.is_empty() {
        return Vec::new();
    }
    let survey = blocking(move || {
        let mut notes = Vec::new();
        for server in &servers {
            let Some(aws) = server.aws() else { continue };
            for instance in aws.instances()? {
                if instance.state != "running" && instance.state != "pending" {
                    continue;
                }
                let name = server.name();
                let (what, end) = match &instance.job_name {
                    Some(job) if instance.level == HELPER_LEVEL => (
                        format!("helper instance of job {job}'s sweep on server {name}"),
                        format!("%crimpl aws terminate {}", instance.id),
                    ),
                    Some(job) => (
                        format!("instance of job {job} on server {name}"),
                        format!("%crimpl job terminate {job} --server {name}"),
                    ),
                    None => (
                        format!("server instance of {name}"),
                        format!("%crimpl server stop {name}"),
                    ),
                };
                notes.push(format!(
                    "crimpl instance {id} ({} {what}) is still {}: end it with `{end}` \
                     or `%crimpl aws terminate {id}`",
                    instance.instance_type,
                    instance.state,
                    id = instance.id,
                ));
            }
        }
        Ok(notes)
    });
    match tokio::time::timeout(timeout, survey).await {
        Ok(Ok(notes)) => notes,
        Ok(Err(err)) => vec![format!(
            "could not list crimpl's AWS instances at shutdown ({err}): check with %crimpl aws instances"
        )],
        Err(_) => vec![format!(
            "listing crimpl's AWS instances at shutdown took over {} s: check with %crimpl aws instances",
            timeout.as_secs()
        )],
    }
}
