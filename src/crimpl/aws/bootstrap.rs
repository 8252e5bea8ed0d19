//! The boot script (user data) of crimpl's instances: wait for the attached
//! volume under any of its device names, format it only if it is blank,
//! mount it as the login user's server directory, mark it, and shut down
//! after an idle time.

use crate::crimpl::layout::{RUN_SCRIPT_PREFIX, WRAPPER};

/// The file at the root of a mounted crimpl volume; its presence in the
/// server directory means the volume is mounted there.
pub const VOLUME_MARKER: &str = ".crimpl-volume";

/// Parameters of the boot script.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The volume's id (`vol-0abc...`): Nitro instances name it by id.
    pub volume_id: String,
    /// Extra device paths to try first (besides the NVMe, xvd and sd names).
    pub extra_devices: Vec<String>,
    /// Where to mount it (the server directory).
    pub mount_point: String,
    /// The login user who owns it.
    pub user: String,
    /// Shut down after this many idle minutes (no job, no setup script, no
    /// terminal login), if set.
    pub idle_shutdown_minutes: Option<u32>,
}

impl Bootstrap {
    /// The script, as `#!/bin/sh` user data.
    pub fn script(&self) -> String {
        let nvme_id = self.volume_id.replace('-', "");
        let mut devices: Vec<String> = self.extra_devices.clone();
        devices.extend([
            format!("/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{nvme_id}"),
            "/dev/xvdf".into(),
            "/dev/sdf".into(),
        ]);
        let idle = match self.idle_shutdown_minutes {
            Some(minutes) => format!(
                r#"
# Cost safety: shut down when no job or setup script runs and no one is
# logged in at a terminal for {minutes} minutes (a kernel's open connection
# alone does not keep the instance up).
( idle=0
  while sleep 60; do
    if pgrep -u "$user" -f '{WRAPPER}|{RUN_SCRIPT_PREFIX}' > /dev/null || who | grep -q "^$user "; then
      idle=0
    else
      idle=$((idle+1))
    fi
    [ "$idle" -ge {minutes} ] && shutdown -h now
  done ) &
"#
            ),
            None => String::new(),
        };
        format!(
            r#"#!/bin/sh
# crimpl boot script: mount the server volume for {user}.
set -u
user={user}
mount_point={mount_point}
device=
for attempt in $(seq 1 300); do
  for candidate in {devices}; do
    if [ -b "$candidate" ]; then device=$candidate; break 2; fi
  done
  sleep 1
done
[ -n "$device" ] || {{ echo "crimpl: the volume never appeared" >&2; exit 1; }}
if ! blkid "$device" > /dev/null 2>&1; then
  mkfs.ext4 -q -L crimpl "$device"
fi
mkdir -p "$mount_point"
mountpoint -q "$mount_point" || mount "$device" "$mount_point"
touch "$mount_point/{VOLUME_MARKER}"
chown "$user": "$mount_point" "$mount_point/{VOLUME_MARKER}"
{idle}"#,
            user = self.user,
            mount_point = self.mount_point,
            devices = devices.join(" "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_tries_nitro_and_xen_device_names() {
        let script = Bootstrap {
            volume_id: "vol-0123abc".into(),
            extra_devices: vec![],
            mount_point: "/home/ubuntu/crimpl".into(),
            user: "ubuntu".into(),
            idle_shutdown_minutes: Some(30),
        }
        .script();
        assert!(script.contains(
            "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123abc /dev/xvdf /dev/sdf"
        ));
        assert!(script.contains("if ! blkid"));
        assert!(script.contains("-ge 30"));
    }
}
