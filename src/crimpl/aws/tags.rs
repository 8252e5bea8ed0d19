//! The tags that mark crimpl's EC2 resources, shared with Python crimpl.

/// `server`, `server-volume` or `job`.
pub const LEVEL: &str = "crimpl.level";
/// The server's name.
pub const SERVER_NAME: &str = "crimpl.server_name";
/// The job's name (job instances).
pub const JOB_NAME: &str = "crimpl.job_name";
/// The server's volume (on its instances).
pub const VOLUME_ID: &str = "crimpl.volumeId";
/// The crimpl version that made it; its key is how crimpl lists its resources.
pub const VERSION: &str = "crimpl.version";
/// Set on a job instance that must outlive its job (`--keep-instance`).
pub const KEEP_INSTANCE: &str = "crimpl.keep_instance";
/// Set on a volume once an instance has mounted it: it is never formatted again.
pub const FORMATTED: &str = "crimpl.formatted";
/// Prefix of the volume tags recording how a job ended, when a kernel saw it
/// end: `crimpl.job_status.JOB` = `STATUS TIME` (RFC 3339, UTC).
pub const JOB_STATUS_PREFIX: &str = "crimpl.job_status.";
/// At most this many job ends are kept on the volume, the latest ones: EC2
/// allows 50 tags on a resource, and crimpl's own take a few.
pub const MAX_JOB_STATUSES: usize = 40;

/// crimpl's tags for a resource of `level` belonging to `server`.
pub fn crimpl_tags(level: &str, server: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut tags = vec![
        (LEVEL.to_string(), level.to_string()),
        (SERVER_NAME.to_string(), server.to_string()),
        (
            VERSION.to_string(),
            format!("crimpl-kernel-{}", env!("CARGO_PKG_VERSION")),
        ),
        ("Name".to_string(), format!("crimpl {level} {server}")),
    ];
    tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    tags
}
