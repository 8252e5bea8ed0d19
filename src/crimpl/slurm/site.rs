//! A Slurm site's limits, read rather than assumed: the cluster's
//! `MaxArraySize` and `MaxJobCount` (`scontrol show config`), each
//! partition's `MaxTime` (`scontrol show partition -o`), and, where
//! accounting answers, the user's association limits (`sacctmgr`).

/// Slurm's own default `MaxArraySize`, used when a site's cannot be read.
pub const DEFAULT_MAX_ARRAY_SIZE: u64 = 1001;

/// Printed between the configuration and the partitions in [`LIMITS_COMMAND`].
const PARTITIONS_MARKER: &str = "--crimpl-partitions--";
/// Printed before the association limits in [`LIMITS_COMMAND`].
const ASSOC_MARKER: &str = "--crimpl-assoc--";

/// The command that prints a site's limits, for [`parse_limits`].
pub const LIMITS_COMMAND: &str = "scontrol show config 2>/dev/null | grep -E '^(MaxArraySize|MaxJobCount) '; \
     echo --crimpl-partitions--; scontrol --all show partition -o 2>/dev/null; \
     echo --crimpl-assoc--; sacctmgr -nP show assoc user=\"$(id -nu)\" \
     format=Cluster,Account,Partition,MaxSubmitJobs,MaxJobs,MaxWall 2>/dev/null; true";

/// One partition as the site sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Its name.
    pub name: String,
    /// Its `MaxTime` (`1:00:00`, `UNLIMITED`).
    pub max_time: String,
    /// Whether jobs naming no partition go there.
    pub default: bool,
}

/// One association of the user (where accounting answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    /// `cluster/account` (and `/partition` when the association names one).
    pub name: String,
    /// `MaxSubmitJobs`, `MaxJobs`, `MaxWall` as `sacctmgr` says them (empty: none).
    pub limits: [String; 3],
}

/// What a site allows, as read once per server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteLimits {
    /// `MaxArraySize`: array task ids must be below it.
    pub max_array_size: Option<u64>,
    /// `MaxJobCount`: jobs slurmctld keeps at once.
    pub max_job_count: Option<u64>,
    /// The partitions, in Slurm's order.
    pub partitions: Vec<Partition>,
    /// The user's associations; `None` when accounting did not answer.
    pub associations: Option<Vec<Association>>,
}

impl SiteLimits {
    /// The largest array index + 1 this site accepts.
    pub fn array_size(&self) -> u64 {
        self.max_array_size.unwrap_or(DEFAULT_MAX_ARRAY_SIZE).max(1)
    }

    /// The partition `name`, or the default one when `name` is `None`.
    pub fn partition(&self, name: Option<&str>) -> Option<&Partition> {
        match name {
            Some(name) => self.partitions.iter().find(|p| p.name == name),
            None => self.partitions.iter().find(|p| p.default),
        }
    }

    /// The limits as one line (`MaxArraySize=1001 MaxJobCount=10000;
    /// MaxTime: debug 1:00:00, ...; association ...`).
    pub fn summary(&self) -> String {
        let number = |n: Option<u64>| n.map_or_else(|| "?".to_string(), |n| n.to_string());
        let mut parts = vec![format!(
            "MaxArraySize={} MaxJobCount={}",
            number(self.max_array_size),
            number(self.max_job_count)
        )];
        if !self.partitions.is_empty() {
            let times: Vec<String> = self
                .partitions
                .iter()
                .map(|p| format!("{} {}", p.name, p.max_time))
                .collect();
            parts.push(format!("MaxTime: {}", times.join(", ")));
        }
        match &self.associations {
            None => {
                parts.push("association limits: no accounting (sacctmgr did not answer)".into())
            }
            Some(list) => {
                for assoc in list {
                    let [submit, jobs, wall] = &assoc.limits;
                    let or_none = |v: &str| {
                        if v.is_empty() {
                            "none".to_string()
                        } else {
                            v.to_string()
                        }
                    };
                    parts.push(format!(
                        "{}: MaxSubmitJobs={} MaxJobs={} MaxWall={}",
                        assoc.name,
                        or_none(submit),
                        or_none(jobs),
                        or_none(wall)
                    ));
                }
            }
        }
        parts.join("; ")
    }
}

/// Parse [`LIMITS_COMMAND`]'s output.
pub fn parse_limits(text: &str) -> SiteLimits {
    let mut limits = SiteLimits::default();
    let (config, rest) = text.split_once(PARTITIONS_MARKER).unwrap_or((text, ""));
    let (partitions, assoc) = match rest.split_once(ASSOC_MARKER) {
        Some((partitions, assoc)) => (partitions, Some(assoc)),
        None => (rest, None),
    };
    for line in config.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().parse().ok();
        match key.trim() {
            "MaxArraySize" => limits.max_array_size = value,
            "MaxJobCount" => limits.max_job_count = value,
            _ => {}
        }
    }
    for line in partitions.lines() {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_string)
        };
        if let (Some(name), Some(max_time)) = (field("PartitionName"), field("MaxTime")) {
            let default = field("Default").as_deref() == Some("YES");
            limits.partitions.push(Partition {
                name,
                max_time,
                default,
            });
        }
    }
    limits.associations = assoc.map(|text| {
        text.lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.trim().split('|').collect();
                let [cluster, account, partition, submit, jobs, wall] = fields[..] else {
                    return None;
                };
                let mut name = format!("{cluster}/{account}");
                if !partition.is_empty() {
                    name.push_str(&format!("/{partition}"));
                }
                Some(Association {
                    name,
                    limits: [submit.into(), jobs.into(), wall.into()],
                })
            })
            .collect()
    });
    // No line at all: accounting did not answer (sacctmgr failed or is absent).
    if limits.associations.as_ref().is_some_and(Vec::is_empty) {
        limits.associations = None;
    }
    limits
}

/// One Slurm array of a sweep: the sweep's task `id` is Slurm's index
/// `id - offset`, and every index is below the site's `MaxArraySize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Added to `SLURM_ARRAY_TASK_ID` to give the sweep's task id.
    pub offset: u64,
    /// The sweep's task ids in this piece, ascending.
    pub ids: Vec<u64>,
}

impl Piece {
    /// Slurm's `--array` value for this piece (`0-10,12`), with `%N` for
    /// the parallel limit.
    pub fn spec(&self, max_parallel: Option<u32>) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut start = 0;
        while start < self.ids.len() {
            let mut end = start;
            while end + 1 < self.ids.len() && self.ids[end + 1] == self.ids[end] + 1 {
                end += 1;
            }
            let (first, last) = (self.ids[start] - self.offset, self.ids[end] - self.offset);
            parts.push(match end - start {
                0 => first.to_string(),
                _ => format!("{first}-{last}"),
            });
            start = end + 1;
        }
        let mut spec = parts.join(",");
        if let Some(n) = max_parallel {
            spec.push_str(&format!("%{n}"));
        }
        spec
    }
}

/// Split ascending task `ids` into as few Slurm arrays as a site with
/// `max_array_size` accepts: a sweep that fits is one piece with offset 0
/// (Slurm's index is the task id), others start a piece at the first id
/// that does not fit.
pub fn pieces(ids: &[u64], max_array_size: u64) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = Vec::new();
    for &id in ids {
        match pieces.last_mut() {
            Some(piece) if id - piece.offset < max_array_size => piece.ids.push(id),
            _ => pieces.push(Piece {
                offset: if id < max_array_size { 0 } else { id },
                ids: vec![id],
            }),
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_that_fits_is_one_piece_and_a_larger_one_is_split_by_offsets() {
        let ids: Vec<u64> = (1..=25).collect();
        assert_eq!(pieces(&ids, 1001).len(), 1);
        let split = pieces(&ids, 11);
        let shown: Vec<(u64, String)> = split.iter().map(|p| (p.offset, p.spec(Some(2)))).collect();
        assert_eq!(
            shown,
            vec![
                (0, "1-10%2".to_string()),
                (11, "0-10%2".to_string()),
                (22, "0-3%2".to_string())
            ]
        );
        let gaps = pieces(&[3, 5, 40, 41, 60], 11);
        let shown: Vec<(u64, String)> = gaps.iter().map(|p| (p.offset, p.spec(None))).collect();
        assert_eq!(
            shown,
            vec![(0, "3,5".into()), (40, "0-1".into()), (60, "0".into())]
        );
    }

    #[test]
    fn limits_are_read_from_scontrol_and_sacctmgr() {
        let text = "MaxArraySize            = 11\nMaxJobCount             = 10000\n--crimpl-partitions--\n\
            PartitionName=debug AllowGroups=ALL Default=YES MaxTime=UNLIMITED State=UP\n\
            PartitionName=short Default=NO MaxTime=00:01:00 State=UP\n--crimpl-assoc--\n";
        let limits = parse_limits(text);
        assert_eq!(limits.array_size(), 11);
        assert_eq!(limits.max_job_count, Some(10000));
        assert_eq!(limits.partition(None).unwrap().name, "debug");
        assert_eq!(
            limits.partition(Some("short")).unwrap().max_time,
            "00:01:00"
        );
        assert_eq!(limits.associations, None);
        assert!(
            limits.summary().contains("no accounting"),
            "{}",
            limits.summary()
        );
        let with = parse_limits(&format!("{text}c|proj||5|2|1:00:00\n"));
        assert!(
            with.summary()
                .contains("c/proj: MaxSubmitJobs=5 MaxJobs=2 MaxWall=1:00:00")
        );
        assert_eq!(parse_limits("").array_size(), DEFAULT_MAX_ARRAY_SIZE);
    }
}
