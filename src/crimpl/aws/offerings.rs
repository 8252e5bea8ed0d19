//! Instance types that exist where the volume is: not every availability
//! zone offers t2.micro or the c6i family, and the volume (so every
//! instance) is pinned to the subnet's zone. `server new` chooses, from the
//! zone's offerings, the server type and the job family, falling back to
//! their nearest equivalents and saying so.

use std::collections::BTreeSet;

use anyhow::bail;

use super::instance_types::{JOB_TYPES, SERVER_TYPE};

/// The server instance's type, and its fallbacks (1 or 2 vCPUs, burstable), in order.
pub const SERVER_TYPES: [&str; 3] = [SERVER_TYPE, "t3.micro", "t3a.micro"];

/// The compute-optimised families for jobs, in order: the table's, then
/// its AMD and newer Intel equivalents (same vCPUs per size).
pub const JOB_FAMILIES: [&str; 3] = ["c6i", "c6a", "c7i"];

/// What a zone's offerings allow.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The server instance's type.
    pub server_type: String,
    /// Job instance types, smallest first (the table's sizes the zone offers).
    pub job_types: Vec<String>,
    /// What differs from the defaults, and why (for the cell).
    pub notes: Vec<String>,
}

/// The table's sizes (`large`, `xlarge`, ...) with their vCPUs.
fn sizes() -> impl Iterator<Item = (&'static str, u32)> {
    JOB_TYPES
        .iter()
        .filter_map(|(name, vcpus, _)| name.split_once('.').map(|(_, size)| (size, *vcpus)))
}

/// The vCPUs of a job type of the table's sizes (`c6a.2xlarge`: 8).
pub fn vcpus(instance_type: &str) -> Option<u32> {
    let (_, size) = instance_type.split_once('.')?;
    sizes().find(|(s, _)| *s == size).map(|(_, v)| v)
}

/// Choose the server type and job types among what `zone` offers.
pub fn choose(zone: &str, offered: &BTreeSet<String>) -> anyhow::Result<Choice> {
    let mut notes = Vec::new();
    let Some(server_type) = SERVER_TYPES.iter().find(|t| offered.contains(**t)) else {
        bail!(
            "{zone} offers none of {} for the server instance; it offers {}: give a --subnet-id in another zone",
            SERVER_TYPES.join(", "),
            sample(offered, &["t", "m"], &["nano", "micro", "small", "medium"])
        );
    };
    if *server_type != SERVER_TYPE {
        notes.push(format!(
            "{SERVER_TYPE} is not offered in {zone}: the server instance is a {server_type}."
        ));
    }
    let families: Vec<(&str, Vec<String>)> = JOB_FAMILIES
        .iter()
        .map(|family| {
            let types = sizes()
                .map(|(size, _)| format!("{family}.{size}"))
                .filter(|t| offered.contains(t))
                .collect();
            (*family, types)
        })
        .collect();
    let wanted = sizes().count();
    // The first family with every size, else the one with the most (the first of equals).
    let best = families
        .iter()
        .find(|(_, types)| types.len() == wanted)
        .or_else(|| {
            families
                .iter()
                .rev()
                .max_by_key(|(_, types)| types.len())
                .filter(|(_, types)| !types.is_empty())
        });
    let Some((family, job_types)) = best else {
        bail!(
            "{zone} offers none of the {} families for job instances; it offers {}: give a --subnet-id in another zone",
            JOB_FAMILIES.join(", "),
            sample(offered, &["c", "m"], &["large"])
        );
    };
    if *family != JOB_FAMILIES[0] || job_types.len() < wanted {
        let missing: Vec<String> = sizes()
            .map(|(size, _)| format!("{family}.{size}"))
            .filter(|t| !job_types.contains(t))
            .collect();
        notes.push(format!(
            "{} {} offered in {zone}: job instances are {} to {}{}.",
            JOB_FAMILIES[0],
            if *family == JOB_FAMILIES[0] {
                "is only partly"
            } else {
                "is not"
            },
            job_types[0],
            job_types[job_types.len() - 1],
            if missing.is_empty() {
                String::new()
            } else {
                format!(" ({} not offered there)", missing.join(", "))
            }
        ));
    }
    Ok(Choice {
        server_type: server_type.to_string(),
        job_types: job_types.clone(),
        notes,
    })
}

/// Up to a dozen offered types of the families named by `prefixes` (`t`
/// for t2, t3, ...) in one of `sizes`, for a message.
fn sample(offered: &BTreeSet<String>, prefixes: &[&str], sizes: &[&str]) -> String {
    let some: Vec<&str> = offered
        .iter()
        .filter(|t| {
            let Some((family, size)) = t.split_once('.') else {
                return false;
            };
            sizes.contains(&size)
                && prefixes.iter().any(|p| {
                    family
                        .strip_prefix(p)
                        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
                })
        })
        .map(String::as_str)
        .take(12)
        .collect();
    if some.is_empty() {
        format!("{} other types", offered.len())
    } else {
        format!("{} ... ({} types in all)", some.join(", "), offered.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(types: &[&str]) -> BTreeSet<String> {
        types.iter().map(|t| t.to_string()).collect()
    }

    fn family(name: &str, skip: &[&str]) -> Vec<String> {
        sizes()
            .map(|(size, _)| format!("{name}.{size}"))
            .filter(|t| !skip.contains(&t.as_str()))
            .collect()
    }

    #[test]
    fn the_defaults_where_they_are_offered() {
        let mut offered = zone(&["t2.micro", "t3.micro"]);
        offered.extend(family("c6i", &[]));
        offered.extend(family("c6a", &[]));
        let choice = choose("us-east-1a", &offered).unwrap();
        assert_eq!(choice.server_type, "t2.micro");
        assert_eq!(choice.job_types, family("c6i", &[]));
        assert!(choice.notes.is_empty());
    }

    #[test]
    fn fallbacks_are_said() {
        let mut offered = zone(&["t3.micro"]);
        offered.extend(family("c7i", &["c7i.32xlarge"]));
        let choice = choose("eu-west-2d", &offered).unwrap();
        assert_eq!(choice.server_type, "t3.micro");
        assert_eq!(choice.job_types, family("c7i", &["c7i.32xlarge"]));
        assert!(choice.notes[0].contains("t2.micro is not offered in eu-west-2d"));
        assert!(choice.notes[1].contains("c7i.large to c7i.24xlarge (c7i.32xlarge not offered"));
    }

    #[test]
    fn a_zone_without_any_names_what_it_offers() {
        let err = choose("me-central-1a", &zone(&["t4g.micro", "m5.large"])).unwrap_err();
        assert!(format!("{err}").contains("it offers t4g.micro ... (2 types in all)"));
        let err = choose("us-east-1e", &zone(&["t2.micro", "c4.large"])).unwrap_err();
        assert!(format!("{err}").contains("job instances; it offers c4.large"));
    }

    #[test]
    fn vcpus_follow_the_size() {
        assert_eq!(vcpus("c6a.2xlarge"), Some(8));
        assert_eq!(vcpus("c7i.large"), Some(2));
        assert_eq!(vcpus("c7i.48xlarge"), None);
    }
}
