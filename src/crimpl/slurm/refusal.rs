//! A site's refusal of an `sbatch`, said plainly: Slurm's own words, the
//! limit that applies (read from the site, see [`SiteLimits`]) and the
//! option to change.

use super::batch::{SlurmDefaults, SlurmOptions};
use super::site::SiteLimits;

/// What a refused submission asked for, as the magic's options and the
/// server's defaults say it.
pub struct Asked<'a> {
    /// This submission's options.
    pub options: &'a SlurmOptions,
    /// The server's defaults.
    pub defaults: &'a SlurmDefaults,
}

impl Asked<'_> {
    fn partition(&self) -> Option<&str> {
        self.options
            .chosen
            .partition
            .as_deref()
            .or(self.defaults.partition.as_deref())
    }

    fn named(&self, pick: fn(&SlurmDefaults) -> &Option<String>) -> String {
        pick(&self.options.chosen)
            .as_deref()
            .or(pick(self.defaults).as_deref())
            .map_or_else(|| "the one asked for".to_string(), |v| format!("{v:?}"))
    }
}

/// The explanation of `said` (sbatch's standard error) when it is a policy
/// refusal, or `None` for any other failure. `limits` are the site's, where
/// they could be read.
pub fn explain(said: &str, asked: &Asked<'_>, limits: Option<&SiteLimits>) -> Option<String> {
    let words: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("sbatch: error:"))
        .collect();
    let failed = words
        .iter()
        .rev()
        .find_map(|l| l.split_once("Batch job submission failed:"))
        .map(|(_, reason)| reason.trim())?;
    let lower = failed.to_lowercase();
    let partition = asked.partition();
    let limit = if lower.contains("time limit") {
        let max_time = limits
            .and_then(|l| l.partition(partition))
            .map(|p| format!("partition {}'s MaxTime {}", p.name, p.max_time));
        let wanted = match &asked.options.walltime {
            Some(w) => format!("--walltime {w}"),
            None => "the time asked for (an #SBATCH --time line)".to_string(),
        };
        match max_time {
            Some(max) => format!("{wanted} is over {max}: ask for less with --walltime"),
            None => format!(
                "{wanted} is over what the partition allows: ask for less with --walltime \
                 (sinfo -o '%P %l' lists each partition's limit)"
            ),
        }
    } else if lower.contains("invalid partition") {
        let known: Vec<&str> = limits
            .map(|l| l.partitions.iter().map(|p| p.name.as_str()).collect())
            .unwrap_or_default();
        format!(
            "partition {} is not one of this cluster's ({}): choose one with --partition",
            partition.map_or_else(|| "asked for".to_string(), |p| format!("{p:?}")),
            if known.is_empty() {
                "see sinfo".to_string()
            } else {
                known.join(", ")
            }
        )
    } else if lower.contains("invalid account") {
        format!(
            "account {} is not one you may charge: choose one with --account \
             (sacctmgr show assoc user=$USER lists yours)",
            asked.named(|d| &d.account)
        )
    } else if lower.contains("qos") && !lower.contains("submitjob") && !lower.contains("maxjob") {
        format!(
            "QOS {} is refused for this job: choose another with --qos \
             (sacctmgr show assoc user=$USER format=qos lists yours)",
            asked.named(|d| &d.qos)
        )
    } else if lower.contains("job array") || lower.contains("array size") {
        let size = limits.map_or_else(|| "?".to_string(), |l| l.array_size().to_string());
        format!(
            "the site's MaxArraySize is {size} (task ids below it): \
             crimpl splits larger sweeps; submit the cell again"
        )
    } else if lower.contains("submit")
        || lower.contains("job limit")
        || lower.contains("maxjob")
        || lower.contains("temporarily unavailable")
    {
        let count = limits
            .and_then(|l| l.max_job_count)
            .map_or_else(String::new, |n| format!(" (MaxJobCount={n})"));
        format!(
            "you have as many jobs queued as the site allows{count}: wait for some to end \
             (%crimpl jobs), or gather many runs into one sweep with --array"
        )
    } else {
        return None;
    };
    Some(format!("Slurm says \"{failed}\": {limit}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crimpl::slurm::parse_limits;

    #[test]
    fn a_time_limit_over_the_partitions_names_it_and_the_option() {
        let limits = parse_limits(
            "MaxArraySize = 11\n--crimpl-partitions--\nPartitionName=debug Default=YES MaxTime=01:00:00\n",
        );
        let options = SlurmOptions {
            walltime: Some("48:00:00".into()),
            ..Default::default()
        };
        let defaults = SlurmDefaults::default();
        let asked = Asked {
            options: &options,
            defaults: &defaults,
        };
        let said = "sbatch: error: Batch job submission failed: Requested time limit is invalid (missing or exceeds some limit)\n";
        assert_eq!(
            explain(said, &asked, Some(&limits)).unwrap(),
            "Slurm says \"Requested time limit is invalid (missing or exceeds some limit)\": \
             --walltime 48:00:00 is over partition debug's MaxTime 01:00:00: ask for less with --walltime"
        );
        let said = "sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified";
        assert!(
            explain(said, &asked, Some(&limits))
                .unwrap()
                .contains("(debug): choose one with --partition")
        );
        assert_eq!(
            explain("ssh: connection refused", &asked, Some(&limits)),
            None
        );
    }
}
