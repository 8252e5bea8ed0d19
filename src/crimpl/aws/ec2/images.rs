//! The EC2 calls behind image pinning: Canonical's Ubuntu 24.04 LTS images
//! by pinned filters, and the processor architecture of an instance type.

use anyhow::Context;
use aws_sdk_ec2::types::{ArchitectureType, Filter, InstanceType};

use super::{Ec2, Image, describe};

/// Canonical's account, the owner of the official Ubuntu images.
pub const CANONICAL: &str = "099720109477";

/// The name pattern of Canonical's Ubuntu 24.04 LTS (noble) server images
/// for an EC2 architecture (`x86_64` or `arm64`).
pub fn noble_pattern(architecture: &str) -> String {
    let arch = if architecture == "x86_64" {
        "amd64"
    } else {
        architecture
    };
    format!("ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-{arch}-server-*")
}

impl Ec2 {
    /// The newest available Ubuntu 24.04 LTS server image from Canonical for
    /// `architecture` (EBS root, HVM), by creation date; `None` if the
    /// region has none.
    pub fn newest_noble(&self, architecture: &str) -> anyhow::Result<Option<Image>> {
        let filters = [
            ("name", noble_pattern(architecture)),
            ("architecture", architecture.to_string()),
            ("root-device-type", "ebs".to_string()),
            ("virtualization-type", "hvm".to_string()),
            ("state", "available".to_string()),
        ]
        .map(|(name, value)| Filter::builder().name(name).values(value).build())
        .to_vec();
        let out = self.call("DescribeImages", |c| async move {
            c.describe_images()
                .owners(CANONICAL)
                .set_filters(Some(filters))
                .send()
                .await
        })?;
        // CreationDate is ISO 8601 in UTC: its text sorts by time.
        Ok(out
            .images()
            .iter()
            .max_by_key(|i| i.creation_date().unwrap_or_default().to_string())
            .map(describe::image_of))
    }

    /// The processor architecture of `instance_type` (`x86_64` or `arm64`),
    /// as DescribeInstanceTypes gives it.
    pub fn architecture(&self, instance_type: &str) -> anyhow::Result<String> {
        let wanted = InstanceType::from(instance_type);
        let out = self.call("DescribeInstanceTypes", |c| async move {
            c.describe_instance_types()
                .instance_types(wanted)
                .send()
                .await
        })?;
        let supported = out
            .instance_types()
            .first()
            .and_then(|t| t.processor_info())
            .map(|p| p.supported_architectures().to_vec())
            .with_context(|| {
                format!("EC2 does not describe instance type {instance_type}: check its name")
            })?;
        [ArchitectureType::Arm64, ArchitectureType::X8664]
            .into_iter()
            .find(|arch| supported.contains(arch))
            .map(|arch| arch.as_str().to_string())
            .with_context(|| {
                format!(
                    "instance type {instance_type} is neither x86_64 nor arm64 ({supported:?}): choose another --instance-type"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_names_noble_by_canonicals_architecture_word() {
        assert_eq!(
            noble_pattern("x86_64"),
            "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*"
        );
        assert_eq!(
            noble_pattern("arm64"),
            "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-arm64-server-*"
        );
    }
}
