//! The boot scripts of crimpl's instances. The user data (which cloud-init
//! runs once per instance) installs an every-boot script as a cloud-init
//! per-boot script and runs it; that script, at the first boot and every
//! boot after a stop (unless it was installed for another instance, which an
//! image made from a crimpl instance carries: then it leaves the boot to the
//! new instance's user data, which also drops the old volume's `fstab` line):
//! 1. schedules the instance's hard maximum lifetime (logind's shutdown and
//!    a systemd timer of its own) and starts the idle watchdog, before
//!    anything that can fail, so a failed boot still ends;
//! 2. waits (bounded) for the volume under its Nitro NVMe name or Xen name;
//! 3. formats it only if it can be read, `blkid -p` finds nothing on it, and
//!    it was never formatted (the kernel tags the volume `crimpl.formatted`
//!    once an instance has mounted it);
//! 4. mounts it (and records it in `fstab` with `nofail`), checks it with
//!    `mountpoint -q`, and only then writes the ready marker.
//!
//! Every step runs in bash's strict mode: a failure ends the script with a
//! non-zero code and no marker, and the kernel's wait for the marker says so.

use anyhow::Context;

use crate::crimpl::layout::{RUN_SCRIPT_PREFIX, WRAPPER};
use crate::crimpl::scripts::quote;

/// The file at the root of a mounted crimpl volume; its presence in the
/// server directory means the volume is mounted there.
pub const VOLUME_MARKER: &str = ".crimpl-volume";

/// Where the boot script installs itself and what it runs on the system:
/// the real places on an instance, or a test's own.
#[derive(Debug, Clone)]
pub struct BootSystem {
    /// The every-boot script (a cloud-init per-boot script).
    pub per_boot_script: String,
    /// The file system table the volume is recorded in.
    pub fstab: String,
    /// Runtime state (the watchdog's pid); on a tmpfs, so gone at a reboot.
    pub run_dir: String,
    /// The `shutdown` command (called with `-h now` and `-h +MINUTES`).
    pub shutdown: String,
    /// systemd's `systemd-run`, which starts the lifetime's own timer.
    pub timer: String,
    /// How long to wait for the volume to appear, in seconds.
    pub device_wait_seconds: u32,
    /// Where cloud-init keeps the id of the instance it runs on.
    pub instance_id_file: String,
    /// Where the user data records the instance the every-boot script was
    /// installed for (an image made from the instance carries both).
    pub installed_for: String,
}

impl Default for BootSystem {
    fn default() -> Self {
        Self {
            per_boot_script: "/var/lib/cloud/scripts/per-boot/crimpl-volume.sh".into(),
            fstab: "/etc/fstab".into(),
            run_dir: "/run/crimpl".into(),
            shutdown: "shutdown".into(),
            timer: "systemd-run".into(),
            // As long as the kernel may wait to attach it (a volume still
            // held by an instance shutting down), and a minute more.
            device_wait_seconds: (super::ec2::VOLUME_TIMEOUT.as_secs() + 60) as u32,
            instance_id_file: "/var/lib/cloud/data/instance-id".into(),
            installed_for: "/var/lib/crimpl/installed-for".into(),
        }
    }
}

/// Parameters of the boot script.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The device paths the volume may appear under, tried in order
    /// ([`Bootstrap::ebs_devices`] for an EBS volume).
    pub devices: Vec<String>,
    /// Where to mount it (the server directory).
    pub mount_point: String,
    /// The login user who owns it.
    pub user: String,
    /// Shut down after this many idle minutes (no job, no setup script, no
    /// terminal login).
    pub idle_shutdown_minutes: u32,
    /// Shut down this many minutes after each boot, whatever runs.
    pub max_lifetime_minutes: u32,
    /// Whether this first boot may format a volume with nothing on it: false
    /// once the volume is known to have been formatted (then a blank-looking
    /// volume is an error, never a new file system over lost data). Only the
    /// user data gives the permission ([`FORMAT_PERMISSION`]): the installed
    /// every-boot script never formats, whatever a later boot finds.
    pub may_format: bool,
    /// Where it installs itself and what it runs.
    pub system: BootSystem,
}

/// The mount options of crimpl's `fstab` line: `x-crimpl` (which mount
/// ignores) marks it as crimpl's, for a new instance's user data to remove.
const FSTAB_OPTIONS: &str = "defaults,nofail,x-crimpl";

/// The variable through which the first boot's user data, alone, lets the
/// every-boot script format a blank volume.
pub const FORMAT_PERMISSION: &str = "CRIMPL_MAY_FORMAT";

impl Bootstrap {
    /// The names EC2 gives a volume attached as `/dev/sdf`: by id on Nitro
    /// instances (NVMe), `xvdf` or `sdf` on Xen ones.
    pub fn ebs_devices(volume_id: &str) -> Vec<String> {
        vec![
            format!(
                "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{}",
                volume_id.replace('-', "")
            ),
            "/dev/xvdf".into(),
            "/dev/sdf".into(),
        ]
    }

    /// The user data: install the every-boot script, then run it for this
    /// first boot (cloud-init's per-boot scripts ran before the user data),
    /// the only run that may format (with [`Self::may_format`]).
    pub fn user_data(&self) -> anyhow::Result<String> {
        let path = quote(&self.system.per_boot_script)?;
        let directory = std::path::Path::new(&self.system.per_boot_script)
            .parent()
            .context("the per-boot script needs a directory")?;
        let directory = quote(&directory.to_string_lossy())?;
        let installed_for = &self.system.installed_for;
        let record_directory = std::path::Path::new(installed_for)
            .parent()
            .context("the instance record needs a directory")?;
        Ok(format!(
            "#!/bin/bash\n\
             # crimpl first boot: cloud-init runs user data once per instance, so install\n\
             # the volume's every-boot script as a per-boot script, and run it now.\n\
             set -euo pipefail\n\
             # For this instance: one made from an image of a crimpl instance carries the\n\
             # old script (which skipped this boot) and the old volume's fstab line.\n\
             mkdir -p {record_directory}\n\
             {{ cat {instance_id} 2> /dev/null || true; }} > {installed_for}\n\
             sed -i '/ {FSTAB_OPTIONS} /d' {fstab}\n\
             mkdir -p {directory}\n\
             cat > {path} <<'CRIMPL_PER_BOOT'\n{script}CRIMPL_PER_BOOT\n\
             chmod 755 {path}\n\
             {permission}exec {path}\n",
            record_directory = quote(&record_directory.to_string_lossy())?,
            instance_id = quote(&self.system.instance_id_file)?,
            installed_for = quote(installed_for)?,
            fstab = quote(&self.system.fstab)?,
            script = self.per_boot()?,
            permission = if self.may_format {
                format!("{FORMAT_PERMISSION}=yes ")
            } else {
                String::new()
            },
        ))
    }

    /// The script run at every boot.
    pub fn per_boot(&self) -> anyhow::Result<String> {
        let volume = if self.devices.is_empty() {
            String::new()
        } else {
            self.mount_steps()?
        };
        Ok(format!(
            r#"#!/bin/bash
# crimpl every-boot script: the idle watchdog, the hard lifetime, and (on
# an instance that holds it) the server volume mounted for {user_comment}.
set -euo pipefail
user={user}
mount_point={mount_point}
run_dir={run_dir}
fstab={fstab}
shutdown_command={shutdown}
timer_command={timer}
say() {{ echo "crimpl: $*" >&2; }}

# 0. Installed for another instance (this one was made from an image of it):
# this instance's own user data, which runs next, installs and runs its own.
installed_for=$(cat {installed_for} 2> /dev/null || true)
this_instance=$(cat {instance_id} 2> /dev/null || true)
if [ -n "$installed_for" ] && [ "$installed_for" != "$this_instance" ]; then
  say "installed for instance $installed_for, not this one ($this_instance): leaving this boot to its own user data"
  exit 0
fi

# 1. Cost safety, before anything that can fail. The hard maximum lifetime
# of this boot, whatever runs: logind's scheduled shutdown, and a timer of
# its own, which a later `shutdown +M` cannot replace nor `shutdown -c` cancel.
"$shutdown_command" -h +{lifetime} || say "could not schedule the shutdown in {lifetime} minutes"
"$timer_command" --on-active={lifetime}m --unit=crimpl-lifetime "$shutdown_command" -h now > /dev/null 2>&1 ||
  say "could not start the lifetime's own timer: only the scheduled shutdown holds it"
# and the idle watchdog: shut down when no job or setup script runs and no one
# is logged in at a terminal for {idle} minutes (a kernel's open connection
# alone does not keep the instance up).
watchdog() {{
  local idle=0
  while sleep 60; do
    if pgrep -u "$user" -f '{WRAPPER}|{RUN_SCRIPT_PREFIX}' > /dev/null || who | grep -q "^$user "; then
      idle=0
    else
      idle=$((idle + 1))
    fi
    if [ "$idle" -ge {idle} ]; then
      "$shutdown_command" -h now || say "the idle shutdown failed"
    fi
  done
}}
mkdir -p "$run_dir"
if [ -f "$run_dir/watchdog.pid" ] && kill -0 "$(cat "$run_dir/watchdog.pid")" 2> /dev/null; then
  say "the idle watchdog runs already"
else
  watchdog < /dev/null >> "$run_dir/watchdog.log" 2>&1 &
  echo "$!" > "$run_dir/watchdog.pid"
fi

{volume}"#,
            user_comment = self.user.replace('\n', " "),
            user = quote(&self.user)?,
            mount_point = quote(&self.mount_point)?,
            run_dir = quote(&self.system.run_dir)?,
            fstab = quote(&self.system.fstab)?,
            shutdown = quote(&self.system.shutdown)?,
            timer = quote(&self.system.timer)?,
            installed_for = quote(&self.system.installed_for)?,
            instance_id = quote(&self.system.instance_id_file)?,
            idle = self.idle_shutdown_minutes,
            lifetime = self.max_lifetime_minutes,
        ))
    }

    /// Steps 2 to 4: find, format if blank and never formatted, mount.
    fn mount_steps(&self) -> anyhow::Result<String> {
        let devices = self
            .devices
            .iter()
            .map(|d| quote(d))
            .collect::<anyhow::Result<Vec<_>>>()?
            .join(" ");
        Ok(format!(
            r#"# 2. The volume, under the names EC2 may give it.
device=
for _ in $(seq 1 {wait}); do
  for candidate in {devices}; do
    if [ -b "$candidate" ]; then device=$candidate; break 2; fi
  done
  sleep 1
done
if [ -z "$device" ]; then
  say "the volume never appeared (tried {devices_comment})"
  exit 1
fi

# 3. Format it only if it can be read, nothing is on it, and it was never
# formatted: blkid -p also says "nothing found" when it cannot read.
if ! size=$(blockdev --getsize64 "$device") || [ "$size" -eq 0 ] ||
  ! dd if="$device" of=/dev/null bs=64K count=1 status=none; then
  say "cannot read $device: leaving it as it is"
  exit 1
fi
probe=0
blkid -p "$device" > /dev/null 2> "$run_dir/blkid.err" || probe=$?
if [ "$probe" -eq 2 ] && [ ! -s "$run_dir/blkid.err" ]; then
  if [ "${{{FORMAT_PERMISSION}:-}}" = yes ]; then
    say "formatting the blank volume $device"
    # No blocks kept for root (-m 0): only the user writes this volume.
    mkfs.ext4 -q -m 0 -L crimpl "$device"
  else
    say "$device looks blank, but the volume was formatted before: not formatting it again"
    exit 1
  fi
elif [ "$probe" -ne 0 ]; then
  say "blkid could not probe $device (exit $probe): $(cat "$run_dir/blkid.err")"
  exit 1
fi

# 4. Mount it (also at every later boot, through fstab; nofail: a boot never
# hangs on it), check that it is mounted, and only then mark it ready.
# At a later boot systemd mounts it from fstab too, after its fsck, which
# holds the device: a busy device is waited for (a minute at most).
mkdir -p "$mount_point"
tries=0
until mountpoint -q "$mount_point"; do
  if mount "$device" "$mount_point" 2> "$run_dir/mount.err"; then break; fi
  tries=$((tries + 1))
  if ! grep -qi busy "$run_dir/mount.err" || [ "$tries" -ge 20 ]; then
    say "cannot mount $device at $mount_point: $(cat "$run_dir/mount.err")"
    exit 1
  fi
  sleep 3
done
mountpoint -q "$mount_point"
uuid=$(blkid -p -s UUID -o value "$device")
fstype=$(blkid -p -s TYPE -o value "$device")
if ! grep -q "^UUID=$uuid " "$fstab"; then
  echo "UUID=$uuid $mount_point $fstype {FSTAB_OPTIONS} 0 2" >> "$fstab"
fi
chown "$user": "$mount_point"
touch "$mount_point/{VOLUME_MARKER}"
chown "$user": "$mount_point/{VOLUME_MARKER}"
say "the volume $device is mounted at $mount_point"
"#,
            wait = self.system.device_wait_seconds,
            devices_comment = self.devices.join(" ").replace(['"', '$', '`', '\\'], ""),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bootstrap(may_format: bool) -> Bootstrap {
        Bootstrap {
            devices: Bootstrap::ebs_devices("vol-0123abc"),
            mount_point: "/home/ubuntu/crimpl".into(),
            user: "ubuntu".into(),
            idle_shutdown_minutes: 30,
            max_lifetime_minutes: 1440,
            may_format,
            system: BootSystem::default(),
        }
    }

    #[test]
    fn the_script_tries_nitro_and_xen_device_names_and_installs_itself_per_boot() {
        let data = bootstrap(true).user_data().unwrap();
        assert!(data.contains(
            "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123abc /dev/xvdf /dev/sdf"
        ));
        assert!(data.contains("cat > /var/lib/cloud/scripts/per-boot/crimpl-volume.sh"));
        assert!(data.contains("-ge 30") && data.contains("-h +1440"));
        // Only the first boot's run may format; the installed script alone never does.
        assert!(data.ends_with(
            "CRIMPL_MAY_FORMAT=yes exec /var/lib/cloud/scripts/per-boot/crimpl-volume.sh\n"
        ));
        assert_eq!(
            bootstrap(true).per_boot().unwrap(),
            bootstrap(false).per_boot().unwrap()
        );
        assert!(
            !bootstrap(false)
                .user_data()
                .unwrap()
                .contains("CRIMPL_MAY_FORMAT=yes")
        );
        // A sweep's helper instance holds no volume: it only keeps its lifetime.
        let helper = Bootstrap {
            devices: Vec::new(),
            ..bootstrap(false)
        }
        .per_boot()
        .unwrap();
        assert!(helper.contains("-h +1440") && helper.contains("watchdog"));
        assert!(!helper.contains("mkfs") && !helper.contains("mount "));
    }
}
