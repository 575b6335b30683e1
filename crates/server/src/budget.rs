//! Rows in memory across the imports, and across the exports, that one process runs at once.
//!
//! An import holds about three batches of rows (being read, validated, written) and an export
//! two pages (queried, written). With SQLite's one writer, concurrent imports mostly wait with
//! their batches in hand, so eight imports held eight times one import's rows: about 130 MiB of
//! heap at 5 000-row batches (BENCHMARKS.md, "Memory under concurrency"). Here the batch or page
//! size is shared out instead: a lone job gets the full size, and from [`FULL_SHARES`] jobs on
//! each gets a share, never below [`MIN_ROWS`]. Each batch asks again, so a job speeds up when
//! the others end. Batch size only sets how many rows go through one step; counts, row errors
//! and checkpoints are per row, so a job's outcome does not depend on it.

use crate::metrics;

/// Jobs of one kind that may run at the full size before the size is shared out.
const FULL_SHARES: usize = 2;
/// The smallest share, in rows: below it, per-batch costs (a transaction, a page query) grow.
pub const MIN_ROWS: usize = 500;

/// Rows for an import's next batch, out of `full` (`--import-batch-rows`).
pub fn import_batch_rows(full: usize) -> usize {
    share(full, gauge_value(metrics::get().imports_in_flight.get()))
}

/// Records for an export's next page, out of `full`.
pub fn export_page_rows(full: usize) -> usize {
    share(full, gauge_value(metrics::get().exports_in_flight.get()))
}

fn gauge_value(value: i64) -> usize {
    usize::try_from(value).unwrap_or(0)
}

/// `full` rows for up to [`FULL_SHARES`] jobs, then `full × FULL_SHARES / jobs`, at least
/// [`MIN_ROWS`] (or `full`, if that is smaller).
fn share(full: usize, jobs: usize) -> usize {
    let floor = full.min(MIN_ROWS);
    (full * FULL_SHARES / jobs.max(1)).clamp(floor, full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_jobs_get_the_full_size_and_more_share_it() {
        assert_eq!(share(5_000, 0), 5_000);
        assert_eq!(share(5_000, 1), 5_000);
        assert_eq!(share(5_000, 2), 5_000);
        assert_eq!(share(5_000, 4), 2_500);
        assert_eq!(share(5_000, 8), 1_250);
        assert_eq!(share(5_000, 16), 625);
        assert_eq!(share(5_000, 100), MIN_ROWS);
    }

    #[test]
    fn a_small_configured_size_is_never_raised() {
        assert_eq!(share(3, 1), 3);
        assert_eq!(share(3, 16), 3);
        assert_eq!(share(800, 8), MIN_ROWS);
    }
}
