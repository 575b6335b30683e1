//! The checks that need raw ABI calls: the handshake at each version, what a reader leaves in
//! `*out`, and batches that outlive their reader.

use std::ffi::c_void;
use std::io::Cursor;
use std::path::Path;
use std::ptr;

use dataport_plugin_abi as abi;
use dataport_plugin_abi::Status;
use dataport_plugin_sdk::ffi::batch_from_abi;
use dataport_plugin_sdk::{Reader, RowBatch};

use super::behaviour::Target;
use super::{CheckResult, fail, verdict};
use crate::call::ErrorBuffer;
use crate::loading::entry_point;
use crate::reader::HostReader;

/// Most batches one check reads: a bound on a plugin that never ends.
const MAX_BATCHES: usize = 200_000;

/// `dataport_plugin_init` at the supported version, at versions it must refuse, and with a
/// table as small as a v1 one.
pub(super) fn handshake(path: &Path) -> CheckResult {
    let init = match entry_point(path) {
        Ok(init) => init,
        Err(e) => return fail("handshake", e.to_string()),
    };
    let mut problems = Vec::new();
    let mut err = ErrorBuffer::new();

    // Every version this host speaks: each accepted (reporting that version) or refused.
    let mut accepted = Vec::new();
    let mut filled = 0;
    for version in abi::OLDEST_ABI_VERSION..=abi::ABI_VERSION {
        let mut table = abi::PluginVTable::empty();
        // SAFETY: the entry point of a library that stays loaded, called with a zeroed table
        // whose `size` is set, and an error buffer.
        let status = unsafe { init(version, &mut table, err.as_abi()) };
        let message = err.take();
        if status == Status::OK {
            if table.abi_version != version {
                problems.push(format!(
                    "asked for ABI v{version} it accepted but reported v{}",
                    table.abi_version
                ));
            }
            if table.size < abi::PluginVTable::V1_SIZE || table.size > size_of::<abi::PluginVTable>() {
                problems.push(format!(
                    "at v{version} it reported a table of {} bytes (v1 is {}, the host's {})",
                    table.size,
                    abi::PluginVTable::V1_SIZE,
                    size_of::<abi::PluginVTable>()
                ));
            }
            filled = table.size;
            accepted.push(version);
        } else if status != Status::ABI_MISMATCH {
            problems.push(format!(
                "asked for ABI v{version} it returned {status}: {message}"
            ));
        }
    }
    if accepted.is_empty() {
        problems.push(format!(
            "it accepts none of the versions this host speaks (v{}..v{})",
            abi::OLDEST_ABI_VERSION,
            abi::ABI_VERSION
        ));
    }

    for version in [0, abi::ABI_VERSION + 1, u32::MAX] {
        let mut other = abi::PluginVTable::empty();
        // SAFETY: as above.
        let status = unsafe { init(version, &mut other, err.as_abi()) };
        let message = err.take();
        if status != Status::ABI_MISMATCH {
            problems.push(format!(
                "asked for ABI v{version} it returned {status}, not ABI_MISMATCH"
            ));
        }
        // Refusing, it names its newest version: at least the newest it accepted.
        if accepted.last().is_some_and(|newest| other.abi_version < *newest) {
            problems.push(format!(
                "refusing v{version} it reported v{}, not its own newest version",
                other.abi_version
            ));
        }
        if other.describe.is_some() || other.open_reader.is_some() || other.open_writer.is_some() {
            problems.push(format!("refusing v{version} it filled the vtable"));
        }
        if message.is_empty() {
            problems.push(format!("refusing v{version} it gave no message"));
        }
    }

    // A host that knows only the v1 table: nothing past `size` may be written.
    const GUARD: u8 = 0xA5;
    let words = size_of::<abi::PluginVTable>().div_ceil(8) + 8;
    let mut buffer = vec![0u64; words];
    let bytes = buffer.as_mut_ptr().cast::<u8>();
    // SAFETY: `buffer` holds `words * 8` bytes, more than a vtable, and is 8-byte aligned.
    unsafe {
        ptr::write_bytes(
            bytes.add(abi::PluginVTable::V1_SIZE),
            GUARD,
            words * 8 - abi::PluginVTable::V1_SIZE,
        );
        bytes.cast::<usize>().write(abi::PluginVTable::V1_SIZE);
    }
    // SAFETY: the plugin may write `size` bytes of a vtable at this aligned, large enough buffer.
    let newest = accepted.last().copied().unwrap_or(abi::ABI_VERSION);
    let status = unsafe { init(newest, bytes.cast(), err.as_abi()) };
    // SAFETY: reading back bytes of `buffer` only.
    let (size, overrun) = unsafe {
        let size = bytes.cast::<usize>().read();
        let tail = std::slice::from_raw_parts(
            bytes.add(abi::PluginVTable::V1_SIZE),
            words * 8 - abi::PluginVTable::V1_SIZE,
        );
        (size, tail.iter().any(|b| *b != GUARD))
    };
    // (Asked at the newest version it accepts.)
    if status != Status::OK || size > abi::PluginVTable::V1_SIZE || overrun {
        problems.push(format!(
            "given a v1-sized table ({} bytes) it returned {status}, reported {size} bytes{}",
            abi::PluginVTable::V1_SIZE,
            if overrun { " and wrote past the table" } else { "" }
        ));
    }
    verdict(
        "handshake",
        problems,
        format!(
            "ABI {} accepted ({filled}-byte table); v0, v{} and v{} refused with ABI_MISMATCH and a message; \
             a v1-sized table is not overrun",
            accepted
                .iter()
                .map(|v| format!("v{v}"))
                .collect::<Vec<_>>()
                .join(" and "),
            abi::ABI_VERSION + 1,
            u32::MAX
        ),
    )
}

/// A batch slot no plugin would write: `END_OF_DATA` must leave it exactly so.
fn sentinel() -> abi::Batch {
    abi::Batch {
        rows: ptr::dangling(),
        num_rows: 0x5EED,
        errors: ptr::dangling(),
        num_errors: 0x5EED,
        release: None,
        private_data: 0x5EED as *mut c_void,
    }
}

fn untouched(b: &abi::Batch) -> bool {
    let s = sentinel();
    b.rows == s.rows
        && b.num_rows == s.num_rows
        && b.errors == s.errors
        && b.num_errors == s.num_errors
        && b.release.is_none()
        && b.private_data == s.private_data
}

fn open(target: &Target<'_>, sample: &[u8]) -> Result<HostReader, String> {
    let mut reader = target
        .plugin
        .open_host_reader(
            &target.format,
            &target.options,
            Box::new(Cursor::new(sample.to_vec())),
        )
        .map_err(|e| format!("open_reader: {e}"))?;
    reader.header().map_err(|e| format!("reader_header: {e}"))?;
    Ok(reader)
}

/// Copies a batch the plugin filled (still unreleased).
fn copy(out: &abi::Batch) -> Result<RowBatch, String> {
    // SAFETY: an OK `reader_next_batch` filled `out`, valid until released.
    unsafe { batch_from_abi(out) }.map_err(|e| format!("a broken batch: {e}"))
}

/// Releases a batch and checks that `release` cleared itself.
fn release(out: &mut abi::Batch) -> Option<String> {
    let f = out.release?;
    // SAFETY: a batch the plugin produced, released exactly once.
    unsafe { f(out) };
    out.release
        .map(|_| "a batch's release did not set `release` to NULL".to_owned())
}

/// Batches at `max_rows` 1, 3 and 1000: within the limit, never empty, released properly, row
/// numbers increasing, and `END_OF_DATA` leaving `*out` untouched.
pub(super) fn batches(target: &Target<'_>, sample: &[u8]) -> CheckResult {
    let mut problems = Vec::new();
    let mut counts = Vec::new();
    for max_rows in [1usize, 3, 1000] {
        let mut reader = match open(target, sample) {
            Ok(r) => r,
            Err(e) => return fail("batches", e),
        };
        let (mut rows, mut last_row, mut ended) = (0usize, 0u64, false);
        for _ in 0..MAX_BATCHES {
            let mut out = sentinel();
            match reader.next_batch_raw(max_rows, &mut out) {
                Ok(Status::END_OF_DATA) => {
                    if !untouched(&out) {
                        problems.push("END_OF_DATA changed *out (it must stay untouched)".to_owned());
                    }
                    ended = true;
                    break;
                }
                Ok(_) if untouched(&out) => {
                    problems.push("reader_next_batch returned OK without filling *out".to_owned());
                    break;
                }
                Ok(_) => {
                    if out.release.is_none() {
                        problems.push("a batch has no release function".to_owned());
                    }
                    let entries = out.num_rows + out.num_errors;
                    if entries == 0 {
                        problems.push("an empty batch (at the end, return END_OF_DATA)".to_owned());
                    }
                    if entries > max_rows {
                        problems.push(format!("a batch of {entries} entries with max_rows {max_rows}"));
                    }
                    match copy(&out) {
                        Ok(batch) => {
                            for row in &batch.rows {
                                if row.number <= last_row {
                                    problems.push(format!("row number {} after {last_row}", row.number));
                                }
                                last_row = row.number;
                            }
                            if batch.errors.iter().any(|e| e.row == 0) {
                                problems.push("a row error without a row number".to_owned());
                            }
                            rows += batch.rows.len();
                        }
                        Err(e) => problems.push(e),
                    }
                    problems.extend(release(&mut out));
                }
                Err(e) => {
                    problems.push(format!("reader_next_batch failed: {e}"));
                    ended = true;
                    break;
                }
            }
            if problems.len() > 5 {
                break;
            }
        }
        if !ended && problems.is_empty() {
            problems.push(format!("no END_OF_DATA after {MAX_BATCHES} batches"));
        }
        counts.push(rows);
        if !problems.is_empty() {
            break;
        }
    }
    if problems.is_empty() && counts.windows(2).any(|w| w[0] != w[1]) {
        problems.push(format!("max_rows 1, 3 and 1000 gave {counts:?} rows"));
    }
    problems.dedup();
    verdict(
        "batches",
        problems,
        format!(
            "{} rows at max_rows 1, 3 and 1000; no batch empty or over the limit; END_OF_DATA leaves *out untouched",
            counts.first().copied().unwrap_or(0)
        ),
    )
}

/// Every batch kept unreleased until after the reader's release, then released in reverse
/// order: each must still hold what it held when it was returned.
pub(super) fn release_order(target: &Target<'_>, sample: &[u8]) -> CheckResult {
    let mut reader = match open(target, sample) {
        Ok(r) => r,
        Err(e) => return fail("release order", e),
    };
    let mut kept: Vec<(Box<abi::Batch>, RowBatch)> = Vec::new();
    let mut problems = Vec::new();
    for _ in 0..MAX_BATCHES {
        // Boxed: the batch stays where the plugin wrote it, as a host holding it would keep it.
        let mut out = Box::new(sentinel());
        match reader.next_batch_raw(2, &mut out) {
            Ok(Status::END_OF_DATA) => break,
            Ok(_) if untouched(&out) => {
                problems.push("reader_next_batch returned OK without filling *out".to_owned());
                break;
            }
            Ok(_) => match copy(&out) {
                Ok(copy) => kept.push((out, copy)),
                Err(e) => {
                    problems.push(e);
                    problems.extend(release(&mut out));
                    break;
                }
            },
            Err(e) => {
                problems.push(format!("reader_next_batch failed: {e}"));
                break;
            }
        }
    }
    drop(reader);
    let count = kept.len();
    for (mut out, before) in kept.into_iter().rev() {
        match copy(&out) {
            Ok(after) if after == before => {}
            Ok(_) => problems.push("a batch changed after its reader was released".to_owned()),
            Err(e) => problems.push(format!("after the reader's release, {e}")),
        }
        problems.extend(release(&mut out));
    }
    problems.dedup();
    verdict(
        "release order",
        problems,
        format!("{count} batches kept past the reader's release stayed intact; released in reverse order"),
    )
}
