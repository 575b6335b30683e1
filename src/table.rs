//! Plain-text tables for the CLI, aligned by display width so CJK text lines up.

use std::fmt;

/// A proto enum value as the CLI prints it: `JOB_STATUS_PARTIALLY_SUCCEEDED` with prefix
/// `JOB_STATUS_` is `partially_succeeded`.
pub fn enum_word(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_lowercase()
}

/// A table with a header row.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<const N: usize>(header: [&str; N]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// A table whose columns are only known at run time.
    pub fn with_header(header: Vec<String>) -> Self {
        Table { rows: vec![header] }
    }

    pub fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.rows.push(cells.to_vec());
    }

    pub fn push(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// Terminal columns a string occupies: CJK and other wide characters take two.
fn display_width(text: &str) -> usize {
    text.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6)
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| display_width(c))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let cell = cell.replace(['\n', '\r'], " ");
                line.push_str(&cell);
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(widths[i].saturating_sub(display_width(&cell)) + 2));
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_wide_characters() {
        let mut table = Table::new(["name", "owner"]);
        table.row(["北京科技".to_string(), "张伟".to_string()]);
        table.row(["ACME".to_string(), "Li".to_string()]);
        assert_eq!(
            table.to_string(),
            "name      owner\n北京科技  张伟\nACME      Li\n"
        );
    }
}
