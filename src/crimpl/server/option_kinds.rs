//! Which server kinds accept which submit options. A kind-specific option
//! used on a server that would ignore it is a usage error naming the kinds
//! that accept it, never silently dropped.

use super::options::SubmitOptions;
use crate::crimpl::error::EngineError;

/// The kinds that accept an sbatch option.
const SLURM_ONLY: &[&str] = &["slurm"];

/// Whether a submission sets one option.
type IsSet = fn(&SubmitOptions) -> bool;

/// The kind-specific submit options, the kinds that accept them, and how to
/// tell that a submission sets them; options not listed (`--job`, `--files`,
/// `--wait`, `--trial-run`) apply to every kind. The sbatch defaults
/// (`--account`, ... [`SlurmDefaults`](crate::crimpl::slurm::SlurmDefaults)) come between these and
/// [`AFTER_DEFAULTS`], for Slurm only.
const BEFORE_DEFAULTS: &[(&str, &[&str], IsSet)] = &[
    ("--nprocs", &["slurm", "aws"], |o| o.nprocs.is_some()),
    ("--walltime", &["slurm", "aws"], |o| {
        o.slurm.walltime.is_some()
    }),
    ("--ntasks", &["slurm"], |o| o.slurm.ntasks.is_some()),
    ("--nodes", &["slurm"], |o| o.slurm.nodes.is_some()),
    ("--mail-type", &["slurm"], |o| o.slurm.mail_type.is_some()),
];

/// The kind-specific options after the sbatch defaults.
const AFTER_DEFAULTS: &[(&str, &[&str], IsSet)] = &[
    ("--sbatch", &["slurm"], |o| !o.slurm.extra.is_empty()),
    ("--instance-type", &["aws"], |o| o.instance_type.is_some()),
    ("--keep-instance", &["aws"], |o| o.keep_instance),
    ("--image-id", &["aws"], |o| o.image_id.is_some()),
    ("--instances", &["aws"], |o| o.instances.is_some()),
    ("--array", &["local", "ssh", "slurm", "aws"], |o| {
        o.array.is_some()
    }),
    ("--after", &["local", "ssh", "slurm"], |o| {
        !o.after.is_empty()
    }),
];

/// A usage error if `options` sets an option that a `kind` server would ignore.
pub fn check(kind: &str, server: &str, options: &SubmitOptions) -> Result<(), EngineError> {
    let listed_set = |list: &'static [(&str, &[&str], IsSet)]| {
        list.iter()
            .filter(|(_, _, is_set)| is_set(options))
            .map(|(name, kinds, _)| (name.to_string(), *kinds))
            .collect::<Vec<_>>()
    };
    let defaults = options
        .slurm
        .chosen
        .fields()
        .into_iter()
        .filter(|(_, value)| value.is_some())
        .map(|(name, _)| (format!("--{name}"), SLURM_ONLY));
    let refused: Vec<String> = listed_set(BEFORE_DEFAULTS)
        .into_iter()
        .chain(defaults)
        .chain(listed_set(AFTER_DEFAULTS))
        .filter(|(_, kinds)| !kinds.contains(&kind))
        .map(|(name, kinds)| format!("{name} applies to {} servers", listed(kinds)))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(EngineError::Usage(format!(
        "{}; server {server} is a {kind} server: leave {} out, or submit to a server of that kind (--server NAME)",
        refused.join(", "),
        if refused.len() == 1 { "it" } else { "them" }
    )))
}

/// `a`, `a and b`, `a, b and c`.
fn listed(kinds: &[&str]) -> String {
    match kinds {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_of_the_servers_kind_pass() {
        let mut options = SubmitOptions {
            nprocs: Some(4),
            ..SubmitOptions::default()
        };
        options.slurm.walltime = Some("1:00:00".into());
        options.slurm.chosen.partition = Some("debug".into());
        assert!(check("slurm", "cluster", &options).is_ok());
        assert!(check("local", "loc", &SubmitOptions::default()).is_ok());
    }

    #[test]
    fn an_option_another_kind_needs_is_refused_naming_that_kind() {
        let options = SubmitOptions {
            instance_type: Some("c6i.large".into()),
            ..SubmitOptions::default()
        };
        let err = check("ssh", "remote", &options).unwrap_err().to_string();
        assert_eq!(
            err,
            "--instance-type applies to aws servers; server remote is a ssh server: \
             leave it out, or submit to a server of that kind (--server NAME)"
        );
        let mut slurm_only = SubmitOptions::default();
        slurm_only.slurm.extra = vec!["--hold".into()];
        slurm_only.slurm.walltime = Some("5".into());
        let err = check("local", "loc", &slurm_only).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "--walltime applies to slurm and aws servers, --sbatch applies to slurm servers"
            ),
            "{err}"
        );
    }
}
