//! Correlation ids.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Crockford's base32 alphabet: no I, L, O or U, so ids survive being read aloud or retyped.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const LEN: usize = 26;

/// Every 10-bit value as its two characters, the high 5 bits first.
const PAIRS: [[u8; 2]; 1024] = {
    let mut table = [[0u8; 2]; 1024];
    let mut i = 0;
    while i < 1024 {
        table[i] = [ALPHABET[i >> 5], ALPHABET[i & 0x1f]];
        i += 1;
    }
    table
};

/// A correlation id: 26 characters of Crockford base32 (130 bits of which 128 are used).
///
/// Every request gets one; it appears in the tracing span, the `X-Zato-CID` response header and
/// every error body. The first 64 bits are random per process, the last 64 a bijective mix of a
/// per-process counter, so two ids from one process never collide and ids from different
/// processes collide only by chance of a 64-bit random draw. Creating one allocates nothing.
///
/// # Examples
///
/// ```
/// use zato_core::Cid;
///
/// let a = Cid::new();
/// let b = Cid::new();
/// assert_ne!(a, b);
/// assert_eq!(a.as_str().len(), 26);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cid([u8; LEN]);

struct Seed {
    prefix: u64,
    mix: u64,
}

fn seed() -> &'static Seed {
    static SEED: OnceLock<Seed> = OnceLock::new();
    SEED.get_or_init(|| {
        // RandomState is seeded from the OS per process; hashing distinct values gives two
        // independent 64-bit draws without pulling in a random-number crate.
        let state = RandomState::new();
        let pid = u64::from(std::process::id());
        Seed {
            prefix: state.hash_one(("zato-cid-prefix", pid)),
            mix: state.hash_one(("zato-cid-mix", pid)),
        }
    })
}

/// `value` in base32, most significant character first. Two characters (10 bits) at a time
/// from the right: 13 table loads. The leftmost pair gets the top 8 bits, so its first
/// character carries only the three highest.
fn encode(value: u128) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    let mut rest = value;
    for pair in out.chunks_exact_mut(2).rev() {
        pair.copy_from_slice(&PAIRS[(rest & 0x3ff) as usize]);
        rest >>= 10;
    }
    out
}

/// SplitMix64's finaliser: a bijection on u64, so distinct counters give distinct outputs.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Cid {
    /// Creates a new correlation id, unique within this process.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = seed();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let value = (u128::from(seed.prefix) << 64) | u128::from(mix64(n ^ seed.mix));
        Cid(encode(value))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Every byte comes from ALPHABET, which is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The id as ASCII bytes: the text without the UTF-8 check, for a header value.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Default for Cid {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The encoding by its definition: character `i` is bits `5 * (25 - i)` and up.
    fn by_definition(value: u128) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 5 * (LEN - 1 - i);
            let index = if shift >= 128 {
                0
            } else {
                (value >> shift) & 0x1f
            };
            *slot = ALPHABET[index as usize];
        }
        out
    }

    #[test]
    fn the_pair_table_encodes_as_the_definition() {
        let seed = seed();
        for n in [0, 1, 2, 1023, 1024, u64::MAX - 1, u64::MAX] {
            let value = (u128::from(seed.prefix) << 64) | u128::from(mix64(n ^ seed.mix));
            assert_eq!(encode(value), by_definition(value), "{n}");
        }
        for value in [0, 1, u128::MAX, u128::MAX >> 3, 1 << 127, 0x3ff << 118] {
            assert_eq!(encode(value), by_definition(value), "{value:#x}");
        }
        // The top character carries three bits: all ones is its eighth letter.
        assert_eq!(encode(u128::MAX)[0], b'7');
    }

    #[test]
    fn ids_are_unique_and_well_formed() {
        let ids: HashSet<Cid> = (0..10_000).map(|_| Cid::new()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(50) {
            assert!(id.as_str().bytes().all(|b| ALPHABET.contains(&b)), "{id}");
            assert_eq!(id.as_bytes(), id.as_str().as_bytes());
        }
    }
}
