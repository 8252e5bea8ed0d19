//! The price table of `%crimpl aws cost`: on-demand list prices in USD for
//! us-east-1, Linux, as published on
//! <https://aws.amazon.com/ec2/pricing/on-demand/> (instances),
//! <https://aws.amazon.com/ebs/pricing/> (volumes) and
//! <https://aws.amazon.com/vpc/pricing/> (public IPv4 addresses, charged
//! since 2024-02-01), as of [`AS_OF`]. Other regions charge differently
//! (often 5-30 % more): the cost view says so. The Pricing API would be
//! current, but needs its own permission and answers only in us-east-1 and
//! two other regions; a dated table is honest and always answers.

/// The date of this table.
pub const AS_OF: &str = "2026-04-17";

/// Where the table's prices hold.
pub const REGION: &str = "us-east-1";

/// A public IPv4 address (in use or idle), per hour.
pub const PUBLIC_IPV4_PER_HOUR: f64 = 0.005;

/// AWS bills a month as this many hours.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Burstable types, priced one by one (per hour).
const BURSTABLE: [(&str, f64); 12] = [
    ("t2.nano", 0.0058),
    ("t2.micro", 0.0116),
    ("t2.small", 0.023),
    ("t3.nano", 0.0052),
    ("t3.micro", 0.0104),
    ("t3.small", 0.0208),
    ("t3.medium", 0.0416),
    ("t3a.micro", 0.0094),
    ("t3a.small", 0.0188),
    ("t4g.nano", 0.0042),
    ("t4g.micro", 0.0084),
    ("t4g.small", 0.0168),
];

/// Families whose price grows with size: the `large` size's price per hour
/// (`medium` is half of it, `xlarge` twice, `NxNlarge` 2N times).
const FAMILIES: [(&str, f64); 11] = [
    ("c5", 0.085),
    ("c6i", 0.085),
    ("c6a", 0.0765),
    ("c7i", 0.08925),
    ("c7a", 0.10264),
    ("c6g", 0.068),
    ("c7g", 0.0725),
    ("m6i", 0.096),
    ("m7i", 0.1008),
    ("m7g", 0.0816),
    ("r6i", 0.126),
];

/// EBS storage per GiB-month, by volume type (provisioned IOPS and
/// throughput above the included ones are not counted).
const VOLUMES: [(&str, f64); 7] = [
    ("gp3", 0.08),
    ("gp2", 0.10),
    ("io1", 0.125),
    ("io2", 0.125),
    ("st1", 0.045),
    ("sc1", 0.015),
    ("standard", 0.05),
];

/// The hourly price of a running instance of `instance_type`, when the table knows it.
pub fn instance_per_hour(instance_type: &str) -> Option<f64> {
    if let Some((_, price)) = BURSTABLE.iter().find(|(name, _)| *name == instance_type) {
        return Some(*price);
    }
    let (family, size) = instance_type.split_once('.')?;
    let (_, large) = FAMILIES.iter().find(|(name, _)| *name == family)?;
    let factor = match size {
        "medium" => 0.5,
        "large" => 1.0,
        "xlarge" => 2.0,
        _ => 2.0 * size.strip_suffix("xlarge")?.parse::<f64>().ok()?,
    };
    Some(large * factor)
}

/// The hourly price of `gib` GiB of a `volume_type` EBS volume, when the table knows the type.
pub fn volume_per_hour(volume_type: &str, gib: i32) -> Option<f64> {
    VOLUMES
        .iter()
        .find(|(name, _)| *name == volume_type)
        .map(|(_, month)| f64::from(gib) * month / HOURS_PER_MONTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_scale_the_family_price() {
        assert_eq!(instance_per_hour("t2.micro"), Some(0.0116));
        assert_eq!(instance_per_hour("c6i.large"), Some(0.085));
        assert_eq!(instance_per_hour("c6i.2xlarge"), Some(0.34));
        assert_eq!(instance_per_hour("c6i.32xlarge"), Some(5.44));
        assert_eq!(instance_per_hour("c6g.medium"), Some(0.034));
        assert_eq!(instance_per_hour("c6i.metal"), None);
        assert_eq!(instance_per_hour("x2iedn.xlarge"), None);
        assert_eq!(instance_per_hour("nonsense"), None);
    }

    #[test]
    fn volumes_cost_by_type_and_size() {
        let gp3 = volume_per_hour("gp3", 730).unwrap();
        assert!((gp3 - 0.08).abs() < 1e-9);
        assert_eq!(volume_per_hour("gp2", 0), Some(0.0));
        assert_eq!(volume_per_hour("io9", 8), None);
    }
}
