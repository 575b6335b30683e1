//! Codes seen earlier in the same file (DUPLICATE_IN_FILE), in bounded memory.
//!
//! A file of millions of rows cannot keep every code as a `String` and stay small, so the
//! tracker keeps a 96-bit fingerprint per code (a 64-bit SipHash as the key, a second,
//! independent 32-bit one beside the row number) and the row it was first seen in: 16 bytes a
//! row. A false "duplicate" among ten million codes has a probability around 10^-15.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Remembers which codes a file has used so far.
#[derive(Debug)]
pub struct CodeTracker {
    /// Key: the 64-bit fingerprint; value: (first row, the 32-bit check fingerprint).
    first_rows: HashMap<u64, (u32, u32), BuildPassThrough>,
}

/// The key is already a well-mixed hash: use it as the table's hash instead of hashing again.
#[derive(Debug, Default, Clone, Copy)]
struct BuildPassThrough;

#[derive(Debug, Default)]
struct PassThrough(u64);

impl std::hash::BuildHasher for BuildPassThrough {
    type Hasher = PassThrough;
    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Two independent fingerprints of a code. `DefaultHasher::new()` is specified to be the same
/// for every instance, so fingerprints are stable within and across runs.
fn fingerprint(code: &str) -> (u64, u32) {
    let mut a = DefaultHasher::new();
    code.hash(&mut a);
    let mut b = DefaultHasher::new();
    0xd1b5_4a32_d192_ed03_u64.hash(&mut b);
    code.hash(&mut b);
    (a.finish(), b.finish() as u32)
}

/// Row numbers are kept as `u32`; a file with more rows than that saturates (and a row limit
/// far below it applies anyway).
fn row32(row: u64) -> u32 {
    u32::try_from(row).unwrap_or(u32::MAX)
}

impl Default for CodeTracker {
    fn default() -> CodeTracker {
        CodeTracker::new()
    }
}

impl CodeTracker {
    pub fn new() -> CodeTracker {
        CodeTracker {
            first_rows: HashMap::with_hasher(BuildPassThrough),
        }
    }

    /// Records `code` at `row`. Returns the row it was first seen in if it was seen before.
    pub fn check(&mut self, code: &str, row: u64) -> Option<u64> {
        let (key, check) = fingerprint(code);
        match self.first_rows.entry(key) {
            std::collections::hash_map::Entry::Occupied(first) => {
                let (first_row, first_check) = *first.get();
                // Same 64-bit key but another check value: two different codes. Rare enough
                // (about one in 10^7 imports of 1M rows) that such a code simply goes untracked.
                (first_check == check).then_some(u64::from(first_row))
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert((row32(row), check));
                None
            }
        }
    }

    /// Forgets `code` (a row that was later refused, so its code is free again).
    pub fn forget(&mut self, code: &str, row: u64) {
        let (key, check) = fingerprint(code);
        if self.first_rows.get(&key) == Some(&(row32(row), check)) {
            self.first_rows.remove(&key);
        }
    }

    pub fn len(&self) -> usize {
        self.first_rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first_rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_row_wins() {
        let mut t = CodeTracker::new();
        assert_eq!(t.check("CUST1", 2), None);
        assert_eq!(t.check("CUST2", 3), None);
        assert_eq!(t.check("CUST1", 9), Some(2));
        assert_eq!(t.check("cust1", 10), None, "codes are case-sensitive");
        t.forget("CUST2", 3);
        assert_eq!(t.check("CUST2", 11), None);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn a_hundred_thousand_codes_have_no_false_duplicates() {
        let mut t = CodeTracker::new();
        for i in 0..100_000u64 {
            assert_eq!(t.check(&format!("CUST{i:08}"), i + 2), None);
        }
    }
}
