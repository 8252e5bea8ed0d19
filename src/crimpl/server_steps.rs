//! The `server check` steps every server kind shares, on the machine that
//! holds the server directory (this machine, an SSH host or an instance):
//! its shell, the tools the engine runs, the directory, and for Slurm the
//! scheduler's commands and partitions.

use crate::crimpl::checklist::{Checklist, Found, Problem, problem};
use crate::crimpl::scripts;
use crate::crimpl::transport::{Captured, Transport};

/// The tools every job operation runs.
const TOOLS: [&str; 3] = ["sh", "tar", "find"];
/// One of these starts a job detached.
const DETACHERS: [&str; 2] = ["setsid", "nohup"];
/// The Slurm commands a Slurm server runs.
const SLURM_TOOLS: [&str; 4] = ["sbatch", "squeue", "scontrol", "sinfo"];
/// Less free space than this fails the directory step.
const LOW_SPACE_KIB: u64 = 100 * 1024;
/// What the shell step expects to read back, and nothing before it.
const MARKER: &str = "crimpl-check";

/// The names of the steps [`job_steps`] records.
pub fn names(slurm: bool) -> Vec<&'static str> {
    let mut names = vec!["shell", "tools", "server directory"];
    if slurm {
        names.extend(["Slurm commands", "partitions", "site limits"]);
    }
    names
}

/// Check the shell, tools and server `directory` through `transport` (and Slurm if `slurm`).
pub fn job_steps(
    list: &mut Checklist<'_>,
    transport: &dyn Transport,
    directory: &str,
    slurm: bool,
) {
    let all = names(slurm);
    if list.step("shell", || shell(transport)).is_none() {
        list.skip_after_failure(&all[1..]);
        return;
    }
    list.step("tools", || tools(transport));
    list.step("server directory", || {
        server_directory(transport, directory)
    });
    if slurm
        && list
            .step("Slurm commands", || slurm_commands(transport))
            .is_some()
    {
        list.step("partitions", || partitions(transport));
        list.step("site limits", || site_limits(transport));
    } else if slurm {
        list.skip_after_failure(&["partitions", "site limits"]);
    }
}

/// Run `command`; a failure to run it is the step's problem.
fn capture(transport: &dyn Transport, command: &str) -> Result<Captured, Problem> {
    transport.capture(command, None).map_err(|err| {
        problem(
            format!("cannot run a command on {}: {err:#}", transport.describe()),
            "run `%crimpl server check` again; if it fails the same way, the connection drops right after login",
        )
    })
}

/// Run `command`, its stdout as text, its exit and its stderr.
fn run(transport: &dyn Transport, command: &str) -> Result<(String, Option<i32>, String), Problem> {
    capture(transport, command).map(|c| {
        (
            String::from_utf8_lossy(&c.stdout).into_owned(),
            c.finished.code,
            c.finished.stderr.trim().to_string(),
        )
    })
}

fn shell(transport: &dyn Transport) -> Found<()> {
    let captured = capture(
        transport,
        &format!("printf '%s\\n' {MARKER}; uname -srm 2>/dev/null"),
    )?;
    let stdout = String::from_utf8_lossy(&captured.stdout);
    let (code, stderr) = (captured.finished.code, captured.finished.stderr.trim());
    if code != Some(0) || !stdout.contains(MARKER) {
        return Err(problem(
            format!(
                "sh did not run (exit {}): {}",
                code.map_or("by signal".into(), |c| c.to_string()),
                if stderr.is_empty() {
                    stdout.trim()
                } else {
                    stderr
                }
            ),
            "the account's login shell must run commands (`ssh HOST true` shows the same): \
             ask the host's admin for a shell such as /bin/bash",
        ));
    }
    let system = stdout[stdout.find(MARKER).unwrap_or(0) + MARKER.len()..].trim();
    let printed = captured.finished.startup_output.trim();
    if printed.is_empty() {
        return Ok(((), format!("sh runs commands ({system})")));
    }
    Ok((
        (),
        format!(
            "sh runs commands ({system}); the login shell's startup files print text before \
             every command, which the kernel sets aside: {printed:?} (to quiet them, print only in \
             interactive shells, e.g. start ~/.bashrc with `case $- in *i*) ;; *) return;; esac`)"
        ),
    ))
}

/// `name<TAB>path` for each of `tools` (an empty path when missing).
fn locate(transport: &dyn Transport, tools: &[&str]) -> Result<Vec<(String, String)>, Problem> {
    let command = format!(
        "for t in {}; do printf '%s\\t%s\\n' \"$t\" \"$(command -v \"$t\")\"; done",
        tools.join(" ")
    );
    let (stdout, _, _) = run(transport, &command)?;
    Ok(stdout
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(tool, path)| (tool.to_string(), path.to_string()))
        .collect())
}

fn missing<'a>(found: &[(String, String)], wanted: &[&'a str]) -> Vec<&'a str> {
    wanted
        .iter()
        .copied()
        .filter(|tool| !found.iter().any(|(t, p)| t == tool && !p.is_empty()))
        .collect()
}

fn tools(transport: &dyn Transport) -> Found<()> {
    let wanted: Vec<&str> = TOOLS
        .iter()
        .chain(&DETACHERS)
        .copied()
        .chain(["bash"])
        .collect();
    let found = locate(transport, &wanted)?;
    let mut absent = missing(&found, &TOOLS);
    if missing(&found, &DETACHERS).len() == DETACHERS.len() {
        absent.push("setsid (or nohup)");
    }
    if !absent.is_empty() {
        return Err(problem(
            format!(
                "not found on the PATH of {}: {}",
                transport.describe(),
                absent.join(", ")
            ),
            format!(
                "install {} on the host (packages tar, findutils, util-linux or coreutils on every \
                 Linux distribution), or ask its admin",
                absent.join(", ")
            ),
        ));
    }
    let present: Vec<&str> = found
        .iter()
        .filter(|(_, path)| !path.is_empty())
        .map(|(tool, _)| tool.as_str())
        .collect();
    let bash = if present.contains(&"bash") {
        ""
    } else {
        "; no bash: scripts run with sh"
    };
    Ok(((), format!("found {}{bash}", present.join(", "))))
}

fn server_directory(transport: &dyn Transport, directory: &str) -> Found<()> {
    let word = scripts::directory_word(directory).map_err(|err| {
        problem(
            format!("{err:#}"),
            "choose another --directory: %crimpl server new ... --replace",
        )
    })?;
    // Exists? Writable (a real write in it, or the nearest existing parent's
    // permission when it does not exist yet)? Where, and how much space?
    let command = format!(
        r#"d={word}
if [ -e "$d" ] && [ ! -d "$d" ]; then echo notdir; exit 0; fi
p="$d"
while [ ! -e "$p" ]; do case "$p" in */*) p=${{p%/*}}; [ -n "$p" ] || p=/;; *) p=.;; esac; done
w=0; o=-
if [ -d "$d" ]; then e=1; f="$d/.crimpl-check.$$"; if ( : > "$f" ) 2>/dev/null; then rm -f "$f"; w=1; fi
  if [ -n "$(find "$d" -maxdepth 0 -perm -0002)" ]; then o=write; elif [ -n "$(find "$d" -maxdepth 0 -perm -0004)" ]; then o=read; fi
else e=0; [ -w "$p" ] && [ -x "$p" ] && w=1; fi
printf '%s\t%s\t%s\t%s\n' "$e" "$w" "$(cd "$p" && pwd -P)" "$o"
df -Pk "$p" 2>/dev/null"#
    );
    let (stdout, _, stderr) = run(transport, &command)?;
    let mut lines = stdout.lines();
    let first = lines.next().unwrap_or_default();
    let elsewhere = "or choose another --directory: %crimpl server new ... --replace";
    if first == "notdir" {
        return Err(problem(
            format!("{directory} exists but is not a directory"),
            format!("remove or rename it on the host, {elsewhere}"),
        ));
    }
    let fields: Vec<&str> = first.split('\t').collect();
    let [exists, writable, place, others] = fields[..] else {
        return Err(problem(
            format!("unexpected answer from the host: {first:?} {stderr}"),
            "run the check again; if it repeats, report it with this output",
        ));
    };
    let who = transport.describe();
    let free_kib = lines
        .last()
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|kib| kib.parse::<u64>().ok());
    let free = free_kib.map_or("free space unknown".into(), |kib| {
        format!("{} free", human_size(kib))
    });
    if others == "write" {
        return Err(problem(
            format!(
                "{directory} ({place}) can be written by every user of the host: anyone could \
                 change or plant a job there"
            ),
            format!(
                "make it yours alone on the host: chmod 700 {place} (or chmod o-w), {elsewhere}"
            ),
        ));
    }
    let readable = if others == "read" {
        format!(
            " (others can read it, and the jobs the kernel did not make private; chmod 700 {place} \
             keeps them out)"
        )
    } else {
        String::new()
    };
    let found = match (exists, writable) {
        ("1", "1") => format!("{directory} ({place}) is writable{readable}; {free}"),
        ("1", _) => {
            return Err(problem(
                format!("{directory} ({place}) exists, but {who} cannot write in it"),
                format!(
                    "give the login user write permission (as the directory's owner: chmod u+w {place}), \
                     {elsewhere}"
                ),
            ));
        }
        (_, "1") => format!(
            "{directory} does not exist yet: the first job creates it in {place} (writable); {free}"
        ),
        _ => {
            return Err(problem(
                format!("{directory} does not exist, and {who} cannot create it in {place}"),
                format!(
                    "create it on the host with write permission for the login user, {elsewhere}"
                ),
            ));
        }
    };
    if let Some(kib) = free_kib.filter(|kib| *kib < LOW_SPACE_KIB) {
        return Err(problem(
            format!("only {} free where {directory} is", human_size(kib)),
            format!("free some space on the host, {elsewhere}"),
        ));
    }
    Ok(((), found))
}

fn human_size(kib: u64) -> String {
    let gib = kib as f64 / (1024.0 * 1024.0);
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{:.0} MiB", kib as f64 / 1024.0)
    }
}

fn slurm_commands(transport: &dyn Transport) -> Found<()> {
    let found = locate(transport, &SLURM_TOOLS)?;
    let absent = missing(&found, &SLURM_TOOLS);
    if !absent.is_empty() {
        return Err(problem(
            format!(
                "not found on the PATH of a command run over SSH: {}",
                absent.join(", ")
            ),
            "check that --host is the cluster's login node; if Slurm comes from a module or a \
             profile script, load it in ~/.bashrc above any line that returns early for \
             non-interactive shells",
        ));
    }
    let (version, _, _) = run(transport, "sbatch --version 2>&1")?;
    let (ping, code, _) = run(transport, "scontrol ping 2>&1")?;
    let ping = ping.split_whitespace().collect::<Vec<_>>().join(" ");
    if code != Some(0) || !ping.contains("UP") {
        return Err(problem(
            format!("the Slurm controller does not answer: {ping}"),
            "ask the cluster's admins (`scontrol ping` on the login node shows the same)",
        ));
    }
    Ok(((), format!("{}; {ping}", version.trim())))
}

/// The site's limits (MaxArraySize, MaxJobCount, partitions' MaxTime, the
/// association's limits where accounting answers), as one row.
fn site_limits(transport: &dyn Transport) -> Found<()> {
    let (stdout, _, _) = run(transport, crate::crimpl::slurm::LIMITS_COMMAND)?;
    let limits = crate::crimpl::slurm::parse_limits(&stdout);
    if limits.max_array_size.is_none() {
        return Err(problem(
            "scontrol show config did not say MaxArraySize",
            "sweeps are split as for Slurm's default (1001); `scontrol show config` on the login node shows why",
        ));
    }
    Ok(((), limits.summary()))
}

fn partitions(transport: &dyn Transport) -> Found<()> {
    let (stdout, code, stderr) = run(transport, "sinfo --noheader --format='%P|%a|%D|%T'")?;
    if code != Some(0) {
        return Err(problem(
            format!("sinfo failed: {stderr}"),
            "ask the cluster's admins (`sinfo` on the login node shows the same)",
        ));
    }
    let mut up = Vec::new();
    let mut down = Vec::new();
    for line in stdout.lines() {
        let fields: Vec<&str> = line.split('|').collect();
        let [partition, availability, nodes, state] = fields[..] else {
            continue;
        };
        let entry = format!("{partition} ({nodes} {state})");
        if availability == "up" {
            up.push(entry);
        } else {
            down.push(format!("{partition} ({availability})"));
        }
    }
    if up.is_empty() {
        return Err(problem(
            if down.is_empty() {
                "sinfo lists no partition".to_string()
            } else {
                format!("no partition accepts jobs: {}", down.join(", "))
            },
            "ask the cluster's admins which partition to use (then submit with --partition)",
        ));
    }
    let mut detail = format!("up: {}", up.join(", "));
    if !down.is_empty() {
        detail.push_str(&format!("; not up: {}", down.join(", ")));
    }
    Ok(((), detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crimpl::checklist::{Outcome, Step};
    use crate::crimpl::transport::LocalTransport;

    fn directory_step(directory: &str) -> Step {
        let mut list = Checklist::new(&|_| {});
        list.step("server directory", || {
            server_directory(&LocalTransport, directory)
        });
        list.into_steps().remove(0)
    }

    #[test]
    fn a_file_in_place_of_the_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jobs");
        std::fs::write(&file, "").unwrap();
        let step = directory_step(&file.display().to_string());
        assert_eq!(step.outcome, Outcome::Failed);
        assert!(step.detail.contains("not a directory"), "{step:?}");
    }

    #[test]
    fn a_missing_directory_is_created_by_the_first_job() {
        let dir = tempfile::tempdir().unwrap();
        let step = directory_step(&dir.path().join("a/b").display().to_string());
        assert_eq!(step.outcome, Outcome::Ok, "{step:?}");
        assert!(step.detail.contains("does not exist yet"), "{step:?}");
        assert!(!dir.path().join("a").exists());
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(512 * 1024), "512 MiB");
        assert_eq!(human_size(3 * 1024 * 1024 + 512 * 1024), "3.5 GiB");
    }
}
