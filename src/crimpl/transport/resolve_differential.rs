//! The kernel's own `~/.ssh/config` reader against OpenSSH's `ssh -G`, on
//! a generated corpus of configurations: `Host` and `Match` blocks
//! (`all`, `host`, `originalhost`, `user`, negations, an `exec` that belongs
//! to other hosts), patterns with `*`, `?` and `!`, `Include` with globs,
//! `%` tokens, `Keyword=value` syntax, first value wins, `Host *` defaults,
//! `IgnoreUnknown`, jump hosts and proxy commands. Every field the kernel
//! connects with must come out the same from both, for several hosts and
//! users of each configuration.
//!
//! Left out, as the README's limits say: `HostName` and `User` set inside
//! `Match` blocks or after a `Match host`/`Match user` that would test them
//! (the kernel's reader takes both from a first reading), a `ProxyJump` that
//! applies to its own jump host, and `ProxyJump` with `ProxyCommand` in one
//! configuration.

use std::fmt::Write;
use std::path::Path;

use proptest::prelude::*;

use super::openssh_config::OpenSsh;
use super::ssh_config::UserConfig;
use super::ssh_target::SshTarget;

/// The hosts each configuration is resolved for (as typed), and users.
const HOSTS: [&str; 6] = [
    "alpha",
    "beta.example.org",
    "gamma",
    "node7",
    "10.1.2.3",
    "delta",
];
const USERS: [Option<&str>; 2] = [None, Some("carol")];

/// A setting line in one of the spellings OpenSSH accepts.
fn spelled(keyword: &'static str, value: String) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(format!("  {keyword} {value}")),
        Just(format!("  {keyword}={value}")),
        Just(format!("\t{} = {value}", keyword.to_ascii_lowercase())),
    ]
}

/// Settings any block may hold (no HostName, User or jump settings).
fn common_setting() -> impl Strategy<Value = String> {
    prop_oneof![
        (2201u16..2204).prop_flat_map(|port| spelled("Port", port.to_string())),
        prop::sample::select(vec![
            "/keys/k1",
            "~/.ssh/k2",
            "/keys/%r_at_%h",
            "%d/.ssh/k_%n",
            "~/.ssh/id_%u",
            "/keys/100%%"
        ])
        .prop_flat_map(|file| spelled("IdentityFile", file.to_string())),
        prop::bool::ANY
            .prop_flat_map(|yes| spelled("IdentitiesOnly", if yes { "yes" } else { "no" }.into())),
        prop::sample::select(vec!["~/.ssh/kh1", "/kh/a /kh/b", "~/.ssh/kh_%h"])
            .prop_flat_map(|files| spelled("UserKnownHostsFile", files.to_string())),
        Just("  GlobalKnownHostsFile /etc/site_known_hosts".to_string()),
        prop::sample::select(vec!["alias-one", "alias-two"])
            .prop_flat_map(|alias| spelled("HostKeyAlias", alias.to_string())),
        (1u64..9).prop_flat_map(|s| spelled("ConnectTimeout", s.to_string())),
        (1u64..30).prop_flat_map(|s| spelled("ServerAliveInterval", s.to_string())),
        (1u64..6).prop_flat_map(|n| spelled("ServerAliveCountMax", n.to_string())),
        Just("  Frobnicate yes".to_string()),
    ]
}

/// Settings of the first section's `Host` blocks: where names and users come from.
fn naming_setting() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["h1.example.org", "%h.cluster.org", "10.9.9.9"])
            .prop_flat_map(|name| spelled("HostName", name.to_string())),
        prop::sample::select(vec!["alice", "bob"])
            .prop_flat_map(|user| spelled("User", user.to_string())),
        common_setting(),
    ]
}

fn host_header() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "Host alpha",
        "Host beta* !beta.bad.org",
        "Host *.example.org gamma",
        "Host !gamma *",
        "Host node?",
        "Host 10.1.*",
        "Host delta alpha",
        "Host *",
    ])
    .prop_map(str::to_string)
}

fn match_header() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "Match all",
        "Match host h1.example.org,10.9.*",
        "Match host !*.cluster.org",
        "Match originalhost gamma,node*",
        "Match !originalhost alpha",
        "Match user carol",
        "Match user !alice,*",
        "Match originalhost nothing* exec \"true\"",
        "Match host *.org originalhost beta*",
    ])
    .prop_map(str::to_string)
}

fn block(
    header: impl Strategy<Value = String>,
    setting: impl Strategy<Value = String>,
) -> impl Strategy<Value = String> {
    (header, prop::collection::vec(setting, 1..4))
        .prop_map(|(header, lines)| format!("{header}\n{}\n", lines.join("\n")))
}

/// The block that reaches `alpha` and `beta*` another way: a jump chain or
/// a proxy command (never both in one configuration).
fn route_block() -> impl Strategy<Value = String> {
    let header = prop::sample::select(vec!["Host alpha", "Host beta*"]);
    let route = prop::sample::select(vec![
        "ProxyJump j1",
        "ProxyJump carol@j2:2022,j1",
        "ProxyJump ssh://dave@j1",
        "ProxyJump none",
        "ProxyCommand nc -X connect %h %p",
        "ProxyCommand ssh -W %h:%p -l %r gate-for-%n",
    ]);
    (header, route).prop_map(|(header, route)| format!("{header}\n  {route}\n"))
}

/// One generated configuration: the main file and the files it includes.
#[derive(Debug, Clone)]
struct Corpus {
    naming: Vec<String>,
    included: Vec<String>,
    rest: Vec<String>,
    route: Option<String>,
    defaults: Option<String>,
}

fn corpus() -> impl Strategy<Value = Corpus> {
    let later = prop_oneof![
        block(host_header(), common_setting()),
        block(match_header(), common_setting()),
    ];
    (
        prop::collection::vec(block(host_header(), naming_setting()), 0..4),
        prop::collection::vec(block(match_header(), common_setting()), 0..3),
        prop::collection::vec(later, 0..4),
        prop::option::of(route_block()),
        prop::option::of(block(Just("Host *".to_string()), naming_setting())),
    )
        .prop_map(|(naming, included, rest, route, defaults)| Corpus {
            naming,
            included,
            rest,
            route,
            defaults,
        })
}

impl Corpus {
    /// Write the configuration under `dir`; the main file's path.
    fn write(&self, dir: &Path) -> std::path::PathBuf {
        let mut main = String::from("IgnoreUnknown Frobnicate\n");
        if let Some(route) = &self.route {
            main.push_str(route);
        }
        for block in &self.naming {
            main.push_str(block);
        }
        for (i, block) in self.included.iter().enumerate() {
            std::fs::write(dir.join(format!("inc-{i}.conf")), block).unwrap();
        }
        writeln!(main, "Include {}/inc-*.conf", dir.display()).unwrap();
        for block in &self.rest {
            main.push_str(block);
        }
        if let Some(defaults) = &self.defaults {
            // After `Match` blocks, no HostName or User: they would test it.
            let kept: Vec<&str> = defaults
                .lines()
                .filter(|line| !self.may_have_match_blocks() || !is_naming(line))
                .collect();
            main.push_str(&kept.join("\n"));
            main.push('\n');
        }
        let path = dir.join("config");
        std::fs::write(&path, &main).unwrap();
        path
    }

    /// Whether `Match` blocks may come before the closing `Host *` block.
    fn may_have_match_blocks(&self) -> bool {
        !self.rest.is_empty() || !self.included.is_empty()
    }
}

fn is_naming(line: &str) -> bool {
    let keyword = line
        .trim()
        .split(|c: char| c.is_whitespace() || c == '=')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    keyword == "hostname" || keyword == "user"
}

/// The fields the kernel connects with, as one comparable text.
fn fields(target: &SshTarget) -> String {
    let hops: Vec<String> = target
        .jumps
        .iter()
        .map(|hop| format!("{} {:?}", hop.describe(), hop.identity_files))
        .collect();
    format!(
        "host_name={} port={} user={}\nidentity_files={:?}\nidentities_only={}\nknown_hosts={:?}\n\
         host_key_alias={:?}\nconnect_timeout={:?}\nserver_alive={:?}x{}\njumps={hops:?}\n\
         proxy_command={:?}",
        target.host_name,
        target.port,
        target.user,
        target.identity_files,
        target.identities_only,
        target.known_hosts,
        target.host_key_alias,
        target.connect_timeout,
        target.server_alive_interval,
        target.server_alive_count_max,
        target.proxy_command,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_kernels_reader_resolves_as_openssh_does(corpus in corpus()) {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let file = corpus.write(dir.path());
        let text = std::fs::read_to_string(&file).unwrap();
        let openssh = OpenSsh::with_config_file(&home, &file)
            .expect("ssh is not installed: the differential test needs OpenSSH's client (scripts/system-deps.sh installs it)");
        let builtin = UserConfig::load(&file, &home).unwrap();
        for host in HOSTS {
            for user in USERS {
                let spec = user.map_or(host.to_string(), |user| format!("{user}@{host}"));
                let theirs = SshTarget::resolve_openssh(&openssh, &spec, None)
                    .map(|t| fields(&t))
                    .map_err(|e| format!("{e:#}"));
                let ours = SshTarget::resolve_with(&spec, &builtin, &home)
                    .map(|t| fields(&t))
                    .map_err(|e| format!("{e:#}"));
                prop_assert_eq!(&ours, &theirs, "{} in\n{}", spec, text);
            }
        }
    }
}
