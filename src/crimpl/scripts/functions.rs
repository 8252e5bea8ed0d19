//! The shell functions several of the server's scripts share: a process
//! identified beyond its pid, whether a job's process is alive, a job's end
//! recorded, a task started detached. The job wrapper, the array runner and
//! the helpers' runner (`helpers.rs`) all splice them in.

use crate::crimpl::layout::{ENDED_FILE, EXIT_CODE_FILE, STATUS_FILE, WRAPPER};

/// Shell functions that identify a process beyond its (reusable) pid, with
/// builtins only where `/proc` exists (one `ps` per process elsewhere):
/// `this_boot` sets `$boot` (the boot id), `process_start PID` sets
/// `$started` (the start time) and `$state` (`Z` for a zombie).
pub(super) const PROCESS_FUNCTIONS: &str = r#"this_boot() { boot=; if [ -r /proc/sys/kernel/random/boot_id ]; then read -r boot < /proc/sys/kernel/random/boot_id; else boot=$(sysctl -n kern.boottime 2>/dev/null); fi; }
process_start() { started=; state=; if [ -r "/proc/$1/stat" ]; then read -r l < "/proc/$1/stat" || return 1; l=${l##*) }; set -f; set -- $l; set +f; state=$1; started=${20}; else started=$(LC_ALL=C ps -o lstart= -p "$1" 2>/dev/null); fi; }"#;

/// A shell function `alive PID PROCESS_FILE`, after `host` and `boot` are set:
/// 0 if the job's own process runs (same host, same boot, same start time,
/// not a zombie), 1 if it is gone (or the pid now belongs to another
/// process), 2 if it ran on another host (cannot be checked from here), 3 if
/// the pid is not a plausible one (not a number, 0 or 1). Without a process
/// file (jobs of older versions and of crimpl 0.2.0) only the pid is checked.
pub(super) const ALIVE_FUNCTION: &str = r#"alive() {
  case $1 in ''|*[!0-9]*|0|1) return 3;; esac
  ih=; ib=; is=
  [ -f "$2" ] && { read -r ih; read -r ib; read -r is; } < "$2"
  [ -z "$ih" ] || [ "$ih" = "$host" ] || return 2
  [ -z "$ib" ] || [ "$ib" = "$boot" ] || return 1
  kill -0 "$1" 2>/dev/null || return 1
  process_start "$1"
  [ "$state" != Z ] || return 1
  [ -z "$is" ] || [ "$started" = "$is" ] || return 1
  return 0
}
host=$(uname -n); this_boot"#;

/// The shell functions that record a job's status (`put WORD`) and its end
/// (`finish CODE WORD`: end time, exit code, status), shared by the job
/// wrapper and the array runner.
pub(super) fn end_functions() -> String {
    format!(
        r#"put() {{ printf '%s\n' "$1" > {STATUS_FILE}.tmp && mv -f {STATUS_FILE}.tmp {STATUS_FILE}; }}
finish() {{
  date -u +%Y-%m-%dT%H:%M:%SZ > {ENDED_FILE}
  printf '%s\n' "$1" > {EXIT_CODE_FILE}
  put "$2"
}}"#
    )
}

/// Start the task of the current directory here, detached in its own session.
pub(super) fn local_task_start() -> String {
    format!(
        "    if command -v setsid > /dev/null; then setsid sh {WRAPPER} < /dev/null > /dev/null 2>&1 &
    else nohup sh {WRAPPER} < /dev/null > /dev/null 2>&1 & fi"
    )
}
