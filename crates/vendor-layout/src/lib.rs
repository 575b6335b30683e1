//! What every vendor layout plugin needs (`plugins/salesforce`, `plugins/hubspot`, and the next
//! one): the value conversions that do not depend on a vendor's tables, the vendor header
//! lookups, the option checks and the row-translation plumbing of a layout reader and writer.
//!
//! A *layout* plugin reads a vendor's export into a module's field keys and writes the module's
//! fields back as the vendor's columns (see `crates/plugin-sdk`, "Layout plugins"). The vendor
//! tables (which column feeds which field, picklist translations) stay in each plugin; what is
//! the same for every vendor lives here, so that the plugins behave alike where their READMEs say
//! they do, and differ only where a parameter says so.
//!
//! This is a plain library with **no plugin entry point**: a plugin crate carries the
//! `#[no_mangle] dataport_plugin_init` symbol, so sharing code through a plugin crate would put two
//! entry points in one library (see `ARCHITECTURE.md`, "the csv and xlsx formats are libraries").
//!
//! | module | what |
//! |---|---|
//! | [`dates`] | ISO-8601 dates and date-times as day counts, [`DateTimeSyntax`] for each vendor's forms; `YYYY-MM-DD` |
//! | [`names`] | CJK-aware person names: [`join_name`] (family name first without a space for CJK), [`split_name`] |
//! | [`address`] | one address text from street lines, city, state, postal code and country ([`Address::join`]) |
//! | [`amounts`] | plain decimal amounts ([`parse_decimal`] with a [`DecimalSyntax`]), [`format_amount`] |
//! | [`cjk`] | [`is_cjk`], [`has_cjk`]: Han, kana and hangul |
//! | [`header`] | [`VendorHeader`]: columns matched trimmed and ignoring ASCII case, used once, required ones |
//! | [`options`] | `module`, UTF-8-only writing, the served formats, options passed to the reader or writer underneath |
//! | [`rows`] | a reader's and a writer's batches translated row by row ([`translate_rows`], [`translate_written_rows`]); a writer's field-key columns ([`FieldColumns`]) and its errors |
//!
//! Nothing here does I/O.
//!
//! ```
//! use dataport_plugin_sdk::days_from_ymd;
//! use dataport_vendor_layout::{Address, DateTimeSyntax, join_name, parse_date, split_name};
//!
//! // Each plugin picks the date-time forms its vendor writes.
//! let iso = DateTimeSyntax { zone_after_space: true, offset_in_range: true };
//! assert_eq!(parse_date("2023-10-01 23:30:00-05:00", iso), days_from_ymd(2023, 10, 1));
//! assert_eq!(parse_date("2023-02-29", iso), None);
//!
//! assert_eq!(join_name("伟", "王").as_deref(), Some("王伟"));
//! assert_eq!(split_name("Mary Ann Smith"), ("Mary Ann".to_owned(), "Smith".to_owned()));
//! let address = Address { street: "海淀区中关村大街1号", city: "北京市", state: "北京市", ..Address::default() };
//! assert_eq!(address.join().as_deref(), Some("北京市海淀区中关村大街1号"));
//! ```
//!
//! `testing/both_paths.rs` (not part of this library) is the plugins' shared test harness, which
//! runs a case on the native plugin and on its loaded shared library; each plugin's integration
//! test includes it with `#[path]`, so no test binary links a second plugin.

pub mod address;
pub mod amounts;
pub mod cjk;
pub mod dates;
pub mod header;
pub mod names;
pub mod options;
pub mod rows;

pub use address::Address;
pub use amounts::{DecimalSyntax, format_amount, parse_decimal};
pub use cjk::{has_cjk, is_cjk};
pub use dates::{DAY_MICROS, DateTimeSyntax, datetime_day, format_date, parse_date};
pub use header::{ColumnListing, VendorHeader};
pub use names::{join_name, split_name};
pub use options::{
    MODULES, ensure_utf8_writing, is_utf8_label, module_option, module_spec, pass_through, reuse_specs,
    served_format, utf8_writing_spec,
};
pub use rows::{
    FieldColumns, cannot_write, field_keys, header_not_written, not_a_date, not_an_amount, translate_rows,
    translate_written_rows,
};
