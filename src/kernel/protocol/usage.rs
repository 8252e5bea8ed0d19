//! `usage_request` (answered on shell and control, as ipykernel does): the
//! kernel's CPU and memory, with those of its child processes (evcxr's),
//! and the host's, in the fields jupyter-resource-usage reads.

use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// One `System` for the kernel's life: CPU percentages are measured between two refreshes.
fn system() -> &'static Mutex<Option<System>> {
    static SYSTEM: OnceLock<Mutex<Option<System>>> = OnceLock::new();
    SYSTEM.get_or_init(|| Mutex::new(System::new().ok()))
}

/// The content of `usage_reply`.
pub fn reply() -> Value {
    let pid = std::process::id();
    let mut content = json!({
        "hostname": System::host_name().unwrap_or_default(),
        "pid": pid,
    });
    let mut guard = system().lock().unwrap_or_else(|p| p.into_inner());
    let Some(system) = guard.as_mut() else {
        return content;
    };
    system.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().with_cpu().with_memory(),
    );
    system.refresh_cpu_usage();
    system.refresh_memory();
    let kernel = Pid::from_u32(pid);
    let ours: Vec<&sysinfo::Process> = system
        .processes()
        .values()
        .filter(|p| descends_from(system, p.pid(), kernel))
        .collect();
    content["kernel_cpu"] = json!(ours.iter().map(|p| f64::from(p.cpu_usage())).sum::<f64>());
    content["kernel_memory"] = json!(ours.iter().map(|p| p.memory()).sum::<u64>());
    content["mem_info_type"] = json!("rss");
    content["cpu_count"] = json!(system.cpus().len());
    let cpu = system.global_cpu_usage();
    if cpu > 0.0 {
        content["host_cpu_percent"] = json!(cpu);
    }
    let total = system.total_memory();
    let available = system.available_memory();
    content["host_virtual_memory"] = json!({
        "total": total,
        "available": available,
        "percent": if total > 0 { 100.0 * (total - available.min(total)) as f64 / total as f64 } else { 0.0 },
        "used": system.used_memory(),
        "free": system.free_memory(),
    });
    content
}

/// Whether `pid` is `ancestor` or one of its descendants.
fn descends_from(system: &System, mut pid: Pid, ancestor: Pid) -> bool {
    for _ in 0..64 {
        if pid == ancestor {
            return true;
        }
        match system.process(pid).and_then(|p| p.parent()) {
            Some(parent) => pid = parent,
            None => return false,
        }
    }
    false
}
