//! Writing fails as disks do: a destination on a read-only filesystem, a filesystem that fills up.
//! Each runs `streamscope get` in a mount namespace of its own with a small tmpfs (util-linux
//! `unshare`), so nothing outside the test sees the mount.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// Runs `streamscope get ARGS` with a tmpfs mounted (`mount_opts`) on `mnt`, in a private mount
/// namespace, and lists what the tmpfs holds afterwards into `listing` (outside the mount).
fn get_on_tmpfs(
    mount_opts: &str,
    mnt: &Path,
    listing: &Path,
    args: &[&str],
) -> std::process::Output {
    std::fs::create_dir_all(mnt).unwrap();
    let script = r#"mnt=$1; opts=$2; listing=$3; shift 3
mount -t tmpfs -o "$opts" streamscope-test "$mnt" || exit 90
"$@"; status=$?
for f in "$mnt"/*; do [ -e "$f" ] && stat -c '%n %s' "$f"; done > "$listing"
exit $status"#;
    let mut cmd = Command::new("unshare");
    cmd.arg("--mount").arg("--propagation").arg("private");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // An unprivileged user gets mount rights in a user namespace of its own.
        cmd.arg("--map-root-user");
    }
    let o = cmd
        .args(["sh", "-c", script, "sh"])
        .arg(mnt)
        .arg(mount_opts)
        .arg(listing)
        .arg(BIN)
        .arg("get")
        .args(args)
        .output()
        .expect("unshare (util-linux) must be installed");
    assert_ne!(
        o.status.code(),
        Some(90),
        "this machine must allow a tmpfs in a private mount namespace: {}",
        stderr(&o)
    );
    o
}

fn listing(path: &Path) -> Vec<(String, u64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, size) = l.rsplit_once(' ').unwrap();
            (
                Path::new(name)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                size.parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_full_disk_is_an_io_error_with_the_bytes_written_and_nothing_under_the_final_name() {
    let s = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("disk");
    let json = dir.path().join("r.json");
    let list = dir.path().join("listing");
    let out = mnt.join("x.bin");
    let o = get_on_tmpfs(
        "size=1m",
        &mnt,
        &list,
        &[
            &format!("{}/download?size=8MiB", s.base),
            "-o",
            out.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = read_json(&json);
    assert_eq!(r["outcome"], "io_error");
    assert!(
        r["outcome_detail"]
            .as_str()
            .unwrap()
            .contains("No space left"),
        "{}",
        r["outcome_detail"]
    );
    assert_eq!(r["output"]["saved"], false);
    assert_eq!(r["output"]["partial_left"], true);
    assert!(
        r["sha256"].is_null(),
        "not every byte was hashed into a file"
    );
    let written = r["output"]["bytes_written"].as_u64().unwrap();
    assert!(
        written > 0 && written <= 1024 * 1024,
        "{written} bytes fit on a 1 MiB disk"
    );
    let files = listing(&list);
    assert_eq!(
        files,
        vec![("x.bin.part".to_string(), written)],
        "only the .part, holding what was written"
    );
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(summary.contains("Could not save the file"), "{summary}");
}

#[test]
fn a_read_only_destination_is_an_io_error_before_any_byte() {
    let s = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("ro");
    let json = dir.path().join("r.json");
    let list = dir.path().join("listing");
    let out = mnt.join("x.bin");
    let o = get_on_tmpfs(
        "ro,size=1m",
        &mnt,
        &list,
        &[
            &format!("{}/download?size=1MiB", s.base),
            "-o",
            out.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = read_json(&json);
    assert_eq!(r["outcome"], "io_error");
    let detail = r["outcome_detail"].as_str().unwrap();
    assert!(
        detail.contains("creating") && detail.contains("Read-only file system"),
        "{detail}"
    );
    assert_eq!(r["output"]["partial_left"], false);
    assert_eq!(r["output"]["bytes_written"], 0);
    assert!(listing(&list).is_empty(), "nothing on the read-only disk");
}
