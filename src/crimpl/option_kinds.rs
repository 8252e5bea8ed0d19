//! Which server kinds accept which submit options. A kind-specific option
//! used on a server that would ignore it is a usage error naming the kinds
//! that accept it, never silently dropped.

use super::error::EngineError;
use super::server::SubmitOptions;

/// The kind-specific submit options and the kinds that accept them; options
/// not listed (`--job`, `--files`, `--wait`, `--trial-run`) apply to every kind.
const ACCEPTED_BY: &[(&str, &[&str])] = &[
    ("--nprocs", &["slurm", "aws"]),
    ("--walltime", &["slurm", "aws"]),
    ("--ntasks", &["slurm"]),
    ("--nodes", &["slurm"]),
    ("--mail-type", &["slurm"]),
    ("--account", &["slurm"]),
    ("--qos", &["slurm"]),
    ("--partition", &["slurm"]),
    ("--mem", &["slurm"]),
    ("--gpus", &["slurm"]),
    ("--constraint", &["slurm"]),
    ("--sbatch", &["slurm"]),
    ("--instance-type", &["aws"]),
    ("--keep-instance", &["aws"]),
    ("--image-id", &["aws"]),
];

/// The kind-specific options `options` sets, as their `--names`.
fn used(options: &SubmitOptions) -> Vec<&'static str> {
    let slurm = &options.slurm;
    let chosen = &slurm.chosen;
    [
        ("--nprocs", options.nprocs.is_some()),
        ("--walltime", slurm.walltime.is_some()),
        ("--ntasks", slurm.ntasks.is_some()),
        ("--nodes", slurm.nodes.is_some()),
        ("--mail-type", slurm.mail_type.is_some()),
        ("--account", chosen.account.is_some()),
        ("--qos", chosen.qos.is_some()),
        ("--partition", chosen.partition.is_some()),
        ("--mem", chosen.mem.is_some()),
        ("--gpus", chosen.gpus.is_some()),
        ("--constraint", chosen.constraint.is_some()),
        ("--sbatch", !slurm.extra.is_empty()),
        ("--instance-type", options.instance_type.is_some()),
        ("--keep-instance", options.keep_instance),
        ("--image-id", options.image_id.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

/// A usage error if `options` sets an option that a `kind` server would ignore.
pub fn check(kind: &str, server: &str, options: &SubmitOptions) -> Result<(), EngineError> {
    let refused: Vec<String> = used(options)
        .into_iter()
        .filter_map(|name| {
            let (_, kinds) = ACCEPTED_BY.iter().find(|(option, _)| *option == name)?;
            (!kinds.contains(&kind))
                .then(|| format!("{name} applies to {} servers", kinds.join(" and ")))
        })
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

    #[test]
    fn every_option_checked_has_its_kinds() {
        let mut all = SubmitOptions {
            nprocs: Some(1),
            instance_type: Some("t3.micro".into()),
            keep_instance: true,
            image_id: Some("ami-0123".into()),
            ..SubmitOptions::default()
        };
        let slurm = &mut all.slurm;
        slurm.walltime = Some("1".into());
        slurm.ntasks = Some(1);
        slurm.nodes = Some(1);
        slurm.mail_type = Some("END".into());
        slurm.extra = vec!["--hold".into()];
        for field in [
            &mut slurm.chosen.account,
            &mut slurm.chosen.qos,
            &mut slurm.chosen.partition,
            &mut slurm.chosen.mem,
            &mut slurm.chosen.gpus,
            &mut slurm.chosen.constraint,
        ] {
            *field = Some("x".into());
        }
        let names = used(&all);
        assert_eq!(names.len(), ACCEPTED_BY.len());
        for name in names {
            assert!(
                ACCEPTED_BY.iter().any(|(option, _)| *option == name),
                "{name}"
            );
        }
    }
}
