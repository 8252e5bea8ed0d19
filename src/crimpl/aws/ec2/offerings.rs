//! Which instance types an availability zone offers.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{Filter, LocationType};

use super::Ec2;

impl Ec2 {
    /// Every instance type offered in availability zone `zone`
    /// (DescribeInstanceTypeOfferings, all pages).
    pub fn zone_offerings(&self, zone: &str) -> anyhow::Result<BTreeSet<String>> {
        let zone = zone.to_string();
        self.call("DescribeInstanceTypeOfferings", |c| async move {
            let mut offered = BTreeSet::new();
            let mut token = None;
            loop {
                let page = c
                    .describe_instance_type_offerings()
                    .location_type(LocationType::AvailabilityZone)
                    .filters(Filter::builder().name("location").values(&zone).build())
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(aws_sdk_ec2::Error::from)?;
                offered.extend(
                    page.instance_type_offerings()
                        .iter()
                        .filter_map(|o| o.instance_type().map(|t| t.as_str().to_string())),
                );
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok::<_, aws_sdk_ec2::Error>(offered);
                }
            }
        })
    }
}
