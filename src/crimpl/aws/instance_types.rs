//! Instance types by processor count (their prices, for `%crimpl aws cost`,
//! are in [`super::prices`]).

/// The 1-vCPU type of the server instance.
pub const SERVER_TYPE: &str = "t2.micro";

/// (type, vCPUs, USD per hour): compute-optimised c6i, cheapest first.
pub const JOB_TYPES: [(&str, u32, f64); 9] = [
    ("c6i.large", 2, 0.085),
    ("c6i.xlarge", 4, 0.17),
    ("c6i.2xlarge", 8, 0.34),
    ("c6i.4xlarge", 16, 0.68),
    ("c6i.8xlarge", 32, 1.36),
    ("c6i.12xlarge", 48, 2.04),
    ("c6i.16xlarge", 64, 2.72),
    ("c6i.24xlarge", 96, 4.08),
    ("c6i.32xlarge", 128, 5.44),
];

/// The smallest type with at least `nprocs` vCPUs.
pub fn for_nprocs(nprocs: u32) -> anyhow::Result<&'static str> {
    JOB_TYPES
        .iter()
        .find(|(_, vcpus, _)| *vcpus >= nprocs)
        .map(|(name, _, _)| *name)
        .ok_or_else(|| anyhow::anyhow!("no instance type in the table has {nprocs} vCPUs (at most 128): pass --instance-type"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nprocs_round_up_to_the_next_type() {
        assert_eq!(for_nprocs(1).unwrap(), "c6i.large");
        assert_eq!(for_nprocs(8).unwrap(), "c6i.2xlarge");
        assert_eq!(for_nprocs(9).unwrap(), "c6i.4xlarge");
        assert!(for_nprocs(500).is_err());
    }
}
