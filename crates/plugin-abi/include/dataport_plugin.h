/*
 * dataport plugin ABI, version 1 -- for plugins written in C.
 *
 * This header mirrors the Rust crate `dataport-plugin-abi` (crates/plugin-abi/src/lib.rs); a test
 * compiles a program against it and compares every size, offset and constant with the Rust side.
 * The crate docs are the reference for the rules summarised here.
 *
 * A plugin is a shared library named libdataport_plugin_<name>.so (.dylib; dataport_plugin_<name>.dll
 * on Windows) that exports one function:
 *
 *     DpStatus dataport_plugin_init(uint32_t abi_version, DpPluginVTable *out, DpPluginError *err);
 *
 * Handshake: the host zero-fills `*out`, sets out->size to its sizeof(DpPluginVTable) and passes
 * the ABI version it speaks. The plugin always sets out->abi_version to DP_ABI_VERSION. If
 * abi_version != DP_ABI_VERSION it writes a message naming both versions into `err` and returns
 * DP_STATUS_ABI_MISMATCH. Otherwise it copies at most out->size bytes of its vtable into `out`, sets
 * out->size to the number of bytes it wrote and returns DP_STATUS_OK. The host refuses a plugin
 * that returns anything else, reports another version, or fills fewer than sizeof(DpPluginVTable)
 * bytes of a v1 table.
 *
 * Versioning: DP_ABI_VERSION changes only for breaking changes. Structs starting with `size`
 * (DpPluginVTable, DpPluginDescriptor, DpSourceCallbacks, DpSinkCallbacks) are append-only; read a
 * field only if `size` covers it. The other structs are fixed for a given version.
 *
 * Ownership:
 *  - DpStrRef is UTF-8, not NUL-terminated, borrowed; ptr may be NULL only when len == 0.
 *  - The descriptor returned by describe() is the plugin's and must live as long as the library
 *    (libraries are never unloaded).
 *  - Batches and headers a reader returns are the plugin's. The host calls their `release`
 *    exactly once; release frees everything and sets `release` to NULL. They must stay valid until
 *    released, even after the reader is released.
 *  - Batches and columns the host passes to a writer are borrowed for the call; do not release them.
 *  - Error messages: the host provides err->message/err->capacity (err->len = 0). On failure copy
 *    at most `capacity` bytes of UTF-8 into `message` and set `len`. Keep no pointer to it.
 *  - Options, the format string and the callback struct are borrowed for the open call; copy the
 *    callback struct by value. Its ctx stays valid until the instance is released.
 *  - Instances are destroyed by reader_release / writer_release, called exactly once.
 *
 * Threading: calls on one instance are sequential but may come from different threads.
 * I/O: plugins never open files; they read and write through the host callbacks. A callback that
 * fails returns DP_STATUS_IO; stop and return DP_STATUS_IO (the host reports its own error).
 */
#ifndef DATAPORT_PLUGIN_H
#define DATAPORT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DP_ABI_VERSION 1u
#define DP_ENTRY_SYMBOL "dataport_plugin_init"

/* Capability bits (DpPluginDescriptor.capabilities). */
#define DP_CAP_READ 1u
#define DP_CAP_WRITE 2u
#define DP_CAP_NEEDS_SEEK 4u /* readers need seek(); the host then spools input to a file */
#define DP_CAP_SHEETS 8u     /* writers implement writer_start_sheet */

/* Column kinds (DpColumn.kind); unknown kinds are treated as DP_COLUMN_GENERAL. */
#define DP_COLUMN_GENERAL 0u
#define DP_COLUMN_TEXT 1u     /* keep as text: codes, phone numbers */
#define DP_COLUMN_INTEGER 2u
#define DP_COLUMN_DECIMAL2 3u /* money: exactly two decimal places */
#define DP_COLUMN_DATE 4u
#define DP_COLUMN_DATETIME 5u
#define DP_COLUMN_BOOL 6u

/* Column flags (DpColumn.flags). */
#define DP_COLUMN_REQUIRED 1u

/* `whence` for DpSeekFn. */
#define DP_SEEK_SET 0u
#define DP_SEEK_CUR 1u
#define DP_SEEK_END 2u

/* Cell tags (DpCell.tag). */
#define DP_CELL_NULL 0u
#define DP_CELL_TEXT 1u     /* value.text */
#define DP_CELL_INT 2u      /* value.int_value */
#define DP_CELL_FLOAT 3u    /* value.float_value */
#define DP_CELL_BOOL 4u     /* value.bool_value, 0 or 1 */
#define DP_CELL_DATE 5u     /* value.date_days: days since 1970-01-01 */
#define DP_CELL_DATETIME 6u /* value.datetime_micros: microseconds since 1970-01-01T00:00:00Z */
#define DP_CELL_FORMULA 7u  /* value.text holds the formula text, e.g. "=SUM(A1:A3)" */

/* Status codes. Unknown codes are treated as DP_STATUS_INTERNAL by the host. */
typedef int32_t DpStatus;
#define DP_STATUS_OK 0
#define DP_STATUS_END_OF_DATA 1    /* next_batch: no more rows, *out untouched */
#define DP_STATUS_INVALID_OPTION 2
#define DP_STATUS_MALFORMED_FILE 3
#define DP_STATUS_ENCODING 4
#define DP_STATUS_IO 5
#define DP_STATUS_UNSUPPORTED 6
#define DP_STATUS_INVALID_ARGUMENT 7
#define DP_STATUS_INTERNAL 8       /* instance must not be used again */
#define DP_STATUS_PANIC 9          /* instance is poisoned */
#define DP_STATUS_ABI_MISMATCH 10
#define DP_STATUS_INVALID_VALUE 11 /* row error: a value with no mapping (vendor picklists) */

typedef struct DpStrRef {
    const uint8_t *ptr;
    size_t len;
} DpStrRef;

typedef struct DpKeyValue {
    DpStrRef key;
    DpStrRef value;
} DpKeyValue;

typedef struct DpPluginError {
    uint8_t *message; /* host-owned buffer */
    size_t capacity;
    size_t len; /* set by the plugin */
} DpPluginError;

typedef struct DpPluginDescriptor {
    size_t size; /* sizeof(DpPluginDescriptor) */
    DpStrRef name;
    DpStrRef version;
    DpStrRef formats;    /* comma-separated, e.g. "csv" */
    DpStrRef extensions; /* comma-separated, without dots, e.g. "csv,txt" */
    DpStrRef modules;    /* comma-separated, empty = any module */
    uint32_t capabilities;
} DpPluginDescriptor;

typedef union DpCellValue {
    int64_t int_value;
    double float_value;
    uint8_t bool_value;
    int32_t date_days;
    int64_t datetime_micros;
    DpStrRef text;
} DpCellValue;

typedef struct DpCell {
    uint32_t tag;
    DpCellValue value;
} DpCell;

typedef struct DpRow {
    uint64_t number; /* 1-based row number in the source file */
    const DpCell *cells;
    size_t num_cells;
} DpRow;

typedef struct DpRowError {
    uint64_t row;  /* 1-based row number in the source file */
    DpStatus kind; /* DP_STATUS_MALFORMED_FILE, DP_STATUS_ENCODING or DP_STATUS_INVALID_VALUE */
    DpStrRef message;
} DpRowError;

/* A column a writer is asked to write. Borrowed for the write_header call. */
typedef struct DpColumn {
    DpStrRef name;    /* header label */
    uint32_t kind;    /* DP_COLUMN_* */
    uint32_t flags;   /* DP_COLUMN_REQUIRED, ... */
    DpStrRef choices; /* allowed values separated by '\n' (drop-down); empty = free input */
    DpStrRef comment; /* note on the header cell; empty = none */
} DpColumn;

typedef struct DpBatch DpBatch;
typedef void (*DpReleaseBatchFn)(DpBatch *batch);

struct DpBatch {
    const DpRow *rows;
    size_t num_rows;
    const DpRowError *errors;
    size_t num_errors;
    DpReleaseBatchFn release; /* NULL once released, and in batches lent to writers */
    void *private_data;
};

typedef struct DpHeader DpHeader;
typedef void (*DpReleaseHeaderFn)(DpHeader *header);

struct DpHeader {
    const DpStrRef *names;
    size_t len;
    DpReleaseHeaderFn release;
    void *private_data;
};

/* Host callbacks. read: OK with *out_read == 0 means end of input; short reads are allowed. */
typedef DpStatus (*DpReadFn)(void *ctx, uint8_t *buf, size_t len, size_t *out_read);
typedef DpStatus (*DpSeekFn)(void *ctx, int64_t offset, uint32_t whence, uint64_t *out_pos);
typedef DpStatus (*DpWriteFn)(void *ctx, const uint8_t *buf, size_t len); /* writes all bytes */
typedef DpStatus (*DpFlushFn)(void *ctx);

typedef struct DpSourceCallbacks {
    size_t size;
    void *ctx;
    DpReadFn read;
    DpSeekFn seek; /* NULL unless the plugin declared DP_CAP_NEEDS_SEEK */
} DpSourceCallbacks;

typedef struct DpSinkCallbacks {
    size_t size;
    void *ctx;
    DpWriteFn write;
    DpFlushFn flush;
} DpSinkCallbacks;

typedef struct DpReaderHandle DpReaderHandle; /* opaque, plugin-defined */
typedef struct DpWriterHandle DpWriterHandle; /* opaque, plugin-defined */

typedef struct DpPluginVTable DpPluginVTable;

typedef DpStatus (*DpPluginInitFn)(uint32_t abi_version, DpPluginVTable *out, DpPluginError *err);
typedef const DpPluginDescriptor *(*DpDescribeFn)(void);
typedef DpStatus (*DpOpenReaderFn)(DpStrRef format, const DpKeyValue *options, size_t num_options,
                                   const DpSourceCallbacks *source, DpReaderHandle **out,
                                   DpPluginError *err);
typedef DpStatus (*DpReaderHeaderFn)(DpReaderHandle *reader, DpHeader *out, DpPluginError *err);
typedef DpStatus (*DpReaderNextBatchFn)(DpReaderHandle *reader, size_t max_rows, DpBatch *out,
                                        DpPluginError *err);
typedef void (*DpReaderReleaseFn)(DpReaderHandle *reader);
typedef DpStatus (*DpOpenWriterFn)(DpStrRef format, const DpKeyValue *options, size_t num_options,
                                   const DpSinkCallbacks *sink, DpWriterHandle **out,
                                   DpPluginError *err);
typedef DpStatus (*DpWriterWriteHeaderFn)(DpWriterHandle *writer, const DpColumn *columns,
                                          size_t num_columns, DpPluginError *err);
typedef DpStatus (*DpWriterWriteRowsFn)(DpWriterHandle *writer, const DpBatch *batch,
                                        DpPluginError *err);
typedef DpStatus (*DpWriterFinishFn)(DpWriterHandle *writer, DpPluginError *err);
typedef void (*DpWriterReleaseFn)(DpWriterHandle *writer);
typedef DpStatus (*DpWriterStartSheetFn)(DpWriterHandle *writer, DpStrRef name, DpPluginError *err);

/* Resuming an interrupted import from a byte offset (optional; see reader_checkpoint). */
#define DP_CHECKPOINT_STATE_CAPACITY 65536u

typedef struct DpCheckpoint {
    uint64_t offset;   /* where the rows not yet handed out begin in the input */
    uint64_t next_row; /* the number the next row will get */
    uint8_t *state;    /* host-owned buffer for the plugin's own state; start it with a version byte */
    size_t state_capacity;
    size_t state_len; /* set by the plugin */
} DpCheckpoint;

/* After reader_header or an OK reader_next_batch: where the reader stands. DP_STATUS_UNSUPPORTED
 * when it cannot say now (the host then asks for the whole input again). */
typedef DpStatus (*DpReaderCheckpointFn)(DpReaderHandle *reader, DpCheckpoint *out, DpPluginError *err);
/* Right after open_reader, before anything else, on an input that starts at checkpoint->offset of
 * a file read up to that checkpoint: reader_header returns the same header, and rows continue at
 * checkpoint->next_row. Borrowed for the call. Unknown state: DP_STATUS_UNSUPPORTED. */
typedef DpStatus (*DpReaderResumeFn)(DpReaderHandle *reader, const DpCheckpoint *checkpoint,
                                     DpPluginError *err);

/* Append-only. Reader functions may be NULL without DP_CAP_READ, writer ones without DP_CAP_WRITE. */
struct DpPluginVTable {
    size_t size;          /* in: host's sizeof; out: bytes filled. Frozen at offset 0. */
    uint32_t abi_version; /* out: the plugin's DP_ABI_VERSION. Frozen right after size. */
    DpDescribeFn describe;
    DpOpenReaderFn open_reader;
    DpReaderHeaderFn reader_header;
    DpReaderNextBatchFn reader_next_batch;
    DpReaderReleaseFn reader_release;
    DpOpenWriterFn open_writer;
    DpWriterWriteHeaderFn writer_write_header;
    DpWriterWriteRowsFn writer_write_rows;
    DpWriterFinishFn writer_finish;
    DpWriterReleaseFn writer_release;
    DpWriterStartSheetFn writer_start_sheet; /* NULL without DP_CAP_SHEETS */
    DpReaderCheckpointFn reader_checkpoint;  /* optional; NULL: inputs are re-sent whole */
    DpReaderResumeFn reader_resume;          /* optional; with reader_checkpoint */
};

#ifdef __cplusplus
}
#endif

#endif /* DATAPORT_PLUGIN_H */
