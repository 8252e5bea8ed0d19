//! The POSIX shell commands the engine runs on a server, built in one place
//! with every interpolated value quoted. The same commands serve the local
//! server (through `sh -c`) and SSH hosts, so both behave the same.

use anyhow::Context;

use super::layout::*;

mod functions;
pub mod helpers;

use functions::{ALIVE_FUNCTION, PROCESS_FUNCTIONS, end_functions, local_task_start};

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

/// What a job's wrapper records when it is signalled by something other
/// than crimpl's own `kill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignSignal {
    /// The job ends `canceled` (a detached job: whoever signalled it meant it).
    Cancels,
    /// The job reads `interrupted` until its scheduler says what happened
    /// (Slurm signals a job it requeues, preempts or times out).
    Interrupts,
}

/// The wrapper that runs the cell body and records how it ends. It runs in
/// its own session, so it outlives the kernel; TERM from `kill` ends it as
/// `canceled`, any other TERM as `foreign` says. Each run counts one attempt
/// (a requeued Slurm job runs it again). A body starting with `#!` is run by
/// its interpreter, others by bash (or sh where bash is missing), as crimpl
/// did. `after` runs once the end is recorded (an EC2 job instance shuts
/// itself down there). A task of an array reads its environment
/// (`CRIMPL_TASK_ID`, its parameters) from its directory first.
pub fn wrapper_script(after: Option<&str>, foreign: ForeignSignal) -> String {
    let after = after.unwrap_or_default();
    let foreign = match foreign {
        ForeignSignal::Cancels => "canceled",
        ForeignSignal::Interrupts => "interrupted",
    };
    let (waits, ends) = (after_wait(), end_functions());
    format!(
        r#"#!/bin/sh
# crimpl job wrapper: runs {SUBMIT_SCRIPT} and records its end.
cd "$(dirname "$0")" || exit 1
{ends}
{PROCESS_FUNCTIONS}
this_boot; process_start $$; {{ uname -n; printf '%s\n' "$boot" "$started"; }} > {PROCESS_FILE}
echo $$ > {PID_FILE}
rm -f {EXIT_CODE_FILE} {ENDED_FILE} {SLURM_END_FILE}
attempt=0; [ -f {ATTEMPT_FILE} ] && read -r attempt < {ATTEMPT_FILE}
case $attempt in ''|*[!0-9]*) attempt=0;; esac
echo $((attempt + 1)) > {ATTEMPT_FILE}
trap 'kill -TERM "$child" 2>/dev/null; if [ -f {CANCELED_FILE} ]; then finish 143 canceled; else finish 143 {foreign}; fi; exit 143' TERM INT HUP
{waits}
date -u +%Y-%m-%dT%H:%M:%SZ > {STARTED_FILE}
put running
[ -f {TASK_ENV} ] && . ./{TASK_ENV}
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

/// The runner of an array on a detached scheduler: it starts the tasks of
/// the task list whose status is `pending`, in order, at most `max_parallel`
/// at once (default: the host's CPU count), each detached in its own session
/// like a single job; it records its own pid, times and end like the
/// wrapper does (`failed` if a task failed or was lost), then runs `after`.
/// TERM from `kill` stops the running tasks and marks the pending ones
/// `canceled` (a task whose process had already vanished stays `lost`).
/// It polls its running tasks' status files five times a second
/// (builtins only, plus one `sleep`): a task whose process vanished without
/// recording its end frees its slot; if the array's directory is deleted,
/// it stops. With `helpers`, tasks also go to the helper machines the job
/// directory lists (see [`helpers`]).
pub fn array_runner(max_parallel: Option<u32>, helpers: bool, after: Option<&str>) -> String {
    let nproc = "$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)";
    let (max, limit) = match (max_parallel, helpers) {
        (Some(n), false) => (n.to_string(), n.to_string()),
        (Some(n), true) => (nproc.to_string(), n.to_string()),
        (None, _) => (nproc.to_string(), "$total".to_string()),
    };
    let (waits, ends) = (after_wait(), end_functions());
    let after = after.unwrap_or_default();
    let (setup, start, release, tidy, stop_tenths) = if helpers {
        (
            helpers::runner_setup(),
            helpers::runner_start(),
            "release_idle",
            "tidy_helpers",
            helpers::STOP_TENTHS,
        )
    } else {
        (String::new(), local_task_start(), ":", ":", 10)
    };
    format!(
        r#"#!/bin/sh
# crimpl array runner: runs the tasks of {TASK_LIST}, at most $limit at once.
cd "$(dirname "$0")" || exit 1
{ends}
{PROCESS_FUNCTIONS}
{ALIVE_FUNCTION}
process_start $$; {{ printf '%s\n' "$host" "$boot" "$started"; }} > {PROCESS_FILE}
echo $$ > {PID_FILE}
rm -f {EXIT_CODE_FILE} {ENDED_FILE}
# $max tasks run here; $places lists the helpers as NUMBER:SLOTS.
max={max}
case $max in ''|*[!0-9]*|0) max=1;; esac
places=; total=$max
{setup}
limit={limit}
case $limit in ''|*[!0-9]*|0) limit=1;; esac
# Keep in $active the tasks still running, as DIR=PLACE (0: here); $n
# counts them. The functions use $u and $e: $t is the main loop's.
active=; n=0
prune() {{
  [ -f {TASK_LIST} ] || exit 0  # the array was deleted
  left=; n=0
  for e in $active; do
    u=${{e%=*}}
    s=; [ -f "$u/{STATUS_FILE}" ] && read -r s < "$u/{STATUS_FILE}"
    case $s in complete|failed|canceled) continue;; esac
    p=; [ -f "$u/{PID_FILE}" ] && read -r p < "$u/{PID_FILE}"
    if [ -n "$p" ]; then alive "$p" "$u/{PROCESS_FILE}"; [ $? -eq 1 ] && continue; fi
    left="$left $e"; n=$((n + 1))
  done
  active=$left
}}
# Choose a free place for the next task ($place), if there is one.
pick() {{
  [ "$n" -lt "$limit" ] || return 1
  for e in 0:$max $places; do
    c=0; for u in $active; do [ "${{u#*=}}" = "${{e%:*}}" ] && c=$((c + 1)); done
    if [ "$c" -lt "${{e#*:}}" ]; then place=${{e%:*}}; return 0; fi
  done
  return 1
}}
stop() {{
  : > {CANCELED_FILE}
  for e in $active; do
    u=${{e%=*}}
    p=; [ -f "$u/{PID_FILE}" ] && read -r p < "$u/{PID_FILE}"
    a=0; [ -n "$p" ] && {{ alive "$p" "$u/{PROCESS_FILE}"; a=$?; }}
    # A task whose process vanished before the kill stays lost, not canceled.
    [ "$a" -eq 1 ] && continue
    : > "$u/{CANCELED_FILE}"
    [ -n "$p" ] && [ "$a" -eq 0 ] && kill -s TERM -- -"$p" 2>/dev/null
  done
  while read -r u id; do
    s=; [ -f "$u/{STATUS_FILE}" ] && read -r s < "$u/{STATUS_FILE}"
    [ "$s" = pending ] && printf 'canceled\n' > "$u/{STATUS_FILE}"
  done < {TASK_LIST}
  i=0; prune; while [ -n "$active" ] && [ $i -lt {stop_tenths} ]; do sleep 0.1; i=$((i + 1)); prune; done
  {tidy}
  finish 143 canceled
  exit 143
}}
trap stop TERM INT HUP
{waits}
date -u +%Y-%m-%dT%H:%M:%SZ > {STARTED_FILE}
put running
while read -r t id; do
  [ -f {CANCELED_FILE} ] && break
  s=; [ -f "$t/{STATUS_FILE}" ] && read -r s < "$t/{STATUS_FILE}"
  [ "$s" = pending ] || continue
  prune
  until pick; do sleep 0.2; prune; done
  ( cd "$t" || exit
    rm -f {CANCELED_FILE} {PID_FILE} {PROCESS_FILE} {EXIT_CODE_FILE} {ENDED_FILE} {ATTEMPT_FILE}
    printf 'starting\n' > {STATUS_FILE}
{start}
  )
  active="$active $t=$place"; n=$((n + 1))
done < {TASK_LIST}
prune; {release}
while [ -n "$active" ]; do sleep 0.2; prune; {release}; done
{tidy}
bad=0
while read -r t id; do
  s=; [ -f "$t/{STATUS_FILE}" ] && read -r s < "$t/{STATUS_FILE}"
  [ "$s" = complete ] || bad=$((bad + 1))
done < {TASK_LIST}
if [ -f {CANCELED_FILE} ]; then finish 143 canceled
elif [ "$bad" -eq 0 ]; then finish 0 complete
else finish 1 failed
fi
{after}
"#
    )
}

/// Waits, in a job directory, for the jobs its [`AFTER_FILE`] names to end
/// (`pending` meanwhile), checking once a second, after the process
/// functions: a job whose process vanished counts as failed. When a job
/// that had to complete did not, it records the job's name as the reason,
/// ends `canceled` (`finish` must be defined) and exits. Under Slurm
/// (`CRIMPL_SLURM_AFTER` set by the batch script) Slurm waited already.
fn after_wait() -> String {
    format!(
        r#"if [ -f {AFTER_FILE} ] && [ -z "${{CRIMPL_SLURM_AFTER:-}}" ]; then
  put pending
  host=$(uname -n); this_boot
  while read -r dep kind; do
    while :; do
      s=; p=; d=../{JOB_DIR_PREFIX}$dep
      [ -f "$d/{STATUS_FILE}" ] && read -r s < "$d/{STATUS_FILE}"
      case $s in complete) break;; failed|canceled|killed) [ "$kind" = ok ] || break; printf '%s\n' "$dep" > {REASON_FILE}; finish 0 canceled; exit 0;; esac
      [ -f "$d/{PID_FILE}" ] && read -r p < "$d/{PID_FILE}"
      if [ -n "$p" ] && [ -f "$d/{PROCESS_FILE}" ]; then
        ih=; ib=; is=; {{ read -r ih; read -r ib; read -r is; }} < "$d/{PROCESS_FILE}"
        gone=0
        if [ "$ih" = "$host" ]; then
          if [ -n "$ib" ] && [ "$ib" != "$boot" ]; then gone=1
          elif ! kill -0 "$p" 2>/dev/null; then gone=1
          else process_start "$p"; {{ [ "$state" = Z ] || [ "$started" != "$is" ]; }} && gone=1
          fi
        fi
        if [ "$gone" = 1 ]; then
          s=; [ -f "$d/{STATUS_FILE}" ] && read -r s < "$d/{STATUS_FILE}"
          case $s in complete|failed|canceled|killed) continue;; esac
          [ "$kind" = ok ] || break; printf '%s\n' "$dep" > {REASON_FILE}; finish 0 canceled; exit 0
        fi
      fi
      sleep 1
    done
  done < {AFTER_FILE}
fi"#
    )
}

/// The `run` command, in the server directory `directory` (a shell word,
/// created with `mode` if missing): unpack the upload arriving on stdin, then run `script` with bash (stdout
/// and stderr together) and remove it. The shell records its pid (the
/// command's process group: sshd and the local transport start each
/// command in a group of its own) and start time in `pid_file`, for
/// [`stop_run`]. `launcher` (words ending in a space, or nothing) runs
/// `bash` elsewhere (Slurm's `srun`).
pub fn run_in_directory(
    directory: &str,
    mode: &str,
    script: &str,
    pid_file: &str,
    launcher: &str,
) -> anyhow::Result<String> {
    let (script, pid_file) = (quote(script)?, quote(pid_file)?);
    Ok(format!(
        r#"{PROCESS_FUNCTIONS}
mkdir -p -m {mode} {directory} && cd {directory} && tar xf - && {{
  process_start $$; printf '%s %s\n' "$$" "$started" > {pid_file}
  {launcher}bash {script} < /dev/null 2>&1; code=$?; rm -f {script} {pid_file}; exit $code; }}"#
    ))
}

/// Stop a command started by [`run_in_directory`]: TERM its process group,
/// KILL what is left after 3 s, remove its script. Signals nothing when the
/// recorded process has ended (or the pid now belongs to another process).
/// Prints one line saying what it did.
pub fn stop_run(directory: &str, script: &str, pid_file: &str) -> anyhow::Result<String> {
    let (script, pid_file) = (quote(script)?, quote(pid_file)?);
    Ok(format!(
        r#"{PROCESS_FUNCTIONS}
cd {directory} 2> /dev/null || {{ echo "the script had not started"; exit 0; }}
p=; s=; [ -f {pid_file} ] && read -r p s < {pid_file}
case $p in ''|*[!0-9]*|0|1) rm -f {script}; echo "the script had not started or had ended"; exit 0;; esac
process_start "$p"
if [ "$started" != "$s" ]; then rm -f {script} {pid_file}; echo "the script had ended"; exit 0; fi
kill -s TERM -- -"$p" 2> /dev/null
i=0; while kill -s 0 -- -"$p" 2> /dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done
how=SIGTERM; kill -s KILL -- -"$p" 2> /dev/null && how="SIGKILL, after SIGTERM for 3 s"
rm -f {script} {pid_file}
echo "stopped the script: its process group $p ended ($how)""#
    ))
}

/// Start the wrapper of the job in `job_dir` detached (own session, no
/// terminal, no inherited streams), after marking it `starting`.
pub fn start_detached(job_dir: &str) -> String {
    format!(
        "cd {job_dir} && rm -f {CANCELED_FILE} {PID_FILE} {PROCESS_FILE} {EXIT_CODE_FILE} {ENDED_FILE} {ATTEMPT_FILE} && \
         printf 'starting\\n' > {STATUS_FILE} && \
         if command -v setsid > /dev/null; then setsid sh {WRAPPER} < /dev/null > /dev/null 2>&1 & \
         else nohup sh {WRAPPER} < /dev/null > /dev/null 2>&1 & fi"
    )
}

/// Make the task directories `dirs` of an array (in the current directory)
/// `pending` again, forgetting their last run's end.
pub fn reset_tasks(dirs: &[&str]) -> anyhow::Result<String> {
    let quoted: Vec<String> = dirs.iter().map(|d| quote(d)).collect::<Result<_, _>>()?;
    Ok(format!(
        "for t in {}; do (cd \"$t\" && rm -f {CANCELED_FILE} {PID_FILE} {PROCESS_FILE} {EXIT_CODE_FILE} \
         {STARTED_FILE} {ENDED_FILE} {ATTEMPT_FILE} {SLURM_END_FILE} && printf 'pending\\n' > {STATUS_FILE}) || exit 1; done",
        quoted.join(" ")
    ))
}

/// Kill the job in `job_dir` started by [`start_detached`] (or crimpl 0.2.0's
/// nohup job): mark it canceled, TERM its process group, KILL what is left.
/// Signals only the job's own process: a job that has ended, or whose pid
/// now belongs to another process, gets none. A job killed as it starts is
/// given up to 5 s to record its pid. Prints what it did, one line:
/// `signalled`, `ended STATUS`, `gone` or `elsewhere HOST`.
pub fn kill_detached(job_dir: &str) -> String {
    format!(
        r#"{PROCESS_FUNCTIONS}
{ALIVE_FUNCTION}
cd {job_dir} || exit 3
s=; [ -f {STATUS_FILE} ] && read -r s < {STATUS_FILE}
case "$s" in canceled|complete|failed) echo "ended $s"; exit 0;; esac
p=; [ -f {PID_FILE} ] && read -r p < {PID_FILE}
[ -z "$p" ] && [ -f {CRIMPL_PID_FILE} ] && read -r p < {CRIMPL_PID_FILE}
# Just submitted: the wrapper records its pid as it starts; wait for it (5 s).
i=0; while [ -z "$p" ] && [ "$s" = starting ] && [ $i -lt 50 ]; do
  sleep 0.1; i=$((i+1)); [ -f {PID_FILE} ] && read -r p < {PID_FILE}
done
[ -n "$p" ] || {{ echo "no process id recorded" >&2; exit 4; }}
alive "$p" {PROCESS_FILE}
case $? in
  1|3) echo gone; exit 0;;
  2) echo "elsewhere $ih"; exit 0;;
esac
touch {CANCELED_FILE}
kill -s TERM -- -"$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
i=0; while alive "$p" {PROCESS_FILE} && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
kill -s KILL -- -"$p" 2>/dev/null
read -r s < {STATUS_FILE}; case "$s" in canceled|complete|failed) ;; *) printf 'canceled\n' > {STATUS_FILE};; esac
echo signalled"#
    )
}

/// One pass over the job directories matching `pattern` (a shell glob such
/// as `crimpl-job-*` inside the server directory), printing one
/// tab-separated record per job with shell builtins only (no process per job):
/// `name status exitcode alive canceled started ended slurm_id attempt
/// slurm_cluster slurm_end array reason`, and for an array one more per
/// task, named `job/task-0007`.
/// Liveness is read before the status file, so a job that ends between the
/// two reads shows its end, never `lost`. A process recorded on another host
/// reads as unknown (`-`), or as gone when `other_hosts_gone` (an EC2 volume
/// is on one instance at a time: a process of another instance no longer
/// works on it).
pub fn survey(directory: &str, pattern: &str, other_hosts_gone: bool) -> anyhow::Result<String> {
    let elsewhere = if other_hosts_gone { "0" } else { "-" };
    Ok(format!(
        r#"{PROCESS_FUNCTIONS}
{ALIVE_FUNCTION}
record() {{
  s=; c=; a=-; k=0; t0=; t1=; q=; p=; at=; cl=; e=; y=0; r=
  [ -f "$1/{PID_FILE}" ] && read -r p < "$1/{PID_FILE}"
  [ -z "$p" ] && [ -f "$1/{CRIMPL_PID_FILE}" ] && read -r p < "$1/{CRIMPL_PID_FILE}"
  if [ -n "$p" ]; then
    alive "$p" "$1/{PROCESS_FILE}"
    case $? in 0) a=1;; 1) a=0;; 2) a={elsewhere};; esac
  fi
  [ -f "$1/{STATUS_FILE}" ] && read -r s < "$1/{STATUS_FILE}"
  [ -f "$1/{EXIT_CODE_FILE}" ] && read -r c < "$1/{EXIT_CODE_FILE}"
  [ -f "$1/{CANCELED_FILE}" ] && k=1
  [ -f "$1/{STARTED_FILE}" ] && read -r t0 < "$1/{STARTED_FILE}"
  [ -f "$1/{ENDED_FILE}" ] && read -r t1 < "$1/{ENDED_FILE}"
  [ -f "$1/{SLURM_ID_FILE}" ] && {{ read -r q; while read -r x; do q="$q+$x"; done; }} < "$1/{SLURM_ID_FILE}"
  [ -f "$1/{ATTEMPT_FILE}" ] && read -r at < "$1/{ATTEMPT_FILE}"
  [ -f "$1/{SLURM_CLUSTER_FILE}" ] && read -r cl < "$1/{SLURM_CLUSTER_FILE}"
  [ -f "$1/{SLURM_END_FILE}" ] && read -r e < "$1/{SLURM_END_FILE}"
  [ -f "$1/{TASK_LIST}" ] && y=1
  r=; [ -f "$1/{REASON_FILE}" ] && read -r r < "$1/{REASON_FILE}"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$s" "$c" "$a" "$k" "$t0" "$t1" "$q" "$at" "$cl" "$e" "$y" "$r"
}}
cd {dir} 2>/dev/null || exit 0
for d in {pattern}/; do
  [ -d "$d" ] || continue
  d=${{d%/}}; n=${{d#{JOB_DIR_PREFIX}}}
  record "$d" "$n"
  [ "$y" = 1 ] || continue
  for t in "$d"/{TASK_DIR_PREFIX}*/; do
    [ -d "$t" ] || continue
    t=${{t%/}}; record "$t" "$n/${{t##*/}}"
  done
done"#,
        dir = directory_word(directory)?,
    ))
}

/// List a job directory, every record NUL-terminated so any name survives:
/// first each line of the input list, marked `=` if it names an existing
/// entry and `~` if not (crimpl 0.2.0's space-separated form), then an
/// empty record, then the entries (all, or down to `max_depth`) as
/// `type<TAB>size<TAB>path`. Exits 3 when there is no such job directory.
pub fn list_files(job_dir: &str, max_depth: Option<u32>) -> String {
    let depth = max_depth.map_or(String::new(), |d| format!("-maxdepth {d} "));
    format!(
        r#"cd {job_dir} || exit 3
if [ -f {INPUT_LIST} ]; then
  while IFS= read -r l || [ -n "$l" ]; do
    [ -n "$l" ] || continue
    if [ -e "./$l" ]; then printf '=%s\0' "$l"; else printf '~%s\0' "$l"; fi
  done < {INPUT_LIST}
fi
printf '\0'
find . -mindepth 1 {depth}-printf '%y\t%s\t%P\0'"#
    )
}

/// Which of a job's logs to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// The script's own output (`crimpl-job.log`).
    Job,
    /// Slurm's output file of the latest submission (Slurm's own messages).
    Slurm,
}

/// Sets `$f` to the log's file name, inside the job directory.
fn log_file(kind: LogKind) -> String {
    match kind {
        LogKind::Job => format!("f={LOG_FILE}"),
        LogKind::Slurm => format!(
            "id=; [ -f {SLURM_ID_FILE} ] && read -r id < {SLURM_ID_FILE}; f={}",
            slurm_output_name("$id")
        ),
    }
}

/// Print at most `max_bytes` of the job's log from byte `offset` on.
pub fn read_log(job_dir: &str, kind: LogKind, offset: u64, max_bytes: u64) -> String {
    format!(
        "cd {job_dir} || exit 3; {}; [ -f \"$f\" ] && tail -c +{} \"$f\" | head -c {max_bytes}; true",
        log_file(kind),
        offset + 1
    )
}

/// Print the size of the job's own log on a line, then its last `max_bytes`.
pub fn log_end(job_dir: &str, max_bytes: u64) -> String {
    format!(
        "cd {job_dir} || exit 3; f={LOG_FILE}; [ -f \"$f\" ] || {{ echo 0; exit 0; }}; \
         wc -c < \"$f\"; tail -c {max_bytes} \"$f\""
    )
}

/// Print the byte offset where the last `lines` lines of the job's log start.
pub fn log_tail_offset(job_dir: &str, kind: LogKind, lines: usize) -> String {
    format!(
        "cd {job_dir} || exit 3; {}; [ -f \"$f\" ] || {{ echo 0; exit 0; }}; \
         s=$(wc -c < \"$f\"); t=$(tail -n {lines} \"$f\" | wc -c); \
         [ \"$t\" -le \"$s\" ] && echo $((s - t)) || echo 0",
        log_file(kind)
    )
}

/// Exit 0 if the job is an array, 1 if not (3 if there is no such job).
pub fn is_array(job_dir: &str) -> String {
    format!("cd {job_dir} || exit 3; [ -f {TASK_LIST} ]")
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
