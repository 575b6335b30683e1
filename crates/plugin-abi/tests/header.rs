//! Keeps `include/dataport_plugin.h` in sync with the Rust definitions: a C program compiled
//! against the header prints the size, alignment and field offsets of every struct and the value
//! of every constant, and each must equal what Rust says.

use std::mem::{align_of, offset_of, size_of};
use std::path::Path;
use std::process::Command;

use dataport_plugin_abi::*;

/// One C expression and the value Rust expects it to have.
struct Check {
    c_expr: String,
    expected: i128,
}

fn size_of_pointee<F>(_: *const F) -> usize {
    size_of::<F>()
}

/// Adds size, alignment and every field's offset and size of a struct (field names are the same
/// in C). Field sizes matter too: a narrower field can hide in padding without moving any offset.
macro_rules! layout {
    ($checks:ident, $rust:ty, $c:literal, [$($field:ident),* $(,)?]) => {
        $checks.push(Check { c_expr: format!("sizeof({})", $c), expected: size_of::<$rust>() as i128 });
        $checks.push(Check { c_expr: format!("_Alignof({})", $c), expected: align_of::<$rust>() as i128 });
        $(
            $checks.push(Check {
                c_expr: format!("offsetof({}, {})", $c, stringify!($field)),
                expected: offset_of!($rust, $field) as i128,
            });
            let value = std::mem::MaybeUninit::<$rust>::uninit();
            let ptr = value.as_ptr();
            // SAFETY: only computes the address of a field of a (uninitialised) local; nothing is read.
            let field_size = size_of_pointee(unsafe { &raw const (*ptr).$field });
            $checks.push(Check {
                c_expr: format!("sizeof((({} *)0)->{})", $c, stringify!($field)),
                expected: field_size as i128,
            });
        )*
    };
}

/// Adds constants: the C macro name and the Rust value.
macro_rules! constants {
    ($checks:ident, [$($c:literal = $rust:expr),* $(,)?]) => {
        $( $checks.push(Check { c_expr: $c.to_string(), expected: ($rust) as i128 }); )*
    };
}

fn all_checks() -> Vec<Check> {
    let mut checks = Vec::new();
    layout!(checks, StrRef, "DpStrRef", [ptr, len]);
    layout!(checks, KeyValue, "DpKeyValue", [key, value]);
    layout!(
        checks,
        PluginError,
        "DpPluginError",
        [message, capacity, len, row, flags]
    );
    layout!(
        checks,
        PluginDescriptor,
        "DpPluginDescriptor",
        [
            size,
            name,
            version,
            formats,
            extensions,
            modules,
            capabilities,
            options,
            num_options
        ]
    );
    layout!(
        checks,
        OptionSpec,
        "DpOptionSpec",
        [name, kind, uses, default_value, choices, help]
    );
    layout!(
        checks,
        CellValue,
        "DpCellValue",
        [
            int_value,
            float_value,
            bool_value,
            date_days,
            datetime_micros,
            text
        ]
    );
    layout!(checks, Cell, "DpCell", [tag, value]);
    layout!(checks, Row, "DpRow", [number, cells, num_cells]);
    layout!(checks, RowError, "DpRowError", [row, kind, message]);
    layout!(
        checks,
        Batch,
        "DpBatch",
        [rows, num_rows, errors, num_errors, release, private_data]
    );
    layout!(checks, Header, "DpHeader", [names, len, release, private_data]);
    layout!(checks, Column, "DpColumn", [name, kind, flags, choices, comment]);
    layout!(
        checks,
        SourceCallbacks,
        "DpSourceCallbacks",
        [size, ctx, read, seek]
    );
    layout!(
        checks,
        SinkCallbacks,
        "DpSinkCallbacks",
        [size, ctx, write, flush]
    );
    layout!(
        checks,
        PluginVTable,
        "DpPluginVTable",
        [
            size,
            abi_version,
            describe,
            open_reader,
            reader_header,
            reader_next_batch,
            reader_release,
            open_writer,
            writer_write_header,
            writer_write_rows,
            writer_finish,
            writer_release,
            writer_start_sheet,
            reader_checkpoint,
            reader_resume,
            reader_rows_total,
        ]
    );
    layout!(
        checks,
        Checkpoint,
        "DpCheckpoint",
        [offset, next_row, state, state_capacity, state_len]
    );
    layout!(checks, Status, "DpStatus", []);
    constants!(
        checks,
        [
            "DP_ABI_VERSION" = ABI_VERSION,
            "DP_OLDEST_ABI_VERSION" = OLDEST_ABI_VERSION,
            "DP_ERROR_ROW_ONLY" = ERROR_ROW_ONLY,
            "DP_CAP_READ" = CAP_READ,
            "DP_CAP_WRITE" = CAP_WRITE,
            "DP_CAP_NEEDS_SEEK" = CAP_NEEDS_SEEK,
            "DP_CAP_SHEETS" = CAP_SHEETS,
            "DP_CAP_DECLARES_OPTIONS" = CAP_DECLARES_OPTIONS,
            "DP_OPTION_TEXT" = OPTION_TEXT,
            "DP_OPTION_BOOL" = OPTION_BOOL,
            "DP_OPTION_INTEGER" = OPTION_INTEGER,
            "DP_OPTION_CHAR" = OPTION_CHAR,
            "DP_OPTION_READ" = OPTION_READ,
            "DP_OPTION_WRITE" = OPTION_WRITE,
            "DP_DESCRIPTOR_V1_SIZE" = PluginDescriptor::V1_SIZE,
            "DP_COLUMN_GENERAL" = COLUMN_GENERAL,
            "DP_COLUMN_TEXT" = COLUMN_TEXT,
            "DP_COLUMN_INTEGER" = COLUMN_INTEGER,
            "DP_COLUMN_DECIMAL2" = COLUMN_DECIMAL2,
            "DP_COLUMN_DATE" = COLUMN_DATE,
            "DP_COLUMN_DATETIME" = COLUMN_DATETIME,
            "DP_COLUMN_BOOL" = COLUMN_BOOL,
            "DP_COLUMN_REQUIRED" = COLUMN_REQUIRED,
            "DP_CHECKPOINT_STATE_CAPACITY" = CHECKPOINT_STATE_CAPACITY,
            "DP_SEEK_SET" = SEEK_SET,
            "DP_SEEK_CUR" = SEEK_CUR,
            "DP_SEEK_END" = SEEK_END,
            "DP_CELL_NULL" = CELL_NULL,
            "DP_CELL_TEXT" = CELL_TEXT,
            "DP_CELL_INT" = CELL_INT,
            "DP_CELL_FLOAT" = CELL_FLOAT,
            "DP_CELL_BOOL" = CELL_BOOL,
            "DP_CELL_DATE" = CELL_DATE,
            "DP_CELL_DATETIME" = CELL_DATETIME,
            "DP_CELL_FORMULA" = CELL_FORMULA,
            "DP_STATUS_OK" = Status::OK.0,
            "DP_STATUS_END_OF_DATA" = Status::END_OF_DATA.0,
            "DP_STATUS_INVALID_OPTION" = Status::INVALID_OPTION.0,
            "DP_STATUS_MALFORMED_FILE" = Status::MALFORMED_FILE.0,
            "DP_STATUS_ENCODING" = Status::ENCODING.0,
            "DP_STATUS_IO" = Status::IO.0,
            "DP_STATUS_UNSUPPORTED" = Status::UNSUPPORTED.0,
            "DP_STATUS_INVALID_ARGUMENT" = Status::INVALID_ARGUMENT.0,
            "DP_STATUS_INTERNAL" = Status::INTERNAL.0,
            "DP_STATUS_PANIC" = Status::PANIC.0,
            "DP_STATUS_ABI_MISMATCH" = Status::ABI_MISMATCH.0,
            "DP_STATUS_INVALID_VALUE" = Status::INVALID_VALUE.0,
            // Both the name and its length: a typo in either side's symbol name shows here.
            "sizeof(DP_ENTRY_SYMBOL)" = ENTRY_SYMBOL.len(),
        ]
    );
    checks
}

#[test]
fn c_header_matches_rust_layout_and_constants() {
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let dir = tempfile::tempdir().expect("temp dir");
    let checks = all_checks();

    let mut program = String::from(
        "#include <stdio.h>\n#include <string.h>\n#include \"dataport_plugin.h\"\n\n\
         /* The entry point must have exactly the documented type. */\n\
         DpStatus dataport_plugin_init(uint32_t abi_version, DpPluginVTable *out, DpPluginError *err);\n\
         static DpPluginInitFn entry_type_check = dataport_plugin_init;\n\
         DpStatus dataport_plugin_init(uint32_t v, DpPluginVTable *o, DpPluginError *e) \
         { (void)v; (void)o; (void)e; return DP_STATUS_OK; }\n\n\
         int main(void) {\n    (void)entry_type_check;\n",
    );
    program.push_str(&format!(
        "    printf(\"%d\\n\", strcmp(DP_ENTRY_SYMBOL, \"{}\") == 0);\n",
        ENTRY_SYMBOL_NAME
    ));
    for check in &checks {
        program.push_str(&format!(
            "    printf(\"%lld\\n\", (long long)({}));\n",
            check.c_expr
        ));
    }
    program.push_str("    return 0;\n}\n");

    let source = dir.path().join("layout.c");
    let binary = dir.path().join("layout");
    std::fs::write(&source, &program).expect("write C program");
    let compiled = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(&include)
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("the system C compiler `cc` must be installed");
    assert!(
        compiled.status.success(),
        "cc failed:\n{}\nprogram:\n{program}",
        String::from_utf8_lossy(&compiled.stderr)
    );

    let run = Command::new(&binary).output().expect("run the layout program");
    assert!(run.status.success());
    let stdout = String::from_utf8(run.stdout).expect("utf-8 output");
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("1"),
        "DP_ENTRY_SYMBOL differs from {ENTRY_SYMBOL_NAME}"
    );

    let mut mismatches = Vec::new();
    for check in &checks {
        let found = lines.next().and_then(|l| l.parse::<i128>().ok());
        if found != Some(check.expected) {
            mismatches.push(format!(
                "{}: C says {found:?}, Rust says {}",
                check.c_expr, check.expected
            ));
        }
    }
    assert_eq!(lines.next(), None, "the program printed more lines than expected");
    assert!(
        mismatches.is_empty(),
        "header out of sync:\n{}",
        mismatches.join("\n")
    );
    // Guard against the check list itself being emptied by accident.
    assert!(checks.len() > 120, "only {} checks", checks.len());
}
