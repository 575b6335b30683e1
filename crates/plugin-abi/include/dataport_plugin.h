/**
 * @file dataport_plugin.h
 * @brief The dataport format plugin ABI, version 2: the whole contract for plugins written in C.
 *
 * This header is the specification. It mirrors the Rust crate `dataport-plugin-abi`
 * (crates/plugin-abi/src/lib.rs); a test compiles a program against it and compares every size,
 * offset and constant with the Rust side. `docs/plugins.md` is the guide, with a complete
 * streaming example (examples/c/pipe_stream.c) and the checker (`dataport plugin-check`).
 * `dataport plugin-sdk-path` prints the directory holding this file: `cc -I"$(dataport plugin-sdk-path)"`.
 *
 * @section naming Files and discovery
 * A plugin is a shared library named `libdataport_plugin_<name>.so` (`.dylib` on macOS,
 * `dataport_plugin_<name>.dll` on Windows), found in the directories given with
 * `dataport serve --plugin-dir DIR` and next to the dataport executable. It exports exactly one
 * symbol, #DP_ENTRY_SYMBOL, of type #DpPluginInitFn:
 *
 *     DpStatus dataport_plugin_init(uint32_t abi_version, DpPluginVTable *out, DpPluginError *err);
 *
 * Build one with: `cc -shared -fPIC -O2 -I"$(dataport plugin-sdk-path)" -o libdataport_plugin_x.so x.c`
 *
 * @section trust Fully trusted, in-process or in a worker
 * A plugin runs with all of the server's privileges: it can read every file, socket and secret
 * (database passwords, TLS keys) the server can. Loaded in-process (the bundled plugins, or
 * `serve --plugin-isolation in-process`), a crash, an abort or memory corruption in it ends the
 * whole server and every job running in it. Plugins from `--plugin-dir` run by default in a
 * worker process per job (`dataport plugin-worker`), where a crash or a hang fails only that job;
 * the contract is the same either way, except that an isolated reader is never asked for
 * checkpoints (an interrupted import through it is sent again whole). The host's checks (the handshake, descriptor validation)
 * catch mistakes, not malice: load only plugins you would run as the server's own code, from
 * directories only the operator can write. Libraries are never unloaded.
 *
 * @section handshake Handshake
 * The host zero-fills a #DpPluginVTable, sets `out->size` to its own `sizeof(DpPluginVTable)` and
 * calls `dataport_plugin_init(DP_ABI_VERSION, out, err)`:
 *  - If `abi_version` is a version the plugin implements (a v2 plugin should implement 1 and 2,
 *    so that older hosts load it too), it sets `out->abi_version` to that version, copies at most
 *    `out->size` bytes of its vtable into `out`, sets `out->size` to the number of bytes it wrote,
 *    and returns #DP_STATUS_OK. It then follows that version's rules (under v1: no `row`/`flags`
 *    in #DpPluginError, no `locale` option).
 *  - Otherwise it sets `out->abi_version` to its own newest version, writes a message naming both
 *    versions into `err`, writes nothing else into `out`, and returns #DP_STATUS_ABI_MISMATCH.
 *  - A host that speaks v2 asks for v2 first; when a plugin refuses and names v1, it asks again
 *    for v1. So plugins of the first release load unchanged.
 *  - The host refuses a plugin that returns anything else, reports another version than it asked
 *    for, fills fewer bytes than a v1 vtable (up to and including `writer_start_sheet`), or whose
 *    descriptor is broken (no name, no format, a capability whose functions are NULL).
 * `dataport_plugin_init` may be called more than once (the checker does); return the same table.
 *
 * @section versions Versioning
 * #DP_ABI_VERSION changes only for breaking changes. The structs that start with `size`
 * (#DpPluginVTable, #DpPluginDescriptor, #DpSourceCallbacks, #DpSinkCallbacks) are append-only:
 * fields are added at their end without a version change, and the reader of such a struct uses
 * a field only when `size` covers it (a plugin built against an older header simply reports a
 * smaller size). The other structs are fixed for a given version. New status codes and cell tags
 * may be added; the host treats an unknown status as #DP_STATUS_INTERNAL.
 *
 * @section ownership Ownership and lifetime
 *  - #DpStrRef is UTF-8, not NUL-terminated, and borrowed; `ptr` may be NULL only when `len == 0`.
 *  - The descriptor returned by `describe` (and everything it points to) belongs to the plugin and
 *    must stay valid for the life of the process. A `static const` struct is the usual way.
 *  - Batches and headers a reader returns belong to the plugin. The host copies what it needs
 *    and calls their `release` exactly once; `release` frees everything and sets `release` to
 *    NULL. They must stay valid until released, even after later calls on the reader and after
 *    the reader itself is released, and the host may release them in any order.
 *  - Batches and columns the host passes to a writer are the host's, borrowed for the call: copy
 *    what you keep, never release them (their `release` is NULL).
 *  - Options, the `format` string and the callback struct passed to `open_reader`/`open_writer`
 *    are borrowed for that call: copy the callback struct by value. Its `ctx` stays valid until the
 *    instance is released.
 *  - Instances are created by `open_reader`/`open_writer` and destroyed by `reader_release` /
 *    `writer_release`, which the host calls exactly once, also after an error.
 *
 * @section allocators Allocators
 * Memory never changes hands: each side frees only what it allocated. Allocate batches, headers
 * and instances with any allocator (malloc is fine) and free them in your own release functions;
 * never free a pointer the host gave you. The host may use any allocator too.
 *
 * @section errors Errors
 * Every function that can fail takes a #DpPluginError: the host provides `message` and `capacity`
 * (with `len == 0`, and under v2 `row == 0`, `flags == 0`). On failure copy at most `capacity`
 * bytes of UTF-8 into `message`, cutting at a character boundary (never inside a multi-byte
 * sequence), set `len`, and return the status. Keep no pointer to the buffer. Under v2, also set
 * `row` to the source row or line the failure is about: the host reports where reading stopped
 * without the number in the text. Messages are in the `locale` option's language (v2; English
 * without it) and say what is wrong (`unclosed quote`).
 *
 * Which to use:
 *  - A problem confined to one row: a #DpRowError in the batch, and go on. The row is listed in
 *    the job's error report and file; the other rows are imported.
 *  - A problem with one row that you meet only when the call fails (v2): fail with `row` set and
 *    #DP_ERROR_ROW_ONLY in `flags`. The host reports that row and calls reader_next_batch again.
 *  - The file cannot be read further (bad structure, a failed callback): fail the call, with
 *    `row` set to where reading stopped. Return the rows read before it first: hand them out as a
 *    batch (DP_STATUS_OK) and fail on the next call, so that no row you read is lost. The import
 *    then stops; rows of earlier batches stay imported unless the job is all-or-nothing, and the
 *    report says which rows were read and where reading stopped.
 *
 * @section threads Threads
 * One instance serves one job. The host calls an instance's functions one at a time, never
 * concurrently, but possibly from different threads: do not tie an instance to a thread (no
 * thread-local state). Instances of different jobs are used at the same time on different
 * threads, so state shared between instances (globals, caches) must be thread-safe. `init` and
 * `describe` may be called from any thread. Host callbacks may be called only from inside a call
 * the host made into the same instance (from any thread, while that call runs). A plugin may
 * start threads of its own; it must stop them before the release function returns.
 *
 * @section io I/O
 * Plugins never open files or sockets: bytes come in through #DpSourceCallbacks and go out
 * through #DpSinkCallbacks, so the host's size limits hold. When a callback fails it returns
 * #DP_STATUS_IO; stop and return #DP_STATUS_IO (the host reports its own error, not yours).
 */
#ifndef DATAPORT_PLUGIN_H
#define DATAPORT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this header describes (v2 adds DpPluginError.row/flags and `locale`). */
#define DP_ABI_VERSION 2u
/** The oldest ABI version hosts of this header still load. */
#define DP_OLDEST_ABI_VERSION 1u
/** The name of the one symbol a plugin exports. */
#define DP_ENTRY_SYMBOL "dataport_plugin_init"

/** @name Capability bits (DpPluginDescriptor.capabilities) */
/**@{*/
#define DP_CAP_READ 1u       /**< open_reader and the reader_* functions: the format can be imported */
#define DP_CAP_WRITE 2u      /**< open_writer and the writer_* functions: exported, templates, error files */
#define DP_CAP_NEEDS_SEEK 4u /**< readers need seek(); the host then spools the upload to a file first */
#define DP_CAP_SHEETS 8u     /**< writers implement writer_start_sheet (workbooks) */
/** DpPluginDescriptor.options lists every option the plugin takes: the host refuses any other,
 *  and values of the wrong type or outside `choices`, with INVALID_ARGUMENT before a job starts. */
#define DP_CAP_DECLARES_OPTIONS 16u
/**@}*/

/** @name Option types (DpOptionSpec.kind) and uses (DpOptionSpec.uses) */
/**@{*/
#define DP_OPTION_TEXT 0u    /**< any text (an unknown type is treated as text) */
#define DP_OPTION_BOOL 1u    /**< true/false, yes/no, on/off, 1/0, any case */
#define DP_OPTION_INTEGER 2u /**< a whole number, optionally signed */
#define DP_OPTION_CHAR 3u    /**< one character; `tab` and `\t` (backslash, t) also mean a tab */
#define DP_OPTION_READ 1u    /**< the option applies to open_reader */
#define DP_OPTION_WRITE 2u   /**< the option applies to open_writer */
/**@}*/

/** @name Column kinds (DpColumn.kind) and the cells a writer receives for each
 * The host sends DP_CELL_NULL for an empty value in any column. Unknown kinds are treated as
 * DP_COLUMN_GENERAL. */
/**@{*/
#define DP_COLUMN_GENERAL 0u  /**< TEXT cells (names, choices, booleans as the words 是/否); INT in instruction sheets */
#define DP_COLUMN_TEXT 1u     /**< TEXT cells that must stay text: codes and phone numbers (keep leading zeros, no number format) */
#define DP_COLUMN_INTEGER 2u  /**< INT cells */
#define DP_COLUMN_DECIMAL2 3u /**< FLOAT cells holding an exact amount with at most two decimals: write "%.2f", never "%g" */
#define DP_COLUMN_DATE 4u     /**< DATE cells */
#define DP_COLUMN_DATETIME 5u /**< DATETIME cells */
#define DP_COLUMN_BOOL 6u     /**< BOOL cells */
/**@}*/

/** Column flag (DpColumn.flags): the field is required (templates mark it). */
#define DP_COLUMN_REQUIRED 1u

/** @name `whence` for DpSeekFn */
/**@{*/
#define DP_SEEK_SET 0u
#define DP_SEEK_CUR 1u
#define DP_SEEK_END 2u
/**@}*/

/** @name Cell tags (DpCell.tag): which member of DpCellValue is valid */
/**@{*/
#define DP_CELL_NULL 0u     /**< an empty cell; no member */
#define DP_CELL_TEXT 1u     /**< value.text */
#define DP_CELL_INT 2u      /**< value.int_value */
#define DP_CELL_FLOAT 3u    /**< value.float_value */
#define DP_CELL_BOOL 4u     /**< value.bool_value, 0 or 1 */
#define DP_CELL_DATE 5u     /**< value.date_days: days since 1970-01-01 (negative before) */
#define DP_CELL_DATETIME 6u /**< value.datetime_micros: microseconds since 1970-01-01T00:00:00Z */
/** value.text holds the formula text, e.g. "=SUM(A1:A3)". Readers report formulas as such, never
 *  their cached value (the host refuses them with a row error); writers never receive them. */
#define DP_CELL_FORMULA 7u
/**@}*/

/** A function's outcome, and for failures what it means for the job. */
typedef int32_t DpStatus;
/** @name Status codes */
/**@{*/
#define DP_STATUS_OK 0
/** reader_next_batch only: there are no more rows. `*out` is left untouched (not released, not
 *  zeroed); the import completes normally. */
#define DP_STATUS_END_OF_DATA 1
/** open_*: an option is unknown or its value is bad. The job is refused as INVALID_ARGUMENT with
 *  your message; say which option and what is valid. */
#define DP_STATUS_INVALID_OPTION 2
/** The file cannot be read further (bad structure). The import stops with MALFORMED_FILE and your
 *  message; rows of earlier batches stay imported unless the job is all-or-nothing. In a
 *  DpRowError: that row is malformed and the import goes on. */
#define DP_STATUS_MALFORMED_FILE 3
/** As MALFORMED_FILE, for text that is not in the expected character set (ENCODING). */
#define DP_STATUS_ENCODING 4
/** A host callback failed, or (from a callback) the host's side failed. Return it unchanged; the
 *  host reports its own error. */
#define DP_STATUS_IO 5
/** The request cannot be served: a format the plugin does not serve, a second sheet without
 *  DP_CAP_SHEETS, a checkpoint it does not recognise. */
#define DP_STATUS_UNSUPPORTED 6
/** The host passed something the contract forbids (a NULL pointer, max_rows == 0). */
#define DP_STATUS_INVALID_ARGUMENT 7
/** A bug or resource failure in the plugin (out of memory). The job fails as PLUGIN_ERROR and the
 *  host never calls this instance again (it still releases it). */
#define DP_STATUS_INTERNAL 8
/** The plugin caught a panic or exception (the Rust SDK returns it). As INTERNAL; the instance is
 *  poisoned. */
#define DP_STATUS_PANIC 9
/** dataport_plugin_init: the host asked for an ABI version this plugin does not implement. */
#define DP_STATUS_ABI_MISMATCH 10
/** In a DpRowError: a value has no mapping (a vendor picklist value); the row fails and the
 *  import goes on. */
#define DP_STATUS_INVALID_VALUE 11
/**@}*/

/** A borrowed UTF-8 string: not NUL-terminated; `ptr` may be NULL only when `len == 0`. */
typedef struct DpStrRef {
    const uint8_t *ptr; /**< the first byte; owned by whoever made the enclosing struct */
    size_t len;         /**< bytes, not characters */
} DpStrRef;

/** One option given to open_reader/open_writer (`-O key=value`). Keys match
 *  ASCII-case-insensitively; a key given twice means the last value. The host adds `module`
 *  (customers, contacts or opportunities) for plugins whose descriptor lists modules, and under
 *  v2 `locale` (`zh-CN` or `en`, the job's language) for every plugin: accept it whether or not
 *  you declare it, and write messages in that language if you can. */
typedef struct DpKeyValue {
    DpStrRef key;   /**< the option's name, as the user typed it (compare case-insensitively) */
    DpStrRef value; /**< its value, untrimmed */
} DpKeyValue;

/** DpPluginError.flags (v2): the failure concerns only `row`; reading may go on. */
#define DP_ERROR_ROW_ONLY 1u

/** Where a failing call describes what went wrong; see @ref errors. */
typedef struct DpPluginError {
    uint8_t *message; /**< host-owned buffer of `capacity` bytes (may be NULL when capacity is 0) */
    size_t capacity;  /**< bytes the plugin may write into `message` */
    size_t len;       /**< set by the plugin: bytes written, cut at a UTF-8 character boundary */
    /* v2 only: a v1 host's struct ends here, so write these only after a v2 handshake. */
    uint64_t row;   /**< the 1-based source row or line the failure is about; 0 = none */
    uint32_t flags; /**< DP_ERROR_ROW_ONLY or 0 */
} DpPluginError;

/** One option a plugin declares (DpPluginDescriptor.options). The plugin should check its options
 *  by this same list in open_reader/open_writer: the host's check applies to server jobs only,
 *  not to callers that load the plugin some other way. */
typedef struct DpOptionSpec {
    DpStrRef name;          /**< the key, lower case, e.g. "delimiter" */
    uint32_t kind;          /**< DP_OPTION_TEXT, _BOOL, _INTEGER or _CHAR */
    uint32_t uses;          /**< DP_OPTION_READ and/or DP_OPTION_WRITE */
    DpStrRef default_value; /**< the value used when it is not given; empty = none, or depends on the file */
    DpStrRef choices;       /**< allowed values separated by '\n'; empty = any value of `kind` */
    DpStrRef help;          /**< one line of English help, shown by `dataport formats` */
} DpOptionSpec;

/** Who the plugin is and what it serves. Returned by `describe`, read once at load; owned by the
 *  plugin for the life of the process. Append-only: the lists are comma-separated, spaces around
 *  items are ignored. */
typedef struct DpPluginDescriptor {
    size_t size;         /**< sizeof(DpPluginDescriptor) as the plugin was built; at least DP_DESCRIPTOR_V1_SIZE */
    DpStrRef name;       /**< short plugin name, e.g. "pipe" (shown in messages and `dataport formats`) */
    DpStrRef version;    /**< the plugin's own version, e.g. "1.0.0" */
    DpStrRef formats;    /**< format names it serves, lower case, e.g. "pipe"; one plugin per format */
    DpStrRef extensions; /**< file extensions without dots, e.g. "psv,pipe"; pick the format of a file */
    DpStrRef modules;    /**< modules it handles ("customers,contacts,opportunities"); empty = any.
                          *   A plugin that lists modules is a vendor layout: it reads into and writes
                          *   from dataport's field keys and gets the `module` option. */
    uint32_t capabilities; /**< DP_CAP_* bits */
    /* Added after the first release; read only when `size` covers them. */
    const DpOptionSpec *options; /**< the options it takes; NULL when num_options is 0 */
    size_t num_options;
} DpPluginDescriptor;

/** The size of a descriptor from the first release (up to `capabilities`), the least accepted. */
#define DP_DESCRIPTOR_V1_SIZE offsetof(DpPluginDescriptor, options)

/** The value of a DpCell; `tag` says which member is valid. */
typedef union DpCellValue {
    int64_t int_value;       /**< DP_CELL_INT */
    double float_value;      /**< DP_CELL_FLOAT */
    uint8_t bool_value;      /**< DP_CELL_BOOL: 0 or 1 */
    int32_t date_days;       /**< DP_CELL_DATE: days since 1970-01-01 */
    int64_t datetime_micros; /**< DP_CELL_DATETIME: microseconds since 1970-01-01T00:00:00Z */
    DpStrRef text;           /**< DP_CELL_TEXT and DP_CELL_FORMULA; owned by the batch's producer */
} DpCellValue;

/** One typed cell. */
typedef struct DpCell {
    uint32_t tag;      /**< DP_CELL_* */
    DpCellValue value;
} DpCell;

/** One row. */
typedef struct DpRow {
    /** Readers: the 1-based row (or line) number in the source file, the header being row 1 in
     *  most formats; increasing. Error reports and resume points use it. Writers receive 0. */
    uint64_t number;
    const DpCell *cells; /**< one cell per header column, in header order */
    size_t num_cells;
} DpRow;

/** A problem confined to one source row: that row is left out of the batch, reported to the user
 *  with this message, and the import goes on. */
typedef struct DpRowError {
    uint64_t row;  /**< 1-based row number in the source file */
    DpStatus kind; /**< DP_STATUS_MALFORMED_FILE, DP_STATUS_ENCODING or DP_STATUS_INVALID_VALUE */
    DpStrRef message;
} DpRowError;

/** A column a writer is asked to write; borrowed for the writer_write_header call. Plain-text
 *  writers use only `name`; spreadsheet writers may use the rest for cell formats, drop-down lists
 *  and header notes (import templates). */
typedef struct DpColumn {
    DpStrRef name;    /**< header label (or, for vendor layouts, the field key) */
    uint32_t kind;    /**< DP_COLUMN_*: which cells the column's rows carry */
    uint32_t flags;   /**< DP_COLUMN_REQUIRED, ... */
    DpStrRef choices; /**< allowed values separated by '\n' (a drop-down); empty = free input */
    DpStrRef comment; /**< note for the header cell (the fill-in rule); empty = none */
} DpColumn;

typedef struct DpBatch DpBatch;
/** Frees a batch and everything it points to, then sets batch->release to NULL. */
typedef void (*DpReleaseBatchFn)(DpBatch *batch);

/** Rows and row errors. From a reader: the plugin's, freed by `release` (see @ref ownership).
 *  To a writer: the host's, borrowed for the call, with no errors and `release` NULL. */
struct DpBatch {
    const DpRow *rows;        /**< the rows, in file order */
    size_t num_rows;
    const DpRowError *errors; /**< rows left out, each with its reason */
    size_t num_errors;
    DpReleaseBatchFn release; /**< frees the batch; NULL once released, and in batches lent to writers */
    void *private_data;       /**< the producer's own; the host never reads it */
};

typedef struct DpHeader DpHeader;
/** Frees a header and everything it points to, then sets header->release to NULL. */
typedef void (*DpReleaseHeaderFn)(DpHeader *header);

/** The column names of the file, in file order. Owned by the plugin, freed by `release`. */
struct DpHeader {
    const DpStrRef *names;     /**< the column names, `len` of them */
    size_t len;                /**< 0 for an empty file */
    DpReleaseHeaderFn release; /**< frees the header; the host calls it exactly once */
    void *private_data;        /**< the plugin's own; the host never reads it */
};

/** @name Host callbacks
 * Called only from inside a call the host made into the instance; see @ref threads. */
/**@{*/
/** Reads up to `len` bytes into `buf` and stores the count in `*out_read`. Short reads happen at
 *  any size (down to one byte); OK with `*out_read == 0` means end of input. */
typedef DpStatus (*DpReadFn)(void *ctx, uint8_t *buf, size_t len, size_t *out_read);
/** Moves to `offset` relative to `whence` (DP_SEEK_*) and stores the new absolute position. */
typedef DpStatus (*DpSeekFn)(void *ctx, int64_t offset, uint32_t whence, uint64_t *out_pos);
/** Writes all `len` bytes of `buf` (or fails). */
typedef DpStatus (*DpWriteFn)(void *ctx, const uint8_t *buf, size_t len);
/** Flushes what was written. */
typedef DpStatus (*DpFlushFn)(void *ctx);
/**@}*/

/** A reader's input. Borrowed for open_reader: copy it by value. Append-only. */
typedef struct DpSourceCallbacks {
    size_t size; /**< sizeof(DpSourceCallbacks) as the host knows it */
    void *ctx;     /**< pass to every callback; valid until the reader is released */
    DpReadFn read; /**< never NULL */
    DpSeekFn seek; /**< NULL unless the plugin declared DP_CAP_NEEDS_SEEK */
} DpSourceCallbacks;

/** A writer's output. Borrowed for open_writer: copy it by value. Append-only. */
typedef struct DpSinkCallbacks {
    size_t size; /**< sizeof(DpSinkCallbacks) as the host knows it */
    void *ctx;       /**< pass to every callback; valid until the writer is released */
    DpWriteFn write; /**< never NULL */
    DpFlushFn flush; /**< never NULL; writer_finish should call it */
} DpSinkCallbacks;

typedef struct DpReaderHandle DpReaderHandle; /**< opaque, plugin-defined reader instance */
typedef struct DpWriterHandle DpWriterHandle; /**< opaque, plugin-defined writer instance */

typedef struct DpPluginVTable DpPluginVTable;

/** The entry point; see @ref handshake. */
typedef DpStatus (*DpPluginInitFn)(uint32_t abi_version, DpPluginVTable *out, DpPluginError *err);
/** Returns the descriptor: never NULL, valid for the life of the process. */
typedef const DpPluginDescriptor *(*DpDescribeFn)(void);

/** Opens a reader for `format` (one of the descriptor's) over `source` and stores it in `*out`.
 *  Check the options here (DP_STATUS_INVALID_OPTION); reading may start in reader_header. */
typedef DpStatus (*DpOpenReaderFn)(DpStrRef format, const DpKeyValue *options, size_t num_options,
                                   const DpSourceCallbacks *source, DpReaderHandle **out,
                                   DpPluginError *err);
/** Fills `*out` with the column names. Called exactly once, first. */
typedef DpStatus (*DpReaderHeaderFn)(DpReaderHandle *reader, DpHeader *out, DpPluginError *err);
/** Fills `*out` with the next batch and returns OK, or returns DP_STATUS_END_OF_DATA (then `*out`
 *  is untouched). A batch covers at most `max_rows` source rows (`max_rows >= 1`): each row and
 *  each row error counts once. It may hold only errors, but is never empty: at the end return
 *  END_OF_DATA. After END_OF_DATA or a failure the host calls only reader_release. */
typedef DpStatus (*DpReaderNextBatchFn)(DpReaderHandle *reader, size_t max_rows, DpBatch *out,
                                        DpPluginError *err);
/** Destroys a reader; called exactly once, also after errors. Batches it returned stay valid. */
typedef void (*DpReaderReleaseFn)(DpReaderHandle *reader);
/** Opens a writer for `format` over `sink` and stores it in `*out`. */
typedef DpStatus (*DpOpenWriterFn)(DpStrRef format, const DpKeyValue *options, size_t num_options,
                                   const DpSinkCallbacks *sink, DpWriterHandle **out,
                                   DpPluginError *err);
/** Writes the current sheet's header. Called once per sheet, before its rows; every later row
 *  has one cell per column, in this order, typed as the column kinds say. */
typedef DpStatus (*DpWriterWriteHeaderFn)(DpWriterHandle *writer, const DpColumn *columns,
                                          size_t num_columns, DpPluginError *err);
/** Writes the rows of `batch` (the host's, borrowed; row numbers are 0, errors are empty). */
typedef DpStatus (*DpWriterWriteRowsFn)(DpWriterHandle *writer, const DpBatch *batch,
                                        DpPluginError *err);
/** Completes the file and flushes. Called once, after the last rows. */
typedef DpStatus (*DpWriterFinishFn)(DpWriterHandle *writer, DpPluginError *err);
/** Destroys a writer; called exactly once. Without a prior finish the output is discarded. */
typedef void (*DpWriterReleaseFn)(DpWriterHandle *writer);
/** Ends the current sheet and starts one called `name` (a header and rows follow). Only with
 *  DP_CAP_SHEETS. */
typedef DpStatus (*DpWriterStartSheetFn)(DpWriterHandle *writer, DpStrRef name, DpPluginError *err);

/** The reader state buffer's size in a DpCheckpoint. */
#define DP_CHECKPOINT_STATE_CAPACITY 65536u

/** Where a reader stands in its input (optional resume support; see reader_checkpoint). */
typedef struct DpCheckpoint {
    uint64_t offset;       /**< where the rows not yet handed out begin in the input */
    uint64_t next_row;     /**< the number the next row will get */
    uint8_t *state;        /**< host-owned buffer for the plugin's own state; start it with a version byte */
    size_t state_capacity; /**< bytes `state` holds (DP_CHECKPOINT_STATE_CAPACITY) */
    size_t state_len;      /**< set by the plugin (reader_checkpoint); given by the host (reader_resume) */
} DpCheckpoint;

/** After reader_header or an OK reader_next_batch: where the reader stands, so that an interrupted
 *  import continues from `offset` instead of the client sending the file again. Return
 *  DP_STATUS_UNSUPPORTED when it cannot say now (the host then asks for the whole input). */
typedef DpStatus (*DpReaderCheckpointFn)(DpReaderHandle *reader, DpCheckpoint *out, DpPluginError *err);
/** Called right after open_reader, before anything else, on an input that starts at
 *  `checkpoint->offset` of a file read up to that checkpoint: reader_header returns the same
 *  header, and rows continue at `checkpoint->next_row`. Borrowed for the call. State it does not
 *  recognise: DP_STATUS_UNSUPPORTED. */
typedef DpStatus (*DpReaderResumeFn)(DpReaderHandle *reader, const DpCheckpoint *checkpoint,
                                     DpPluginError *err);
/** After reader_header, and again after each batch until it answers: how many rows and row
 *  errors the reader will hand out, counted from the input itself rather than by handing them
 *  out (an xlsx sheet's `<row>` elements with values after the header, not its declared
 *  dimension), so that progress is shown against it. Write it to `*out_rows` and return
 *  DP_STATUS_OK, or return DP_STATUS_UNSUPPORTED while the reader does not know (a csv stream
 *  never does). The host only shows the count and never fails a job on this call;
 *  `dataport plugin-check` checks that it matches what was read. */
typedef DpStatus (*DpReaderRowsTotalFn)(DpReaderHandle *reader, uint64_t *out_rows, DpPluginError *err);

/** The plugin's functions. Append-only. Reader functions may be NULL without DP_CAP_READ, writer
 *  ones without DP_CAP_WRITE. */
struct DpPluginVTable {
    size_t size;          /**< in: the host's sizeof; out: bytes filled. Frozen at offset 0. */
    uint32_t abi_version; /**< out: the plugin's DP_ABI_VERSION. Frozen right after size. */
    DpDescribeFn describe;                     /**< required */
    DpOpenReaderFn open_reader;                /**< with DP_CAP_READ */
    DpReaderHeaderFn reader_header;            /**< with DP_CAP_READ */
    DpReaderNextBatchFn reader_next_batch;     /**< with DP_CAP_READ */
    DpReaderReleaseFn reader_release;          /**< with DP_CAP_READ */
    DpOpenWriterFn open_writer;                /**< with DP_CAP_WRITE */
    DpWriterWriteHeaderFn writer_write_header; /**< with DP_CAP_WRITE */
    DpWriterWriteRowsFn writer_write_rows;     /**< with DP_CAP_WRITE */
    DpWriterFinishFn writer_finish;            /**< with DP_CAP_WRITE */
    DpWriterReleaseFn writer_release;          /**< with DP_CAP_WRITE */
    DpWriterStartSheetFn writer_start_sheet; /**< NULL without DP_CAP_SHEETS; the v1 table ends here */
    DpReaderCheckpointFn reader_checkpoint;  /**< optional; NULL: interrupted inputs are re-sent whole */
    DpReaderResumeFn reader_resume;          /**< optional; with reader_checkpoint */
    DpReaderRowsTotalFn reader_rows_total;   /**< optional; NULL: the row count is unknown */
};

#ifdef __cplusplus
}
#endif

#endif /* DATAPORT_PLUGIN_H */
