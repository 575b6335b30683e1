//! What a job is fixed to when it starts, and where its rows come from.

use dataport_core::{ImportMode, Locale, ModuleScope, OnError};
use dataport_plugin_sdk::{Options, Plugin};
use dataport_store::Store;

use super::super::records::RecordStream;
use super::super::upload::{Upload, UploadFailure, UploadSummary};
use crate::config::ImportLimits;
use crate::formats::Chosen;

/// Everything a job needs, fixed when it starts.
pub struct Job {
    pub id: i64,
    /// One module, or a workbook with a sheet per module (read one sheet after the other).
    pub scope: ModuleScope,
    pub mode: ImportMode,
    pub on_error: OnError,
    pub dry_run: bool,
    pub locale: Locale,
    /// UPDATE and UPSERT of files: what a blank cell does to a stored value.
    pub blank_cells: dataport_core::BlankCells,
    /// Per-job defaults, field key → value (checked with `validate::check_default`).
    pub defaults: Vec<(&'static str, String)>,
    pub options: Options,
    /// The format name recorded with the job (`records` for record streams).
    pub format: String,
    pub limits: ImportLimits,
    pub store: Store,
    /// Set when this stream resumes an INTERRUPTED job.
    pub resume: Option<Resume>,
    /// Set when the upload starts at the job's resume offset: the reader's checkpoint there.
    pub resume_from: Option<dataport_store::ResumePoint>,
}

/// Where a resumed job picks up: the source rows up to `after_row` (its watermark, a job row:
/// see `ModuleScope::job_row`) are read and skipped, and its report continues from the counts
/// it committed.
#[derive(Debug, Clone)]
pub struct Resume {
    pub after_row: u64,
    pub counts: dataport_store::JobCounts,
    /// A workbook job's counts per sheet.
    pub modules: Vec<dataport_store::ModuleCounts>,
}

/// Where the rows come from.
pub enum Input {
    /// A file, read by a format plugin.
    File { chosen: Chosen, upload: Upload },
    /// Typed record batches (format `records`).
    Records(RecordStream),
}

impl Input {
    /// The upload's summary; `drain` reads the rest first (see [`Upload::finish`]).
    pub(super) fn finish(&self, drain: bool) -> UploadSummary {
        match self {
            Input::File { upload, .. } => upload.finish(drain),
            Input::Records(stream) => stream.finish(drain),
        }
    }

    pub(super) fn upload_failure(&self) -> Option<UploadFailure> {
        match self {
            Input::File { upload, .. } => upload.failure(),
            Input::Records(_) => None,
        }
    }

    /// Who read the rows, for messages.
    pub(super) fn reader_name(&self) -> String {
        match self {
            Input::File { chosen, .. } => format!("the {} plugin", chosen.plugin.descriptor().name),
            Input::Records(_) => "the record stream".to_owned(),
        }
    }
}
