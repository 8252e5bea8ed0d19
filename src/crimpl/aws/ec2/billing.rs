//! The EBS volumes that crimpl's resources are billed for: crimpl's own
//! volumes (attached or not) and every volume attached to a crimpl instance
//! (its root volume, which carries no crimpl tag), for `aws cost`.

use aws_sdk_ec2::types::{Filter, Volume as SdkVolume};

use super::{Ec2, crimpl_filters};

/// A billed EBS volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    /// `vol-...`.
    pub id: String,
    /// Size in GiB.
    pub size: i32,
    /// `gp3`, `gp2`, `io1`, ...
    pub volume_type: String,
    /// Instances it is attached to.
    pub attached_to: Vec<String>,
    /// Whether crimpl tagged it (a server's volume), rather than found it on a crimpl instance.
    pub crimpl: bool,
}

/// EC2 accepts at most this many values in one filter.
const FILTER_VALUES: usize = 200;

impl Ec2 {
    /// crimpl's volumes and every volume attached to `instance_ids`, once each.
    pub fn billed_disks(&self, instance_ids: &[String]) -> anyhow::Result<Vec<Disk>> {
        let filters = crimpl_filters(None);
        let out = self.call("DescribeVolumes", |c| async move {
            c.describe_volumes().set_filters(Some(filters)).send().await
        })?;
        let mut disks: Vec<Disk> = out.volumes().iter().map(|v| disk(v, true)).collect();
        for chunk in instance_ids.chunks(FILTER_VALUES) {
            let filter = Filter::builder()
                .name("attachment.instance-id")
                .set_values(Some(chunk.to_vec()))
                .build();
            let out = self.call("DescribeVolumes", |c| async move {
                c.describe_volumes().filters(filter).send().await
            })?;
            for volume in out.volumes() {
                if !disks
                    .iter()
                    .any(|d| Some(d.id.as_str()) == volume.volume_id())
                {
                    disks.push(disk(volume, false));
                }
            }
        }
        Ok(disks)
    }
}

fn disk(volume: &SdkVolume, crimpl: bool) -> Disk {
    Disk {
        id: volume.volume_id().unwrap_or_default().into(),
        size: volume.size().unwrap_or_default(),
        volume_type: volume
            .volume_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        attached_to: volume
            .attachments()
            .iter()
            .filter_map(|a| a.instance_id().map(str::to_string))
            .collect(),
        crimpl,
    }
}
