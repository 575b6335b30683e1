//! Import modes, error policies and job states.

use std::{fmt, str::FromStr};

use crate::CoreError;

macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The lowercase word used in the CLI and in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| CoreError::unknown($what, s, &[$($word),+]))
            }
        }
    };
}

word_enum!(
    /// How imported rows meet existing records (matched by `code`).
    ImportMode, "import mode" {
        /// Create new records; rows whose code exists are skipped (DUPLICATE_KEY).
        Insert => "insert",
        /// Change existing records only; unknown codes are NOT_FOUND.
        Update => "update",
        /// Match by code and overwrite, creating what is missing (the guide's 批量更新).
        Upsert => "upsert",
    }
);

word_enum!(
    /// What a failing row does to the rest of the import.
    OnError, "error policy" {
        /// Import the good rows, report the bad ones.
        SkipRow => "skip_row",
        /// Commit nothing if any row fails.
        AllOrNothing => "all_or_nothing",
    }
);

word_enum!(
    /// What UPDATE and UPSERT do with a blank cell of a record that exists.
    BlankCells, "blank-cells policy" {
        /// Leave the stored value alone (the default, as Data Loader and HubSpot do).
        Keep => "keep",
        /// Write the field empty.
        Clear => "clear",
    }
);

word_enum!(
    /// Lifecycle of an import job.
    JobStatus, "job status" {
        Running => "running",
        /// Every row imported.
        Succeeded => "succeeded",
        /// Finished, but some rows failed and were skipped.
        PartiallySucceeded => "partially_succeeded",
        /// Nothing (more) was imported: a file-level error, ALL_OR_NOTHING with failures, or an internal error.
        Failed => "failed",
        /// Cancelled on purpose by the client; what was committed before is kept (SKIP_ROW).
        Cancelled => "cancelled",
        /// Stopped before the end of its input (server stopped or killed, database lost,
        /// client gone); the report says exactly what was committed.
        Interrupted => "interrupted",
        /// Undone by RevertImport: what it created is deleted, what it overwrote restored
        /// (conflicts aside, which a forced revert can still take back).
        Reverted => "reverted",
    }
);

impl JobStatus {
    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for mode in ImportMode::ALL {
            assert_eq!(mode.as_str().parse::<ImportMode>(), Ok(*mode));
        }
        assert_eq!("ALL_OR_NOTHING".parse::<OnError>(), Ok(OnError::AllOrNothing));
        assert!("merge".parse::<ImportMode>().is_err());
        assert!(JobStatus::Cancelled.is_final() && !JobStatus::Running.is_final());
    }
}
