//! The `xlsx` format of dataport: imports one sheet of an Excel workbook, exports
//! workbooks of one or more sheets (import templates with drop-downs and notes included).
//!
//! This crate is the implementation; `plugins/xlsx` exports it as `libdataport_plugin_xlsx.so`
//! with one `export_plugin!` line, so that other plugins (the vendor layouts) can build on
//! [`XlsxPlugin`] without linking a second plugin entry point. [`XlsxPlugin`] is an ordinary
//! [`Plugin`] that can be used natively. Its descriptor: name and
//! format `xlsx`, extension `xlsx`, reads, writes, `needs_seek` (a zip archive is read from its
//! end; the host spools uploads to a temporary file) and `sheets`.
//!
//! # Reading
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `sheet` | the first sheet | a sheet's exact name, else its 1-based number (`sheet=2`) |
//! | `max_zip_entries` | 10000 | most entries the archive may have |
//! | `max_entry_mib` | 1024 | most decompressed MiB of any one part read |
//! | `max_total_mib` | 2048 | most decompressed MiB of all the parts read |
//! | `max_ratio` | 100 | most decompressed bytes per compressed byte, counted only once the parts read have expanded past 100 MiB |
//!
//! An unknown sheet is an `INVALID_OPTION` error listing the workbook's sheets. Every limit
//! that trips is a `MALFORMED_FILE` error naming the part, the limit and the option raising it.
//!
//! The layers, bottom up:
//!
//! 1. **Archive and small parts** (`archive`): the file must be a zip (an OLE2 file, i.e. a
//!    legacy `.xls` or a password-protected workbook, a truncated archive: `not an xlsx file
//!    (zip archive): …`), with at most `max_zip_entries` entries and no two whose names differ
//!    only in case. Every part read (package and workbook relationships, workbook, shared
//!    strings, styles, theme, then the sheet) is streamed once from its decompressor
//!    (`ZipArchive::by_index_raw` + flate2 over a byte counter) into quick-xml, and every read
//!    counts the bytes *actually* produced against the budgets: per part, in total, and the
//!    compression ratio, which counts only once the parts read have expanded past 100 MiB, so
//!    that a workbook of long repeated strings is no "zip bomb" while a real bomb stops after
//!    inflating 100 MiB (some 20 ms). The declared sizes are checked first, and a part whose
//!    real size differs is refused. Every part must parse to its end (truncated XML is named),
//!    declare no DOCTYPE (entity bombs), use no undefined entity (`xml`), and hold no single XML item
//!    over 32 MiB; `uniqueCount` must fit the shared strings' real size. The shared strings
//!    are kept in one buffer (`strings`), the number formats as a date/number rule per style
//!    (`styles`). File-level messages are in Chinese and English (`中文 / English`), name the
//!    part and say what it is for and what to do: the host passes them through and does not
//!    tell plugins the job's locale.
//! 2. **The sheet** (`sheet`, `reader`): one quick-xml pass that checks and reads the cells
//!    together, on a thread of its own. Every cell, row, dimension and formula reference must
//!    lie in Excel's grid (`cellref`); the `<dimension>` is a hint only (LibreOffice writes
//!    `A1:AH65536`, Gnumeric `A1:XFD1048576`): the cells that exist are read. Cells go to the
//!    rows in chunks of whole rows through a bounded channel, so the parse and the host's
//!    validation and writes overlap on two cores, and a row is handed on only once all its
//!    bytes passed the checks. The host's source is read only inside the host's calls, as the
//!    ABI requires (`gate`). A panic on a hostile file stays on that thread and becomes an
//!    error; dropping the reader joins the thread. The row count for progress comes earlier,
//!    from a tag scan on a third thread (`count`). That scan and the sheet's `<c>` attribute
//!    parser read tags as bytes; their prefix rule for names is quick-xml's (`xml`).
//! 3. **Formulas**: any cell with an `<f>` is reported as [`Cell::Formula`] (`=` and the
//!    formula text), never as its cached value: normal formulas with their text, shared
//!    formula anchors with theirs, and cells deriving from a shared formula with the anchor's
//!    formula moved to their position (`calamine::expand_shared_formula`). The other cells of a
//!    multi-cell array formula carry no `<f>` at all, only a cached value; the parse records
//!    those ranges and such cells are reported as the array's formula as well.
//! 4. **Rows** (`rows`): the header is row 1 (trailing empty cells dropped; an empty row 1 is an
//!    empty header, which the host refuses as "row 1 is empty", but a sheet with no value at
//!    all is refused here: `sheet 1 「X」 is empty; choose another with -O sheet=NAME`); each later row keeps
//!    its sheet row number, is laid out by column (gaps are [`Cell::Null`]) and padded to the
//!    header's width; empty rows are skipped; a non-empty cell right of the header makes the row
//!    a `RowError` (`cell K5 is outside the header's 12 columns`) and leaves it out.
//!
//! Values (`values`): a number that is an integer below 2^53 is [`Cell::Int`] (a phone number
//! 13812345678 stays exact), other numbers [`Cell::Float`]; a number with a date format is
//! [`Cell::Date`] when its time of day is zero (to the millisecond) and [`Cell::DateTime`]
//! otherwise (1900 and 1904 date systems); strings, shared or inline, are [`Cell::Text`] exactly
//! as stored (rich text concatenated); booleans [`Cell::Bool`]; error values their text (`#N/A`);
//! durations (`[h]:mm`) numbers of days; empty cells [`Cell::Null`].
//!
//! # Writing
//!
//! Option `sheet` names the first sheet (default `Sheet1`); [`Writer::start_sheet`] adds more.
//! Every data sheet is a rust_xlsxwriter worksheet in constant-memory mode, and `finish` saves
//! the workbook straight into the sink as a streaming zip (rust_xlsxwriter ≥ 0.96 needs no
//! `Seek`), so memory does not grow with the rows and no temporary copy of the file is made.
//!
//! The header row is bold (red as well for required columns) and frozen; a column's `comment`
//! becomes a note on its header cell (author `dataport`, the text without an author prefix); widths follow the label (CJK characters count double), the
//! kind and the choices, capped at 60. By [`ColumnKind`](dataport_plugin_sdk::ColumnKind):
//!
//! | kind | column | cells |
//! |---|---|---|
//! | `Text` | number format `@` on the whole column | every value as text (leading zeros survive) |
//! | `Date` | date validation if it has a comment | dates `yyyy-mm-dd` |
//! | `DateTime` | | `yyyy-mm-dd hh:mm:ss` |
//! | `Decimal2` | | numbers `#,##0.00` |
//! | `Integer` | | numbers `0` |
//! | `Bool` | | booleans |
//! | `General` | | as the cells come |
//!
//! Non-empty `choices` give a drop-down (list validation) over the column's data rows: inline
//! when Excel allows (255 characters, no commas), else from a hidden helper sheet `_lists`, the
//! workbook's last.
//! Cells: text as strings; [`Cell::Formula`] as a *string* (text format), never a formula;
//! integers as numbers, or as text from 2^53 on so they stay exact; dates and date-times as
//! date cells (as text outside 1900–9999); `Null` as nothing. Excel's limits are errors, not
//! panics: more than 1 048 575 data rows in a sheet, text over 32 767 characters (naming the row
//! and column), more than 16 384 columns.
//!
//! The crate has no `unsafe` code at all; the C entry point is in `plugins/xlsx`, made by the
//! SDK's `export_plugin!`.
//!
//! [`Cell::Formula`]: dataport_plugin_sdk::Cell::Formula
//! [`Cell::Null`]: dataport_plugin_sdk::Cell::Null
//! [`Cell::Int`]: dataport_plugin_sdk::Cell::Int
//! [`Cell::Float`]: dataport_plugin_sdk::Cell::Float
//! [`Cell::Date`]: dataport_plugin_sdk::Cell::Date
//! [`Cell::DateTime`]: dataport_plugin_sdk::Cell::DateTime
//! [`Cell::Text`]: dataport_plugin_sdk::Cell::Text
//! [`Cell::Bool`]: dataport_plugin_sdk::Cell::Bool

#![forbid(unsafe_code)]

mod archive;
mod cellref;
mod count;
mod gate;
mod messages;
mod options;
mod reader;
mod rows;
mod sheet;
mod strings;
mod styles;
mod values;
mod writer;
mod xml;

use dataport_plugin_sdk::{ByteSink, ByteSource, Descriptor, Options, Plugin, PluginError, Reader, Writer};

pub use crate::options::declared_options;
use crate::options::{ReadOptions, WriteOptions};

/// The xlsx plugin: reads one sheet of an xlsx workbook and writes workbooks of one or more
/// sheets. Exported as this library's plugin, and usable natively as an ordinary [`Plugin`].
#[derive(Debug, Clone, Copy, Default)]
pub struct XlsxPlugin;

impl XlsxPlugin {
    fn check_format(format: &str) -> Result<(), PluginError> {
        if format.eq_ignore_ascii_case("xlsx") {
            Ok(())
        } else {
            Err(PluginError::unsupported(format!(
                "the xlsx plugin serves format `xlsx`, not `{format}`"
            )))
        }
    }
}

impl Plugin for XlsxPlugin {
    fn descriptor(&self) -> Descriptor {
        Descriptor::new("xlsx", env!("CARGO_PKG_VERSION"))
            .format("xlsx")
            .extensions(["xlsx"])
            .reads()
            .writes()
            .needs_seek()
            .sheets()
            .options(declared_options())
    }

    fn open_reader(
        &self,
        format: &str,
        options: &Options,
        source: Box<dyn ByteSource>,
    ) -> Result<Box<dyn Reader>, PluginError> {
        Self::check_format(format)?;
        let options = ReadOptions::parse(options)?;
        reader::open(source, &options)
    }

    fn open_writer(
        &self,
        format: &str,
        options: &Options,
        sink: Box<dyn ByteSink>,
    ) -> Result<Box<dyn Writer>, PluginError> {
        Self::check_format(format)?;
        let options = WriteOptions::parse(options)?;
        Ok(Box::new(writer::open(sink, &options)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataport_plugin_sdk::{ErrorKind, ReadOnly};

    #[test]
    fn the_reader_needs_a_seekable_source_and_the_xlsx_format() {
        let source = Box::new(ReadOnly(&b"PK\x03\x04"[..]));
        let err = XlsxPlugin
            .open_reader("xlsx", &Options::new(), source)
            .err()
            .unwrap();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        let source = Box::new(std::io::Cursor::new(Vec::new()));
        let err = XlsxPlugin
            .open_reader("csv", &Options::new(), source)
            .err()
            .unwrap();
        assert_eq!(err.kind, ErrorKind::Unsupported);
    }
}
