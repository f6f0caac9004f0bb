//! The writer thread: hashes and writes the body beside the socket reads, so SHA-256 and the
//! page-cache copy overlap receiving instead of following it. It takes batches of arrivals (one
//! channel hop per batch, not per 8 KiB HTTP/2 frame) and stops at the first write error.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Writes reach the kernel in blocks this large: few syscalls, bounded memory.
const WRITE_BUF: usize = 256 * 1024;
/// Batches waiting for the writer. With batches of at most [`super::engine::BATCH_BYTES`], this
/// bounds the memory in flight to a few MiB while letting receiving and hashing overlap.
const QUEUE: usize = 4;
/// Starts the kernel writing dirty pages to disk every this many bytes, without waiting for it, so
/// that the fsync at the end has little left to do (fsync of a 1 GiB file written in one go took
/// ~280 ms after the last byte here; started early it overlaps the download).
const WRITEBACK_EVERY: u64 = 16 * 1024 * 1024;

/// What the writer did.
pub struct Sunk {
    /// SHA-256 of every byte it was given; None when it stopped early.
    pub sha256: Option<[u8; 32]>,
    /// Bytes in the file (after a failure: what the file really holds).
    pub bytes_written: u64,
    pub error: Option<std::io::Error>,
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
}

impl Target for std::fs::File {
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_all()
    }

    fn stored_len(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn start_writeback(&self, from: u64, len: u64) {
        #[cfg(target_os = "linux")]
        {
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
        #[cfg(not(target_os = "linux"))]
        let _ = (from, len);
    }
}

/// Starts the writer for `target`. Dropping the sender ends it: the target is flushed and synced.
pub fn spawn<T: Target>(target: T) -> (SinkSender, tokio::task::JoinHandle<Sunk>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(QUEUE);
    let handle = tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        let mut out = std::io::BufWriter::with_capacity(WRITE_BUF, target);
        let mut writeback = Writeback::default();
        let mut accepted = 0u64;
        let result = (|| {
            while let Some(batch) = rx.blocking_recv() {
                for chunk in batch {
                    hasher.update(&chunk);
                    out.write_all(&chunk)?;
                    accepted += chunk.len() as u64;
                    writeback.wrote(accepted, &mut out)?;
                }
            }
            out.flush()?;
            out.get_mut().sync()
        })();
        match result {
            Ok(()) => Sunk {
                sha256: Some(hasher.finalize().into()),
                bytes_written: accepted,
                error: None,
            },
            Err(e) => Sunk {
                sha256: None,
                // Whatever BufWriter still held never reached the file: ask the file.
                bytes_written: out.get_ref().stored_len().unwrap_or(0),
                error: Some(e),
            },
        }
    });
    (tx, handle)
}

#[derive(Default)]
struct Writeback {
    started_up_to: u64,
}

impl Writeback {
    fn wrote<T: Target>(
        &mut self,
        written: u64,
        out: &mut std::io::BufWriter<T>,
    ) -> std::io::Result<()> {
        if written - self.started_up_to < WRITEBACK_EVERY {
            return Ok(());
        }
        out.flush()?;
        out.get_ref()
            .start_writeback(self.started_up_to, written - self.started_up_to);
        self.started_up_to = written;
        Ok(())
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
        let (tx, handle) = spawn(SmallDisk {
            data: Vec::new(),
            room,
        });
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

    #[tokio::test]
    async fn everything_given_is_hashed_and_written() {
        let (tx, handle) = spawn(SmallDisk {
            data: Vec::new(),
            room: usize::MAX,
        });
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
