//! The sheet in one pass: its checks and its cells from the same quick-xml events.
//!
//! The sheet is the one large part of a workbook. It used to be parsed twice, by the checks and
//! then by calamine on a second thread, each pass costing about as much CPU as the other. Now
//! [`parse`] checks every reference and item as before ([`crate::archive`]'s budgets wrap the
//! bytes) and reads the values on the way, with the rules calamine had: cell types, shared and
//! inline strings ([`crate::strings`]), date formats ([`crate::styles`]), the 1904 date system
//! and formulas. Cells go out a whole row at a time, so a row is handed on only once every byte
//! of it has passed the checks; what follows a refusal is never read.
//!
//! # Formulas
//!
//! Every cell with an `<f>` becomes [`Cell::Formula`], never its cached value. A shared formula's
//! anchor (`t="shared"` with `ref`) is kept by its index, and the cells deriving from it (only
//! `si`) get it moved to their position (`calamine::expand_shared_formula`). The other cells of
//! a multi-cell array formula have no `<f>` at all, only cached values: the anchor comes first
//! in sheet order, so its range is known by the time they are reached, and they are reported as
//! its formula too.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use dataport_plugin_sdk::{Cell, PluginError};
use quick_xml::events::{BytesStart, Event};

use crate::cellref::{self, Area, Pos};
use crate::messages;
use crate::rows::RawCell;
use crate::strings::{self, SharedStrings};
use crate::styles::{CellFormats, NumberFormat};
use crate::values;
use crate::xml::Xml;
use crate::xml::local_name;

const MIB: u64 = 1 << 20;
/// How far into a sheet its `<sheetData>` must start (real prologues are a few KiB).
const MAX_SHEET_PROLOGUE: u64 = 64 * MIB;
/// Cells are handed on in chunks of whole rows of about this many cells (under 64 KiB: below
/// the allocator's mmap threshold, so a chunk costs no page faults).
const CHUNK_CELLS: usize = 1024;

/// What the rest of the workbook says about the sheet's values.
#[derive(Debug, Default)]
pub(crate) struct Context {
    pub strings: SharedStrings,
    pub formats: CellFormats,
    pub is_1904: bool,
}

/// Parses the sheet to its end, handing its cells to `emit` in chunks of whole rows. Returns the
/// rows after the header that hold a value (what progress is measured against).
pub(crate) fn parse(
    xml: &mut Xml<'_, '_>,
    sheet: &str,
    context: &Context,
    emit: &mut dyn FnMut(Vec<RawCell>) -> Result<(), PluginError>,
) -> Result<u64, PluginError> {
    let mut parser = Parser {
        sheet,
        context,
        cells: Vec::with_capacity(CHUNK_CELLS),
        shared: HashMap::new(),
        arrays: ArrayFormulas::default(),
        text: String::new(),
        formula: String::new(),
        inline: String::new(),
        buf: Vec::new(),
    };
    let mut buf = Vec::new();
    let mut data_rows = 0;
    // The current `<row>`'s zero-based number (`r` is optional: one more than the last), where a
    // cell without `r` goes, and whether a cell of the row holds a value.
    let (mut row, mut next_col, mut row_has_value) = (None::<u32>, 0u32, false);
    // Inside `<sheetData>`; whether it has started at all.
    let (mut in_data, mut seen_data) = (false, false);
    loop {
        let event = xml.next(&mut buf)?;
        let is_start = matches!(event, Event::Start(_));
        match event {
            Event::Start(e) | Event::Empty(e) => match (in_data, e.local_name().as_ref()) {
                (true, "c") => {
                    let at = row.unwrap_or(0);
                    let attrs = CellAttrs::of(xml, &e)?;
                    let pos = match attrs.r {
                        Some(r) => {
                            cellref::parse_cell(r).ok_or_else(|| parser.outside("a cell at", "单元格", r))?
                        }
                        None => (at, next_col),
                    };
                    next_col = pos.1.saturating_add(1);
                    if is_start {
                        let cell = parser.cell(xml, pos, attrs.s, attrs.t)?;
                        if !cell.is_null() {
                            row_has_value = true;
                            parser.cells.push(RawCell {
                                row: pos.0,
                                col: pos.1,
                                cell,
                            });
                        }
                    }
                }
                (true, "row") => {
                    row = Some(match xml.attr(&e, "r")? {
                        Some(r) => cellref::parse_row(&r)
                            .ok_or_else(|| parser.outside("a row numbered", "行号", &r))?,
                        None => row.map_or(0, |last| last.saturating_add(1)),
                    });
                    (next_col, row_has_value) = (0, false);
                }
                (false, "dimension") if !seen_data => {
                    // A hint only: checked, never allocated.
                    if let Some(r) = xml.attr(&e, "ref")? {
                        cellref::parse_area(&r)
                            .ok_or_else(|| parser.outside("the dimension", "维度（dimension）", &r))?;
                    }
                }
                (false, "sheetData") => {
                    seen_data = true;
                    in_data = is_start;
                }
                _ => {}
            },
            Event::End(e) if in_data && e.local_name().as_ref() == "row" => {
                if row_has_value && row.is_some_and(|r| r > 0) {
                    data_rows += 1;
                }
                row_has_value = false;
                if parser.cells.len() >= CHUNK_CELLS {
                    emit(std::mem::replace(
                        &mut parser.cells,
                        Vec::with_capacity(CHUNK_CELLS),
                    ))?;
                }
            }
            Event::End(e) if e.local_name().as_ref() == "sheetData" => in_data = false,
            Event::Eof => break,
            _ => {}
        }
        if !seen_data && xml.position() > MAX_SHEET_PROLOGUE {
            return Err(messages::no_sheet_data(sheet, MAX_SHEET_PROLOGUE / MIB));
        }
    }
    // The last rows go out once the whole part has been read and checked ([`Xml`] refuses a
    // truncated part at its end).
    if !parser.cells.is_empty() {
        emit(std::mem::take(&mut parser.cells))?;
    }
    Ok(data_rows)
}

/// The attributes of a `<c>` that matter, in one scan.
struct CellAttrs<'e> {
    r: Option<&'e str>,
    s: Option<&'e str>,
    t: Option<&'e str>,
}

impl<'e> CellAttrs<'e> {
    fn of(xml: &Xml<'_, '_>, e: &'e BytesStart<'_>) -> Result<CellAttrs<'e>, PluginError> {
        let mut attrs = CellAttrs {
            r: None,
            s: None,
            t: None,
        };
        // The raw attribute text: values are borrowed from the event, never copied.
        let raw = e.attributes_raw();
        let bytes = raw.as_bytes();
        let mut i = 0;
        loop {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= bytes.len() || bytes[i] == b'/' {
                return Ok(attrs);
            }
            let key_start = i;
            while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let key = &bytes[key_start..i];
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if bytes.get(i) != Some(&b'=') {
                return Err(xml.invalid());
            }
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let quote = match bytes.get(i) {
                Some(&q @ (b'"' | b'\'')) => q,
                _ => return Err(xml.invalid()),
            };
            let value_start = i + 1;
            let len = bytes[value_start..]
                .iter()
                .position(|&b| b == quote)
                .ok_or_else(|| xml.invalid())?;
            // Both ends are ASCII quotes: character boundaries.
            let value = &raw[value_start..value_start + len];
            i = value_start + len + 1;
            match local_name(key) {
                b"r" => attrs.r = Some(value),
                b"s" => attrs.s = Some(value),
                b"t" => attrs.t = Some(value),
                _ => {}
            }
        }
    }
}

struct Parser<'a> {
    sheet: &'a str,
    context: &'a Context,
    /// The chunk being filled.
    cells: Vec<RawCell>,
    /// Shared formula anchors by index: their text and top-left cell.
    shared: HashMap<u64, (String, Pos)>,
    arrays: ArrayFormulas,
    /// Buffers of the cell being read, reused: a cell's text is copied out at its size.
    text: String,
    formula: String,
    inline: String,
    /// The XML parser's buffer inside a cell.
    buf: Vec<u8>,
}

impl Parser<'_> {
    fn outside(&self, what: &str, what_zh: &str, value: &str) -> PluginError {
        messages::outside_grid(
            self.sheet,
            what,
            what_zh,
            value,
            cellref::MAX_ROWS,
            cellref::MAX_COLS,
        )
    }

    fn bad(&self, pos: Pos, zh: impl std::fmt::Display, en: impl std::fmt::Display) -> PluginError {
        messages::bad_cell(self.sheet, &cellref::cell_name(pos.0, pos.1), zh, en)
    }

    /// Reads the body of a `<c>` just opened, up to its `</c>`.
    fn cell(
        &mut self,
        xml: &mut Xml<'_, '_>,
        pos: Pos,
        s: Option<&str>,
        t: Option<&str>,
    ) -> Result<Cell, PluginError> {
        let mut buf = std::mem::take(&mut self.buf);
        let cell = self.cell_in(xml, &mut buf, pos, s, t);
        self.buf = buf;
        cell
    }

    fn cell_in(
        &mut self,
        xml: &mut Xml<'_, '_>,
        buf: &mut Vec<u8>,
        pos: Pos,
        s: Option<&str>,
        t: Option<&str>,
    ) -> Result<Cell, PluginError> {
        let (mut value, mut inline, mut formula) = (false, false, None::<String>);
        self.text.clear();
        self.inline.clear();
        loop {
            let event = xml.next(buf)?;
            let is_start = matches!(event, Event::Start(_));
            match event {
                Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                    // An empty `<v/>` carries no value.
                    "v" if is_start => {
                        value = true;
                        strings::read_text(xml, buf, &mut self.text, "v")?;
                    }
                    "is" => {
                        inline = true;
                        if is_start {
                            strings::read_string(xml, buf, &mut self.inline, "is")?;
                        }
                    }
                    "f" => {
                        let kind = xml.attr(&e, "t")?.map(|k| k.into_owned());
                        let range = match xml.attr(&e, "ref")? {
                            Some(r) => Some(
                                cellref::parse_area(&r)
                                    .ok_or_else(|| self.outside("a formula over", "公式范围", &r))?,
                            ),
                            None => None,
                        };
                        let index = xml.attr_owned(&e, "si")?;
                        self.formula.clear();
                        if is_start {
                            strings::read_text(xml, buf, &mut self.formula, "f")?;
                        }
                        formula = Some(self.formula_text(pos, kind.as_deref(), range, index.as_deref())?);
                    }
                    // Anything else in a cell (an extension) is skipped.
                    _ => {}
                },
                Event::End(e) if e.local_name().as_ref() == "c" => break,
                Event::Eof => return Err(xml.invalid()),
                _ => {}
            }
        }
        if let Some(formula) = formula {
            return Ok(Cell::Formula(formula));
        }
        if let Some(array) = self.arrays.at(pos) {
            return Ok(Cell::Formula(array));
        }
        if inline || matches!(t, Some("inlineStr")) {
            // The `<v>` of an inline string is redundant: the text is in `<is>`.
            return Ok(if inline {
                Cell::Text(std::mem::take(&mut self.inline))
            } else {
                Cell::Null
            });
        }
        if !value {
            return Ok(Cell::Null);
        }
        self.value(pos, s, t)
    }

    /// The value of a `<v>`, read into `self.text`, by the cell's type and format.
    fn value(&mut self, pos: Pos, s: Option<&str>, t: Option<&str>) -> Result<Cell, PluginError> {
        let v = self.text.as_str();
        Ok(match t {
            Some("s") => {
                if v.is_empty() {
                    return Ok(Cell::Null);
                }
                let strings = &self.context.strings;
                let text = v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| strings.get(i))
                    .ok_or_else(|| {
                        self.bad(
                            pos,
                            format!(
                                "共享字符串编号 `{v}` 不存在（共享字符串表有 {} 项）",
                                strings.len()
                            ),
                            format!(
                                "shared string `{v}` does not exist (the table has {})",
                                strings.len()
                            ),
                        )
                    })?;
                Cell::Text(text.to_owned())
            }
            Some("n") | None => {
                if v.is_empty() {
                    return Ok(Cell::Null);
                }
                match v.trim().parse::<f64>() {
                    Ok(n) => match self.context.formats.of(s) {
                        NumberFormat::Date => values::serial_to_cell(n, self.context.is_1904),
                        NumberFormat::Plain | NumberFormat::Duration => values::number(n),
                    },
                    // Without a type, what is not a number is text.
                    Err(_) if t.is_none() => Cell::Text(v.to_owned()),
                    Err(_) => {
                        return Err(self.bad(
                            pos,
                            format!("数字单元格的值 `{v}` 不是数字"),
                            format!("the number cell holds `{v}`, which is not a number"),
                        ));
                    }
                }
            }
            Some("b") => match v.trim() {
                "" => Cell::Null,
                "0" => Cell::Bool(false),
                "1" => Cell::Bool(true),
                b if b.eq_ignore_ascii_case("false") => Cell::Bool(false),
                b if b.eq_ignore_ascii_case("true") => Cell::Bool(true),
                _ => {
                    return Err(self.bad(
                        pos,
                        format!("逻辑值单元格的值 `{v}` 不是 0 或 1"),
                        format!("the boolean cell holds `{v}`, which is not 0 or 1"),
                    ));
                }
            },
            Some("d") => values::parse_iso(v).unwrap_or_else(|| Cell::Text(v.to_owned())),
            // An error value (`#N/A`) reads as its text.
            Some("e") => Cell::Text(v.to_owned()),
            Some("str") => {
                strings::unescape_in_place(&mut self.text, 0);
                Cell::Text(self.text.as_str().to_owned())
            }
            Some(other) => {
                return Err(self.bad(
                    pos,
                    format!("单元格类型 t=\"{other}\" 不是 xlsx 的类型"),
                    format!("the cell type t=\"{other}\" is not an xlsx cell type"),
                ));
            }
        })
    }

    /// A formula's text with its `=`, from the `<f>` just read into `self.formula`.
    fn formula_text(
        &mut self,
        pos: Pos,
        kind: Option<&str>,
        range: Option<Area>,
        index: Option<&str>,
    ) -> Result<String, PluginError> {
        let text = std::mem::take(&mut self.formula);
        match kind {
            Some("shared") => {
                let index = index.and_then(|i| i.trim().parse::<u64>().ok()).ok_or_else(|| {
                    self.bad(
                        pos,
                        "共享公式没有有效的编号（si）",
                        "the shared formula has no valid index (si)",
                    )
                })?;
                if let Some(range) = range {
                    self.shared.insert(index, (text.clone(), range.start));
                    return Ok(format!("={text}"));
                }
                Ok(match self.shared.get(&index) {
                    Some((template, start)) => {
                        let moved = calamine::expand_shared_formula(template, *start, pos)
                            .unwrap_or_else(|_| template.clone());
                        format!("={moved}")
                    }
                    None => format!("=<shared formula {index}>"),
                })
            }
            Some("array" | "dataTable") => {
                if let Some(range) = range.filter(|r| r.cells() > 1) {
                    self.arrays.add(range, format!("={text}"));
                }
                Ok(format!("={text}"))
            }
            _ => Ok(format!("={text}")),
        }
    }
}

/// The multi-cell array formulas of a sheet, looked up as the cells stream by in row order.
///
/// Array ranges never overlap, so the ones covering the current row are keyed by first column.
#[derive(Default)]
struct ArrayFormulas {
    /// Covering rows from the current one on: first column → range and formula.
    active: BTreeMap<u32, (Area, String)>,
    /// When each range ends: (last row, first column).
    expiry: BinaryHeap<Reverse<(u32, u32)>>,
}

impl ArrayFormulas {
    /// A range found at its anchor, its top-left cell.
    fn add(&mut self, area: Area, formula: String) {
        self.active.insert(area.start.1, (area, formula));
        self.expiry.push(Reverse((area.end.0, area.start.1)));
    }

    /// The formula of the array covering `pos`, if any, for a cell without an `<f>` of its own.
    fn at(&mut self, pos: Pos) -> Option<String> {
        if self.active.is_empty() {
            return None;
        }
        while let Some(&Reverse((end, col))) = self.expiry.peek()
            && end < pos.0
        {
            self.expiry.pop();
            if self.active.get(&col).is_some_and(|(a, _)| a.end.0 == end) {
                self.active.remove(&col);
            }
        }
        let (_, (a, formula)) = self.active.range(..=pos.1).next_back()?;
        (a.start.0 <= pos.0 && pos.0 <= a.end.0 && pos.1 <= a.end.1).then(|| formula.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cellref::parse_area;

    #[test]
    fn array_ranges_cover_their_cells_until_they_end() {
        let mut arrays = ArrayFormulas::default();
        assert_eq!(arrays.at((0, 1)), None);
        arrays.add(parse_area("B2:C3").unwrap(), "=TRIM(X1:X4)".into());
        assert_eq!(arrays.at((1, 2)).as_deref(), Some("=TRIM(X1:X4)"));
        assert_eq!(arrays.at((1, 3)), None);
        arrays.add(parse_area("D2:D3").unwrap(), "=D".into());
        assert_eq!(arrays.at((1, 3)).as_deref(), Some("=D"));
        assert_eq!(arrays.at((2, 1)).as_deref(), Some("=TRIM(X1:X4)"));
        assert_eq!(arrays.at((2, 0)), None);
        arrays.add(parse_area("A5:A6").unwrap(), "=A".into());
        assert_eq!(arrays.at((4, 0)).as_deref(), Some("=A"));
        assert_eq!(arrays.at((4, 1)), None);
        assert_eq!(arrays.at((7, 0)), None);
        assert!(arrays.active.is_empty(), "ended ranges are dropped");
    }
}
