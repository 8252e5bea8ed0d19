//! The read-only EC2 calls of `server check`: what the account's network,
//! key pair, image and zone look like, and whether a launch would be
//! allowed (a dry run, which starts nothing).

use anyhow::{Context, anyhow};
use aws_sdk_ec2::config::ProvideCredentials;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ec2::types::{Filter, InstanceType, LocationType};

use ipnet::Ipv4Net;

use super::Ec2;

/// A subnet as the check needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subnet {
    /// Its availability zone.
    pub zone: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Whether instances launched in it get a public IPv4 address.
    pub public_ip_on_launch: bool,
    /// Its IPv4 range (`10.0.1.0/24`).
    pub cidr: String,
}

/// One inbound rule of a security group.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingress {
    /// `tcp`, `udp`, `icmp`, or `-1` for every protocol.
    pub protocol: String,
    /// First port (none for every port).
    pub from_port: Option<i32>,
    /// Last port.
    pub to_port: Option<i32>,
    /// Where connections may come from (CIDRs, prefix lists, groups).
    pub sources: Vec<String>,
}

impl Ingress {
    /// Whether the rule lets TCP connections to `port` in.
    pub fn admits_tcp(&self, port: u16) -> bool {
        let port = i32::from(port);
        match self.protocol.as_str() {
            "-1" => true,
            "tcp" | "6" => {
                self.from_port.is_none_or(|from| from == -1 || from <= port)
                    && self.to_port.is_none_or(|to| to == -1 || port <= to)
            }
            _ => false,
        }
    }
}

/// A security group as the check needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroup {
    /// Its VPC.
    pub vpc_id: String,
    /// Its inbound rules.
    pub ingress: Vec<Ingress>,
}

impl SecurityGroup {
    /// Whether group `group_id` (this one) lets TCP connections to `port` in
    /// from its own instances in the subnet `subnet_cidr`: a rule naming the
    /// group itself, or an IPv4 range holding the whole subnet.
    pub fn admits_its_own(&self, group_id: &str, subnet_cidr: &str, port: u16) -> bool {
        let subnet: Option<Ipv4Net> = subnet_cidr.parse().ok();
        let holds_subnet = |source: &str| matches!((source.parse::<Ipv4Net>(), subnet), (Ok(range), Some(subnet)) if range.contains(&subnet));
        self.ingress
            .iter()
            .filter(|rule| rule.admits_tcp(port))
            .flat_map(|rule| &rule.sources)
            .any(|source| source == group_id || holds_subnet(source))
    }
}

/// An AMI as the check needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// `ami-...`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `available`, `pending`, ...
    pub state: String,
    /// `x86_64`, `arm64`.
    pub architecture: String,
    /// When it was made (ISO 8601, UTC).
    pub created: String,
}

/// The fields crimpl uses of an image EC2 described.
pub(super) fn image_of(i: &aws_sdk_ec2::types::Image) -> Image {
    Image {
        id: i.image_id().unwrap_or_default().into(),
        name: i.name().unwrap_or_default().into(),
        state: i
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        architecture: i
            .architecture()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default(),
        created: i.creation_date().unwrap_or_default().into(),
    }
}

/// What a dry-run launch answered.
#[derive(Debug, Clone, PartialEq)]
pub enum DryRun {
    /// The launch would have been allowed.
    WouldSucceed,
    /// EC2 refused it: its error code and message.
    Refused(String, String),
}

impl Ec2 {
    /// The region, and the credentials the standard chain finds (their key id masked).
    pub fn region_and_credentials(&self) -> anyhow::Result<(String, String)> {
        let (region, credentials) = self.call("loading the AWS configuration", |_| async move {
            let config = aws_config::load_from_env().await;
            let region = config.region().map(|r| r.to_string());
            let credentials = match config.credentials_provider() {
                Some(provider) => Some(provider.provide_credentials().await),
                None => None,
            };
            Ok::<_, aws_sdk_ec2::Error>((region, credentials))
        })?;
        let region = region
            .context("no AWS region: set AWS_REGION (e.g. us-east-1) or run `aws configure`")?;
        let credentials = credentials
            .context("no AWS credentials provider is configured")?
            .map_err(|e| anyhow!("no usable AWS credentials: {}", DisplayErrorContext(e)))?;
        let key = credentials.access_key_id();
        let masked = match key.len() {
            n if n > 8 => format!("{}…{}", &key[..4], &key[n - 4..]),
            _ => "…".into(),
        };
        let lifetime = match credentials.expiry() {
            Some(expiry) => format!(
                ", temporary until {}",
                chrono::DateTime::<chrono::Utc>::from(expiry).format("%Y-%m-%d %H:%M UTC")
            ),
            None => String::new(),
        };
        Ok((region, format!("credentials with key {masked}{lifetime}")))
    }

    /// The subnet `subnet_id`.
    pub fn subnet(&self, subnet_id: &str) -> anyhow::Result<Subnet> {
        let id = subnet_id.to_string();
        let out = self.call("DescribeSubnets", |c| async move {
            c.describe_subnets().subnet_ids(id).send().await
        })?;
        let subnet = out
            .subnets()
            .first()
            .with_context(|| format!("subnet {subnet_id} not found"))?;
        Ok(Subnet {
            zone: subnet.availability_zone().unwrap_or_default().into(),
            vpc_id: subnet.vpc_id().unwrap_or_default().into(),
            public_ip_on_launch: subnet.map_public_ip_on_launch().unwrap_or(false),
            cidr: subnet.cidr_block().unwrap_or_default().into(),
        })
    }

    /// The security group `group_id`.
    pub fn security_group(&self, group_id: &str) -> anyhow::Result<SecurityGroup> {
        let id = group_id.to_string();
        let out = self.call("DescribeSecurityGroups", |c| async move {
            c.describe_security_groups().group_ids(id).send().await
        })?;
        let group = out
            .security_groups()
            .first()
            .with_context(|| format!("security group {group_id} not found"))?;
        let ingress = group
            .ip_permissions()
            .iter()
            .map(|p| Ingress {
                protocol: p.ip_protocol().unwrap_or("-1").into(),
                from_port: p.from_port(),
                to_port: p.to_port(),
                sources: p
                    .ip_ranges()
                    .iter()
                    .filter_map(|r| r.cidr_ip().map(str::to_string))
                    .chain(
                        p.ipv6_ranges()
                            .iter()
                            .filter_map(|r| r.cidr_ipv6().map(str::to_string)),
                    )
                    .chain(
                        p.prefix_list_ids()
                            .iter()
                            .filter_map(|r| r.prefix_list_id().map(str::to_string)),
                    )
                    .chain(
                        p.user_id_group_pairs()
                            .iter()
                            .filter_map(|g| g.group_id().map(str::to_string)),
                    )
                    .collect(),
            })
            .collect();
        Ok(SecurityGroup {
            vpc_id: group.vpc_id().unwrap_or_default().into(),
            ingress,
        })
    }

    /// The fingerprint of key pair `key_name`, if EC2 has it.
    pub fn key_pair(&self, key_name: &str) -> anyhow::Result<Option<String>> {
        let name = key_name.to_string();
        let out = self.call("DescribeKeyPairs", |c| async move {
            c.describe_key_pairs()
                .filters(Filter::builder().name("key-name").values(name).build())
                .send()
                .await
        })?;
        Ok(out
            .key_pairs()
            .first()
            .map(|k| k.key_fingerprint().unwrap_or_default().to_string()))
    }

    /// The image `image_id`, if the region has it.
    pub fn image(&self, image_id: &str) -> anyhow::Result<Option<Image>> {
        let id = image_id.to_string();
        let out = self.call("DescribeImages", |c| async move {
            c.describe_images()
                .filters(Filter::builder().name("image-id").values(id).build())
                .send()
                .await
        })?;
        Ok(out.images().first().map(image_of))
    }

    /// Which of `types` are offered in availability zone `zone`.
    pub fn offered_types(&self, zone: &str, types: &[&str]) -> anyhow::Result<Vec<String>> {
        let zone = zone.to_string();
        let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        let out = self.call("DescribeInstanceTypeOfferings", |c| async move {
            c.describe_instance_type_offerings()
                .location_type(LocationType::AvailabilityZone)
                .filters(Filter::builder().name("location").values(zone).build())
                .filters(
                    Filter::builder()
                        .name("instance-type")
                        .set_values(Some(types))
                        .build(),
                )
                .send()
                .await
        })?;
        Ok(out
            .instance_type_offerings()
            .iter()
            .filter_map(|o| o.instance_type().map(|t| t.as_str().to_string()))
            .collect())
    }

    /// Ask EC2 whether launching `instance_type` from `image_id` in the
    /// subnet, group and key pair would be allowed, launching nothing.
    pub fn dry_run_launch(
        &self,
        instance_type: &str,
        image_id: &str,
        subnet_id: &str,
        security_group_id: &str,
        key_name: &str,
    ) -> anyhow::Result<DryRun> {
        let (instance_type, image, subnet, group, key) = (
            InstanceType::from(instance_type),
            image_id.to_string(),
            subnet_id.to_string(),
            security_group_id.to_string(),
            key_name.to_string(),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let client = self.client.clone();
        self.runtime
            .as_ref()
            .context("the EC2 client is shutting down")?
            .spawn(async move {
                let answer = client
                    .run_instances()
                    .dry_run(true)
                    .instance_type(instance_type)
                    .image_id(image)
                    .subnet_id(subnet)
                    .security_group_ids(group)
                    .key_name(key)
                    .min_count(1)
                    .max_count(1)
                    .send()
                    .await;
                let _ = tx.send(answer.map(|_| ()).map_err(|err| {
                    (
                        err.code().unwrap_or_default().to_string(),
                        err.message()
                            .map_or_else(|| format!("{err}"), str::to_string),
                    )
                }));
            });
        match rx
            .recv()
            .map_err(|_| anyhow!("the AWS call RunInstances (dry run) did not finish"))?
        {
            Err((code, _)) if code == "DryRunOperation" => Ok(DryRun::WouldSucceed),
            Err((code, message)) => Ok(DryRun::Refused(code, message)),
            // A dry run never launches; an answer without the dry-run error is unexpected.
            Ok(()) => Ok(DryRun::Refused(
                "NoDryRunError".into(),
                "EC2 answered a dry run as if it had launched: check the endpoint".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: &str, from: Option<i32>, to: Option<i32>) -> Ingress {
        Ingress {
            protocol: protocol.into(),
            from_port: from,
            to_port: to,
            sources: vec!["0.0.0.0/0".into()],
        }
    }

    #[test]
    fn rules_admit_ssh_by_protocol_and_port_range() {
        assert!(rule("tcp", Some(22), Some(22)).admits_tcp(22));
        assert!(rule("tcp", Some(1), Some(1024)).admits_tcp(22));
        assert!(rule("-1", None, None).admits_tcp(2222));
        assert!(!rule("tcp", Some(80), Some(443)).admits_tcp(22));
        assert!(!rule("udp", Some(22), Some(22)).admits_tcp(22));
    }

    #[test]
    fn a_group_admits_its_own_instances_by_naming_itself_or_a_range_holding_the_subnet() {
        let group = |port: i32, sources: &[&str]| SecurityGroup {
            vpc_id: "vpc-1".into(),
            ingress: vec![Ingress {
                protocol: "tcp".into(),
                from_port: Some(port),
                to_port: Some(port),
                sources: sources.iter().map(|s| s.to_string()).collect(),
            }],
        };
        let subnet = "10.0.1.0/24";
        assert!(group(22, &["sg-1"]).admits_its_own("sg-1", subnet, 22));
        assert!(group(22, &["10.0.0.0/16"]).admits_its_own("sg-1", subnet, 22));
        assert!(group(22, &["0.0.0.0/0"]).admits_its_own("sg-1", subnet, 22));
        // "My address only", another group, a narrower range, another port: the helpers are cut off.
        assert!(!group(22, &["203.0.113.7/32"]).admits_its_own("sg-1", subnet, 22));
        assert!(!group(22, &["sg-2"]).admits_its_own("sg-1", subnet, 22));
        assert!(!group(22, &["10.0.1.0/25"]).admits_its_own("sg-1", subnet, 22));
        assert!(!group(2222, &["sg-1"]).admits_its_own("sg-1", subnet, 22));
    }
}
