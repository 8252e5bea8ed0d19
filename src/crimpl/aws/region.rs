//! Which regions an account-wide command covers: the kernel's current one
//! (the standard AWS chain's), one named, or every region the account has
//! enabled; and running a survey in each of them at once.

use anyhow::anyhow;

use super::Ec2;

/// The regions an account-wide command covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// The standard chain's region (`AWS_REGION`, the profile's).
    Current,
    /// One region by name.
    Named(String),
    /// Every region enabled for the account (DescribeRegions).
    All,
}

/// Where DescribeRegions is asked when the chain names no region.
const FALLBACK_REGION: &str = "us-east-1";

impl Coverage {
    /// One client per covered region, in region order.
    pub fn clients(&self) -> anyhow::Result<Vec<Ec2>> {
        match self {
            Coverage::Current => Ok(vec![Ec2::from_environment()?]),
            Coverage::Named(region) => Ok(vec![Ec2::in_region(Some(region))?]),
            Coverage::All => {
                let asker =
                    Ec2::from_environment().or_else(|_| Ec2::in_region(Some(FALLBACK_REGION)))?;
                asker
                    .enabled_regions()?
                    .iter()
                    .map(|region| Ec2::in_region(Some(region)))
                    .collect()
            }
        }
    }
}

/// The standard chain's region (`AWS_REGION`, the profile's).
pub fn current() -> anyhow::Result<String> {
    Ok(Ec2::from_environment()?.region())
}

/// `survey` in each region of `clients`, all at once (a region's calls take
/// the same time whatever their number); the first failure names its region.
pub fn each_region<T: Send>(
    clients: &[Ec2],
    survey: impl Fn(&Ec2) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<(String, T)>> {
    std::thread::scope(|scope| {
        let running: Vec<_> = clients
            .iter()
            .map(|ec2| scope.spawn(|| (ec2.region(), survey(ec2))))
            .collect();
        running
            .into_iter()
            .map(|handle| {
                let (region, found) = handle
                    .join()
                    .map_err(|_| anyhow!("a region's survey panicked"))?;
                found
                    .map(|found| (region.clone(), found))
                    .map_err(|err| err.context(format!("in region {region}")))
            })
            .collect()
    })
}

/// The regions covered, for a caption: `us-east-1`, or `3 regions (a, b, c)`.
pub fn covered(regions: &[String]) -> String {
    match regions {
        [one] => one.clone(),
        many => format!("{} regions ({})", many.len(), many.join(", ")),
    }
}
