//! What the tool reads and writes on disk, made safe against careless and hostile paths.
//!
//! Writing: the download, its `.part`
//! and `.part.resume`, the JSON report, the arrivals CSV and the PNG all go through here.
//!
//! - A path is looked at without following it ([`Dest::of`]): a regular file (or nothing) is
//!   written beside and renamed into place; a character device, FIFO or socket the user named
//!   (`-o /dev/null`, `--json /dev/stdout`) is written straight into, never renamed over; a
//!   directory, a block device or a symbolic link to a regular file is refused.
//! - Our own side files (`.part`, `.part.resume`) are never followed: they are opened with
//!   `O_NOFOLLOW` and created exclusively, so a link planted there by someone else makes the run
//!   stop with one line instead of overwriting the link's target.
//! - Two outputs naming the same file are refused before anything is downloaded ([`distinct`]).
//!
//! Reading: a template, a report, a targets file or a CA file is read only if it is a regular
//! file no larger than a cap stated per kind ([`read_input`]), so `lint /dev/zero` or a huge
//! file cannot make the tool take memory without bound.

use std::fs::File;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// What a path the user named for output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// Nothing yet, or a regular file: written beside, then renamed over.
    File,
    /// Written straight into: no side file, no rename, no preallocation.
    Straight(Special),
}

/// A file that is not a regular file and takes writes in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Special {
    CharacterDevice,
    Fifo,
    Socket,
}

impl Special {
    pub fn label(self) -> &'static str {
        match self {
            Special::CharacterDevice => "character device",
            Special::Fifo => "FIFO",
            Special::Socket => "socket",
        }
    }

    fn of(t: std::fs::FileType) -> Option<Special> {
        if t.is_char_device() {
            Some(Special::CharacterDevice)
        } else if t.is_fifo() {
            Some(Special::Fifo)
        } else if t.is_socket() {
            Some(Special::Socket)
        } else {
            None
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DestError {
    #[error("{0:?} is a directory; name a file")]
    Dir(PathBuf),
    #[error("{0:?} is a block device: streamscope does not write onto disks")]
    BlockDevice(PathBuf),
    #[error(
        "{0:?} is a symbolic link: name the file it points to (streamscope never writes through a link or renames over one)"
    )]
    Symlink(PathBuf),
    #[error(
        "{0:?} exists and is not a regular file (a link or special file planted there?): remove it first"
    )]
    SideFile(PathBuf),
    #[error("the {0} and the {1} are the same file ({2:?}): name two files")]
    Same(&'static str, &'static str, PathBuf),
    #[error("cannot look at {0:?}: {1}")]
    Io(PathBuf, String),
}

impl Dest {
    /// What `path` is, looked at without following it (a link is followed only to find a special
    /// file behind it, as `/dev/stdout` is).
    pub fn of(path: &Path) -> Result<Dest, DestError> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Dest::File),
            Err(e) => return Err(DestError::Io(path.to_path_buf(), e.to_string())),
        };
        let t = meta.file_type();
        if t.is_file() {
            return Ok(Dest::File);
        }
        if t.is_dir() {
            return Err(DestError::Dir(path.to_path_buf()));
        }
        if t.is_block_device() {
            return Err(DestError::BlockDevice(path.to_path_buf()));
        }
        if t.is_symlink() {
            return match std::fs::metadata(path)
                .ok()
                .and_then(|m| Special::of(m.file_type()))
            {
                Some(s) => Ok(Dest::Straight(s)),
                None => Err(DestError::Symlink(path.to_path_buf())),
            };
        }
        Special::of(t)
            .map(Dest::Straight)
            .ok_or_else(|| DestError::SideFile(path.to_path_buf()))
    }
}

/// A side file of ours (`.part`, `.part.resume`, a temporary) may be absent or a regular file;
/// anything else there was not made by us and is refused.
pub fn check_side_file(path: &Path) -> Result<(), DestError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(_) => Err(DestError::SideFile(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DestError::Io(path.to_path_buf(), e.to_string())),
    }
}

/// What identifies the file a path names, whether or not it exists yet: its device and inode
/// when it does, else its directory's (resolved) path and its name.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    Inode(u64, u64),
    Named(PathBuf),
}

fn identity(path: &Path) -> Identity {
    if let Ok(m) = std::fs::metadata(path) {
        return Identity::Inode(m.dev(), m.ino());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    Identity::Named(dir.join(path.file_name().unwrap_or_default()))
}

/// Refuses any two of `named` (what, path) that are the same file.
pub fn distinct(named: &[(&'static str, &Path)]) -> Result<(), DestError> {
    let ids: Vec<Identity> = named.iter().map(|(_, p)| identity(p)).collect();
    for (i, a) in ids.iter().enumerate() {
        for (j, b) in ids.iter().enumerate().skip(i + 1) {
            if a == b {
                return Err(DestError::Same(
                    named[i].0,
                    named[j].0,
                    named[j].1.to_path_buf(),
                ));
            }
        }
    }
    Ok(())
}

/// Creates `path` afresh for writing: a stale regular file there is removed first, and the new
/// one is created exclusively and without following a link, so whatever appears there in between
/// makes this fail instead of being written into.
pub fn create_fresh(path: &Path) -> std::io::Result<File> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => std::fs::remove_file(path)?,
        Ok(_) => return Err(not_ours(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Opens an existing side file to go on writing it, without following a link.
pub fn open_existing(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| refused_link(path, e))
}

/// Opens a side file to read it, without following a link; `None` when there is none.
pub fn open_read(path: &Path) -> std::io::Result<Option<File>> {
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(refused_link(path, e)),
    }
}

/// Opens a special file the user named, to write straight into it (following a link to it, as
/// `/dev/stdout` is one).
pub fn open_straight(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new().write(true).open(path)
}

/// Reads a side file of ours whole, if it is there and at most `cap` bytes (else `None`).
pub fn read_side_file(path: &Path, cap: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let f = open_read(path).ok()??;
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf).ok()?;
    (buf.len() as u64 <= cap).then_some(buf)
}

/// Writes `data` as the whole of `path`: straight into a special file the user named; otherwise
/// into a fresh temporary file beside it, renamed over `path` once complete (a reader never sees
/// half a report, and no link is followed).
pub fn write_whole(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    match Dest::of(path).map_err(std::io::Error::other)? {
        Dest::Straight(_) => open_straight(path)?.write_all(data),
        Dest::File => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            use std::os::unix::fs::PermissionsExt;
            // As `std::fs::write` would create it: 0666 less the umask (tempfile's default is 0600).
            let mut tmp = tempfile::Builder::new()
                .prefix(".streamscope-")
                .permissions(std::fs::Permissions::from_mode(0o666))
                .tempfile_in(dir)?;
            tmp.write_all(data)?;
            tmp.as_file().sync_all()?;
            tmp.persist(path).map_err(|e| e.error)?;
            Ok(())
        }
    }
}

/// The largest input of each kind read (a template, a report, ...), and what it is called.
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    pub what: &'static str,
    pub bytes: u64,
}

/// Templates: the largest CloudFormation accepts is 1 MB (from S3); 16 MiB leaves room for
/// generated OpenAPI bodies and Terraform directories.
pub const TEMPLATE_CAP: Cap = Cap {
    what: "template",
    bytes: 16 << 20,
};
/// Reports: a 10 GiB download read in 16 KiB pieces makes a report of about 15 MB.
pub const REPORT_CAP: Cap = Cap {
    what: "report",
    bytes: 256 << 20,
};
/// Targets files, CA files: small by nature.
pub const SMALL_FILE_CAP: Cap = Cap {
    what: "file",
    bytes: 4 << 20,
};

/// Reads a file the user named as input: only a regular file (a link to one is followed), and
/// only up to `cap` (checked before reading and while reading, as a file may grow).
pub fn read_input(path: &Path, cap: Cap) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = File::open(path)?;
    let meta = f.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other(format!(
            "not a regular file (a device, FIFO or directory): a {} is read from a regular file only",
            cap.what
        )));
    }
    let too_big = || {
        std::io::Error::other(format!(
            "larger than the {} MiB a {} may be",
            cap.bytes >> 20,
            cap.what
        ))
    };
    if meta.len() > cap.bytes {
        return Err(too_big());
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    f.take(cap.bytes + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap.bytes {
        return Err(too_big());
    }
    Ok(buf)
}

/// [`read_input`] as UTF-8 text.
pub fn read_input_text(path: &Path, cap: Cap) -> std::io::Result<String> {
    String::from_utf8(read_input(path, cap)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

fn not_ours(path: &Path) -> std::io::Error {
    std::io::Error::other(format!(
        "{} is not a regular file (a link or special file planted there?): refusing to write it",
        path.display()
    ))
}

fn refused_link(path: &Path, e: std::io::Error) -> std::io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        not_ours(path)
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_regular_files_under_their_cap() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("t.yaml");
        std::fs::write(&small, b"Resources: {}").unwrap();
        let tiny = Cap {
            what: "template",
            bytes: 20,
        };
        assert_eq!(read_input_text(&small, tiny).unwrap(), "Resources: {}");
        std::fs::write(&small, [b'x'; 21]).unwrap();
        let e = read_input(&small, tiny).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
        for special in ["/dev/zero", "/dev/null"] {
            let e = read_input(Path::new(special), tiny)
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a regular file"), "{special}: {e}");
        }
        assert!(read_input(dir.path(), tiny).is_err());
    }

    #[test]
    fn what_a_path_is() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let link_to_file = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link_to_file).unwrap();
        let dangling = dir.path().join("d");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        let link_to_null = dir.path().join("n");
        std::os::unix::fs::symlink("/dev/null", &link_to_null).unwrap();
        let table: Vec<(&Path, Result<Dest, DestError>)> = vec![
            (&file, Ok(Dest::File)),
            (Path::new("/nonexistent-dir/x"), Ok(Dest::File)),
            (dir.path(), Err(DestError::Dir(dir.path().to_path_buf()))),
            (&link_to_file, Err(DestError::Symlink(link_to_file.clone()))),
            (&dangling, Err(DestError::Symlink(dangling.clone()))),
            (
                Path::new("/dev/null"),
                Ok(Dest::Straight(Special::CharacterDevice)),
            ),
            (&link_to_null, Ok(Dest::Straight(Special::CharacterDevice))),
        ];
        for (path, want) in table {
            assert_eq!(Dest::of(path), want, "{}", path.display());
        }
    }

    #[test]
    fn a_planted_link_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let part = dir.path().join("x.part");
        std::os::unix::fs::symlink(&victim, &part).unwrap();
        assert!(create_fresh(&part).is_err());
        assert!(open_existing(&part).is_err());
        assert!(open_read(&part).is_err());
        assert_eq!(read_side_file(&part, 100), None);
        assert!(check_side_file(&part).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        // A stale regular side file is replaced.
        let stale = dir.path().join("y.part");
        std::fs::write(&stale, b"old").unwrap();
        assert!(create_fresh(&stale).is_ok());
        assert_eq!(std::fs::read(&stale).unwrap(), b"");
    }

    #[test]
    fn the_same_file_under_two_names_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        let via_dot = dir.path().join(".").join("a.bin");
        assert!(matches!(
            distinct(&[("output file", &a), ("JSON report", &via_dot)]),
            Err(DestError::Same("output file", "JSON report", _))
        ));
        std::fs::write(&a, b"x").unwrap();
        let hard = dir.path().join("hard");
        std::fs::hard_link(&a, &hard).unwrap();
        assert!(distinct(&[("output file", &a), ("PNG", &hard)]).is_err());
        let b = dir.path().join("b.json");
        assert_eq!(
            distinct(&[("output file", &a), ("JSON report", &b)]),
            Ok(())
        );
    }

    #[test]
    fn a_whole_write_replaces_a_file_and_goes_straight_into_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        std::fs::write(&p, b"old").unwrap();
        write_whole(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        write_whole(Path::new("/dev/null"), b"anything").unwrap();
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
