//! Codes seen earlier in the same file (DUPLICATE_IN_FILE), in bounded memory.
//!
//! A file of millions of rows cannot keep every code as a `String` and stay small, so the
//! tracker keeps a 128-bit fingerprint per code (two independent SipHash values) and the row it
//! was first seen in: 24 bytes of payload per row. With 128 bits, a false "duplicate" among ten
//! million codes has a probability around 10^-25.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Remembers which codes a file has used so far.
#[derive(Debug, Default)]
pub struct CodeTracker {
    first_rows: HashMap<u128, u64>,
}

fn fingerprint(code: &str) -> u128 {
    // `DefaultHasher::new()` is specified to be the same for every instance, so fingerprints
    // are stable within and across runs.
    let mut a = DefaultHasher::new();
    code.hash(&mut a);
    let mut b = DefaultHasher::new();
    0xd1b5_4a32_d192_ed03_u64.hash(&mut b);
    code.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

impl CodeTracker {
    pub fn new() -> CodeTracker {
        CodeTracker::default()
    }

    /// Records `code` at `row`. Returns the row it was first seen in if it was seen before.
    pub fn check(&mut self, code: &str, row: u64) -> Option<u64> {
        match self.first_rows.entry(fingerprint(code)) {
            std::collections::hash_map::Entry::Occupied(first) => Some(*first.get()),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(row);
                None
            }
        }
    }

    /// Forgets `code` (a row that was later refused, so its code is free again).
    pub fn forget(&mut self, code: &str, row: u64) {
        let key = fingerprint(code);
        if self.first_rows.get(&key) == Some(&row) {
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
