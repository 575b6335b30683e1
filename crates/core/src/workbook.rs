//! What an import job reads: one module's file, or a workbook with a sheet per module
//! (`--module all`), and how the rows of such a workbook are numbered in one job.

use std::fmt;
use std::str::FromStr;

use crate::CoreError;
use crate::module::Module;

/// The modules one import job fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModuleScope {
    /// One module from one file (or one sheet of it).
    One(Module),
    /// A workbook with a sheet per module, imported in [`Module::ALL`] order (customers first,
    /// so contacts and opportunities may name customers of the same file).
    Workbook,
}

impl ModuleScope {
    /// The stable name stored with a job: the module's key, or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleScope::One(module) => module.as_str(),
            ModuleScope::Workbook => "all",
        }
    }

    /// The modules in the order the job imports them.
    pub fn modules(self) -> &'static [Module] {
        match self {
            ModuleScope::One(Module::Customers) => &[Module::Customers],
            ModuleScope::One(Module::Contacts) => &[Module::Contacts],
            ModuleScope::One(Module::Opportunities) => &[Module::Opportunities],
            ModuleScope::Workbook => &Module::ALL,
        }
    }

    /// The one module, unless this is a workbook.
    pub fn single(self) -> Option<Module> {
        match self {
            ModuleScope::One(module) => Some(module),
            ModuleScope::Workbook => None,
        }
    }

    pub fn is_workbook(self) -> bool {
        self == ModuleScope::Workbook
    }

    /// The place of `module` among the job's sheets (0 for a one-module job).
    pub fn sheet_index(self, module: Module) -> usize {
        self.modules().iter().position(|m| *m == module).unwrap_or(0)
    }

    /// A row of the job as one number that orders every row of every sheet: watermarks and
    /// persisted row errors use it. The sheet's place times 2^40 plus its spreadsheet row, so
    /// a one-module job's rows are their spreadsheet rows.
    pub fn job_row(self, module: Module, row: u64) -> u64 {
        ((self.sheet_index(module) as u64) << SHEET_SHIFT) | (row & ROW_MASK)
    }

    /// The module and spreadsheet row of a [`ModuleScope::job_row`].
    pub fn sheet_row(self, job_row: u64) -> (Module, u64) {
        let modules = self.modules();
        let sheet = usize::try_from(job_row >> SHEET_SHIFT).unwrap_or(usize::MAX);
        let module = modules.get(sheet).copied().unwrap_or(modules[0]);
        (module, job_row & ROW_MASK)
    }
}

/// Bits of a job row that hold the spreadsheet row (2^40: far beyond any sheet's 1,048,576).
const SHEET_SHIFT: u32 = 40;
const ROW_MASK: u64 = (1 << SHEET_SHIFT) - 1;

/// The largest spreadsheet row a job row can hold.
pub const MAX_SHEET_ROW: u64 = ROW_MASK;

impl fmt::Display for ModuleScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModuleScope {
    type Err = CoreError;
    /// `all` (or 全部) for a workbook, otherwise a module as [`Module::from_str`] reads it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") || s == "全部" {
            return Ok(ModuleScope::Workbook);
        }
        s.parse::<Module>()
            .map(ModuleScope::One)
            .map_err(|_| CoreError::unknown("module", s, &["customers", "contacts", "opportunities", "all"]))
    }
}

/// The sheet names that hold `module` in a workbook import, the first as templates and error
/// files name it: 客户 / Customers / customers, and so on.
pub fn sheet_names(module: Module) -> [&'static str; 3] {
    [module.label_zh(), module.label_en(), module.as_str()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_module_jobs_rows_are_its_spreadsheet_rows() {
        let scope = ModuleScope::One(Module::Contacts);
        assert_eq!(scope.job_row(Module::Contacts, 17), 17);
        assert_eq!(scope.sheet_row(17), (Module::Contacts, 17));
    }

    #[test]
    fn workbook_rows_order_sheet_by_sheet() {
        let scope = ModuleScope::Workbook;
        let last_customer = scope.job_row(Module::Customers, 1_048_576);
        let first_contact = scope.job_row(Module::Contacts, 1);
        let opportunity = scope.job_row(Module::Opportunities, 2);
        assert!(last_customer < first_contact && first_contact < opportunity);
        assert_eq!(scope.sheet_row(first_contact), (Module::Contacts, 1));
        assert_eq!(scope.sheet_row(opportunity), (Module::Opportunities, 2));
        assert_eq!(scope.sheet_row(last_customer), (Module::Customers, 1_048_576));
    }

    #[test]
    fn scopes_parse_and_print() {
        assert_eq!("all".parse::<ModuleScope>(), Ok(ModuleScope::Workbook));
        assert_eq!(
            "客户".parse::<ModuleScope>(),
            Ok(ModuleScope::One(Module::Customers))
        );
        assert_eq!(ModuleScope::Workbook.to_string(), "all");
        assert!("leads".parse::<ModuleScope>().is_err());
        assert_eq!(
            sheet_names(Module::Opportunities),
            ["商机", "Opportunities", "opportunities"]
        );
    }
}
