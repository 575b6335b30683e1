//! From a stream of positioned cells to a header and batches of rows.
//!
//! Independent of the XML (it reads any [`CellSource`]), so the row rules are tested on their
//! own: the header is row 1 with trailing empty cells dropped; every later row keeps its sheet
//! row number, is laid out by column index and padded to the header's width; empty rows are
//! skipped; a non-empty cell right of the header fails its row; rows must come in ascending order.

use dataport_plugin_sdk::{Cell, ErrorKind, PluginError, RowBatch};

use crate::cellref;
use crate::values;

/// One cell with its zero-based position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawCell {
    pub row: u32,
    pub col: u32,
    pub cell: Cell,
}

/// Cells in sheet order (row by row, each row's cells left to right, mostly).
pub(crate) trait CellSource {
    fn next_cell(&mut self) -> Result<Option<RawCell>, PluginError>;
}

pub(crate) struct Rows<S> {
    source: S,
    /// A cell read ahead: the first of the next row.
    pending: Option<RawCell>,
    /// The header's width, once read.
    width: Option<usize>,
    /// The last row returned (zero-based; the header is row 0).
    last_row: u32,
    /// The sheet has no cell with a value at all (known once the header is read).
    empty: bool,
}

impl<S: CellSource> Rows<S> {
    pub fn new(source: S) -> Rows<S> {
        Rows {
            source,
            pending: None,
            width: None,
            last_row: 0,
            empty: false,
        }
    }

    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    fn next(&mut self) -> Result<Option<RawCell>, PluginError> {
        match self.pending.take() {
            Some(cell) => Ok(Some(cell)),
            None => self.source.next_cell(),
        }
    }

    /// The names in row 1, up to its last non-empty cell. Empty if the sheet has no row 1.
    pub fn header(&mut self) -> Result<Vec<String>, PluginError> {
        if self.width.is_some() {
            return Err(PluginError::new(
                ErrorKind::InvalidArgument,
                "the header has already been read",
            ));
        }
        let mut cells: Vec<Cell> = Vec::new();
        while let Some(c) = self.next()? {
            if c.row != 0 {
                self.pending = Some(c);
                break;
            }
            if c.cell.is_null() {
                continue;
            }
            if c.col >= cellref::MAX_COLS {
                return Err(PluginError::malformed(format!(
                    "header cell {} is beyond Excel's {} columns",
                    cellref::cell_name(c.row, c.col),
                    cellref::MAX_COLS
                )));
            }
            let col = c.col as usize;
            if cells.len() <= col {
                cells.resize(col + 1, Cell::Null);
            }
            cells[col] = c.cell;
        }
        if cells.is_empty() {
            // Row 1 is empty: is the whole sheet? Empty cells (formatted blanks) are skipped
            // here as the batches would skip them; the first cell with a value waits for them.
            loop {
                match self.next()? {
                    None => {
                        self.empty = true;
                        break;
                    }
                    Some(c) if c.cell.is_null() => {}
                    Some(c) => {
                        self.pending = Some(c);
                        break;
                    }
                }
            }
        }
        self.width = Some(cells.len());
        Ok(cells.into_iter().map(values::header_text).collect())
    }

    /// Whether the sheet turned out to hold no value at all (after [`Rows::header`]).
    pub fn is_empty_sheet(&self) -> bool {
        self.empty
    }

    /// The next rows covering at most `max_rows` source rows; `None` at the end.
    pub fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        if self.width.is_none() {
            self.header()?;
        }
        let width = self.width.unwrap_or_default();
        let mut batch = RowBatch::new();
        let mut counted = 0;
        while counted < max_rows.max(1) {
            let Some(first) = self.next()? else { break };
            let row = first.row;
            let mut cells: Vec<Cell> = Vec::new();
            let mut outside = None;
            let mut next = Some(first);
            while let Some(c) = next.take() {
                if c.row != row {
                    self.pending = Some(c);
                    break;
                }
                if !c.cell.is_null() {
                    match usize::try_from(c.col) {
                        Ok(col) if col < width => {
                            if cells.is_empty() {
                                cells = vec![Cell::Null; width];
                            }
                            cells[col] = c.cell;
                        }
                        _ => {
                            outside.get_or_insert(c.col);
                        }
                    }
                }
                next = self.next()?;
            }
            if cells.is_empty() && outside.is_none() {
                continue; // an empty row
            }
            let number = u64::from(row) + 1;
            counted += 1;
            if row <= self.last_row {
                batch.push_error(
                    number,
                    ErrorKind::MalformedFile,
                    format!(
                        "row {number} comes after row {} in the sheet; rows must be in ascending order",
                        u64::from(self.last_row) + 1
                    ),
                );
                continue;
            }
            self.last_row = row;
            match outside {
                Some(col) => batch.push_error(
                    number,
                    ErrorKind::MalformedFile,
                    format!(
                        "cell {} is outside the header's {width} columns",
                        cellref::cell_name(row, col)
                    ),
                ),
                None => batch.push_row(number, cells),
            }
        }
        Ok((!batch.is_empty()).then_some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Cells(std::vec::IntoIter<RawCell>);

    impl CellSource for Cells {
        fn next_cell(&mut self) -> Result<Option<RawCell>, PluginError> {
            Ok(self.0.next())
        }
    }

    fn rows(cells: &[(u32, u32, Cell)]) -> Rows<Cells> {
        let cells: Vec<RawCell> = cells
            .iter()
            .map(|(row, col, cell)| RawCell {
                row: *row,
                col: *col,
                cell: cell.clone(),
            })
            .collect();
        Rows::new(Cells(cells.into_iter()))
    }

    fn t(s: &str) -> Cell {
        Cell::text(s)
    }

    #[test]
    fn layout_gaps_padding_and_empty_rows() {
        let mut r = rows(&[
            (0, 0, t("a")),
            (0, 2, t("c")),
            (0, 3, Cell::Null),
            (1, 1, Cell::Int(1)),
            (2, 0, Cell::Null),
            (4, 2, t("x")),
            (4, 0, t("y")),
            (6, 5, Cell::Null),
        ]);
        assert_eq!(r.header().unwrap(), ["a", "", "c"]);
        let b = r.next_batch(10).unwrap().unwrap();
        assert_eq!(b.errors, []);
        assert_eq!(b.rows.len(), 2);
        assert_eq!(b.rows[0].number, 2);
        assert_eq!(b.rows[0].cells, [Cell::Null, Cell::Int(1), Cell::Null]);
        assert_eq!(b.rows[1].number, 5);
        assert_eq!(b.rows[1].cells, [t("y"), Cell::Null, t("x")]);
        assert_eq!(r.next_batch(10).unwrap(), None);
    }

    #[test]
    fn batches_honour_max_rows_and_count_errors() {
        let mut r = rows(&[
            (0, 0, t("a")),
            (1, 0, t("1")),
            (2, 3, t("far")),
            (3, 0, t("3")),
            (4, 0, t("4")),
        ]);
        assert_eq!(r.header().unwrap(), ["a"]);
        let b = r.next_batch(2).unwrap().unwrap();
        assert_eq!(b.source_rows(), 2);
        assert_eq!(b.rows[0].number, 2);
        assert_eq!(b.errors[0].row, 3);
        assert_eq!(b.errors[0].kind, ErrorKind::MalformedFile);
        assert_eq!(b.errors[0].message, "cell D3 is outside the header's 1 columns");
        let b = r.next_batch(2).unwrap().unwrap();
        assert_eq!(b.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(r.next_batch(2).unwrap(), None);
    }

    #[test]
    fn no_header_row_and_out_of_order_rows() {
        let mut r = rows(&[(2, 0, t("x")), (5, 0, t("y")), (3, 0, t("z"))]);
        assert_eq!(r.header().unwrap(), Vec::<String>::new());
        let b = r.next_batch(10).unwrap().unwrap();
        assert_eq!(b.rows, []);
        assert_eq!(b.errors.len(), 3);
        assert_eq!(b.errors[0].message, "cell A3 is outside the header's 0 columns");
        assert_eq!(b.errors[2].row, 4);
        assert!(
            b.errors[2].message.contains("ascending"),
            "{}",
            b.errors[2].message
        );
    }

    #[test]
    fn an_empty_row_1_and_an_empty_sheet() {
        // Row 1 empty, data below: an empty header, and the rows are still there.
        let mut r = rows(&[(0, 0, Cell::Null), (1, 0, Cell::Null), (2, 0, t("x"))]);
        assert_eq!(r.header().unwrap(), Vec::<String>::new());
        assert!(!r.is_empty_sheet());
        assert_eq!(r.next_batch(10).unwrap().unwrap().errors[0].row, 3);
        // Nothing but formatted blanks, down to the last row.
        let mut r = rows(&[(0, 0, Cell::Null), (1_048_575, 3, Cell::Null)]);
        assert_eq!(r.header().unwrap(), Vec::<String>::new());
        assert!(r.is_empty_sheet());
        assert_eq!(r.next_batch(10).unwrap(), None);
        let mut r = rows(&[(0, 0, t("h"))]);
        r.header().unwrap();
        assert!(!r.is_empty_sheet());
    }

    #[test]
    fn header_read_implicitly_and_only_once() {
        let mut r = rows(&[(0, 0, t("h")), (1, 0, t("v"))]);
        let b = r.next_batch(1).unwrap().unwrap();
        assert_eq!(b.rows[0].cells, [t("v")]);
        assert_eq!(r.header().unwrap_err().kind, ErrorKind::InvalidArgument);
        let mut r = rows(&[(0, 20_000, t("h"))]);
        assert_eq!(r.header().unwrap_err().kind, ErrorKind::MalformedFile);
    }
}
