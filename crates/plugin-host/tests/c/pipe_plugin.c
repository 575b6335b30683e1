/*
 * A small dataport format plugin written in C against include/dataport_plugin.h: it reads
 * '|'-separated text whose first line is the header. The host tests compile it with the system C
 * compiler and load it like any plugin.
 *
 * Build-time knobs, so one source gives the test variants:
 *   PIPE_ABI_VERSION  the ABI version the plugin claims (default 1: it is a first-release plugin)
 *   PIPE_NAME         the plugin name (default "pipe"); the format is always "pipe"
 *   PIPE_NO_HANDLE    open_reader reports success but hands out no reader (a plugin bug)
 */
#include <stdlib.h>
#include <string.h>

#include "dataport_plugin.h"

#ifndef PIPE_ABI_VERSION
#define PIPE_ABI_VERSION 1u /* a plugin of the first release */
#endif
#ifndef PIPE_NAME
#define PIPE_NAME "pipe"
#endif

static DpStrRef str_ref(const char *s) {
    DpStrRef r = {(const uint8_t *)s, strlen(s)};
    return r;
}

static void set_error(DpPluginError *err, const char *message) {
    if (err == NULL || err->message == NULL) return;
    size_t n = strlen(message);
    if (n > err->capacity) n = err->capacity;
    memcpy(err->message, message, n);
    err->len = n;
}

/* Described as a plugin of the first release would be: its size ends at `capabilities`, so the
 * host must not read the fields after it (set to garbage here to prove it). */
static const DpPluginDescriptor DESCRIPTOR = {
    DP_DESCRIPTOR_V1_SIZE,
    {(const uint8_t *)PIPE_NAME, sizeof(PIPE_NAME) - 1},
    {(const uint8_t *)"0.9.0", 5},
    {(const uint8_t *)"pipe", 4},
    {(const uint8_t *)"psv", 3},
    {(const uint8_t *)"", 0},
    DP_CAP_READ | DP_CAP_DECLARES_OPTIONS,
    (const DpOptionSpec *)8,
    99,
};

static const DpPluginDescriptor *describe(void) { return &DESCRIPTOR; }

/* The whole input, read at open time (fine for a test plugin), and a cursor into it. */
typedef struct {
    char *data;
    size_t len;
    size_t pos;
    uint64_t line;
} PipeReader;

static DpStatus open_reader(DpStrRef format, const DpKeyValue *options, size_t num_options,
                            const DpSourceCallbacks *source, DpReaderHandle **out, DpPluginError *err) {
    (void)format;
    (void)options;
    if (num_options != 0) {
        set_error(err, "the pipe plugin takes no options");
        return DP_STATUS_INVALID_OPTION;
    }
    PipeReader *r = calloc(1, sizeof *r);
    if (r == NULL) return DP_STATUS_INTERNAL;
    size_t cap = 4096;
    r->data = malloc(cap);
    for (;;) {
        if (r->len == cap) {
            cap *= 2;
            r->data = realloc(r->data, cap);
        }
        size_t got = 0;
        DpStatus s = source->read(source->ctx, (uint8_t *)r->data + r->len, cap - r->len, &got);
        if (s != DP_STATUS_OK) {
            free(r->data);
            free(r);
            return s;
        }
        if (got == 0) break;
        r->len += got;
    }
#ifdef PIPE_NO_HANDLE
    free(r->data);
    free(r);
    return DP_STATUS_OK;
#endif
    *out = (DpReaderHandle *)r;
    return DP_STATUS_OK;
}

/* The next line as [start, end) without its terminator; returns 0 at the end. */
static int next_line(PipeReader *r, size_t *start, size_t *end) {
    if (r->pos >= r->len) return 0;
    *start = r->pos;
    while (r->pos < r->len && r->data[r->pos] != '\n') r->pos++;
    *end = r->pos;
    if (r->pos < r->len) r->pos++; /* skip '\n' */
    if (*end > *start && r->data[*end - 1] == '\r') (*end)--;
    r->line++;
    return 1;
}

/* A batch or header owns one block: the arrays, then copies of the text. */
static void release_header(DpHeader *h) {
    free(h->private_data);
    h->private_data = NULL;
    h->release = NULL;
}

static void release_batch(DpBatch *b) {
    free(b->private_data);
    b->private_data = NULL;
    b->release = NULL;
}

static size_t count_fields(const char *s, size_t len) {
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '|') n++;
    return n;
}

/* Splits s[0..len) at '|' into refs pointing at `copy` (a copy of the text). */
static void split(const char *s, size_t len, char *copy, DpStrRef *refs) {
    memcpy(copy, s, len);
    size_t field = 0, begin = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || copy[i] == '|') {
            refs[field].ptr = (const uint8_t *)copy + begin;
            refs[field].len = i - begin;
            field++;
            begin = i + 1;
        }
    }
}

static DpStatus reader_header(DpReaderHandle *handle, DpHeader *out, DpPluginError *err) {
    PipeReader *r = (PipeReader *)handle;
    size_t start, end;
    if (!next_line(r, &start, &end)) {
        out->names = NULL;
        out->len = 0;
        out->release = NULL;
        out->private_data = NULL;
        return DP_STATUS_OK;
    }
    size_t n = count_fields(r->data + start, end - start);
    char *block = malloc(n * sizeof(DpStrRef) + (end - start) + 1);
    if (block == NULL) {
        set_error(err, "out of memory");
        return DP_STATUS_INTERNAL;
    }
    DpStrRef *names = (DpStrRef *)block;
    split(r->data + start, end - start, block + n * sizeof(DpStrRef), names);
    out->names = names;
    out->len = n;
    out->release = release_header;
    out->private_data = block;
    return DP_STATUS_OK;
}

static DpStatus reader_next_batch(DpReaderHandle *handle, size_t max_rows, DpBatch *out, DpPluginError *err) {
    PipeReader *r = (PipeReader *)handle;
    /* First pass: how many lines and fields this batch covers. */
    size_t save_pos = r->pos;
    uint64_t save_line = r->line;
    size_t rows = 0, cells = 0, text = 0, start, end;
    while (rows < max_rows && next_line(r, &start, &end)) {
        rows++;
        cells += count_fields(r->data + start, end - start);
        text += end - start;
    }
    if (rows == 0) return DP_STATUS_END_OF_DATA;
    r->pos = save_pos;
    r->line = save_line;

    size_t rows_bytes = rows * sizeof(DpRow);
    size_t cells_bytes = cells * sizeof(DpCell);
    char *block = malloc(rows_bytes + cells_bytes + text + 1);
    if (block == NULL) {
        set_error(err, "out of memory");
        return DP_STATUS_INTERNAL;
    }
    DpRow *row_array = (DpRow *)block;
    DpCell *cell_array = (DpCell *)(block + rows_bytes);
    char *text_area = block + rows_bytes + cells_bytes;
    DpStrRef *scratch = malloc(sizeof(DpStrRef) * (cells ? cells : 1));
    size_t cell_at = 0;
    for (size_t i = 0; i < rows; i++) {
        next_line(r, &start, &end);
        size_t n = count_fields(r->data + start, end - start);
        split(r->data + start, end - start, text_area, scratch);
        text_area += end - start;
        row_array[i].number = r->line;
        row_array[i].cells = cell_array + cell_at;
        row_array[i].num_cells = n;
        for (size_t f = 0; f < n; f++) {
            DpCell *c = &cell_array[cell_at + f];
            memset(c, 0, sizeof *c);
            if (scratch[f].len == 0) {
                c->tag = DP_CELL_NULL;
            } else {
                c->tag = DP_CELL_TEXT;
                c->value.text = scratch[f];
            }
        }
        cell_at += n;
    }
    free(scratch);
    out->rows = row_array;
    out->num_rows = rows;
    out->errors = NULL;
    out->num_errors = 0;
    out->release = release_batch;
    out->private_data = block;
    return DP_STATUS_OK;
}

static void reader_release(DpReaderHandle *handle) {
    PipeReader *r = (PipeReader *)handle;
    if (r == NULL) return;
    free(r->data);
    free(r);
}

DpStatus dataport_plugin_init(uint32_t abi_version, DpPluginVTable *out, DpPluginError *err) {
    out->abi_version = PIPE_ABI_VERSION;
    if (abi_version != PIPE_ABI_VERSION) {
        set_error(err, "the pipe plugin implements another ABI version");
        return DP_STATUS_ABI_MISMATCH;
    }
    DpPluginVTable vt;
    memset(&vt, 0, sizeof vt);
    vt.abi_version = PIPE_ABI_VERSION;
    vt.describe = describe;
    vt.open_reader = open_reader;
    vt.reader_header = reader_header;
    vt.reader_next_batch = reader_next_batch;
    vt.reader_release = reader_release;
    size_t n = out->size < sizeof vt ? out->size : sizeof vt;
    vt.size = n;
    memcpy(out, &vt, n);
    (void)str_ref;
    return DP_STATUS_OK;
}
