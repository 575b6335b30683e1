//! What the pipeline's stages hand each other: checked batches, row problems, the writer's
//! tally and job-level failures.

use std::sync::Arc;

use dataport_core::{ErrorCode, Module, Records, RowIssue};

/// A failure of the job as a whole.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub code: ErrorCode,
    pub message: String,
    /// The spreadsheet row it concerns (1 for the header), if any.
    pub row: u64,
    pub column: String,
    /// The sheet's module, in a workbook job (`row` counts within that sheet).
    pub module: Option<Module>,
    /// The job stopped short but what it committed stands, and running it again continues
    /// (database lost, job interrupted elsewhere): INTERRUPTED rather than FAILED.
    pub interrupts: bool,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            row: 0,
            column: String::new(),
            module: None,
            interrupts: false,
        }
    }
}

/// One row that will not be imported, with everything wrong with it.
pub(super) struct RowProblem {
    pub row: u64,
    pub issues: Vec<RowIssue>,
    /// The row's cells as display text in template order, for the error file.
    pub raw: Option<Vec<String>>,
    /// Skipped (INSERT found the code) rather than failed.
    pub skipped: bool,
}

/// A validated batch on its way to the writer.
pub(super) struct CheckedBatch {
    /// The sheet's name, in a workbook job.
    pub sheet: Option<Arc<str>>,
    /// The file's header labels by template position, for messages about columns.
    pub labels: Arc<[String]>,
    pub records: Records,
    /// Spreadsheet row of each record, in order.
    pub record_rows: Vec<u64>,
    pub problems: Vec<RowProblem>,
    /// Data rows this batch counts (blank rows are not data rows).
    pub rows: u64,
    /// The last source row the batch covers: the job's watermark once it is committed.
    pub last_row: u64,
    /// Where the reader stood after the batch, if it can say (see `Reader::checkpoint`).
    pub resume_point: Option<dataport_store::ResumePoint>,
}

/// The final numbers of the writer stage.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub failed: u64,
    pub errors_not_sent: u64,
    pub errors_not_persisted: u64,
    /// Data rows of the batches handled (committed, for a job that writes).
    pub rows: u64,
    /// A workbook job's counts per sheet (as the totals above; `rows_read` = data rows).
    pub modules: Vec<dataport_store::ModuleCounts>,
    /// The last source row of the last batch handled.
    pub watermark: u64,
    /// Time the writer spent on batches (not waiting for them), for the log.
    pub write_busy: std::time::Duration,
    /// Time the reader spent reading and validating (not waiting for the writer).
    pub read_busy: std::time::Duration,
}

impl Tally {
    /// A resumed job's tally starts from what it committed before.
    pub fn resumed(resume: &super::job::Resume) -> Tally {
        let c = resume.counts;
        Tally {
            modules: resume.modules.clone(),
            created: c.created,
            updated: c.updated,
            skipped: c.skipped,
            failed: c.failed,
            rows: c.rows_read,
            watermark: resume.after_row,
            ..Tally::default()
        }
    }
}

/// Adds a batch's counts to its sheet's, in a workbook job's counts per sheet.
pub(super) fn add_to_sheet(
    sheets: &mut Vec<dataport_store::ModuleCounts>,
    module: Module,
    sheet: &str,
    delta: &dataport_store::JobCounts,
) {
    let at = match sheets.iter().position(|m| m.module == module) {
        Some(at) => at,
        None => {
            sheets.push(dataport_store::ModuleCounts {
                module,
                sheet: sheet.to_owned(),
                counts: dataport_store::JobCounts::default(),
            });
            sheets.len() - 1
        }
    };
    let c = &mut sheets[at].counts;
    c.rows_read += delta.rows_read;
    c.created += delta.created;
    c.updated += delta.updated;
    c.skipped += delta.skipped;
    c.failed += delta.failed;
}

/// The writer's tally, or its failure with the tally so far (boxed: it is the rare case).
pub(super) type WriterResult = Result<Tally, Box<(Tally, Failure)>>;
