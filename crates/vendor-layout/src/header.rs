//! A vendor file's header and the lookups into it: columns are matched trimmed and ignoring ASCII
//! case (Data Loader writes `ACCOUNTNUMBER`, Bulk API 2.0 `AccountNumber`; `record id` is HubSpot's
//! `Record ID`), and a column a plugin uses must appear once.

use dataport_plugin_sdk::PluginError;

/// How [`VendorHeader::listing`] shows the file's columns in the message about a missing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnListing {
    /// The names exactly as the file spells them, white space included.
    AsWritten,
    /// The names trimmed, and "the file has no header at all" when every name is blank.
    Trimmed,
}

/// The header of a vendor file, as the file spells it.
#[derive(Debug, Clone, Copy)]
pub struct VendorHeader<'a> {
    names: &'a [String],
    listing: ColumnListing,
}

/// The most columns a message lists.
const SHOWN: usize = 20;

impl<'a> VendorHeader<'a> {
    pub fn new(names: &'a [String], listing: ColumnListing) -> VendorHeader<'a> {
        VendorHeader { names, listing }
    }

    /// The header's names as the file spells them.
    pub fn names(&self) -> &'a [String] {
        self.names
    }

    /// The index of the column `name` (both trimmed, ASCII case ignored). A column found twice is
    /// `MalformedFile`: the plugin would have to guess which one is meant.
    pub fn find(&self, name: &str) -> Result<Option<usize>, PluginError> {
        let mut found = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.trim().eq_ignore_ascii_case(name.trim()))
            .map(|(i, _)| i);
        match (found.next(), found.next()) {
            (Some(a), Some(b)) => Err(PluginError::malformed(format!(
                "the column `{name}` appears more than once (columns {} and {}); keep one",
                a + 1,
                b + 1
            ))),
            (first, _) => Ok(first),
        }
    }

    /// The first of `names` (a column and its aliases) the file has; the ones after it are not
    /// looked at.
    pub fn find_any(&self, names: &[&str]) -> Result<Option<usize>, PluginError> {
        for name in names {
            if let Some(i) = self.find(name)? {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Every one of `names` the file has, in the order of `names`.
    pub fn find_all(&self, names: &[&str]) -> Result<Vec<usize>, PluginError> {
        names.iter().filter_map(|n| self.find(n).transpose()).collect()
    }

    /// A column the option `option` names, which the file must have; `what` says what it holds
    /// (`Account key`). Missing, it is `MalformedFile` naming the column, the option and the
    /// file's columns.
    pub fn required(&self, name: &str, option: &str, what: &str) -> Result<usize, PluginError> {
        self.find(name)?.ok_or_else(|| {
            PluginError::malformed(format!(
                "the file has no column `{name}` for the {what} (option `{option}`); {}. Name the \
                 right column with the option `{option}`",
                self.listing()
            ))
        })
    }

    /// The file's spelling of column `i`, trimmed; empty if there is no such column.
    pub fn name(&self, i: usize) -> &'a str {
        self.names.get(i).map_or("", |n| n.trim())
    }

    /// The file's columns for a message: `its columns are: ` and the first 20, then how many more.
    pub fn listing(&self) -> String {
        let trimmed = self.listing == ColumnListing::Trimmed;
        if trimmed && self.names.iter().all(|n| n.trim().is_empty()) {
            return "the file has no header at all".to_owned();
        }
        let mut text = self
            .names
            .iter()
            .take(SHOWN)
            .map(|n| if trimmed { n.trim() } else { n.as_str() })
            .collect::<Vec<_>>()
            .join(", ");
        if self.names.len() > SHOWN {
            text.push_str(&format!(" and {} more", self.names.len() - SHOWN));
        }
        format!("its columns are: {text}")
    }
}

#[cfg(test)]
mod tests {
    use dataport_plugin_sdk::ErrorKind;

    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn columns_match_trimmed_and_ignoring_ascii_case() {
        let n = names(&["ACCOUNTNUMBER", " Name ", "Owner.Name", "État"]);
        let h = VendorHeader::new(&n, ColumnListing::Trimmed);
        assert_eq!(h.find("AccountNumber").unwrap(), Some(0));
        assert_eq!(h.find(" name").unwrap(), Some(1));
        assert_eq!(h.find("owner.name").unwrap(), Some(2));
        assert_eq!(h.find("état").unwrap(), None, "only ASCII case is ignored");
        assert_eq!(h.find("Rating").unwrap(), None);
        assert_eq!(h.name(1), "Name");
        assert_eq!(h.name(9), "");
        assert_eq!(h.names().len(), 4);
    }

    #[test]
    fn a_used_column_must_appear_once() {
        let n = names(&["Id", "Industry", "Name", "industry ", "x", "x"]);
        let h = VendorHeader::new(&n, ColumnListing::AsWritten);
        let e = h.find("Industry").unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedFile);
        assert_eq!(
            e.message,
            "the column `Industry` appears more than once (columns 2 and 4); keep one"
        );
        assert_eq!(h.find_all(&["Name", "Id", "Rating"]).unwrap(), [2, 0]);
        assert!(h.find_all(&["Name", "X"]).is_err());
        // Aliases after the one found are not looked at.
        assert_eq!(h.find_any(&["Missing", "Name", "X"]).unwrap(), Some(2));
        assert_eq!(h.find_any(&["Missing", "Other"]).unwrap(), None);
        assert!(h.find_any(&["X", "Name"]).is_err());
    }

    #[test]
    fn a_missing_required_column_names_the_option_and_the_columns() {
        let n = names(&[" Id ", "Name", "Rating"]);
        let e = VendorHeader::new(&n, ColumnListing::Trimmed)
            .required("AccountNumber", "key_field", "Account key")
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedFile);
        assert_eq!(
            e.message,
            "the file has no column `AccountNumber` for the Account key (option `key_field`); its \
             columns are: Id, Name, Rating. Name the right column with the option `key_field`"
        );
        let h = VendorHeader::new(&n, ColumnListing::AsWritten);
        assert_eq!(h.listing(), "its columns are:  Id , Name, Rating");
        assert_eq!(h.required("id", "key_field", "x").unwrap(), 0);
    }

    #[test]
    fn listings_are_cut_and_blank_headers_said_so() {
        let many: Vec<String> = (1..=23).map(|i| format!("c{i}")).collect();
        let h = VendorHeader::new(&many, ColumnListing::AsWritten);
        assert!(h.listing().ends_with(", c19, c20 and 3 more"), "{}", h.listing());
        let blank = names(&["", " "]);
        assert_eq!(
            VendorHeader::new(&blank, ColumnListing::Trimmed).listing(),
            "the file has no header at all"
        );
        assert_eq!(
            VendorHeader::new(&blank, ColumnListing::AsWritten).listing(),
            "its columns are: ,  "
        );
        assert_eq!(
            VendorHeader::new(&[], ColumnListing::Trimmed).listing(),
            "the file has no header at all"
        );
    }
}
