//! The writer thread: hashes and writes the body beside the socket reads, so SHA-256 and the
//! page-cache copy overlap receiving instead of following it. It takes batches of arrivals (one
//! channel hop per batch, not per 8 KiB HTTP/2 frame) and hashes and writes them in groups of
//! 128 KiB: the vectored write copies straight from the received buffers what the hash just read,
//! while it is still in the CPU's cache (hashing a whole batch first, then writing it, cost ~1.7x
//! the CPU on a GiB over h2; so did a BufWriter's extra copy). It stops at the first write error.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::io::Write;

/// The body loop hands bytes over in batches of at most this many (see [`super::body`]).
pub const BATCH_BYTES: usize = 1024 * 1024;
/// Bytes are hashed, then written, in groups of about this many...
const GROUP_BYTES: usize = 128 * 1024;
/// ...and of at most this many buffers per write call (Linux's IOV_MAX is 1024).
const MAX_IOV: usize = 256;
/// Batches waiting for the writer. With batches of at most [`BATCH_BYTES`], this
/// bounds the memory in flight to a few MiB while letting receiving and hashing overlap.
const QUEUE: usize = 4;
/// Starts the kernel writing dirty pages to disk every this many bytes, without waiting for it, so
/// that the fsync at the end has little left to do (fsync of a 1 GiB file written in one go took
/// ~280 ms after the last byte here; started early it overlaps the download).
const WRITEBACK_EVERY: u64 = 16 * 1024 * 1024;

/// What the writer did.
pub struct Sunk {
    /// SHA-256 of the file: the prefix it started after and every byte it was given; None when it
    /// stopped early.
    pub sha256: Option<[u8; 32]>,
    /// The hash state behind `sha256`, to go on from (a retry appends to the same file).
    pub hasher: Option<Sha256>,
    /// Bytes in the file (after a failure: what the file really holds).
    pub bytes_written: u64,
    pub error: Option<std::io::Error>,
}

/// What the file already holds when the writer starts: its length and the hash of those bytes.
#[derive(Clone, Default)]
pub struct Prefix {
    pub bytes: u64,
    pub hasher: Sha256,
}

impl Prefix {
    /// Hashes the first bytes of `file` (all of it), in 1 MiB reads.
    pub fn of_file(file: &mut std::fs::File) -> std::io::Result<Prefix> {
        use std::io::Read;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1024 * 1024];
        let mut bytes = 0u64;
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    bytes += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Prefix { bytes, hasher })
    }
}

pub type SinkSender = tokio::sync::mpsc::Sender<Vec<Bytes>>;

/// Where the writer puts the bytes: a file, or (in tests) a writer that fails on purpose.
pub trait Target: Write + Send + 'static {
    /// Makes what was written durable.
    fn sync(&mut self) -> std::io::Result<()>;
    /// Bytes the target really holds.
    fn stored_len(&self) -> std::io::Result<u64>;
    /// Starts writing `[from, from + len)` back to disk without waiting (best effort).
    fn start_writeback(&self, _from: u64, _len: u64) {}
    /// Reserves room for `len` bytes without changing the length (best effort).
    fn reserve(&self, _len: u64) {}
    /// Gives back room reserved beyond the first `len` bytes (best effort).
    fn release_beyond(&self, _len: u64) {}
}

impl Target for std::fs::File {
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_all()
    }

    fn stored_len(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn start_writeback(&self, from: u64, len: u64) {
        use std::os::fd::AsRawFd;
        // SAFETY: the fd is open for as long as `self` lives; sync_file_range only reads it.
        // Best effort: a filesystem that refuses it still gets the fsync at the end.
        unsafe {
            libc::sync_file_range(
                self.as_raw_fd(),
                from as i64,
                len as i64,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
    }

    /// The announced length is allocated in one go: the filesystem then has no block to find per
    /// page as the bytes come (~7 % of the writer's CPU on ext4), and the file is contiguous. The
    /// size stays what was written, so a cut-off `.part` holds exactly what arrived.
    fn reserve(&self, len: u64) {
        use std::os::fd::AsRawFd;
        // SAFETY: the fd is open for as long as `self` lives. Best effort: a filesystem that
        // cannot preallocate just allocates as it writes.
        unsafe {
            libc::fallocate(
                self.as_raw_fd(),
                libc::FALLOC_FL_KEEP_SIZE,
                0,
                len.min(i64::MAX as u64) as i64,
            )
        };
    }

    /// Truncating to the length it has frees blocks reserved past the end (a cut-off download, a
    /// server that announced more than it sent): nothing reserved outlives the run.
    fn release_beyond(&self, len: u64) {
        self.set_len(len).ok();
    }
}

/// The download's file: a regular file (the `.part`), or a special file the user named, written
/// straight into (no preallocation, no write-back hints, no fsync: a device or a pipe has no
/// pages to make durable, and `fsync` on one fails).
pub enum Out {
    File(std::fs::File),
    /// The file, and the bytes it holds from this run (those before it included).
    Straight(std::fs::File, u64),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::File(f) => f.write(buf),
            Out::Straight(f, n) => f.write(buf).inspect(|k| *n += *k as u64),
        }
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        match self {
            Out::File(f) => f.write_vectored(bufs),
            Out::Straight(f, n) => f.write_vectored(bufs).inspect(|k| *n += *k as u64),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::File(f) | Out::Straight(f, _) => f.flush(),
        }
    }
}

impl Target for Out {
    fn sync(&mut self) -> std::io::Result<()> {
        match self {
            Out::File(f) => f.sync(),
            Out::Straight(..) => Ok(()),
        }
    }
    fn stored_len(&self) -> std::io::Result<u64> {
        match self {
            Out::File(f) => f.stored_len(),
            Out::Straight(_, n) => Ok(*n),
        }
    }
    fn start_writeback(&self, from: u64, len: u64) {
        if let Out::File(f) = self {
            f.start_writeback(from, len);
        }
    }
    fn reserve(&self, len: u64) {
        if let Out::File(f) = self {
            f.reserve(len);
        }
    }
    fn release_beyond(&self, len: u64) {
        if let Out::File(f) = self {
            f.release_beyond(len);
        }
    }
}

/// Starts the writer for `target`, with room reserved for `expected_len` bytes when the length is
/// known. Dropping the sender ends it: the target is synced.
pub fn spawn<T: Target>(
    target: T,
    expected_len: Option<u64>,
) -> (SinkSender, tokio::task::JoinHandle<Sunk>) {
    spawn_after(target, Prefix::default(), expected_len)
}

/// [`spawn`] for a target that already holds `prefix` (positioned after it): the hash goes on
/// from the prefix's, and `expected_total` counts it.
pub fn spawn_after<T: Target>(
    target: T,
    prefix: Prefix,
    expected_total: Option<u64>,
) -> (SinkSender, tokio::task::JoinHandle<Sunk>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(QUEUE);
    let handle = tokio::task::spawn_blocking(move || {
        let reserved = expected_total.filter(|l| *l > prefix.bytes);
        if let Some(len) = reserved {
            target.reserve(len);
        }
        let mut hasher = prefix.hasher;
        let mut out = target;
        let mut writeback = Writeback {
            started_up_to: prefix.bytes,
        };
        let mut accepted = prefix.bytes;
        let result = (|| {
            while let Some(batch) = rx.blocking_recv() {
                for group in groups(&batch) {
                    for chunk in group {
                        hasher.update(chunk);
                    }
                    accepted += write_all_vectored(&mut out, group)?;
                }
                writeback.wrote(accepted, &out);
            }
            if reserved.is_some_and(|r| r != accepted) {
                out.release_beyond(accepted);
            }
            out.sync()
        })();
        match result {
            Ok(()) => Sunk {
                sha256: Some(hasher.clone().finalize().into()),
                hasher: Some(hasher),
                bytes_written: accepted,
                error: None,
            },
            Err(e) => {
                // A write that failed part-way wrote some of its bytes: ask the file.
                let bytes_written = out.stored_len().unwrap_or(0);
                if reserved.is_some() {
                    out.release_beyond(bytes_written);
                }
                Sunk {
                    sha256: None,
                    hasher: None,
                    bytes_written,
                    error: Some(e),
                }
            }
        }
    });
    (tx, handle)
}

/// Consecutive runs of `batch` of about [`GROUP_BYTES`] (a single larger buffer is a group alone).
fn groups(batch: &[Bytes]) -> impl Iterator<Item = &[Bytes]> {
    let mut rest = batch;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let n = rest
            .iter()
            .take(MAX_IOV)
            .take_while(|b| {
                let take = bytes < GROUP_BYTES;
                bytes += b.len();
                take
            })
            .count();
        let (group, tail) = rest.split_at(n);
        rest = tail;
        Some(group)
    })
}

/// Writes every byte of `bufs`, in order; returns how many that was.
fn write_all_vectored<W: Write>(out: &mut W, bufs: &[Bytes]) -> std::io::Result<u64> {
    let mut slices: Vec<std::io::IoSlice<'_>> =
        bufs.iter().map(|b| std::io::IoSlice::new(b)).collect();
    let mut rest = &mut slices[..];
    let mut total = 0u64;
    while !rest.is_empty() {
        match out.write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                total += n as u64;
                std::io::IoSlice::advance_slices(&mut rest, n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Starts writeback every [`WRITEBACK_EVERY`] bytes.
#[derive(Default)]
struct Writeback {
    started_up_to: u64,
}

impl Writeback {
    fn wrote<T: Target>(&mut self, written: u64, out: &T) {
        if written - self.started_up_to >= WRITEBACK_EVERY {
            out.start_writeback(self.started_up_to, written - self.started_up_to);
            self.started_up_to = written;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk that fills up after `room` bytes.
    struct SmallDisk {
        data: Vec<u8>,
        room: usize,
    }

    impl Write for SmallDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.room - self.data.len());
            if n == 0 {
                return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.data.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Target for SmallDisk {
        fn sync(&mut self) -> std::io::Result<()> {
            Ok(())
        }
        fn stored_len(&self) -> std::io::Result<u64> {
            Ok(self.data.len() as u64)
        }
    }

    #[tokio::test]
    async fn a_full_disk_stops_the_writer_and_says_how_much_was_written() {
        let room = 700 * 1024 + 5;
        let (tx, handle) = spawn(
            SmallDisk {
                data: Vec::new(),
                room,
            },
            None,
        );
        let mut sent = 0u64;
        for _ in 0..64 {
            let batch = vec![Bytes::from(vec![7u8; 64 * 1024]); 4];
            if tx.send(batch).await.is_err() {
                break;
            }
            sent += 4 * 64 * 1024;
        }
        drop(tx);
        let sunk = handle.await.unwrap();
        assert!(
            sent < 64 * 4 * 64 * 1024,
            "the writer stopped taking batches"
        );
        assert_eq!(sunk.bytes_written, room as u64);
        assert_eq!(
            sunk.sha256, None,
            "no digest of a body that was not all kept"
        );
        assert_eq!(sunk.error.unwrap().raw_os_error(), Some(28));
    }

    #[test]
    fn groups_cover_the_batch_in_order() {
        let batch: Vec<Bytes> = [8192, 8192, 200_000, 5, 70_000, 70_000, 1]
            .iter()
            .map(|n| Bytes::from(vec![1u8; *n]))
            .collect();
        let sizes: Vec<Vec<usize>> = groups(&batch)
            .map(|g| g.iter().map(Bytes::len).collect())
            .collect();
        assert_eq!(
            sizes,
            [vec![8192, 8192, 200_000], vec![5, 70_000, 70_000], vec![1]]
        );
        let many: Vec<Bytes> = (0..600).map(|_| Bytes::from_static(b"x")).collect();
        assert!(groups(&many).all(|g| g.len() <= MAX_IOV));
        assert_eq!(groups(&many).map(<[Bytes]>::len).sum::<usize>(), 600);
    }

    #[tokio::test]
    async fn everything_given_is_hashed_and_written() {
        let (tx, handle) = spawn(
            SmallDisk {
                data: Vec::new(),
                room: usize::MAX,
            },
            Some(11),
        );
        tx.send(vec![
            Bytes::from_static(b"hello "),
            Bytes::from_static(b"world"),
        ])
        .await
        .unwrap();
        drop(tx);
        let sunk = handle.await.unwrap();
        assert_eq!(sunk.bytes_written, 11);
        assert_eq!(
            hex::encode(sunk.sha256.unwrap()),
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
    }
}
