//! Writing fails as disks do: a destination on a read-only filesystem, a filesystem that fills up
//! (each run in a mount namespace of its own with a small tmpfs, util-linux `unshare`, so nothing
//! outside the test sees the mount). And paths as a careless or hostile user leaves them: a device
//! or a FIFO named as the output, a link planted where the `.part` goes, two outputs naming the
//! same file.

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

/// Whether the tests run as root (then a device node can be made in a temporary directory).
fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_device_or_fifo_named_as_output_is_written_straight_into_and_stays_what_it_was() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "{}/download?size={}&seed=4",
        server.base,
        3 * 1024 * 1024 + 7
    );
    // As root, a null device of our own (mknod c 1 3), so a bug cannot replace the system's.
    let device = if root() {
        let d = dir.path().join("null");
        let c = std::ffi::CString::new(d.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; makedev(1, 3) is the null device.
        let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
        assert_eq!(made, 0, "mknod as root");
        d
    } else {
        std::path::PathBuf::from("/dev/null")
    };
    let rdev = std::fs::metadata(&device).unwrap().rdev();
    let json = dir.path().join("dev.json");
    let (o, r) = get_report(&url, &device, &json, &["-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = std::fs::symlink_metadata(&device).unwrap();
    assert!(after.file_type().is_char_device(), "still a device");
    assert_eq!(after.rdev(), rdev, "the same device");
    assert!(!part_of(&device).exists(), "no .part beside the device");
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["digest_match"], true, "hashed as it went");
    assert_eq!(r["output"]["written_straight_into"], "character_device");
    assert_eq!(r["output"]["bytes_written"], 3 * 1024 * 1024 + 7);
    assert!(r["duration_ms"].as_f64().unwrap() > 0.0, "the run is timed");
    assert!(r["first_byte_ms"].as_f64().is_some(), "the run is timed");
    // The summary says where the bytes went.
    let o = get(&[&url, "-o", device.to_str().unwrap()]);
    let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(said.contains("straight into"), "{said}");

    // A FIFO: a reader on the other end gets every byte, in order; the FIFO stays a FIFO.
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use sha2::Digest;
            use std::io::Read;
            let mut f = std::fs::File::open(fifo).unwrap();
            let mut h = sha2::Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut n = 0u64;
            loop {
                let k = f.read(&mut buf).unwrap();
                if k == 0 {
                    break;
                }
                h.update(&buf[..k]);
                n += k as u64;
            }
            (n, hex::encode(h.finalize()))
        })
    };
    let json = dir.path().join("fifo.json");
    let (o, r) = get_report(&url, &fifo, &json, &["-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (n, sha) = reader.join().unwrap();
    assert_eq!(n, 3 * 1024 * 1024 + 7);
    assert_eq!(r["sha256"], sha.as_str(), "the reader got what was hashed");
    assert_eq!(r["output"]["written_straight_into"], "fifo");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    // Resuming or ranges into a device make no sense: said before anything is sent.
    for extra in [&["--resume"][..], &["--segments", "4"][..]] {
        let mut args = vec![url.as_str(), "-o", device.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = get(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("character device"), "{}", stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1);
    }
}

#[test]
fn a_planted_link_or_a_shared_name_stops_the_run_and_nothing_is_overwritten() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/download?size=100000", server.base);
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let out = dir.path().join("out.bin");
    let o_str = out.to_str().unwrap();

    // A link where our .part, or its .part.resume, goes: exit 2, one line, the victim untouched,
    // with or without --resume, and even when the download would fail.
    for side in [".part", ".part.resume"] {
        let link = dir.path().join(format!("out.bin{side}"));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        for extra in [&[][..], &["--resume"][..], &["--segments", "2"][..]] {
            let mut args = vec![url.as_str(), "-o", o_str];
            args.extend_from_slice(extra);
            let o = get(&args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{side} {extra:?}: {err}");
            assert!(err.contains(&format!("out.bin{side}")), "{err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
            assert!(!out.exists());
        }
        std::fs::remove_file(&link).unwrap();
    }
    // The output itself a link to a regular file: refused, neither it nor its target replaced.
    let link_out = dir.path().join("link.bin");
    std::os::unix::fs::symlink(&victim, &link_out).unwrap();
    let o = get(&[&url, "-o", link_out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(&link_out)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");

    // A stale regular .part from an earlier run (not resuming) is replaced, not appended to.
    std::fs::write(part_of(&out), vec![b'x'; 5000]).unwrap();
    let json = dir.path().join("r.json");
    let (o, r) = get_report(&url, &out, &json, &["-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["digest_match"], true);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 100_000);

    // Two outputs naming one file (directly, through "./", or the download's own .part): exit 2
    // before anything is downloaded; nothing is created.
    let same = dir.path().join("same.bin");
    let s = same.to_str().unwrap();
    let dotted = format!("{}/./same.bin", dir.path().display());
    let part = format!("{s}.part");
    let cases: Vec<Vec<&str>> = vec![
        vec!["-o", s, "--json", s],
        vec!["-o", s, "--csv", &dotted],
        vec!["-o", s, "--png", &part],
        vec!["-o", o_str, "--json", s, "--png", s],
        vec!["-o", o_str, "--json", s, "--csv", s],
    ];
    for extra in cases {
        let mut args = vec![url.as_str()];
        args.extend_from_slice(&extra);
        let o = get(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains("same file"), "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!same.exists(), "{extra:?}: nothing written");
        assert!(!part_of(&same).exists());
    }
    // A report named after a directory, a PNG into a missing directory: exit 2 up front.
    for extra in [
        vec!["--json", dir.path().to_str().unwrap()],
        vec!["--png", "/nonexistent-streamscope-dir/c.png"],
    ] {
        let mut args = vec![url.as_str(), "-o", s];
        args.extend_from_slice(&extra);
        let o = get(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(!same.exists());
    }
}
