//! The EC2 boot scripts run for real as root, with a loop device standing
//! in for the EBS volume and a test's own fstab, runtime directory,
//! `shutdown` and `systemd-run` (scripts that record what they were asked): a first boot, a
//! second boot of the same instance, a mount that fails, a volume that never
//! appears, a device that cannot be read, and a blank device on a volume
//! formatted before. Both scripts also pass `shellcheck`.
//!
//! They need root and change the system while they run (loop devices,
//! mounts), so they are ignored by a plain `cargo test`: `scripts/test.sh`
//! runs them where the tests may change the system (CI, a container, or
//! `CRIMPL_TEST_SYSTEM=1`), or run them as root with
//! `cargo test --test bootstrap -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crimpl_kernel::crimpl::aws::{BootSystem, Bootstrap, VOLUME_MARKER};

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One simulated instance: its root disk is a temporary directory, its
/// volume a loop device over a file in it (made on demand).
struct Instance {
    dir: tempfile::TempDir,
    devices: Vec<String>,
}

impl Instance {
    fn new() -> Self {
        assert_eq!(
            run("id", &["-u"]),
            "0",
            "this test needs root (losetup, mkfs, mount): run it as CI does"
        );
        let dir = tempfile::tempdir().unwrap();
        // `shutdown` and `systemd-run` record what they were asked.
        for (command, log) in [("shutdown", "shutdowns.log"), ("timer", "timers.log")] {
            let script = dir.path().join(command);
            std::fs::write(
                &script,
                format!(
                    "#!/bin/sh\necho \"$*\" >> {}\n",
                    path(&dir.path().join(log))
                ),
            )
            .unwrap();
            run("chmod", &["755", path(&script)]);
        }
        std::fs::write(dir.path().join("fstab"), "# test fstab\n").unwrap();
        std::fs::write(dir.path().join("instance-id"), "i-first\n").unwrap();
        Self {
            dir,
            devices: Vec::new(),
        }
    }

    fn at(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A blank 64 MiB volume on a loop device.
    fn volume(&mut self) -> String {
        let image = self.at(&format!("volume-{}.img", self.devices.len()));
        run("truncate", &["-s", "64M", path(&image)]);
        let device = run("losetup", &["--find", "--show", path(&image)]);
        self.devices.push(device.clone());
        device
    }

    fn bootstrap(&self, devices: Vec<String>, may_format: bool) -> Bootstrap {
        Bootstrap {
            devices,
            mount_point: path(&self.at("home/crimpl")).into(),
            user: "root".into(),
            idle_shutdown_minutes: 30,
            max_lifetime_minutes: 1440,
            may_format,
            system: BootSystem {
                per_boot_script: path(&self.at("cloud/per-boot/crimpl-volume.sh")).into(),
                fstab: path(&self.at("fstab")).into(),
                run_dir: path(&self.at("run")).into(),
                shutdown: path(&self.at("shutdown")).into(),
                timer: path(&self.at("timer")).into(),
                device_wait_seconds: 2,
                instance_id_file: path(&self.at("instance-id")).into(),
                installed_for: path(&self.at("var/lib/crimpl/installed-for")).into(),
            },
        }
    }

    /// The first boot: cloud-init runs the user data.
    fn first_boot(&self, bootstrap: &Bootstrap) -> Output {
        let user_data = self.at("user-data");
        std::fs::write(&user_data, bootstrap.user_data().unwrap()).unwrap();
        Command::new("bash").arg(&user_data).output().unwrap()
    }

    /// A later boot: cloud-init runs the installed per-boot script (after
    /// the reboot emptied the runtime directory and ended every process).
    fn reboot(&self, bootstrap: &Bootstrap) -> Output {
        self.end_watchdog();
        let _ = Command::new("umount")
            .arg(self.mount_point())
            .stderr(Stdio::null())
            .status();
        std::fs::remove_dir_all(self.at("run")).unwrap();
        Command::new(&bootstrap.system.per_boot_script)
            .output()
            .unwrap()
    }

    /// A volume, its first boot (which formats and mounts it), then the
    /// instance stopped: its watchdog ended and the volume unmounted.
    fn booted_once(&mut self) -> (String, Bootstrap) {
        let device = self.volume();
        let bootstrap = self.bootstrap(vec![device.clone()], true);
        let first = self.first_boot(&bootstrap);
        assert!(first.status.success(), "{}", stderr(&first));
        self.end_watchdog();
        run("umount", &[path(&self.mount_point())]);
        (device, bootstrap)
    }

    fn mount_point(&self) -> PathBuf {
        self.at("home/crimpl")
    }

    fn mounted(&self) -> bool {
        Command::new("mountpoint")
            .args(["-q", path(&self.mount_point())])
            .status()
            .unwrap()
            .success()
    }

    fn shutdowns(&self) -> String {
        std::fs::read_to_string(self.at("shutdowns.log")).unwrap_or_default()
    }

    /// What `systemd-run` was asked, one line per call.
    fn timers(&self) -> String {
        std::fs::read_to_string(self.at("timers.log")).unwrap_or_default()
    }

    fn watchdog_pid(&self) -> Option<String> {
        std::fs::read_to_string(self.at("run/watchdog.pid"))
            .ok()
            .map(|pid| pid.trim().to_string())
    }

    fn watchdog_runs(&self) -> bool {
        self.watchdog_pid()
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
    }

    /// Stop the watchdog this instance's script started (its pid, recorded by the script).
    fn end_watchdog(&self) {
        if let Some(pid) = self.watchdog_pid()
            && Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = Command::new("kill").arg(&pid).status();
        }
    }

    fn fstab_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.at("fstab"))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("UUID="))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.end_watchdog();
        let _ = Command::new("umount")
            .arg(self.mount_point())
            .stderr(Stdio::null())
            .status();
        for device in &self.devices {
            let _ = Command::new("losetup").args(["-d", device]).status();
        }
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The boot failed, saying the volume was formatted before, and left
/// `device` blank: no new file system over what was there.
fn refused_as_formatted_before(boot: &Output, device: &str) {
    assert!(!boot.status.success());
    assert!(
        stderr(boot).contains("formatted before"),
        "{}",
        stderr(boot)
    );
    let blkid = Command::new("blkid").args(["-p", device]).status().unwrap();
    assert_eq!(blkid.code(), Some(2), "still blank");
}

#[test]
#[ignore = "needs root and loop devices; see the file's doc"]
fn first_boot_formats_and_mounts_and_a_second_boot_mounts_the_same_data_again() {
    let mut instance = Instance::new();
    let device = instance.volume();
    let bootstrap = instance.bootstrap(vec![device.clone()], true);
    let first = instance.first_boot(&bootstrap);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(
        run("blkid", &["-p", "-o", "value", "-s", "TYPE", &device]),
        "ext4"
    );
    let uuid = run("blkid", &["-p", "-o", "value", "-s", "UUID", &device]);
    let superblock = run("tune2fs", &["-l", &device]);
    assert!(
        superblock
            .lines()
            .any(|l| l.starts_with("Reserved block count:") && l.ends_with(" 0")),
        "the user's volume keeps no blocks for root: {superblock}"
    );
    assert!(instance.mounted() && instance.mount_point().join(VOLUME_MARKER).exists());
    assert!(instance.watchdog_runs(), "{}", stderr(&first));
    assert!(instance.shutdowns().contains("-h +1440"));
    // The lifetime's own timer, which no later `shutdown +M` or `shutdown -c` touches.
    assert_eq!(
        instance.timers(),
        format!(
            "--on-active=1440m --unit=crimpl-lifetime {} -h now\n",
            path(&instance.at("shutdown"))
        )
    );
    assert!(
        instance.at("run/watchdog.log").exists(),
        "the watchdog says things somewhere"
    );
    let fstab = instance.fstab_lines();
    assert_eq!(fstab.len(), 1, "{fstab:?}");
    assert!(fstab[0].starts_with(&format!("UUID={uuid} ")) && fstab[0].contains("nofail"));
    std::fs::write(instance.mount_point().join("results.dat"), "kept").unwrap();

    // A second boot of the same instance (after a stop): the per-boot script
    // mounts the volume again, unformatted, and starts a new watchdog.
    let second = instance.reboot(&bootstrap);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(instance.mounted());
    assert_eq!(
        std::fs::read_to_string(instance.mount_point().join("results.dat")).unwrap(),
        "kept"
    );
    assert_eq!(
        run("blkid", &["-p", "-o", "value", "-s", "UUID", &device]),
        uuid
    );
    assert!(instance.watchdog_runs());
    assert_eq!(instance.shutdowns().matches("-h +1440").count(), 2);
    assert_eq!(instance.fstab_lines(), fstab);
}

#[test]
#[ignore = "needs root and loop devices; see the file's doc"]
fn a_mount_that_fails_writes_no_marker_and_the_shutdown_stays_scheduled() {
    let mut instance = Instance::new();
    let device = instance.volume();
    // Something blkid recognises but mount cannot mount: not crimpl's, never formatted over.
    run("mkswap", &[&device]);
    let boot = instance.first_boot(&instance.bootstrap(vec![device.clone()], true));
    assert!(!boot.status.success());
    assert!(!instance.mounted());
    assert!(!instance.mount_point().join(VOLUME_MARKER).exists());
    assert_eq!(
        run("blkid", &["-p", "-o", "value", "-s", "TYPE", &device]),
        "swap"
    );
    assert!(instance.shutdowns().contains("-h +1440"));
    assert!(instance.watchdog_runs());
    assert!(instance.fstab_lines().is_empty());
}

#[test]
#[ignore = "needs root and loop devices; see the file's doc"]
fn a_volume_that_never_appears_still_leaves_the_shutdown_scheduled() {
    let instance = Instance::new();
    let missing = path(&instance.at("no-such-device")).to_string();
    let boot = instance.first_boot(&instance.bootstrap(vec![missing], true));
    assert!(!boot.status.success());
    assert!(
        stderr(&boot).contains("never appeared"),
        "{}",
        stderr(&boot)
    );
    assert!(instance.shutdowns().contains("-h +1440"));
    assert!(instance.watchdog_runs());
    assert!(!instance.mount_point().join(VOLUME_MARKER).exists());
}

#[test]
#[ignore = "needs root and loop devices; see the file's doc"]
fn a_device_that_cannot_be_read_is_never_formatted() {
    let instance = Instance::new();
    // A block device with no driver behind it (major 240 is for local use):
    // blkid -p answers "nothing found" (exit 2) for it as for a blank disk.
    let node = instance.at("unreadable");
    run("mknod", &[path(&node), "b", "240", "0"]);
    let blkid = Command::new("blkid")
        .args(["-p", path(&node)])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(blkid.code(), Some(2), "the premise: blkid cannot tell");
    let boot = instance.first_boot(&instance.bootstrap(vec![path(&node).into()], true));
    assert!(!boot.status.success());
    let said = stderr(&boot);
    assert!(
        said.contains("cannot read") && !said.contains("formatting"),
        "{said}"
    );
    assert!(instance.shutdowns().contains("-h +1440"));
}

#[test]
#[ignore = "needs root and loop devices; see the file's doc"]
fn a_blank_looking_volume_formatted_before_is_not_formatted_again() {
    let mut instance = Instance::new();
    let device = instance.volume();
    let boot = instance.first_boot(&instance.bootstrap(vec![device.clone()], false));
    refused_as_formatted_before(&boot, &device);
    assert!(!instance.mounted());
}

#[test]
#[ignore = "needs root and loop devices; see the file's doc"]
fn a_later_boot_never_formats_the_volume_even_when_it_looks_blank() {
    let mut instance = Instance::new();
    let (device, bootstrap) = instance.booted_once();
    // Its superblock lost (or another blank volume under the same name): the
    // installed every-boot script must leave the device as it is.
    run("wipefs", &["-a", "-q", &device]);
    let later = instance.reboot(&bootstrap);
    refused_as_formatted_before(&later, &device);
    assert!(!instance.mount_point().join(VOLUME_MARKER).exists());
}

#[test]
#[ignore = "needs root and loop devices; see the file's doc"]
fn a_later_boot_waits_while_something_holds_the_device_busy() {
    use std::os::unix::fs::OpenOptionsExt;
    let mut instance = Instance::new();
    let (device, bootstrap) = instance.booted_once();
    // systemd-fsck@ checking the device as the boot script comes to mount it.
    let held = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(&device)
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(4));
        drop(held);
    });
    let later = instance.reboot(&bootstrap);
    release.join().unwrap();
    assert!(later.status.success(), "{}", stderr(&later));
    assert!(instance.mounted() && instance.mount_point().join(VOLUME_MARKER).exists());
}

#[test]
#[ignore = "needs root and loop devices; see the file's doc"]
fn an_instance_made_from_an_image_of_a_crimpl_instance_boots_as_its_own() {
    let mut instance = Instance::new();
    let (old_volume, old) = instance.booted_once();
    let old_uuid = run("blkid", &["-p", "-o", "value", "-s", "UUID", &old_volume]);
    // An image of that instance boots as another instance, with another volume:
    // cloud-init runs the old every-boot script first, then the new user data.
    std::fs::write(instance.at("instance-id"), "i-second\n").unwrap();
    std::fs::remove_dir_all(instance.at("run")).unwrap();
    let new_volume = instance.volume();
    let new = instance.bootstrap(vec![new_volume.clone()], true);
    let stale = Command::new(&old.system.per_boot_script).output().unwrap();
    assert!(stale.status.success(), "{}", stderr(&stale));
    assert!(
        stderr(&stale).contains("installed for instance i-first, not this one (i-second)"),
        "{}",
        stderr(&stale)
    );
    assert!(
        !instance.mounted() && !instance.watchdog_runs(),
        "the old script did nothing"
    );
    let own = instance.first_boot(&new);
    assert!(own.status.success(), "{}", stderr(&own));
    assert!(instance.mounted() && instance.mount_point().join(VOLUME_MARKER).exists());
    let new_uuid = run("blkid", &["-p", "-o", "value", "-s", "UUID", &new_volume]);
    let fstab = instance.fstab_lines();
    assert_eq!(fstab.len(), 1, "the old volume's line is gone: {fstab:?}");
    assert!(fstab[0].starts_with(&format!("UUID={new_uuid} ")) && !fstab[0].contains(&old_uuid));
    // Its later boots run its own script.
    let later = instance.reboot(&new);
    assert!(
        later.status.success() && instance.mounted(),
        "{}",
        stderr(&later)
    );
}

#[test]
#[ignore = "needs root and loop devices; see the file's doc"]
fn an_image_whose_cloud_init_keeps_no_instance_id_still_boots() {
    let mut instance = Instance::new();
    std::fs::remove_file(instance.at("instance-id")).unwrap();
    let device = instance.volume();
    let boot = instance.first_boot(&instance.bootstrap(vec![device], true));
    assert!(boot.status.success(), "{}", stderr(&boot));
    assert!(instance.mounted() && instance.mount_point().join(VOLUME_MARKER).exists());
}

#[test]
#[ignore = "needs shellcheck (scripts/system-deps.sh installs it); see the file's doc"]
fn the_boot_scripts_pass_shellcheck() {
    let bootstrap = Bootstrap {
        devices: Bootstrap::ebs_devices("vol-0123456789abcdef0"),
        mount_point: "/home/ubuntu/crimpl".into(),
        user: "ubuntu".into(),
        idle_shutdown_minutes: 30,
        max_lifetime_minutes: 1440,
        may_format: true,
        system: BootSystem::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    for (name, script) in [
        ("user-data", bootstrap.user_data().unwrap()),
        ("per-boot", bootstrap.per_boot().unwrap()),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, script).unwrap();
        let checked = Command::new("shellcheck")
            .arg(&file)
            .output()
            .expect("shellcheck is missing: scripts/system-deps.sh installs it");
        assert!(
            checked.status.success(),
            "{name}:\n{}",
            String::from_utf8_lossy(&checked.stdout)
        );
    }
}
