//! Codes seen earlier in the same file (DUPLICATE_IN_FILE), without per-row state in memory.
//!
//! Each code becomes a 96-bit fingerprint: a 64-bit SipHash as the key and a second,
//! independent 32-bit one kept beside the row it was first seen in (a false "duplicate" among
//! ten million codes has a probability around 10^-15). The newest [`SPILL_AT`] fingerprints
//! live in a hash map. Older ones are spilled to private temporary files as runs sorted by key
//! (16 bytes an entry, pages of 256 entries), merged like a binary counter so there are at most
//! about log2(rows / SPILL_AT) runs. A blocked Bloom filter over the spilled keys (the only
//! memory that grows with the file) answers "certainly new" for almost
//! every row; only a hit reads one 4 KiB page per run to confirm it and find the first row.
//!
//! Memory: the filter has 12 bits a key on a capacity that grows by half when it is full, so
//! 1.5–2.25 bytes a spilled code (about 15 MiB at 10M rows), plus the map (~2 MiB), the fences
//! (8 bytes a page) and one page buffer. A full filter is dropped before its successor is
//! built from the runs, so the two never sit in memory together. Disk: 16 bytes a row (twice that during a merge), mostly in the OS's page cache.
//! If the temporary files cannot be written (disk full), the tracker keeps the entries in
//! memory instead and says so once ([`CodeTracker::take_warning`]): correctness first.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasher, DefaultHasher, Hash, Hasher};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Fingerprints kept in the hash map before they are spilled as a run.
const SPILL_AT: usize = 65_536;
/// Entries per page of a run; one page is what a lookup reads from a run.
const PAGE_ENTRIES: usize = 256;
const ENTRY_BYTES: usize = 16;
/// Bloom filter bits per key at full capacity, and bit probes per key (in one 512-bit block).
const BLOOM_BITS_PER_KEY: usize = 12;
const BLOOM_PROBES: u32 = 6;
/// The filter's first capacity, in keys; it grows by half (and is rebuilt from the runs) when
/// full. Growing by half rather than doubling keeps the filter within 1.5× of the keys it holds,
/// for about a third more rebuild reading (each rebuild reads the runs: 16 bytes a key, from the
/// OS's page cache).
const BLOOM_FIRST_CAPACITY: usize = 262_144;

/// A fingerprint's entry: the key (sort order), the first row, the check fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    key: u64,
    row: u32,
    check: u32,
}

impl Entry {
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.key.to_le_bytes());
        out[8..12].copy_from_slice(&self.row.to_le_bytes());
        out[12..16].copy_from_slice(&self.check.to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> Entry {
        let word = |range: std::ops::Range<usize>| -> [u8; 4] { bytes[range].try_into().expect("4 bytes") };
        Entry {
            key: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
            row: u32::from_le_bytes(word(8..12)),
            check: u32::from_le_bytes(word(12..16)),
        }
    }
}

/// Remembers which codes a file has used so far.
#[derive(Debug)]
pub struct CodeTracker {
    /// Key → (first row, check): the fingerprints not spilled yet.
    recent: HashMap<u64, (u32, u32), BuildPassThrough>,
    /// Spilled runs, oldest (largest) first.
    runs: Vec<Run>,
    filter: Bloom,
    spill_at: usize,
    /// Spilled entries, for the filter's capacity.
    spilled: usize,
    /// A spill that failed: entries stay in memory from then on, and the reason is told once.
    spill_failed: bool,
    warning: Option<String>,
    page: Vec<u8>,
}

/// One sorted run in a private temporary file, with the first key of each page.
#[derive(Debug)]
struct Run {
    file: File,
    len: usize,
    fences: Vec<u64>,
}

impl Default for CodeTracker {
    fn default() -> CodeTracker {
        CodeTracker::new()
    }
}

impl CodeTracker {
    pub fn new() -> CodeTracker {
        CodeTracker::with_spill_at(SPILL_AT)
    }

    fn with_spill_at(spill_at: usize) -> CodeTracker {
        CodeTracker {
            recent: HashMap::with_capacity_and_hasher(spill_at.min(SPILL_AT), BuildPassThrough),
            runs: Vec::new(),
            filter: Bloom::with_capacity(BLOOM_FIRST_CAPACITY.min(spill_at * 4)),
            spill_at,
            spilled: 0,
            spill_failed: false,
            warning: None,
            page: vec![0; PAGE_ENTRIES * ENTRY_BYTES],
        }
    }

    /// Records `code` at `row`. Returns the row it was first seen in if it was seen before.
    pub fn check(&mut self, code: &str, row: u64) -> Option<u64> {
        let (key, check) = fingerprint(code);
        if let Some(&(first_row, first_check)) = self.recent.get(&key) {
            // Same 64-bit key but another check value: two different codes. Rare enough
            // (about one in 10^7 imports of 1M rows) that such a code simply goes untracked.
            return (first_check == check).then_some(u64::from(first_row));
        }
        if self.filter.may_contain(key) {
            match self.spilled_entry(key) {
                Ok(Some(entry)) => return (entry.check == check).then_some(u64::from(entry.row)),
                Ok(None) => {}
                Err(e) => {
                    // A page that cannot be read back: treat the code as new (the database's
                    // unique key still refuses a second insert) and say so once.
                    self.warn(format!("cannot read the duplicate check's temporary file: {e}"));
                }
            }
        }
        self.recent.insert(key, (row32(row), check));
        if self.recent.len() >= self.spill_at
            && !self.spill_failed
            && let Err(e) = self.spill()
        {
            self.spill_failed = true;
            self.warn(format!(
                "cannot write the duplicate check's temporary file ({e}); the codes of this import stay in memory"
            ));
        }
        None
    }

    /// A problem with the temporary files, once: log it. Detection stays correct.
    pub fn take_warning(&mut self) -> Option<String> {
        self.warning.take()
    }

    /// How many codes are tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.recent.len() + self.spilled
    }

    /// Bytes held in memory (the filter, the map, the fences).
    #[cfg(test)]
    fn memory_bytes(&self) -> usize {
        self.filter.bits.len() * 8
            + self.recent.capacity() * (ENTRY_BYTES + 1)
            + self.runs.iter().map(|r| r.fences.len() * 8).sum::<usize>()
            + self.page.len()
    }

    fn warn(&mut self, message: String) {
        if self.warning.is_none() {
            self.warning = Some(message);
        }
    }

    /// The spilled entry with `key`, newest run first.
    fn spilled_entry(&mut self, key: u64) -> io::Result<Option<Entry>> {
        for run in self.runs.iter_mut().rev() {
            let page = run.fences.partition_point(|&first| first <= key);
            if page == 0 {
                continue;
            }
            let page = page - 1;
            let start = page * PAGE_ENTRIES;
            let entries = (run.len - start).min(PAGE_ENTRIES);
            let bytes = &mut self.page[..entries * ENTRY_BYTES];
            run.file.seek(SeekFrom::Start((start * ENTRY_BYTES) as u64))?;
            run.file.read_exact(bytes)?;
            let (mut low, mut high) = (0, entries);
            while low < high {
                let middle = (low + high) / 2;
                let entry = Entry::decode(&bytes[middle * ENTRY_BYTES..][..ENTRY_BYTES]);
                match entry.key.cmp(&key) {
                    std::cmp::Ordering::Equal => return Ok(Some(entry)),
                    std::cmp::Ordering::Less => low = middle + 1,
                    std::cmp::Ordering::Greater => high = middle,
                }
            }
        }
        Ok(None)
    }

    /// Writes the map as a new sorted run, then merges runs of similar size.
    fn spill(&mut self) -> io::Result<()> {
        let mut entries: Vec<Entry> = self
            .recent
            .iter()
            .map(|(&key, &(row, check))| Entry { key, row, check })
            .collect();
        entries.sort_unstable_by_key(|e| e.key);
        let run = Run::write(entries.iter().copied())?;
        self.recent.clear();
        self.spilled += entries.len();
        // Into the current filter first, so it never misses a spilled key even if the
        // rebuild below fails (it is then only fuller than planned).
        for e in &entries {
            self.filter.insert(e.key);
        }
        self.runs.push(run);
        if self.spilled > self.filter.capacity {
            self.rebuild_filter()?;
        }
        // A binary counter: merge while the newest run is at least half its predecessor.
        while self.runs.len() >= 2
            && self.runs[self.runs.len() - 1].len * 2 >= self.runs[self.runs.len() - 2].len
        {
            let newer = self.runs.pop().expect("two runs");
            let older = self.runs.pop().expect("two runs");
            self.runs.push(Run::merge(older, newer)?);
        }
        Ok(())
    }

    /// A filter of half as much capacity again, filled from the runs. The full one is dropped
    /// first (its memory is the peak otherwise); if the runs cannot be read back, the filter
    /// becomes one that answers "maybe" for every key, so nothing spilled is missed: lookups
    /// then read the runs for every row (slow, and warned about), never skip a duplicate.
    fn rebuild_filter(&mut self) -> io::Result<()> {
        let mut capacity = self.filter.capacity;
        while capacity < self.spilled {
            capacity += capacity / 2;
        }
        self.filter = Bloom::with_capacity(0); // the full one, dropped before its successor exists
        let mut filter = Bloom::with_capacity(capacity);
        let filled = self.runs.iter_mut().try_for_each(|run| {
            for entry in run.entries()? {
                filter.insert(entry?.key);
            }
            io::Result::Ok(())
        });
        if let Err(e) = filled {
            self.filter = Bloom::saturated();
            return Err(e);
        }
        self.filter = filter;
        Ok(())
    }
}

impl Run {
    fn write(entries: impl Iterator<Item = Entry>) -> io::Result<Run> {
        let file = crate::import::upload::private_temp_file()?;
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        let mut fences = Vec::new();
        let mut len = 0;
        let mut buffer = [0u8; ENTRY_BYTES];
        for entry in entries {
            if len % PAGE_ENTRIES == 0 {
                fences.push(entry.key);
            }
            entry.encode(&mut buffer);
            out.write_all(&buffer)?;
            len += 1;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        Ok(Run { file, len, fences })
    }

    /// Every entry in key order.
    fn entries(&mut self) -> io::Result<impl Iterator<Item = io::Result<Entry>> + '_> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut reader = BufReader::with_capacity(64 * 1024, &self.file);
        let mut left = self.len;
        Ok(std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let mut buffer = [0u8; ENTRY_BYTES];
            Some(reader.read_exact(&mut buffer).map(|()| Entry::decode(&buffer)))
        }))
    }

    /// One run with the entries of both (keys are unique across runs).
    fn merge(mut older: Run, mut newer: Run) -> io::Result<Run> {
        let mut a = older.entries()?.peekable();
        let mut b = newer.entries()?.peekable();
        let mut error = None;
        let merged = std::iter::from_fn(|| {
            let pick_a = match (a.peek(), b.peek()) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(Err(_)), _) => true,
                (_, Some(Err(_))) => false,
                (Some(Ok(x)), Some(Ok(y))) => x.key <= y.key,
            };
            let next = if pick_a { a.next() } else { b.next() }?;
            match next {
                Ok(entry) => Some(entry),
                Err(e) => {
                    error = Some(e);
                    None
                }
            }
        });
        let run = Run::write(merged)?;
        match error {
            Some(e) => Err(e),
            None => Ok(run),
        }
    }
}

/// A blocked Bloom filter: each key sets [`BLOOM_PROBES`] bits in one 512-bit block, so a
/// lookup costs one cache line.
#[derive(Debug)]
struct Bloom {
    bits: Vec<u64>,
    blocks: u64,
    capacity: usize,
}

impl Bloom {
    fn with_capacity(capacity: usize) -> Bloom {
        let capacity = capacity.max(PAGE_ENTRIES);
        let blocks = (capacity * BLOOM_BITS_PER_KEY).div_ceil(512) as u64;
        Bloom {
            bits: vec![0; blocks as usize * 8],
            blocks,
            capacity,
        }
    }

    /// A filter that contains every key and never needs rebuilding: one block, all bits set.
    fn saturated() -> Bloom {
        Bloom {
            bits: vec![u64::MAX; 8],
            blocks: 1,
            capacity: usize::MAX,
        }
    }

    /// The block (by the key's high bits) and the bit positions in it (by a remix of the key).
    fn probes(blocks: u64, key: u64) -> (usize, impl Iterator<Item = usize>) {
        let block = ((u128::from(key) * u128::from(blocks)) >> 64) as usize * 8;
        let mut mixed = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (key >> 29);
        mixed = mixed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        (
            block,
            (0..BLOOM_PROBES).map(move |i| ((mixed >> (i * 9)) & 511) as usize),
        )
    }

    fn insert(&mut self, key: u64) {
        let (block, bits) = Bloom::probes(self.blocks, key);
        for bit in bits {
            self.bits[block + bit / 64] |= 1 << (bit % 64);
        }
    }

    fn may_contain(&self, key: u64) -> bool {
        let (block, mut bits) = Bloom::probes(self.blocks, key);
        bits.all(|bit| self.bits[block + bit / 64] & (1 << (bit % 64)) != 0)
    }
}

/// The key is already a well-mixed hash: use it as the map's hash instead of hashing again.
#[derive(Debug, Default, Clone, Copy)]
struct BuildPassThrough;

#[derive(Debug, Default)]
struct PassThrough(u64);

impl BuildHasher for BuildPassThrough {
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
        assert_eq!(t.check("CUST1", 11), Some(2));
        assert_eq!(t.len(), 3);
    }

    /// Small spills, so the map, many runs, merges and filter rebuilds are all exercised:
    /// every duplicate names its first row, and no new code is called a duplicate.
    #[test]
    fn spilled_codes_are_found_with_their_first_row() {
        let mut t = CodeTracker::with_spill_at(1_000);
        let n = 200_000u64;
        for i in 0..n {
            assert_eq!(t.check(&format!("C{i:08}"), i + 2), None, "row {}", i + 2);
            // Every 7th row repeats a code from about i/2 rows back: in a run, or in the map.
            if i % 7 == 3 {
                let earlier = i / 2;
                assert_eq!(
                    t.check(&format!("C{earlier:08}"), n + i),
                    Some(earlier + 2),
                    "code from row {}",
                    earlier + 2
                );
            }
        }
        assert_eq!(t.len(), n as usize);
        assert!(t.runs.len() <= 10, "{} runs", t.runs.len());
        // The whole file again: every code is a duplicate of its first row.
        for i in (0..n).step_by(13) {
            assert_eq!(t.check(&format!("C{i:08}"), 2 * n + i), Some(i + 2));
        }
        assert!(t.take_warning().is_none());
    }

    /// The memory that grows with the file is the filter's few bytes a code, not an entry.
    #[test]
    fn memory_grows_by_bytes_not_entries() {
        let mut t = CodeTracker::with_spill_at(4_096);
        let n = 400_000u64;
        for i in 0..n {
            assert_eq!(t.check(&format!("CUST{i:010}"), i + 2), None);
        }
        let per_code = t.memory_bytes() as f64 / n as f64;
        assert!(
            per_code < 3.0,
            "{per_code:.2} bytes a code ({} bytes)",
            t.memory_bytes()
        );
        assert_eq!(t.check("CUST0000000000", n + 2), Some(2));
        assert_eq!(t.check(&format!("CUST{:010}", n - 1), n + 3), Some(n + 1));
    }

    /// A filter that could not be rebuilt answers "maybe" for every key: the runs decide, so
    /// duplicates are still found and new codes still pass.
    #[test]
    fn a_saturated_filter_loses_nothing() {
        let mut t = CodeTracker::with_spill_at(1_000);
        for i in 0..5_000u64 {
            assert_eq!(t.check(&format!("C{i}"), i + 2), None);
        }
        t.filter = Bloom::saturated();
        assert!(t.filter.may_contain(fingerprint("never seen").0));
        assert_eq!(t.check("C17", 9_000), Some(19));
        assert_eq!(t.check("C4999", 9_001), Some(5_001));
        assert_eq!(t.check("new", 9_002), None);
        for i in 0..3_000u64 {
            assert_eq!(t.check(&format!("D{i}"), 10_000 + i), None);
        }
        assert_eq!(t.check("D5", 20_000), Some(10_005));
        assert_eq!(t.check("C0", 20_001), Some(2));
        assert!(t.take_warning().is_none());
    }

    #[test]
    fn the_bloom_filter_is_selective() {
        let mut bloom = Bloom::with_capacity(100_000);
        for i in 0..100_000u64 {
            bloom.insert(fingerprint(&format!("K{i}")).0);
        }
        assert!((0..100_000u64).all(|i| bloom.may_contain(fingerprint(&format!("K{i}")).0)));
        let false_hits = (0..100_000u64)
            .filter(|i| bloom.may_contain(fingerprint(&format!("other{i}")).0))
            .count();
        assert!(
            false_hits < 1_500,
            "{false_hits} false hits in 100 000 (at full capacity)"
        );
    }
}
