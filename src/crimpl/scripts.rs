//! The POSIX shell commands the engine runs on a server, built in one place
//! with every interpolated value quoted. The same commands serve the local
//! server (through `sh -c`) and SSH hosts, so both behave the same.

use anyhow::Context;

use super::layout::*;

/// Quote one word for a POSIX shell.
pub fn quote(word: &str) -> anyhow::Result<String> {
    Ok(shlex::try_quote(word)
        .with_context(|| format!("{word:?} contains a NUL byte and cannot be passed to a shell"))?
        .into_owned())
}

/// A server directory as a shell word: a leading `~` becomes `"$HOME"` (which
/// quoting would otherwise stop the shell from expanding).
pub fn directory_word(directory: &str) -> anyhow::Result<String> {
    if directory == "~" {
        return Ok("\"$HOME\"".into());
    }
    match directory.strip_prefix("~/") {
        Some(rest) => Ok(format!("\"$HOME\"/{}", quote(rest)?)),
        None => quote(directory),
    }
}

/// The job directory `<directory>/crimpl-job-<name>` as a shell word.
pub fn job_dir_word(directory: &str, job: &str) -> anyhow::Result<String> {
    validate_job_name(job)?;
    Ok(format!(
        "{}/{}",
        directory_word(directory)?,
        job_dir_name(job)
    ))
}

/// The wrapper that runs the cell body and records how it ends. It runs in
/// its own session, so it outlives the kernel; TERM (from `kill`) ends it as
/// `canceled`. A body starting with `#!` is run by its interpreter, others by
/// bash (or sh where bash is missing), as crimpl did. `after` runs once the
/// end is recorded (an EC2 job instance shuts itself down there).
pub fn wrapper_script(after: Option<&str>) -> String {
    let after = after.unwrap_or_default();
    format!(
        r#"#!/bin/sh
# crimpl job wrapper: runs {SUBMIT_SCRIPT} and records its end.
cd "$(dirname "$0")" || exit 1
put() {{ printf '%s\n' "$1" > {STATUS_FILE}.tmp && mv -f {STATUS_FILE}.tmp {STATUS_FILE}; }}
finish() {{
  date -u +%Y-%m-%dT%H:%M:%SZ > {ENDED_FILE}
  printf '%s\n' "$1" > {EXIT_CODE_FILE}
  put "$2"
}}
echo $$ > {PID_FILE}
rm -f {EXIT_CODE_FILE} {ENDED_FILE}
date -u +%Y-%m-%dT%H:%M:%SZ > {STARTED_FILE}
trap 'kill -TERM "$child" 2>/dev/null; finish 143 canceled; exit 143' TERM INT HUP
put running
if head -c 2 {SUBMIT_SCRIPT} | grep -q '^#!'; then
  chmod +x {SUBMIT_SCRIPT}; ./{SUBMIT_SCRIPT} >> {LOG_FILE} 2>&1 < /dev/null &
elif command -v bash > /dev/null; then
  bash {SUBMIT_SCRIPT} >> {LOG_FILE} 2>&1 < /dev/null &
else
  sh {SUBMIT_SCRIPT} >> {LOG_FILE} 2>&1 < /dev/null &
fi
child=$!
wait "$child"
code=$?
if [ -f {CANCELED_FILE} ]; then finish "$code" canceled
elif [ "$code" -eq 0 ]; then finish 0 complete
else finish "$code" failed
fi
{after}
exit "$code"
"#
    )
}

/// A shell function `alive PID`: true if the process exists and is not a
/// zombie (an orphan whose parent never reaps it still answers `kill -0`).
const ALIVE_FUNCTION: &str = r#"alive() { kill -0 "$1" 2>/dev/null || return 1; st=; [ -r "/proc/$1/stat" ] && read -r _ _ st _ < "/proc/$1/stat"; [ "$st" != Z ]; }"#;

/// Start the wrapper of the job in `job_dir` detached (own session, no
/// terminal, no inherited streams), after marking it `starting`.
pub fn start_detached(job_dir: &str) -> String {
    format!(
        "cd {job_dir} && rm -f {CANCELED_FILE} && printf 'starting\\n' > {STATUS_FILE} && \
         if command -v setsid > /dev/null; then setsid sh {WRAPPER} < /dev/null > /dev/null 2>&1 & \
         else nohup sh {WRAPPER} < /dev/null > /dev/null 2>&1 & fi"
    )
}

/// Kill the job in `job_dir` started by [`start_detached`] (or crimpl 0.2.0's
/// nohup job): mark it canceled, TERM its process group, KILL what is left.
pub fn kill_detached(job_dir: &str) -> String {
    format!(
        r#"{ALIVE_FUNCTION}
cd {job_dir} || exit 3
p=; [ -f {PID_FILE} ] && read -r p < {PID_FILE}
[ -z "$p" ] && [ -f {CRIMPL_PID_FILE} ] && read -r p < {CRIMPL_PID_FILE}
[ -n "$p" ] || {{ echo "no process id recorded" >&2; exit 4; }}
touch {CANCELED_FILE}
kill -TERM -- -"$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
i=0; while alive "$p" && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL -- -"$p" 2>/dev/null
read -r s < {STATUS_FILE}; case "$s" in canceled|complete|failed) ;; *) printf 'canceled\n' > {STATUS_FILE};; esac
exit 0"#
    )
}

/// One pass over the job directories matching `pattern` (a shell glob such
/// as `crimpl-job-*` inside the server directory), printing one
/// tab-separated record per job with shell builtins only (no process per job):
/// `name status exitcode alive canceled started ended slurm_id`.
pub fn survey(directory: &str, pattern: &str) -> anyhow::Result<String> {
    Ok(format!(
        r#"{ALIVE_FUNCTION}
cd {dir} 2>/dev/null || exit 0
for d in {pattern}/; do
  [ -d "$d" ] || continue
  d=${{d%/}}; n=${{d#{JOB_DIR_PREFIX}}}
  s=; c=; a=-; k=0; t0=; t1=; q=; p=
  [ -f "$d/{STATUS_FILE}" ] && read -r s < "$d/{STATUS_FILE}"
  [ -f "$d/{EXIT_CODE_FILE}" ] && read -r c < "$d/{EXIT_CODE_FILE}"
  [ -f "$d/{PID_FILE}" ] && read -r p < "$d/{PID_FILE}"
  [ -z "$p" ] && [ -f "$d/{CRIMPL_PID_FILE}" ] && read -r p < "$d/{CRIMPL_PID_FILE}"
  if [ -n "$p" ]; then if alive "$p"; then a=1; else a=0; fi; fi
  [ -f "$d/{CANCELED_FILE}" ] && k=1
  [ -f "$d/{STARTED_FILE}" ] && read -r t0 < "$d/{STARTED_FILE}"
  [ -f "$d/{ENDED_FILE}" ] && read -r t1 < "$d/{ENDED_FILE}"
  [ -f "$d/{SLURM_ID_FILE}" ] && read -r q < "$d/{SLURM_ID_FILE}"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$s" "$c" "$a" "$k" "$t0" "$t1" "$q"
done"#,
        dir = directory_word(directory)?,
    ))
}

/// List the entries of a job directory (recursively), NUL-terminated as
/// `type<TAB>size<TAB>path` so any file name survives.
pub fn list_files(job_dir: &str) -> String {
    format!("cd {job_dir} && find . -mindepth 1 -printf '%y\\t%s\\t%P\\0'")
}

/// Print the job's log from byte `offset` on (or its last `tail` lines); exit 3 if the job is missing.
pub fn read_log(job_dir: &str, offset: u64, tail: Option<usize>) -> String {
    match tail {
        Some(n) => {
            format!("cd {job_dir} || exit 3; [ -f {LOG_FILE} ] && tail -n {n} {LOG_FILE}; true")
        }
        None => format!(
            "cd {job_dir} || exit 3; [ -f {LOG_FILE} ] && tail -c +{} {LOG_FILE}; true",
            offset + 1
        ),
    }
}

/// Stream the given entries of a job directory as a tar archive on stdout.
pub fn tar_files(job_dir: &str, names: &[String]) -> anyhow::Result<String> {
    let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect::<Result<_, _>>()?;
    Ok(format!("cd {job_dir} && tar cf - -- {}", quoted.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_relative_directories_keep_home_expandable() {
        assert_eq!(directory_word("~/crimpl").unwrap(), "\"$HOME\"/crimpl");
        assert_eq!(directory_word("~/my jobs").unwrap(), "\"$HOME\"/'my jobs'");
        assert_eq!(directory_word("/tmp/$(id)").unwrap(), "'/tmp/$(id)'");
    }

    #[test]
    fn job_dirs_refuse_hostile_names() {
        assert!(job_dir_word("~/crimpl", "x;rm -rf ~").is_err());
        assert_eq!(job_dir_word("/d", "run-1").unwrap(), "/d/crimpl-job-run-1");
    }

    #[test]
    fn tar_arguments_are_quoted() {
        let cmd = tar_files("/d/crimpl-job-a", &["a b;$(id)".into(), "-rf".into()]).unwrap();
        assert!(cmd.ends_with("tar cf - -- 'a b;$(id)' -rf"), "{cmd}");
    }
}
