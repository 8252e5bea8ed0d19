//! The batch script around the job wrapper: crimpl's options, the server's
//! defaults, the `#SBATCH` lines of the body itself and `--sbatch` extras,
//! merged with a fixed precedence, each written as one `#SBATCH` option.

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::crimpl::array::ArraySpec;
use crate::crimpl::layout::TASK_DIR_PREFIX;
use crate::crimpl::layout::{WRAPPER, slurm_output_name};
use crate::crimpl::slurm::PIECES_OUTPUT_DIR;

/// The batch script submitted with `sbatch`.
pub const BATCH_SCRIPT: &str = "crimpl-slurm-batch.sh";

/// Per-server defaults for sbatch options (`server new slurm ... --account X`),
/// which a job's own options override: the one declaration of the six, with
/// their `%crimpl` options and help (the magics flatten it into `server new
/// slurm` and `submit`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
pub struct SlurmDefaults {
    /// Slurm: the account to charge (--account).
    #[arg(long, help_heading = "Slurm")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Slurm: the quality of service (--qos).
    #[arg(long, help_heading = "Slurm")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// Slurm: the partition (default: the cluster's).
    #[arg(long, help_heading = "Slurm")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Slurm: memory per node (--mem, e.g. 4G).
    #[arg(long, help_heading = "Slurm")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// Slurm: GPUs (--gpus, e.g. 1 or a100:2).
    #[arg(long, help_heading = "Slurm")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<String>,
    /// Slurm: node features (--constraint).
    #[arg(long, help_heading = "Slurm")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
}

impl SlurmDefaults {
    /// Every option with its sbatch name (`account`, ...), in order, set or not.
    pub fn fields(&self) -> [(&'static str, &Option<String>); 6] {
        [
            ("account", &self.account),
            ("qos", &self.qos),
            ("partition", &self.partition),
            ("mem", &self.mem),
            ("gpus", &self.gpus),
            ("constraint", &self.constraint),
        ]
    }

    /// The defaults set, as `(option, value)` pairs.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        self.fields()
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
            .collect()
    }
}

/// Slurm's options for one submission.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// `--time` (default: the partition's).
    pub walltime: Option<String>,
    /// `--ntasks` (MPI-style jobs).
    pub ntasks: Option<u32>,
    /// `--nodes`.
    pub nodes: Option<u32>,
    /// `--mail-type` (default `END,FAIL` when a mail user is set).
    pub mail_type: Option<String>,
    /// `--account`, `--qos`, `--partition`, `--mem`, `--gpus`,
    /// `--constraint` for this job (over the server's defaults).
    pub chosen: SlurmDefaults,
    /// Any other sbatch options, one option each (`--hold`, `--mem=4G`,
    /// `--comment=two words`).
    pub extra: Vec<String>,
}

/// The script and what the merge had to say (the body's lines overridden).
#[derive(Debug, Clone)]
pub struct BatchScript {
    /// The `#SBATCH` script that runs the wrapper.
    pub text: String,
    /// One line per overridden `#SBATCH` line of the body.
    pub notes: Vec<String>,
}

/// What a submission needs to build its batch script.
pub struct BatchRequest<'a> {
    /// The job's name.
    pub job: &'a str,
    /// `--nprocs`: CPUs for one run of the script.
    pub nprocs: Option<u32>,
    /// The job's options.
    pub options: &'a SlurmOptions,
    /// The server's defaults.
    pub defaults: &'a SlurmDefaults,
    /// The server's mail user.
    pub mail_user: Option<&'a str>,
    /// The cell body (its leading `#SBATCH` lines are honoured).
    pub body: &'a str,
    /// Run the batch script in a login shell (`#!/bin/bash -l`).
    pub login_shell: bool,
    /// An array job's tasks: one `sbatch --array`, each task in its directory.
    pub array: Option<&'a ArraySpec>,
}

/// An option as (long name, value); flags have no value.
type Opt = (String, Option<String>);

/// Short sbatch options and their long names.
const SHORT: [(&str, &str); 26] = [
    ("A", "account"),
    ("a", "array"),
    ("b", "begin"),
    ("C", "constraint"),
    ("c", "cpus-per-task"),
    ("D", "chdir"),
    ("d", "dependency"),
    ("e", "error"),
    ("G", "gpus"),
    ("H", "hold"),
    ("i", "input"),
    ("J", "job-name"),
    ("k", "no-kill"),
    ("L", "licenses"),
    ("M", "clusters"),
    ("m", "distribution"),
    ("N", "nodes"),
    ("n", "ntasks"),
    ("o", "output"),
    ("O", "overcommit"),
    ("p", "partition"),
    ("q", "qos"),
    ("s", "oversubscribe"),
    ("t", "time"),
    ("W", "wait"),
    ("w", "nodelist"),
];

/// Options that take no value.
const FLAGS: [&str; 14] = [
    "hold",
    "no-kill",
    "overcommit",
    "oversubscribe",
    "wait",
    "exclusive",
    "requeue",
    "no-requeue",
    "contiguous",
    "parsable",
    "test-only",
    "quiet",
    "verbose",
    "use-min-nodes",
];

/// Why an option would break the wrapper, for the options that would.
fn breaks_wrapper(name: &str, value: Option<&str>) -> Option<&'static str> {
    match name {
        "chdir" => Some("the job must start in its job directory"),
        "wait" => Some("sbatch would not return until the job ends; use `%crimpl wait`"),
        "array" => Some("crimpl tracks one job per submission"),
        "wrap" => Some("the cell body is the script"),
        "signal" if value.is_some_and(|v| v.starts_with("B:") || v.starts_with("RB:")) => {
            Some("a signal to the batch shell alone would end the wrapper, not the script")
        }
        _ => None,
    }
}

/// Read one option from its words (`--mem=4G`, `--mem 4G`, `-n4`, `-n 4`).
fn read_options(words: &[String]) -> anyhow::Result<Vec<Opt>> {
    let mut options = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        let (name, inline) = if let Some(long) = word.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (long.to_string(), None),
            }
        } else if let Some(short) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            let (letter, rest) = short.split_at(short.chars().next().map_or(0, char::len_utf8));
            let Some((_, long)) = SHORT.iter().find(|(s, _)| *s == letter) else {
                bail!("unknown sbatch option {word:?}");
            };
            let rest = rest.strip_prefix('=').unwrap_or(rest);
            (
                long.to_string(),
                (!rest.is_empty()).then(|| rest.to_string()),
            )
        } else {
            bail!("{word:?} is not an sbatch option (options start with '-')");
        };
        let value = match inline {
            Some(value) => Some(value),
            None if FLAGS.contains(&name.as_str()) => None,
            None => match words.get(i) {
                Some(next) if !next.starts_with('-') => {
                    i += 1;
                    Some(next.clone())
                }
                _ => None,
            },
        };
        if let Some(why) = breaks_wrapper(&name, value.as_deref()) {
            bail!("sbatch option --{name} cannot be used with crimpl: {why}");
        }
        options.push((name, value));
    }
    Ok(options)
}

/// The `#SBATCH` options at the top of `body` (before its first command).
pub fn body_directives(body: &str) -> anyhow::Result<Vec<Opt>> {
    let mut options = Vec::new();
    for line in body.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        let Some(rest) = line.strip_prefix("#SBATCH") else {
            if line.starts_with('#') {
                continue;
            }
            break;
        };
        let Some(words) = shlex::split(rest) else {
            bail!("unbalanced quotes in the script's line {line:?}");
        };
        // sbatch reads a directive's options up to a comment.
        let words: Vec<String> = words
            .into_iter()
            .take_while(|w| !w.starts_with('#'))
            .collect();
        options.extend(
            read_options(&words)
                .map_err(|e| anyhow::anyhow!("the script's line {line:?}: {e:#}"))?,
        );
    }
    Ok(options)
}

/// One option as an `#SBATCH` line, its value quoted as sbatch reads it.
fn directive((name, value): &Opt) -> anyhow::Result<String> {
    let Some(value) = value else {
        return Ok(format!("#SBATCH --{name}\n"));
    };
    if value.contains(['\n', '\r', '\0']) {
        bail!("sbatch option --{name} has a line break in its value");
    }
    let quoted = if !value.contains([' ', '\t', '#', '"', '\'', '\\']) {
        value.clone()
    } else if !value.contains(['"', '\\']) {
        format!("\"{value}\"")
    } else if !value.contains(['\'', '\\']) {
        format!("'{value}'")
    } else {
        bail!(
            "sbatch option --{name}: a value with both kinds of quotes or a backslash cannot be written as an #SBATCH line"
        );
    };
    Ok(format!("#SBATCH --{name}={quoted}\n"))
}

/// Merge the option layers, highest precedence first; later layers lose
/// to earlier ones. Returns the options in order and a note for each body
/// line that lost to a different value.
fn merge(layers: &[(&str, Vec<Opt>)]) -> (Vec<Opt>, Vec<String>) {
    let mut merged: Vec<(Opt, &str)> = Vec::new();
    let mut notes = Vec::new();
    for (layer, options) in layers {
        for option in options {
            match merged.iter().find(|((name, _), _)| *name == option.0) {
                Some(((_, value), winner)) => {
                    if *layer == "body" && *value != option.1 {
                        notes.push(format!(
                            "#SBATCH --{}{} in the script is overridden by {winner} ({})",
                            option.0,
                            option
                                .1
                                .as_deref()
                                .map(|v| format!("={v}"))
                                .unwrap_or_default(),
                            value
                                .as_deref()
                                .map_or(format!("--{}", option.0), |v| format!(
                                    "--{}={v}",
                                    option.0
                                ))
                        ));
                    }
                }
                None => merged.push((option.clone(), layer)),
            }
        }
    }
    (merged.into_iter().map(|(o, _)| o).collect(), notes)
}

/// The `#SBATCH` script that runs the job wrapper. Options go into the
/// script itself, so a resubmit uses them again. Precedence: what the
/// wrapper needs (its output file), then this submission's options and
/// `--sbatch` extras, then the body's `#SBATCH` lines, then the server's
/// defaults; no `--time` unless asked (the partition's default applies).
pub fn batch_script(request: &BatchRequest<'_>) -> anyhow::Result<BatchScript> {
    let some = |name: &str, value: Option<String>| value.map(|v| (name.to_string(), Some(v)));
    let options = request.options;
    // An array task writes Slurm's output in its own directory.
    let output = match request.array {
        None => slurm_output_name("%j"),
        Some(array) => format!(
            "{TASK_DIR_PREFIX}%{}a/{}",
            array.width(),
            slurm_output_name("%A_%a")
        ),
    };
    let mut essential = vec![
        ("output".to_string(), Some(output.clone())),
        ("error".to_string(), Some(output)),
        ("open-mode".to_string(), Some("append".to_string())),
    ];
    if let Some(array) = request.array {
        essential.push(("array".to_string(), Some(array.slurm_spec())));
    }
    let mut chosen: Vec<Opt> = options
        .chosen
        .pairs()
        .into_iter()
        .map(|(n, v)| (n.to_string(), Some(v)))
        .collect();
    chosen.extend(some("time", options.walltime.clone()));
    if let Some(cpus) = request.nprocs {
        chosen.push(("cpus-per-task".into(), Some(cpus.to_string())));
    }
    chosen.extend(some("ntasks", options.ntasks.map(|n| n.to_string())));
    chosen.extend(some("nodes", options.nodes.map(|n| n.to_string())));
    if request.nprocs.is_some() && options.ntasks.is_none() && options.nodes.is_none() {
        // N CPUs for one run of the script, on one node.
        chosen.push(("nodes".into(), Some("1".into())));
        chosen.push(("ntasks".into(), Some("1".into())));
    }
    if let Some(mail) = request.mail_user {
        chosen.push(("mail-user".into(), Some(mail.to_string())));
        let kind = options.mail_type.as_deref().unwrap_or("END,FAIL");
        chosen.push(("mail-type".into(), Some(kind.to_string())));
    }
    let mut extra = Vec::new();
    for option in &options.extra {
        let words = shlex::split(option).filter(|w| w.len() <= 2);
        let parsed = match words {
            // `--sbatch="-t 5"` or `--sbatch="--mem 4G"`: an option and its value.
            Some(words) if words.len() == 2 && !option.contains('=') => read_options(&words)?,
            _ => read_options(std::slice::from_ref(option))?,
        };
        extra.extend(parsed);
    }
    let defaults = request
        .defaults
        .pairs()
        .into_iter()
        .map(|(n, v)| (n.to_string(), Some(v)))
        .collect();
    let ours = vec![(
        "job-name".to_string(),
        Some(format!("crimpl-{}", request.job)),
    )];
    let (merged, notes) = merge(&[
        ("crimpl", essential),
        ("the magic's option", chosen),
        ("--sbatch", extra),
        ("body", body_directives(request.body)?),
        ("the server's default", defaults),
        ("crimpl's default", ours),
    ]);
    let mut text = String::from(if request.login_shell {
        "#!/bin/bash -l\n"
    } else {
        "#!/bin/sh\n"
    });
    for option in &merged {
        text.push_str(&directive(option)?);
    }
    if let Some(array) = request.array {
        // A piece of a sweep split under the site's MaxArraySize is given
        // its offset as the script's argument (see `slurm::start`); Slurm
        // then wrote its output under the piece's index, linked from the task.
        text.push_str(&format!(
            "t=$(printf '%0{}d' \"$((${{1:-0}} + SLURM_ARRAY_TASK_ID))\") && cd \"{TASK_DIR_PREFIX}$t\" || exit 1\n\
             o=${{SLURM_ARRAY_JOB_ID}}_$SLURM_ARRAY_TASK_ID; [ \"${{1:-0}}\" = 0 ] || ln -sf \"../{PIECES_OUTPUT_DIR}/$o.out\" \"{}\"\n",
            array.width(),
            slurm_output_name("$o")
        ));
    }
    // Slurm waited for the jobs named by `--after` (an array's own status
    // file is never written under Slurm: the wrapper must not wait on it).
    text.push_str(&format!("CRIMPL_SLURM_AFTER=1 exec sh ./{WRAPPER}\n"));
    Ok(BatchScript { text, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(
        nprocs: Option<u32>,
        options: &SlurmOptions,
        body: &str,
    ) -> anyhow::Result<BatchScript> {
        batch_script(&BatchRequest {
            job: "fit",
            nprocs,
            options,
            defaults: &SlurmDefaults {
                account: Some("proj".into()),
                partition: Some("batch".into()),
                ..Default::default()
            },
            mail_user: Some("me@example.org"),
            body,
            login_shell: false,
            array: None,
        })
    }

    #[test]
    fn options_defaults_and_body_merge_in_order() {
        let options = SlurmOptions {
            chosen: SlurmDefaults {
                partition: Some("debug".into()),
                gpus: Some("1".into()),
                ..Default::default()
            },
            extra: vec!["--hold".into(), "--comment=two words".into(), "-t 5".into()],
            ..Default::default()
        };
        let body = "#!/bin/bash\n# my job\n#SBATCH --job-name=mine -p short\n#SBATCH --mem=1G # memory\n\necho hi\n#SBATCH --qos=late\n";
        let built = script(Some(4), &options, body).unwrap();
        for expected in [
            "#SBATCH --job-name=mine\n",
            "#SBATCH --cpus-per-task=4\n",
            "#SBATCH --nodes=1\n",
            "#SBATCH --ntasks=1\n",
            "#SBATCH --partition=debug\n",
            "#SBATCH --account=proj\n",
            "#SBATCH --mem=1G\n",
            "#SBATCH --gpus=1\n",
            "#SBATCH --time=5\n",
            "#SBATCH --mail-type=END,FAIL\n",
            "#SBATCH --hold\n",
            "#SBATCH --comment=\"two words\"\n",
            "exec sh ./crimpl-wrapper.sh",
        ] {
            assert!(
                built.text.contains(expected),
                "{expected} missing from\n{}",
                built.text
            );
        }
        assert!(!built.text.contains("qos"), "{}", built.text);
        assert!(!built.text.contains("partition=short"));
        assert_eq!(built.notes.len(), 1, "{:?}", built.notes);
        assert!(built.notes[0].contains("--partition=short"));
    }

    #[test]
    fn no_time_unless_asked() {
        let built = script(None, &SlurmOptions::default(), "echo").unwrap();
        assert!(!built.text.contains("--time"), "{}", built.text);
        assert!(!built.text.contains("--ntasks"), "{}", built.text);
    }

    #[test]
    fn options_that_break_the_wrapper_are_refused() {
        for bad in [
            "--chdir=/tmp",
            "-D /tmp",
            "--wait",
            "--array=1-3",
            "--signal=B:USR1@60",
        ] {
            let options = SlurmOptions {
                extra: vec![bad.into()],
                ..Default::default()
            };
            let err = script(None, &options, "echo").unwrap_err().to_string();
            assert!(err.contains("cannot be used with crimpl"), "{bad}: {err}");
        }
        let err = script(None, &SlurmOptions::default(), "#SBATCH --array=1-4\necho").unwrap_err();
        assert!(format!("{err:#}").contains("--array"), "{err:#}");
        assert!(
            script(
                None,
                &SlurmOptions {
                    extra: vec!["--signal=USR1@60".into()],
                    ..Default::default()
                },
                ""
            )
            .is_ok()
        );
    }

    #[test]
    fn line_breaks_never_reach_the_header() {
        let options = SlurmOptions {
            extra: vec!["--comment=x\n#SBATCH --y".into()],
            ..Default::default()
        };
        assert!(script(None, &options, "").is_err());
    }
}
