//! Typed record batches as an import source (format `records`): a backend streams rows
//! service-to-service with no file format in between.
//!
//! The batches arrive on the gRPC stream and are read by the pipeline like a file through the
//! SDK's [`Reader`] trait, so they pass the same validation, with one difference: text is data,
//! so text starting with `=` is kept rather than refused as a formula. Values are turned into the
//! cells a spreadsheet would hold: text as text, whole numbers as numbers, money (`cents`) as the
//! exact decimal text `1234.50`, dates as `YYYY-MM-DD` text, booleans as booleans. A record's
//! row number is its 1-based position in the stream.
//!
//! Before that, each value's kind is checked against its field's (text, cents, date, bool; see
//! `FieldDescription.kind`): a value of another kind, or a value for a field the module does
//! not have, keeps its record out of the rows and becomes a [`RecordProblem`] instead, which
//! the pipeline reports as an INVALID_FORMAT row error naming the field.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use dataport_core::text::escape_for_export;
use dataport_core::validate::format_cents;
use dataport_core::{FieldDef, Module};
use dataport_plugin_sdk::{Cell, PluginError, Reader, RowBatch};
use dataport_proto::v1;
use prost::Message;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::upload::UploadSummary;

/// Batches in flight between the gRPC stream and the reader.
pub const BATCH_QUEUE: usize = 4;

/// What the async side sends to the reader.
#[derive(Debug)]
pub enum RecordMsg {
    Batch(v1::RecordBatch),
    /// The stream broke off; the reader fails with this.
    Failed(String),
}

/// A record kept out of the rows because a value does not fit its field.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordProblem {
    /// The record's row number (its position in the stream).
    pub row: u64,
    /// The field key as the batch names it (empty: the record as a whole).
    pub key: String,
    pub kind: ProblemKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProblemKind {
    /// A value of another kind than the field's; `found` is the kind sent.
    WrongKind {
        field: &'static FieldDef,
        found: &'static str,
    },
    /// A value for a field the module does not have.
    UnknownField,
    /// More values than the batch names fields.
    ExtraValues { values: usize, fields: usize },
}

struct Inner {
    rx: mpsc::Receiver<RecordMsg>,
    module: Module,
    /// The field of each position of `fields` (`None`: the module has no such field).
    targets: Vec<Option<&'static FieldDef>>,
    problems: Vec<RecordProblem>,
    /// The whole stream, received ahead into a temporary file (see [`RecordStream::spool`]):
    /// read from here, length-delimited, until it is empty.
    spooled: Option<std::io::BufReader<std::fs::File>>,
    fields: Option<Vec<String>>,
    /// A batch received while looking for the header, not yet handed out.
    pending: Option<v1::RecordBatch>,
    next_row: u64,
    hasher: Sha256,
    ended: bool,
    failure: Option<String>,
}

/// The reading end of a record stream. Clones share it.
#[derive(Clone)]
pub struct RecordStream {
    inner: Arc<Mutex<Inner>>,
    bytes: Arc<AtomicU64>,
}

impl RecordStream {
    pub fn new(module: Module) -> (RecordStream, mpsc::Sender<RecordMsg>) {
        let (tx, rx) = mpsc::channel(BATCH_QUEUE);
        let stream = RecordStream {
            inner: Arc::new(Mutex::new(Inner {
                rx,
                module,
                targets: Vec::new(),
                problems: Vec::new(),
                spooled: None,
                fields: None,
                pending: None,
                next_row: 1,
                hasher: Sha256::new(),
                ended: false,
                failure: None,
            })),
            bytes: Arc::new(AtomicU64::new(0)),
        };
        (stream, tx)
    }

    /// Encoded bytes received so far (for progress).
    pub fn bytes_counter(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Receives the whole stream into a temporary file before the pipeline reads it (an
    /// all-or-nothing import on SQLite, whose single writer must not wait for a slow client).
    /// A broken stream is kept as the failure the reader meets after the spooled batches.
    pub fn spool(&self) -> std::io::Result<()> {
        use std::io::{Seek, Write};
        let mut inner = self.lock();
        let mut file = std::io::BufWriter::new(super::upload::private_temp_file()?);
        loop {
            match inner.rx.blocking_recv() {
                Some(RecordMsg::Batch(batch)) => {
                    // Framed as a 4-byte little-endian length, then the encoded batch (each is
                    // under the message size limit).
                    let encoded = batch.encode_to_vec();
                    let len = u32::try_from(encoded.len()).map_err(std::io::Error::other)?;
                    file.write_all(&len.to_le_bytes())?;
                    file.write_all(&encoded)?;
                }
                Some(RecordMsg::Failed(why)) => {
                    inner.failure = Some(why);
                    break;
                }
                None => break,
            }
        }
        let mut file = file.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        inner.spooled = Some(std::io::BufReader::new(file));
        Ok(())
    }

    /// The records kept out of the batches handed out so far, each once.
    pub fn take_problems(&self) -> Vec<RecordProblem> {
        std::mem::take(&mut self.lock().problems)
    }

    /// Size and sha256 of the encoded batches received (the rest of the stream is drained).
    pub fn finish(&self, drain: bool) -> UploadSummary {
        let mut inner = self.lock();
        while drain && !inner.ended && inner.failure.is_none() {
            let _ = receive(&mut inner, &self.bytes);
        }
        UploadSummary {
            bytes: self.bytes.load(Ordering::Relaxed),
            sha256: hex::encode(inner.hasher.clone().finalize()),
            complete: inner.ended && inner.failure.is_none(),
        }
    }
}

/// The next batch from the stream, or `None` at its end.
fn receive(inner: &mut Inner, bytes: &AtomicU64) -> Result<Option<v1::RecordBatch>, PluginError> {
    if let Some(spooled) = &mut inner.spooled {
        use std::io::Read;
        let spool_error =
            |e: &dyn std::fmt::Display| PluginError::io(format!("reading the spooled record stream: {e}"));
        let mut len = [0u8; 4];
        match spooled.read_exact(&mut len) {
            Ok(()) => {
                let mut encoded = vec![0u8; u32::from_le_bytes(len) as usize];
                spooled.read_exact(&mut encoded).map_err(|e| spool_error(&e))?;
                let batch = v1::RecordBatch::decode(encoded.as_slice()).map_err(|e| spool_error(&e))?;
                bytes.fetch_add(encoded.len() as u64, Ordering::Relaxed);
                inner.hasher.update(&encoded);
                return Ok(Some(batch));
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                inner.spooled = None;
                inner.ended = inner.failure.is_none();
            }
            Err(e) => return Err(spool_error(&e)),
        }
    }
    if let Some(why) = &inner.failure {
        return Err(PluginError::io(why.clone()));
    }
    if inner.ended {
        return Ok(None);
    }
    match inner.rx.blocking_recv() {
        Some(RecordMsg::Batch(batch)) => {
            let encoded = batch.encode_to_vec();
            bytes.fetch_add(encoded.len() as u64, Ordering::Relaxed);
            inner.hasher.update(&encoded);
            Ok(Some(batch))
        }
        Some(RecordMsg::Failed(why)) => {
            inner.failure = Some(why.clone());
            Err(PluginError::io(why))
        }
        None => {
            inner.ended = true;
            Ok(None)
        }
    }
}

/// The name of a value's kind, as in the proto (`text`, `cents`, ...).
fn kind_name(kind: &v1::value::Kind) -> &'static str {
    use v1::value::Kind;
    match kind {
        Kind::Text(_) => "text",
        Kind::Int(_) => "int",
        Kind::Cents(_) => "cents",
        Kind::Date(_) => "date",
        Kind::Bool(_) => "bool",
    }
}

/// What is wrong with one record's values, if anything (null fits every field).
fn check_record(
    record: &v1::Record,
    fields: &[String],
    targets: &[Option<&'static FieldDef>],
    row: u64,
) -> Option<RecordProblem> {
    use dataport_core::FieldKind as F;
    use v1::value::Kind;
    if record.values.len() > fields.len() {
        return Some(RecordProblem {
            row,
            key: String::new(),
            kind: ProblemKind::ExtraValues {
                values: record.values.len(),
                fields: fields.len(),
            },
        });
    }
    for ((value, key), target) in record.values.iter().zip(fields).zip(targets) {
        let Some(kind) = &value.kind else { continue };
        let problem = match target {
            None => ProblemKind::UnknownField,
            Some(field) => {
                let fits = matches!(
                    (field.kind, kind),
                    (
                        F::Code | F::Text | F::Phone | F::Email | F::Enum(_),
                        Kind::Text(_)
                    ) | (F::Decimal, Kind::Cents(_))
                        | (F::Date, Kind::Date(_))
                        | (F::Bool, Kind::Bool(_))
                );
                if fits {
                    continue;
                }
                ProblemKind::WrongKind {
                    field,
                    found: kind_name(kind),
                }
            }
        };
        return Some(RecordProblem {
            row,
            key: key.clone(),
            kind: problem,
        });
    }
    None
}

fn cell(value: &v1::Value) -> Cell {
    use v1::value::Kind;
    match &value.kind {
        None => Cell::Null,
        // Typed text is data, never a spreadsheet formula: escaping it the way exports do makes
        // validation strip the escape again instead of refusing `=…` as a formula, so text
        // such as `=SUM(A1)` copies between instances unchanged.
        Some(Kind::Text(s)) => Cell::Text(escape_for_export(s).into_owned()),
        Some(Kind::Int(v)) => Cell::Int(*v),
        Some(Kind::Cents(c)) => Cell::Text(format_cents(*c)),
        Some(Kind::Date(d)) => Cell::Text(d.clone()),
        Some(Kind::Bool(b)) => Cell::Bool(*b),
    }
}

impl Reader for RecordStream {
    /// The field keys of the first batch (an empty stream has none).
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        let bytes = self.bytes.clone();
        let mut inner = self.lock();
        if let Some(fields) = &inner.fields {
            return Ok(fields.clone());
        }
        // Skip empty batches; the first one with fields names them.
        while let Some(batch) = receive(&mut inner, &bytes)? {
            if batch.fields.is_empty() && !batch.records.is_empty() {
                return Err(PluginError::malformed(format!(
                    "the first record batch with records ({}) names no fields; set RecordBatch.fields on it",
                    batch.records.len()
                )));
            }
            if !batch.fields.is_empty() {
                let module = inner.module;
                inner.targets = batch.fields.iter().map(|k| module.field(k.trim())).collect();
                inner.fields = Some(batch.fields.clone());
                inner.pending = Some(batch);
                break;
            }
        }
        Ok(inner.fields.clone().unwrap_or_default())
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        let bytes = self.bytes.clone();
        let mut inner = self.lock();
        let mut out = RowBatch::new();
        // Records kept out count towards the batch like rows do.
        let problems_before = inner.problems.len();
        while out.rows.len() + (inner.problems.len() - problems_before) < max_rows {
            let batch = match inner.pending.take() {
                Some(batch) => batch,
                None => match receive(&mut inner, &bytes)? {
                    Some(batch) => batch,
                    None => break,
                },
            };
            if !batch.fields.is_empty() && Some(&batch.fields) != inner.fields.as_ref() {
                return Err(PluginError::malformed(format!(
                    "a record batch names the fields {:?}, but the stream started with {:?}; every batch must use the same fields",
                    batch.fields,
                    inner.fields.clone().unwrap_or_default()
                )));
            }
            let fields = inner.fields.take().unwrap_or_default();
            for record in &batch.records {
                let row = inner.next_row;
                inner.next_row += 1;
                match check_record(record, &fields, &inner.targets, row) {
                    Some(problem) => inner.problems.push(problem),
                    None => out.push_row(row, record.values.iter().map(cell).collect()),
                }
            }
            inner.fields = Some(fields);
        }
        Ok((!out.is_empty() || inner.problems.len() > problems_before).then_some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(kind: v1::value::Kind) -> v1::Value {
        v1::Value { kind: Some(kind) }
    }

    #[test]
    fn batches_become_rows_numbered_through_the_stream() {
        use v1::value::Kind;
        let (mut stream, tx) = RecordStream::new(Module::Customers);
        let batch = |codes: &[&str]| v1::RecordBatch {
            fields: vec!["code".into(), "contract_amount".into(), "created_at".into()],
            records: codes
                .iter()
                .map(|c| v1::Record {
                    values: vec![
                        value(Kind::Text((*c).into())),
                        value(Kind::Cents(123_450)),
                        value(Kind::Date("2023-10-01".into())),
                    ],
                })
                .collect(),
        };
        tx.blocking_send(RecordMsg::Batch(batch(&["A", "B"]))).unwrap();
        tx.blocking_send(RecordMsg::Batch(batch(&["C"]))).unwrap();
        drop(tx);
        assert_eq!(
            stream.header().unwrap(),
            ["code", "contract_amount", "created_at"]
        );
        let rows = stream.next_batch(10).unwrap().unwrap();
        assert_eq!(rows.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(
            rows.rows[2].cells,
            [Cell::text("C"), Cell::text("1234.50"), Cell::text("2023-10-01")]
        );
        assert!(stream.next_batch(10).unwrap().is_none());
        let summary = stream.finish(true);
        assert!(summary.complete && summary.bytes > 0);
    }

    #[test]
    fn a_spooled_stream_reads_back_the_same_and_keeps_a_break_for_the_end() {
        let batch = |codes: &[&str]| v1::RecordBatch {
            fields: vec!["code".into()],
            records: codes
                .iter()
                .map(|c| v1::Record {
                    values: vec![value(v1::value::Kind::Text((*c).into()))],
                })
                .collect(),
        };
        let (mut stream, tx) = RecordStream::new(Module::Customers);
        let feeder = std::thread::spawn(move || {
            tx.blocking_send(RecordMsg::Batch(batch(&["A", "B"]))).unwrap();
            tx.blocking_send(RecordMsg::Batch(batch(&["C"]))).unwrap();
        });
        stream.spool().unwrap();
        feeder.join().unwrap();
        assert_eq!(stream.header().unwrap(), ["code"]);
        let rows = stream.next_batch(10).unwrap().unwrap();
        assert_eq!(rows.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(stream.next_batch(10).unwrap().is_none());
        assert!(stream.finish(true).complete);

        let (mut stream, tx) = RecordStream::new(Module::Customers);
        tx.blocking_send(RecordMsg::Batch(batch(&["A"]))).unwrap();
        tx.blocking_send(RecordMsg::Failed("the client went away".into()))
            .unwrap();
        stream.spool().unwrap();
        assert_eq!(stream.header().unwrap(), ["code"]);
        let err = loop {
            match stream.next_batch(10) {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a broken stream does not end cleanly"),
                Err(e) => break e,
            }
        };
        assert!(err.message.contains("the client went away"), "{err:?}");
        assert!(!stream.finish(true).complete);
    }
}
