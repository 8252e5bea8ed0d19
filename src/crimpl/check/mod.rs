//! `server check`: every step from here to a working job, each with its
//! outcome, the time it took and, when it failed, what to do next. The
//! steps are data; the magics layer renders them.
//!
//! A check reads and probes, and makes nothing that costs money: a step that
//! would have to (starting an AWS instance) is skipped and says so.

use super::aws;
pub use super::checklist::{Checklist, Found, OnStep, Outcome, Problem, Step, problem};
use super::config::ServerConfig;
use super::server_steps;
use super::transport::{LocalTransport, OpenSshTransport, SshTarget, Transport, choose, diagnose};

/// Check server `name` with `config` step by step, reporting each step to `on_step`.
pub fn check(name: &str, config: &ServerConfig, on_step: OnStep<'_>) -> Vec<Step> {
    let mut list = Checklist::new(on_step);
    match config {
        ServerConfig::Local { directory } => {
            server_steps::job_steps(&mut list, &LocalTransport, directory, false);
        }
        ServerConfig::Ssh {
            host,
            directory,
            jump,
            ..
        }
        | ServerConfig::Slurm {
            host,
            directory,
            jump,
            ..
        } => {
            let slurm = matches!(config, ServerConfig::Slurm { .. });
            let kind = config.transport().unwrap_or_default();
            let way = list.step("way in", || {
                choose(kind, host, jump.as_deref())
                    .map(|choice| {
                        let detail = match choice.openssh {
                            true => format!("openssh, the system ssh ({})", choice.why),
                            false => {
                                format!("libssh2, the kernel's own connection ({})", choice.why)
                            }
                        };
                        (choice.openssh, detail)
                    })
                    .map_err(|err| {
                        problem(
                            format!("{err:#}"),
                            format!(
                                "make the server again with another --transport: %crimpl server \
                                 new {} {name} --host {host} --transport libssh2 --replace",
                                config.kind()
                            ),
                        )
                    })
            });
            match way {
                None => {
                    list.skip_after_failure(&remote_names(&["configuration"], slurm));
                    return list.into_steps();
                }
                Some(true) => {
                    openssh_steps(&mut list, name, host, jump.as_deref(), directory, slurm);
                    return list.into_steps();
                }
                Some(false) => {}
            }
            let target = list.step("configuration", || {
                SshTarget::resolve_via(host, jump.as_deref())
                    .map(|target| {
                        let detail = format!(
                            "{host} is {}{} (keys: {})",
                            target.describe(),
                            diagnose::route(&target),
                            diagnose::key_list(&target)
                        );
                        (target, detail)
                    })
                    .map_err(|err| {
                        problem(
                            format!("{err:#}"),
                            format!(
                                "fix the host (or ~/.ssh/config) and make the server again: \
                                 %crimpl server new {} {name} --host ... --replace",
                                config.kind()
                            ),
                        )
                    })
            });
            let Some(target) = target else {
                list.skip_after_failure(&remote_names(diagnose::STEPS, slurm));
                return list.into_steps();
            };
            match diagnose::connect_steps(&mut list, &target, name) {
                Some(transport) => server_steps::job_steps(&mut list, &transport, directory, slurm),
                None => list.skip_after_failure(&server_steps::names(slurm)),
            }
        }
        ServerConfig::Aws(aws) => aws::check::steps(&mut list, name, aws),
    }
    list.into_steps()
}

/// Through the system `ssh`: one step that connects (OpenSSH says what
/// failed in its own words), then the job steps.
fn openssh_steps(
    list: &mut Checklist<'_>,
    name: &str,
    host: &str,
    jump: Option<&str>,
    directory: &str,
    slurm: bool,
) {
    let connected = list.step("connect (OpenSSH)", || {
        let transport = OpenSshTransport::new(host, jump)
            .and_then(|transport| {
                transport
                    .check("exit 0", None, "logging in")
                    .map(|_| transport)
            })
            .map_err(|err| {
                problem(
                    format!("{err:#}"),
                    format!(
                        "`ssh {host}` in a terminal shows the same; fix that, then \
                         %crimpl server check {name}"
                    ),
                )
            })?;
        let detail = match transport.uses_your_master() {
            true => format!("{} over your own ControlMaster", transport.describe()),
            false => format!("{} over the kernel's ControlMaster", transport.describe()),
        };
        Ok((transport, detail))
    });
    match connected {
        Some(transport) => server_steps::job_steps(list, &transport, directory, slurm),
        None => list.skip_after_failure(&server_steps::names(slurm)),
    }
}

/// The connection steps from `first` on, then the job steps.
fn remote_names(connection: &[&'static str], slurm: bool) -> Vec<&'static str> {
    let mut names = connection.to_vec();
    names.extend(server_steps::names(slurm));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_timed_and_reported_as_they_end() {
        let seen = std::sync::Mutex::new(Vec::new());
        let on_step = |steps: &[Step]| seen.lock().unwrap().push(steps.len());
        let mut list = Checklist::new(&on_step);
        assert_eq!(list.step("first", || Ok((7, "found".into()))), Some(7));
        assert_eq!(
            list.step::<()>("second", || Err(problem("broken", "fix it"))),
            None
        );
        list.skip_after_failure(&["third"]);
        let steps = list.into_steps();
        assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
        let outcomes: Vec<_> = steps.iter().map(|s| s.outcome).collect();
        assert_eq!(
            outcomes,
            vec![Outcome::Ok, Outcome::Failed, Outcome::Skipped]
        );
        assert_eq!(steps[1].next.as_deref(), Some("fix it"));
        assert_eq!(steps[0].next, None);
    }

    #[test]
    fn a_local_server_checks_its_directory_and_tools() {
        let dir = tempfile::tempdir().unwrap();
        let config = ServerConfig::Local {
            directory: dir.path().join("jobs").display().to_string(),
        };
        let steps = check("here", &config, &|_| {});
        let names: Vec<_> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, server_steps::names(false));
        for step in &steps {
            assert_eq!(step.outcome, Outcome::Ok, "{step:?}");
        }
        assert!(!dir.path().join("jobs").exists(), "a check creates nothing");
    }
}
