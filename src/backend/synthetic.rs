//! Deterministic pseudo-random bytes with random access, and their SHA-256 computed fast enough to be
//! sent as `Repr-Digest` before the body.
//!
//! Byte `o` of the stream for `seed` is byte `o % 8` (little-endian) of `splitmix64(seed, o / 8)`: a
//! counter-based generator, so a Range request can start anywhere and generation costs about a
//! nanosecond per 8 bytes (the server shares the CPU with the client it serves).

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

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

#[derive(Default)]
pub struct DigestCache {
    by_seed: Mutex<HashMap<u64, Vec<Sha256>>>,
}

impl DigestCache {
    /// SHA-256 of the first `size` bytes of the stream for `seed`. CPU-bound: call it from a
    /// blocking context for large sizes.
    pub fn sha256(&self, seed: u64, size: u64) -> [u8; 32] {
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
        let mut new_points = Vec::new();
        let mut buf = vec![0u8; HASH_BUF];
        while have < want {
            hash_range(
                &mut state,
                seed,
                have as u64 * CHECKPOINT,
                CHECKPOINT,
                &mut buf,
            );
            have += 1;
            new_points.push((have, state.clone()));
        }
        if !new_points.is_empty() {
            let mut map = self.by_seed.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_SEEDS && !map.contains_key(&seed) {
                map.clear();
            }
            let points = map.entry(seed).or_insert_with(|| vec![Sha256::new()]);
            for (i, s) in new_points {
                if i == points.len() {
                    points.push(s);
                }
            }
        }
        let tail_start = want as u64 * CHECKPOINT;
        hash_range(&mut state, seed, tail_start, size - tail_start, &mut buf);
        state.finalize().into()
    }
}

fn hash_range(state: &mut Sha256, seed: u64, start: u64, len: u64, buf: &mut [u8]) {
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        fill(seed, start + done, &mut buf[..n]);
        state.update(&buf[..n]);
        done += n as u64;
    }
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
            assert_eq!(cache.sha256(3, size), direct, "size {size}");
        }
        // Asking again, now from checkpoints, gives the same answer.
        let mut data = vec![0u8; (CHECKPOINT + 1) as usize];
        fill(3, 0, &mut data);
        assert_eq!(
            cache.sha256(3, CHECKPOINT + 1),
            <[u8; 32]>::from(Sha256::digest(&data))
        );
    }
}
