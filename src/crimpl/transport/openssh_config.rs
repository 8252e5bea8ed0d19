//! Hosts resolved by the user's own OpenSSH: `ssh -G HOST` prints every
//! setting `ssh HOST` would use, after OpenSSH has evaluated the whole
//! configuration in its own order (`Host`, every `Match` criterion with
//! `exec`, `localuser`, `canonical`, `final` and `tagged` among them,
//! `Include`, `=` syntax, first value wins, defaults). Where an `ssh` client
//! is installed the kernel takes a host's settings from there, so a host
//! resolves as in the user's terminal; the kernel's own reader
//! ([`super::ssh_config`]) is the fallback where there is none.
//!
//! `ssh -G` leaves `~` and the `%` tokens of `IdentityFile`,
//! `CertificateFile` and `ProxyCommand` for connection time: they are
//! expanded here ([`Tokens`]).
//!
//! OpenSSH finds `~` and `~/.ssh/config` through the password database; the
//! kernel, like most programs, through `HOME`. They differ only when `HOME`
//! was changed on purpose (a container, a test): then `$HOME/.ssh/config`
//! is named with `-F` (which also leaves out `/etc/ssh/ssh_config`, as the
//! kernel's own reader does) and the paths OpenSSH expanded under the
//! password database's home are read under `HOME`.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use wait_timeout::ChildExt;

/// How long one `ssh -G` may take (the commands of `Match exec` run in it).
const TIMEOUT: Duration = Duration::from_secs(20);

/// The user's `ssh` client, resolving hosts.
#[derive(Debug, Clone)]
pub struct OpenSsh {
    program: PathBuf,
    home: PathBuf,
    /// The file given with `-F` (`none`: no file at all), when OpenSSH
    /// would not find the kernel's `~/.ssh/config` by itself.
    config_file: Option<PathBuf>,
    /// The password database's home, when it is not `HOME`.
    passwd_home: Option<PathBuf>,
}

/// Every setting `ssh -G` printed: keyword (lower case) to its values, one
/// per line it printed (`identityfile` and `sendenv` repeat).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings(BTreeMap<String, Vec<String>>);

impl Settings {
    /// `ssh -G`'s output read: `keyword value` lines.
    pub fn parse(text: &str) -> Self {
        let mut settings = BTreeMap::<String, Vec<String>>::new();
        for line in text.lines() {
            let (keyword, value) = line.split_once(' ').unwrap_or((line, ""));
            if !keyword.is_empty() {
                settings
                    .entry(keyword.to_ascii_lowercase())
                    .or_default()
                    .push(value.to_string());
            }
        }
        Self(settings)
    }

    /// The (first) value of `keyword`, unless it is absent or `none`.
    pub fn get(&self, keyword: &str) -> Option<&str> {
        self.0
            .get(keyword)
            .and_then(|values| values.first())
            .map(String::as_str)
            .filter(|value| !value.is_empty() && *value != "none")
    }

    /// Every value printed for `keyword`.
    pub fn all(&self, keyword: &str) -> &[String] {
        self.0.get(keyword).map_or(&[], Vec::as_slice)
    }
}

impl OpenSsh {
    /// The `ssh` on `PATH`, resolving for a kernel whose home is `home`;
    /// `None` where no `ssh` client is installed.
    pub fn find(home: &Path) -> Option<Self> {
        let program = on_path("ssh")?;
        let passwd_home = passwd_home().filter(|found| found != home);
        let config_file = passwd_home.as_ref().map(|_| {
            let file = home.join(".ssh").join("config");
            if file.exists() {
                file
            } else {
                PathBuf::from("none")
            }
        });
        Some(Self {
            program,
            home: home.to_path_buf(),
            config_file,
            passwd_home,
        })
    }

    /// The `ssh` on `PATH` reading only `config_file` (as `ssh -F` does), for tests.
    #[cfg(test)]
    pub fn with_config_file(home: &Path, config_file: &Path) -> Option<Self> {
        Some(Self {
            program: on_path("ssh")?,
            home: home.to_path_buf(),
            config_file: Some(config_file.to_path_buf()),
            passwd_home: passwd_home().filter(|found| found != home),
        })
    }

    /// What `ssh` would use to reach `host`, logging in as `user` on `port`
    /// when they are given (as `ssh -l USER -p PORT HOST`).
    pub fn settings(
        &self,
        host: &str,
        user: Option<&str>,
        port: Option<u16>,
    ) -> anyhow::Result<Settings> {
        let mut command = Command::new(&self.program);
        command.arg("-G");
        if let Some(file) = &self.config_file {
            command.arg("-F").arg(file);
        }
        if let Some(user) = user {
            command.arg("-l").arg(user);
        }
        if let Some(port) = port {
            command.arg("-p").arg(port.to_string());
        }
        command
            .arg("--")
            .arg(host)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot run {}", self.program.display()))?;
        let mut stdout = child.stdout.take().context("no stdout pipe")?;
        let mut stderr = child.stderr.take().context("no stderr pipe")?;
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let Some(status) = child.wait_timeout(TIMEOUT)? else {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "`ssh -G {host}` took more than {} s: a `Match exec` command in the ssh \
                 configuration does not end",
                TIMEOUT.as_secs()
            );
        };
        let mut errors = String::new();
        let _ = stderr.read_to_string(&mut errors);
        let text = reader.join().unwrap_or_default();
        if !status.success() {
            bail!(
                "OpenSSH cannot read the ssh configuration for {host:?}: {}\nFix the file it \
                 names (`ssh -G {host}` shows the same)",
                errors.trim()
            );
        }
        Ok(Settings::parse(&text))
    }

    /// A path OpenSSH printed, as the kernel reads it: under `HOME` when
    /// OpenSSH expanded it under the password database's home.
    pub fn local_path(&self, path: &str) -> PathBuf {
        let path = expand_tilde(path, &self.home);
        match &self.passwd_home {
            Some(passwd) => match path.strip_prefix(passwd) {
                Ok(rest) => self.home.join(rest),
                Err(_) => path,
            },
            None => path,
        }
    }

    /// An `ssh` command reading the configuration [`OpenSsh::settings`] reads.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        if let Some(file) = &self.config_file {
            command.arg("-F").arg(file);
        }
        command
    }

    /// Whether OpenSSH's `~` (the password database's home) is not the
    /// kernel's `HOME`: then paths under `~` must be given to `ssh` explicitly.
    pub fn home_redirected(&self) -> bool {
        self.passwd_home.is_some()
    }

    /// The kernel's home (`%d`, `~`).
    pub fn home(&self) -> &Path {
        &self.home
    }
}

/// The values of OpenSSH's `%` tokens for one host (ssh_config(5), TOKENS).
pub struct Tokens<'a> {
    /// `%h`: the host name to connect to.
    pub host_name: &'a str,
    /// `%p`: the port.
    pub port: u16,
    /// `%r`: the remote user.
    pub user: &'a str,
    /// `%n`: the host as written.
    pub original: &'a str,
    /// `%k`: the host key alias, else the host as written.
    pub host_key: &'a str,
    /// `%j`: the ProxyJump value, or empty.
    pub proxy_jump: &'a str,
    /// `%d`: the local home.
    pub home: &'a Path,
}

impl Tokens<'_> {
    /// `text` with its tokens expanded; one the kernel does not know stays
    /// as written.
    pub fn expand(&self, text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('h') => out.push_str(self.host_name),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('r') => out.push_str(self.user),
                Some('n') => out.push_str(self.original),
                Some('k') => out.push_str(self.host_key),
                Some('j') => out.push_str(self.proxy_jump),
                Some('d') => out.push_str(&self.home.to_string_lossy()),
                Some('u') => out.push_str(&whoami::username().unwrap_or_default()),
                Some('i') => out.push_str(&unsafe { libc::getuid() }.to_string()),
                Some('L') => out.push_str(local_host_name().split('.').next().unwrap_or_default()),
                Some('l') => out.push_str(&local_host_name()),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        out
    }
}

/// `~/path` under `home`; any other path as it is.
pub fn expand_tilde(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if path == "~" => home.to_path_buf(),
        None => PathBuf::from(path),
    }
}

fn local_host_name() -> String {
    whoami::hostname().unwrap_or_default()
}

/// `name` in a directory of `PATH`, if it is there.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The home directory the password database gives this process's user
/// (where OpenSSH looks for `~/.ssh`).
fn passwd_home() -> Option<PathBuf> {
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes the entry into `entry` and its strings into
    // `buffer`, both alive and of the sizes given; `found` is set to `&entry`
    // or null.
    let code = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if code != 0 || found.is_null() || entry.pw_dir.is_null() {
        return None;
    }
    // SAFETY: pw_dir points to a NUL-terminated string inside `buffer`.
    let dir = unsafe { CStr::from_ptr(entry.pw_dir) };
    Some(PathBuf::from(dir.to_string_lossy().into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_keep_every_line_and_treat_none_as_absent() {
        let settings = Settings::parse(
            "user alice\nidentityfile ~/.ssh/a\nidentityfile ~/.ssh/b\nproxycommand none\nsendenv LC_*\n",
        );
        assert_eq!(settings.get("user"), Some("alice"));
        assert_eq!(settings.all("identityfile"), ["~/.ssh/a", "~/.ssh/b"]);
        assert_eq!(settings.get("proxycommand"), None);
        assert_eq!(settings.get("hostkeyalias"), None);
    }

    #[test]
    fn tokens_expand_as_openssh_documents_them() {
        let tokens = Tokens {
            host_name: "10.0.0.9",
            port: 2222,
            user: "alice",
            original: "cluster",
            host_key: "cluster",
            proxy_jump: "gate",
            home: Path::new("/home/u"),
        };
        assert_eq!(
            tokens.expand("nc %h %p %r %n %k %j %d 100%% %Z"),
            "nc 10.0.0.9 2222 alice cluster cluster gate /home/u 100% %Z"
        );
        assert_eq!(tokens.expand("%i"), unsafe { libc::getuid() }.to_string());
    }

    #[test]
    fn paths_under_the_password_databases_home_are_read_under_home() {
        let openssh = OpenSsh {
            program: "ssh".into(),
            home: "/tmp/kernel-home".into(),
            config_file: None,
            passwd_home: Some("/root".into()),
        };
        assert_eq!(
            openssh.local_path("/root/.ssh/known_hosts"),
            PathBuf::from("/tmp/kernel-home/.ssh/known_hosts")
        );
        assert_eq!(
            openssh.local_path("~/.ssh/id"),
            PathBuf::from("/tmp/kernel-home/.ssh/id")
        );
        assert_eq!(
            openssh.local_path("/etc/ssh/ssh_known_hosts"),
            PathBuf::from("/etc/ssh/ssh_known_hosts")
        );
    }

    #[test]
    fn the_password_database_names_a_home() {
        assert!(passwd_home().is_some_and(|home| home.is_absolute()));
    }
}
