//! The EC2 boot script run for real as root, with a loop device standing in
//! for the EBS volume: a blank volume is formatted and mounted; a volume with
//! data is mounted as it is. Needs root and changes the system while it runs
//! (a loop device, a mount), so it is ignored by a plain `cargo test`:
//! `scripts/test.sh` runs it where the tests may change the system (CI, a
//! container, or `CRIMPL_TEST_SYSTEM=1`), or run it as root with
//! `cargo test --test bootstrap -- --ignored`.

use std::process::Command;

use crimpl_kernel::crimpl::aws::{Bootstrap, VOLUME_MARKER};

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
#[ignore = "needs root and a loop device; scripts/test.sh runs it in CI, a container or with CRIMPL_TEST_SYSTEM=1"]
fn boot_script_formats_only_blank_volumes_and_mounts_them() {
    assert_eq!(
        run("id", &["-u"]),
        "0",
        "this test needs root (losetup, mkfs, mount): run it as CI does"
    );
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("volume.img");
    run("truncate", &["-s", "64M", image.to_str().unwrap()]);
    let device = run("losetup", &["--find", "--show", image.to_str().unwrap()]);
    let mount_point = dir.path().join("home/crimpl");
    let script_path = dir.path().join("boot.sh");
    let script = Bootstrap {
        volume_id: "vol-0123456789abcdef0".into(),
        extra_devices: vec![device.clone()],
        mount_point: mount_point.to_str().unwrap().into(),
        user: "root".into(),
        idle_shutdown_minutes: None,
    }
    .script();
    std::fs::write(&script_path, script).unwrap();
    let boot = || run("sh", &[script_path.to_str().unwrap()]);
    let cleanup = || {
        let _ = Command::new("umount").arg(&mount_point).status();
    };
    let result = std::panic::catch_unwind(|| {
        boot();
        assert_eq!(
            run("blkid", &["-o", "value", "-s", "TYPE", &device]),
            "ext4"
        );
        run("mountpoint", &["-q", mount_point.to_str().unwrap()]);
        assert!(mount_point.join(VOLUME_MARKER).exists());
        std::fs::write(mount_point.join("results.dat"), "kept").unwrap();
        run("umount", &[mount_point.to_str().unwrap()]);
        // A second boot (another instance) mounts the same data, unformatted.
        boot();
        assert_eq!(
            std::fs::read_to_string(mount_point.join("results.dat")).unwrap(),
            "kept"
        );
    });
    cleanup();
    run("losetup", &["-d", &device]);
    result.unwrap();
}
