//! Which region a client talks to: the standard AWS chain's, or one saved
//! with a server (the endpoint, credentials and profile still come from the
//! chain), and the regions an account has enabled.

use anyhow::{anyhow, bail};
use aws_config::BehaviorVersion;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::Region;

use super::Ec2;

impl Ec2 {
    /// A client for `region`, or for the standard chain's region when `None`
    /// (`AWS_REGION`, the profile's `region`, ...).
    pub fn in_region(region: Option<&str>) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = region {
            loader = loader.region(Region::new(region.to_string()));
        }
        let config = std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(loader.load()))
                .join()
                .map_err(|_| anyhow!("loading the AWS configuration failed"))
        })?;
        if config.region().is_none() {
            bail!(
                "no AWS region: set AWS_REGION (e.g. us-east-1), run `aws configure`, or pass --region"
            );
        }
        Ok(Self {
            client: Client::new(&config),
            runtime: Some(runtime),
        })
    }

    /// The region this client talks to.
    pub fn region(&self) -> String {
        self.client
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default()
    }

    /// The regions enabled for the account (DescribeRegions), sorted.
    pub fn enabled_regions(&self) -> anyhow::Result<Vec<String>> {
        let out = self.call("DescribeRegions", |c| async move {
            c.describe_regions().send().await
        })?;
        let mut regions: Vec<String> = out
            .regions()
            .iter()
            .filter_map(|r| r.region_name().map(str::to_string))
            .collect();
        regions.sort();
        Ok(regions)
    }
}
