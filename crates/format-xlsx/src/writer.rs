//! The writer: rust_xlsxwriter worksheets in constant-memory mode, streamed into the sink.
//!
//! Each data sheet is a constant-memory worksheet: a row is flushed to rust_xlsxwriter's own
//! temporary file as soon as the next one starts, and strings are stored inline, so memory does
//! not grow with the rows. `finish` saves the workbook straight into the sink: since 0.96
//! rust_xlsxwriter writes a streaming zip (data descriptors) to any `Write`, so no seekable
//! temporary copy of the whole file is needed.
//!
//! Exports never contain formulas: a [`Cell::Formula`] is written as a text cell. Long drop-down
//! lists (over Excel's 255 characters for an inline list, or with commas in a value) go to a
//! hidden helper sheet `_lists` (a small ordinary worksheet, placed after the visible sheets) and
//! the validation refers to it.

use std::io::{BufWriter, Write};

use dataport_plugin_sdk::{ByteSink, Cell, Column, ColumnKind, ErrorKind, PluginError, RowBatch, Writer};
use rust_xlsxwriter::{
    Color, DataValidation, DataValidationRule, ExcelDateTime, Format, Formula, Note, Workbook, Worksheet,
    XlsxError,
};

use crate::cellref::{self, MAX_COLS, MAX_ROWS};
use crate::options::WriteOptions;
use crate::values::{self, EXACT_INT};

/// Excel's limit on a cell's text, in UTF-16 code units.
const MAX_TEXT: usize = 32_767;
/// Data rows a sheet holds under its header.
const MAX_DATA_ROWS: u32 = MAX_ROWS - 1;
/// Excel's limit on an inline drop-down list (values and commas).
const MAX_INLINE_LIST: usize = 255;
const HELPER_SHEET: &str = "_lists";
/// The author of the header notes.
const NOTE_AUTHOR: &str = "dataport";

/// Opens a writer; the first sheet is created (and its name checked) at once.
pub(crate) fn open(sink: Box<dyn ByteSink>, options: &WriteOptions) -> Result<XlsxWriter, PluginError> {
    let mut writer = XlsxWriter {
        workbook: Workbook::new(),
        sink: Some(sink),
        formats: Formats::new(),
        names: Vec::new(),
        sheet: SheetState::default(),
        helper: None,
    };
    writer
        .add_sheet(&options.sheet)
        .map_err(|e| PluginError::invalid_option(format!("option `sheet`: {}", e.message)))?;
    Ok(writer)
}

struct Formats {
    header: Format,
    header_required: Format,
    text: Format,
    date: Format,
    datetime: Format,
    decimal2: Format,
    integer: Format,
}

impl Formats {
    fn new() -> Formats {
        let header = Format::new().set_bold();
        Formats {
            header_required: header.clone().set_font_color(Color::RGB(0xC0_0000)),
            header,
            text: Format::new().set_num_format("@"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            decimal2: Format::new().set_num_format("#,##0.00"),
            integer: Format::new().set_num_format("0"),
        }
    }
}

/// The sheet being written.
#[derive(Default)]
struct SheetState {
    index: usize,
    name: String,
    /// Labels and kinds, once the header is written.
    columns: Option<Vec<(String, ColumnKind)>>,
    /// Data rows written.
    rows: u32,
}

/// The hidden sheet holding long drop-down lists, one per column.
struct Helper {
    index: usize,
    name: String,
    next_col: u16,
}

/// The [`Writer`] of the plugin.
pub(crate) struct XlsxWriter {
    workbook: Workbook,
    /// `None` once finished.
    sink: Option<Box<dyn ByteSink>>,
    formats: Formats,
    /// Every sheet's name so far (Excel wants them unique regardless of case).
    names: Vec<String>,
    sheet: SheetState,
    helper: Option<Helper>,
}

fn xlsx_error(e: XlsxError) -> PluginError {
    match e {
        XlsxError::IoError(e) => PluginError::io(e.to_string()),
        e => PluginError::internal(format!("xlsx writer: {e}")),
    }
}

fn invalid(message: impl Into<String>) -> PluginError {
    PluginError::new(ErrorKind::InvalidArgument, message)
}

impl XlsxWriter {
    /// Checks a new sheet's name and reserves it.
    fn reserve_name(&mut self, name: &str) -> Result<(), PluginError> {
        let lower = name.to_lowercase();
        if self.names.iter().any(|n| n.to_lowercase() == lower) {
            return Err(invalid(format!(
                "the workbook already has a sheet named `{name}`"
            )));
        }
        // rust_xlsxwriter's checks: length, characters Excel refuses, leading/trailing quote.
        Worksheet::new()
            .set_name(name)
            .map_err(|e| invalid(format!("`{name}` cannot name a sheet: {e}")))?;
        self.names.push(name.to_owned());
        Ok(())
    }

    fn add_sheet(&mut self, name: &str) -> Result<(), PluginError> {
        self.reserve_name(name)?;
        let index = self.workbook.worksheets().len();
        self.workbook
            .add_worksheet_with_constant_memory()
            .and_then(|ws| ws.set_name(name).map(drop))
            .map_err(xlsx_error)?;
        self.sheet = SheetState {
            index,
            name: name.to_owned(),
            columns: None,
            rows: 0,
        };
        Ok(())
    }

    fn worksheet(&mut self, index: usize) -> Result<&mut Worksheet, PluginError> {
        self.workbook.worksheet_from_index(index).map_err(xlsx_error)
    }

    /// A drop-down validation offering `choices`: inline when Excel allows, else from the
    /// helper sheet.
    fn list_validation(&mut self, choices: &[String]) -> Result<DataValidation, PluginError> {
        let inline_len: usize = choices
            .iter()
            .map(|c| c.encode_utf16().count() + 1)
            .sum::<usize>()
            .saturating_sub(1);
        if inline_len <= MAX_INLINE_LIST
            && choices.iter().all(|c| !c.contains(','))
            && let Ok(validation) = DataValidation::new().allow_list_strings(choices)
        {
            return Ok(validation);
        }
        if choices.len() > MAX_ROWS as usize {
            return Err(PluginError::unsupported(format!(
                "a drop-down list of {} values is longer than a sheet",
                choices.len()
            )));
        }
        let (index, name, col) = self.helper_column()?;
        let ws = self.worksheet(index)?;
        for (row, choice) in choices.iter().enumerate() {
            check_text(choice, || format!("drop-down value {}", row + 1))?;
            // `row` < MAX_ROWS, checked above.
            ws.write_string(row as u32, col, choice).map_err(xlsx_error)?;
        }
        let letter = cellref::column_name(u32::from(col));
        let reference = format!("='{name}'!${letter}$1:${letter}${}", choices.len().max(1));
        Ok(DataValidation::new().allow_list_formula(Formula::new(reference)))
    }

    /// The next free column of the helper sheet, creating the sheet on first use.
    fn helper_column(&mut self) -> Result<(usize, String, u16), PluginError> {
        if self.helper.is_none() {
            let mut name = HELPER_SHEET.to_owned();
            let mut n = 1;
            while self.names.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
                n += 1;
                name = format!("{HELPER_SHEET}{n}");
            }
            self.reserve_name(&name)?;
            let index = self.workbook.worksheets().len();
            let ws = self.workbook.add_worksheet();
            ws.set_name(&name).map_err(xlsx_error)?;
            ws.set_hidden(true);
            self.helper = Some(Helper {
                index,
                name,
                next_col: 0,
            });
        }
        let Some(helper) = self.helper.as_mut() else {
            return Err(PluginError::internal("helper sheet missing"));
        };
        let col = helper.next_col;
        if u32::from(col) >= MAX_COLS {
            return Err(PluginError::unsupported(
                "too many long drop-down lists for one workbook",
            ));
        }
        helper.next_col += 1;
        Ok((helper.index, helper.name.clone(), col))
    }
}

/// A column's width in Excel's character units: enough for the label (CJK characters count
/// double), at least the usual width of its kind and its longest choice, at most 60.
pub(crate) fn column_width(column: &Column) -> f64 {
    let kind_width = match column.kind {
        ColumnKind::Text => 18,
        ColumnKind::Date => 12,
        ColumnKind::DateTime => 20,
        ColumnKind::Decimal2 => 16,
        ColumnKind::Integer => 12,
        ColumnKind::Bool => 10,
        _ => 30,
    };
    let label = display_width(&column.name) + 4;
    let choices = column
        .choices
        .iter()
        .map(|c| display_width(c) + 4)
        .max()
        .unwrap_or(0);
    kind_width.max(label).max(choices).min(60) as f64
}

/// Width in half-width character cells: East Asian wide characters count two.
fn display_width(s: &str) -> usize {
    s.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD)
}

/// Excel's limit on a cell's text.
fn check_text(s: &str, location: impl FnOnce() -> String) -> Result<(), PluginError> {
    // UTF-16 units never outnumber UTF-8 bytes, so only long strings need counting.
    if s.len() > MAX_TEXT {
        let units = s.encode_utf16().count();
        if units > MAX_TEXT {
            return Err(PluginError::unsupported(format!(
                "{}: text of {units} characters is longer than Excel's limit of {MAX_TEXT} per cell",
                location()
            )));
        }
    }
    Ok(())
}

fn bool_text(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

/// Writes one data cell as its column's kind asks (see the crate docs for the table).
fn write_cell(
    ws: &mut Worksheet,
    (row, col): (u32, u16),
    cell: &Cell,
    kind: ColumnKind,
    f: &Formats,
    location: impl FnOnce() -> String,
) -> Result<(), PluginError> {
    let text_kind = kind == ColumnKind::Text;
    let result = match cell {
        Cell::Null => return Ok(()),
        Cell::Text(s) => {
            check_text(s, location)?;
            if text_kind {
                ws.write_string_with_format(row, col, s, &f.text)
            } else {
                ws.write_string(row, col, s)
            }
        }
        // Exports never produce formulas: the text, kept as text if someone edits the cell.
        Cell::Formula(s) => {
            check_text(s, location)?;
            ws.write_string_with_format(row, col, s, &f.text)
        }
        Cell::Int(v) if text_kind || (*v as f64).abs() >= EXACT_INT => {
            ws.write_string_with_format(row, col, v.to_string(), &f.text)
        }
        Cell::Int(v) => match kind {
            ColumnKind::Decimal2 => ws.write_number_with_format(row, col, *v as f64, &f.decimal2),
            ColumnKind::Integer => ws.write_number_with_format(row, col, *v as f64, &f.integer),
            _ => ws.write_number(row, col, *v as f64),
        },
        Cell::Float(v) if text_kind => ws.write_string_with_format(row, col, v.to_string(), &f.text),
        Cell::Float(v) => match kind {
            ColumnKind::Decimal2 => ws.write_number_with_format(row, col, *v, &f.decimal2),
            ColumnKind::Integer if v.fract() == 0.0 => ws.write_number_with_format(row, col, *v, &f.integer),
            _ => ws.write_number(row, col, *v),
        },
        Cell::Bool(b) if text_kind => ws.write_string_with_format(row, col, bool_text(*b), &f.text),
        Cell::Bool(b) => ws.write_boolean(row, col, *b),
        Cell::Date(d) => match values::date_serial(*d) {
            Some(serial) if !text_kind => {
                let format = if kind == ColumnKind::DateTime {
                    &f.datetime
                } else {
                    &f.date
                };
                ws.write_number_with_format(row, col, serial, format)
            }
            _ => ws.write_string_with_format(row, col, values::format_date(*d), &f.text),
        },
        Cell::DateTime(t) => match values::datetime_serial(*t) {
            Some(serial) if !text_kind => ws.write_number_with_format(row, col, serial, &f.datetime),
            _ => ws.write_string_with_format(row, col, values::format_datetime(*t), &f.text),
        },
    };
    result.map(drop).map_err(xlsx_error)
}

impl Writer for XlsxWriter {
    fn write_header(&mut self, columns: &[Column]) -> Result<(), PluginError> {
        if self.sink.is_none() {
            return Err(invalid("the workbook is already finished"));
        }
        if self.sheet.columns.is_some() {
            return Err(invalid(format!(
                "sheet `{}` already has its header",
                self.sheet.name
            )));
        }
        if columns.len() > MAX_COLS as usize {
            return Err(PluginError::unsupported(format!(
                "xlsx holds at most {MAX_COLS} columns per sheet, not {}",
                columns.len()
            )));
        }
        let index = self.sheet.index;
        self.worksheet(index)?
            .set_freeze_panes(1, 0)
            .map_err(xlsx_error)?;
        for (i, column) in columns.iter().enumerate() {
            // `i` < MAX_COLS, checked above.
            let col = i as u16;
            check_text(&column.name, || format!("the header of column {}", i + 1))?;
            let validation = if !column.choices.is_empty() {
                Some(self.list_validation(&column.choices)?)
            } else if column.kind == ColumnKind::Date && !column.comment.is_empty() {
                let (first, last) = (
                    ExcelDateTime::from_ymd(1900, 1, 1).map_err(xlsx_error)?,
                    ExcelDateTime::from_ymd(9999, 12, 31).map_err(xlsx_error)?,
                );
                Some(DataValidation::new().allow_date(DataValidationRule::Between(first, last)))
            } else {
                None
            };
            let header_format = if column.required {
                &self.formats.header_required
            } else {
                &self.formats.header
            };
            let ws = self.workbook.worksheet_from_index(index).map_err(xlsx_error)?;
            ws.set_column_width(col, column_width(column))
                .map_err(xlsx_error)?;
            if column.kind == ColumnKind::Text {
                ws.set_column_format(col, &self.formats.text)
                    .map_err(xlsx_error)?;
            }
            ws.write_string_with_format(0, col, &column.name, header_format)
                .map_err(xlsx_error)?;
            if !column.comment.is_empty() {
                check_text(&column.comment, || {
                    format!("the note of column `{}`", column.name)
                })?;
                // Notes carry the author `dataport` (rust_xlsxwriter's default is "Author"), and
                // their text is the guidance alone, without an author prefix.
                ws.set_default_note_author(NOTE_AUTHOR);
                ws.insert_note(0, col, &Note::new(&column.comment).add_author_prefix(false))
                    .map_err(xlsx_error)?;
            }
            if let Some(validation) = validation {
                ws.add_data_validation(1, col, MAX_ROWS - 1, col, &validation)
                    .map_err(xlsx_error)?;
            }
        }
        self.sheet.columns = Some(columns.iter().map(|c| (c.name.clone(), c.kind)).collect());
        Ok(())
    }

    fn write_rows(&mut self, rows: &RowBatch) -> Result<(), PluginError> {
        if self.sink.is_none() {
            return Err(invalid("the workbook is already finished"));
        }
        let XlsxWriter {
            workbook,
            formats,
            sheet,
            ..
        } = self;
        let Some(columns) = &sheet.columns else {
            return Err(invalid(format!(
                "write_header must come before the rows of sheet `{}`",
                sheet.name
            )));
        };
        let ws = workbook.worksheet_from_index(sheet.index).map_err(xlsx_error)?;
        for row in &rows.rows {
            if sheet.rows >= MAX_DATA_ROWS {
                return Err(PluginError::unsupported(format!(
                    "xlsx holds at most {MAX_ROWS} rows per sheet ({MAX_DATA_ROWS} under the header) \
                     and sheet `{}` has more; export as csv",
                    sheet.name
                )));
            }
            if row.cells.len() > columns.len() {
                return Err(invalid(format!(
                    "a row of {} cells for sheet `{}`, whose header has {} columns",
                    row.cells.len(),
                    sheet.name,
                    columns.len()
                )));
            }
            let r = sheet.rows + 1;
            for (i, (cell, (label, kind))) in row.cells.iter().zip(columns).enumerate() {
                let location = || format!("row {}, column `{label}` of sheet `{}`", r + 1, sheet.name);
                // `i` < columns.len() <= MAX_COLS.
                write_cell(ws, (r, i as u16), cell, *kind, formats, location)?;
            }
            sheet.rows += 1;
        }
        Ok(())
    }

    fn start_sheet(&mut self, name: &str) -> Result<(), PluginError> {
        if self.sink.is_none() {
            return Err(invalid("the workbook is already finished"));
        }
        self.add_sheet(name)
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        let Some(sink) = self.sink.take() else {
            return Err(invalid("the workbook is already finished"));
        };
        // The helper sheet was added when first needed; it goes last, after the visible sheets,
        // so that sheet numbers mean what users see (validations refer to it by name).
        if let Some(helper) = &self.helper {
            let sheets = self.workbook.worksheets_mut();
            if helper.index < sheets.len() {
                let sheet = sheets.remove(helper.index);
                sheets.push(sheet);
            }
        }
        let mut out = BufWriter::with_capacity(64 * 1024, sink);
        self.workbook.save_to_writer(&mut out).map_err(xlsx_error)?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        let col = |name: &str, kind| Column::new(name).kind(kind);
        assert_eq!(column_width(&col("客户编号", ColumnKind::Text)), 18.0);
        assert_eq!(column_width(&col("客户名称", ColumnKind::General)), 30.0);
        assert_eq!(column_width(&col("成立日期", ColumnKind::Date)), 12.0);
        assert_eq!(column_width(&col("金额", ColumnKind::Decimal2)), 16.0);
        assert_eq!(
            column_width(&col("一个非常非常非常长的列标题名称", ColumnKind::Date)),
            34.0
        );
        assert_eq!(column_width(&col(&"x".repeat(100), ColumnKind::Text)), 60.0);
        let mut c = col("级别", ColumnKind::General);
        c.choices = vec!["战略合作伙伴（重点维护客户）".into()];
        assert_eq!(column_width(&c), 32.0);
        assert_eq!(display_width("ab中文ｘ"), 8);
    }

    #[test]
    fn long_text_is_refused_with_its_place() {
        assert!(check_text(&"x".repeat(MAX_TEXT), || unreachable!()).is_ok());
        assert!(check_text(&"中".repeat(MAX_TEXT), || unreachable!()).is_ok());
        let err = check_text(&"x".repeat(MAX_TEXT + 1), || "row 3, column `备注`".into()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unsupported);
        assert!(
            err.message.starts_with("row 3, column `备注`: text of 32768"),
            "{}",
            err.message
        );
    }
}
