//! Deterministic pseudo-random bytes with random access, and their SHA-256 computed fast enough to be
//! sent as `Repr-Digest` before the body.
//!
//! Byte `o` of the stream for `seed` is byte `o % 8` (little-endian) of `splitmix64(seed, o / 8)`: a
//! counter-based generator, so a Range request can start anywhere and generation costs about a
//! nanosecond per 8 bytes (the server shares the CPU with the client it serves).

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
fn word(key: u64, index: u64) -> u64 {
    let mut z = key.wrapping_add(index.wrapping_add(1).wrapping_mul(GOLDEN));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn key_for(seed: u64) -> u64 {
    // Decorrelates neighbouring seeds: seed 1 and seed 2 do not share shifted words.
    word(0x5EED_5EED_5EED_5EED, seed)
}

/// Fills `buf` with the stream's bytes starting at `offset`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let key = key_for(seed);
    let mut pos = 0usize;
    let mut idx = offset / 8;
    let skip = (offset % 8) as usize;
    if skip != 0 {
        let w = word(key, idx).to_le_bytes();
        let n = (8 - skip).min(buf.len());
        buf[..n].copy_from_slice(&w[skip..skip + n]);
        pos = n;
        idx += 1;
    }
    let mut chunks = buf[pos..].chunks_exact_mut(8);
    for c in &mut chunks {
        c.copy_from_slice(&word(key, idx).to_le_bytes());
        idx += 1;
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let w = word(key, idx).to_le_bytes();
        let n = rest.len();
        rest.copy_from_slice(&w[..n]);
    }
}

/// Hasher states every `CHECKPOINT` bytes, per seed: a digest for any size then costs at most one
/// checkpoint of hashing once the stream has been hashed that far (1 GiB the first time: ~0.6 s).
const CHECKPOINT: u64 = 16 * 1024 * 1024;
const MAX_SEEDS: usize = 32;
const HASH_BUF: usize = 1024 * 1024;

/// Digests computed at once at most: each is a core's work for up to a second per GiB.
pub const DIGEST_WORKERS: usize = 2;

pub struct DigestCache {
    by_seed: Mutex<HashMap<u64, Vec<Sha256>>>,
    /// Bounds the digests computed at once; a request waiting here that is dropped (its client
    /// left) never starts one.
    pub workers: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Default for DigestCache {
    fn default() -> Self {
        DigestCache {
            by_seed: Mutex::default(),
            workers: std::sync::Arc::new(tokio::sync::Semaphore::new(DIGEST_WORKERS)),
        }
    }
}

impl DigestCache {
    /// SHA-256 of the first `size` bytes of the stream for `seed`, or None when `stop` was set
    /// first (checked every MiB). Each checkpoint reached is kept at once, so work stopped half
    /// way (or done by a request alongside) is not done again. CPU-bound: call it from a
    /// blocking context for large sizes.
    pub fn sha256(&self, seed: u64, size: u64, stop: &AtomicBool) -> Option<[u8; 32]> {
        let want = (size / CHECKPOINT) as usize;
        let (mut have, mut state) = {
            let map = self.by_seed.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&seed) {
                Some(points) => {
                    let i = want.min(points.len() - 1);
                    (i, points[i].clone())
                }
                None => (0, Sha256::new()),
            }
        };
        let mut buf = vec![0u8; HASH_BUF];
        while have < want {
            let start = have as u64 * CHECKPOINT;
            if !hash_range(&mut state, seed, start, CHECKPOINT, &mut buf, stop) {
                return None;
            }
            have += 1;
            self.keep(seed, have, &state);
        }
        let tail_start = want as u64 * CHECKPOINT;
        if !hash_range(
            &mut state,
            seed,
            tail_start,
            size - tail_start,
            &mut buf,
            stop,
        ) {
            return None;
        }
        Some(state.finalize().into())
    }

    /// Keeps the hash state after `i` checkpoints of `seed` (if it is the next one).
    fn keep(&self, seed: u64, i: usize, state: &Sha256) {
        let mut map = self.by_seed.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_SEEDS && !map.contains_key(&seed) {
            map.clear();
        }
        let points = map.entry(seed).or_insert_with(|| vec![Sha256::new()]);
        if i == points.len() {
            points.push(state.clone());
        }
    }
}

/// Sets its flag when dropped: what a blocking computation checks to stop once its requester is
/// gone (an async handler is dropped when its client disconnects).
pub struct StopOnDrop(pub std::sync::Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Hashes `len` bytes of `seed`'s stream from `start`; false when `stop` was set first.
fn hash_range(
    state: &mut Sha256,
    seed: u64,
    start: u64,
    len: u64,
    buf: &mut [u8],
    stop: &AtomicBool,
) -> bool {
    let mut done = 0u64;
    while done < len {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let n = (len - done).min(buf.len() as u64) as usize;
        fill(seed, start + done, &mut buf[..n]);
        state.update(&buf[..n]);
        done += n as u64;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_access_matches_sequential() {
        let mut whole = vec![0u8; 1000];
        fill(7, 0, &mut whole);
        for start in [0usize, 1, 5, 8, 13, 999] {
            for len in [0usize, 1, 3, 8, 17] {
                let end = (start + len).min(1000);
                let mut part = vec![0u8; end - start];
                fill(7, start as u64, &mut part);
                assert_eq!(part, whole[start..end], "start {start} len {len}");
            }
        }
    }

    #[test]
    fn seeds_differ_and_repeat() {
        let (mut a, mut b, mut c) = ([0u8; 64], [0u8; 64], [0u8; 64]);
        fill(1, 0, &mut a);
        fill(2, 0, &mut b);
        fill(1, 0, &mut c);
        assert_ne!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn cached_digest_equals_direct_hash() {
        let cache = DigestCache::default();
        for size in [
            0u64,
            1,
            CHECKPOINT - 1,
            CHECKPOINT,
            CHECKPOINT + 1,
            2 * CHECKPOINT + 5,
        ] {
            let mut data = vec![0u8; size as usize];
            fill(3, 0, &mut data);
            let direct: [u8; 32] = Sha256::digest(&data).into();
            let go = AtomicBool::new(false);
            assert_eq!(cache.sha256(3, size, &go), Some(direct), "size {size}");
        }
        // Asking again, now from checkpoints, gives the same answer.
        let mut data = vec![0u8; (CHECKPOINT + 1) as usize];
        fill(3, 0, &mut data);
        let go = AtomicBool::new(false);
        assert_eq!(
            cache.sha256(3, CHECKPOINT + 1, &go),
            Some(<[u8; 32]>::from(Sha256::digest(&data)))
        );
        // Stopped: no digest, and nothing wrong kept.
        let stopped = AtomicBool::new(true);
        assert_eq!(cache.sha256(4, 3 * CHECKPOINT, &stopped), None);
        let mut data = vec![0u8; (2 * CHECKPOINT + 9) as usize];
        fill(4, 0, &mut data);
        assert_eq!(
            cache.sha256(4, 2 * CHECKPOINT + 9, &go),
            Some(<[u8; 32]>::from(Sha256::digest(&data)))
        );
    }
}
