//! An array spread over helper machines (AWS `--instances K`): the machine
//! holding the job directory runs the array's runner, which also sends
//! tasks to the helpers the job directory lists. Each helper gets the
//! array's script, task wrapper and inputs once; each task's directory is
//! sent there when it starts, run detached, and brought back whole when it
//! ends, so every result lands in the job directory. OpenSSH's `ssh`
//! carries it all, with a key made for the array alone.

use super::functions::{ALIVE_FUNCTION, PROCESS_FUNCTIONS, end_functions, local_task_start};
use crate::crimpl::layout::TASK_WRAPPER;
use crate::crimpl::layout::{
    CANCELED_FILE, INPUT_LIST, LOG_FILE, PID_FILE, PROCESS_FILE, STARTED_FILE, STATUS_FILE,
    SUBMIT_SCRIPT, WRAPPER,
};

/// The helpers, one per line: `USER@ADDRESS PORT`.
pub const HELPERS_FILE: &str = "crimpl-array.helpers";
/// The private key the runner reaches the helpers with.
pub const KEY_FILE: &str = "crimpl-array.key";
/// Its public half (the helpers' `authorized_keys` line).
pub const PUBLIC_KEY_FILE: &str = "crimpl-array.key.pub";
/// The helpers' host keys, as first seen.
pub const KNOWN_HOSTS_FILE: &str = "crimpl-array.known_hosts";
/// The script that runs one task on a helper (in the job directory).
pub const REMOTE_TASK: &str = "crimpl-remote-task.sh";
/// The script that waits, on a helper, for one task to end.
pub const HELPER_WAIT: &str = "crimpl-helper-wait.sh";
/// Where a helper keeps its arrays, in its user's home.
pub const HELPER_DIR: &str = ".crimpl-helper";
/// How long (tenths of a second) a killed runner waits for its tasks to be
/// canceled on the helpers and brought back.
pub const STOP_TENTHS: u32 = 600;

/// `ssh_to DEST PORT COMMAND`, with the array's key and known hosts in
/// `job_dir` (a shell word): never a prompt, a dead helper noticed within a
/// minute, a new helper's host key recorded on first contact.
fn ssh_function(job_dir: &str) -> String {
    format!(
        r#"ssh_to() {{ d=$1; q=$2; shift 2; ssh -i {job_dir}/{KEY_FILE} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={job_dir}/{KNOWN_HOSTS_FILE} -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4 -o LogLevel=ERROR -p "$q" "$d" "$@"; }}
say() {{ printf 'crimpl: %s\n' "$*" >> {LOG_FILE}; }}"#
    )
}

/// The runner's set-up, in the job directory: send each helper the array's
/// shared files and read how many CPUs it has (`$places` gets
/// `NUMBER:CPUS`, `$total` grows), and define how helpers are released
/// (emptied, the array's key removed, shut down): `release_idle` each
/// helper with no task left once all have started, `tidy_helpers` all of
/// them at the end, which then deletes the key pair from the job directory. A helper that cannot be reached is left out and the
/// log says so.
pub fn runner_setup() -> String {
    let ssh = ssh_function(".");
    format!(
        r#"{ssh}
R={HELPER_DIR}/${{PWD##*/}}
i=0
while read -r d q; do
  i=$((i + 1))
  c=$({{ printf '%s\n' {TASK_WRAPPER} {SUBMIT_SCRIPT} {HELPER_WAIT}; cat {INPUT_LIST}; }} | tar -c --verbatim-files-from -T - -f - |
    ssh_to "$d" "$q" "rm -rf $R/$i && mkdir -p $R/$i && tar -x -f - -C $R/$i && {{ nproc 2>/dev/null || echo 1; }}" 2>> {LOG_FILE})
  case $c in ''|*[!0-9]*|0) say "the helper machine $d cannot be reached: the other machines run its share"; continue;; esac
  places="$places $i:$c"; total=$((total + c))
  say "the helper machine $d runs up to $c tasks at once"
done < {HELPERS_FILE}
# Empty helper number $3 (USER@ADDRESS $1, port $2), take the array's key
# out of it (the one line the kernel added) and shut it down (it
# terminates), once. Each helper has a directory and a key line of its own,
# so a release touches nothing of another helper's even where helpers share
# a home (as the tests' stand-in instances do).
released=
release() {{
  k=; [ -f {PUBLIC_KEY_FILE} ] && read -r k < {PUBLIC_KEY_FILE}
  ssh_to "$1" "$2" "rm -rf $R/$3; rmdir $R {HELPER_DIR} 2> /dev/null; f=.ssh/authorized_keys; if awk -v k='$k' '!d && \$0 == k {{ d = 1; next }} {{ print }}' \$f > \$f.crimpl; then cat \$f.crimpl > \$f; fi; rm -f \$f.crimpl; sudo -n shutdown -h now" < /dev/null > /dev/null 2>&1
}}
# Once every task has started: release each helper left with none running.
release_idle() {{
  for e in $places; do
    i=${{e%:*}}
    case " $released " in *" $i "*) continue;; esac
    for u in $active; do [ "${{u#*=}}" = "$i" ] && continue 2; done
    set -- $(sed -n "${{i}}p" {HELPERS_FILE})
    release "$1" "$2" "$i"; released="$released $i"
    say "the helper machine $1 has no task left: it shuts down"
  done
}}
# At the end: release the helpers not yet released, then delete the array's
# key (it opens nothing any more, and must not come back with a fetch).
tidy_helpers() {{
  i=0
  while read -r d q; do
    i=$((i + 1))
    case " $released " in *" $i "*) continue;; esac
    release "$d" "$q" "$i"; released="$released $i"
  done < {HELPERS_FILE}
  rm -f {KEY_FILE} {PUBLIC_KEY_FILE}
}}"#
    )
}

/// How the runner starts the task of the current directory at `$place`:
/// here (0), or through [`remote_task`] on helper number `$place`.
pub fn runner_start() -> String {
    format!(
        r#"    if [ "$place" = 0 ]; then
{local}
    else
      set -- $(sed -n "${{place}}p" ../{HELPERS_FILE})
      setsid sh ../{REMOTE_TASK} "$1" "$2" "$R/$place" < /dev/null > /dev/null 2>&1 &
    fi"#,
        local = local_task_start()
    )
}

/// The script that runs the task of the current directory on a helper
/// (`USER@ADDRESS`, port, the array's directory there). It stands for the
/// task here (its pid is the task's), so a lost helper, or a task whose
/// process vanished there without recording its end, reads as a lost
/// task; killed, it cancels the task on the helper and still brings back
/// what the task wrote. It retries a broken wait for five minutes.
pub fn remote_task() -> String {
    let ssh = ssh_function("\"$job\"");
    let ends = end_functions();
    format!(
        r#"#!/bin/sh
# crimpl remote task: runs this directory's task on a helper machine ($1,
# SSH port $2, in $3/TASK there), waits for its end and brings it back.
d=$1; q=$2; here=$(pwd); job=${{here%/*}}; r=$3/${{here##*/}}
{ends}
{PROCESS_FUNCTIONS}
this_boot; process_start $$; {{ uname -n; printf '%s\n' "$boot" "$started"; }} > {PROCESS_FILE}
echo $$ > {PID_FILE}
{ssh}
stopping=
trap 'stopping=1' TERM INT HUP
date -u +%Y-%m-%dT%H:%M:%SZ > {STARTED_FILE}
if tar -c -f - . | ssh_to "$d" "$q" "rm -rf $r && mkdir -p $r && cd $r && tar -x -f - && rm -f {PID_FILE} {PROCESS_FILE} && {{ setsid sh {WRAPPER} < /dev/null > /dev/null 2>&1 & }}" 2>> {LOG_FILE}; then
  put running
elif [ -z "$stopping" ]; then
  say "could not start the task on the helper machine $d"
  finish 255 failed
  exit 255
fi
tries=0
until [ -n "$stopping" ] || ssh_to "$d" "$q" "cd $r && sh ../{HELPER_WAIT}" < /dev/null 2>> {LOG_FILE}; do
  [ -n "$stopping" ] && break
  tries=$((tries + 1))
  if [ "$tries" -ge 20 ]; then say "lost the helper machine $d: the task's end is unknown"; exit 1; fi
  sleep 15
done
if [ -n "$stopping" ]; then
  # Killed, perhaps while the task was being sent: cancel it there if it started.
  ssh_to "$d" "$q" "cd $r || exit 0; : > {CANCELED_FILE}; read -r p < {PID_FILE} && kill -s TERM -- -\$p; sh ../{HELPER_WAIT}" < /dev/null 2>> {LOG_FILE}
fi
if ! ssh_to "$d" "$q" "cd $r && rm -f {PID_FILE} {PROCESS_FILE} && tar -c -f - ." < /dev/null 2>> {LOG_FILE} | tar -x -f - 2>> {LOG_FILE}; then
  if [ -n "$stopping" ]; then
    say "canceled; nothing came back from the helper machine $d"
    finish 143 canceled
    exit 143
  fi
  say "could not bring the task back from the helper machine $d (it stays there in $r)"
  exit 1
fi
ssh_to "$d" "$q" "rm -rf $r" < /dev/null 2>> {LOG_FILE}
s=; [ -f {STATUS_FILE} ] && read -r s < {STATUS_FILE}
case $s in
  complete|failed|canceled) ;;
  *) say "the task's process on the helper machine $d ended without recording its end"; exit 1;;
esac
"#
    )
}

/// The script that returns once the task of the current directory (on a
/// helper) has ended: its status is final, or its process is gone, or it
/// never started within a minute.
pub fn helper_wait() -> String {
    format!(
        r#"#!/bin/sh
# crimpl helper wait: returns once this directory's task has ended.
{PROCESS_FUNCTIONS}
{ALIVE_FUNCTION}
i=0
while :; do
  s=; [ -f {STATUS_FILE} ] && read -r s < {STATUS_FILE}
  case $s in complete|failed|canceled) exit 0;; esac
  p=; [ -f {PID_FILE} ] && read -r p < {PID_FILE}
  if [ -n "$p" ]; then alive "$p" {PROCESS_FILE}; [ $? -eq 1 ] && exit 0
  else i=$((i + 1)); [ $i -ge 60 ] && exit 0
  fi
  sleep 1
done
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crimpl::scripts::array_runner;

    /// `sh -n`: the script parses (the AWS tests run these scripts end to
    /// end; this catches a broken one without them).
    fn parses(script: &str) -> bool {
        std::process::Command::new("sh")
            .args(["-n", "-c", script])
            .status()
            .unwrap()
            .success()
    }

    #[test]
    fn the_helper_scripts_parse_and_the_runner_uses_them_only_when_asked() {
        let spread = array_runner(Some(8), true, Some("sudo -n shutdown -h +1"));
        let alone = array_runner(None, false, None);
        for script in [&spread, &alone, &remote_task(), &helper_wait()] {
            assert!(parses(script), "{script}");
        }
        assert!(spread.contains(HELPERS_FILE) && spread.contains("limit=8"));
        assert!(spread.trim_end().ends_with("sudo -n shutdown -h +1"));
        assert!(!alone.contains(HELPERS_FILE) && !alone.contains("ssh"));
        assert!(alone.contains("limit=$total"));
    }
}
