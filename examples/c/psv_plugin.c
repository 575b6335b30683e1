/*
 * psv: a complete dataport format plugin in C, reader and writer, streaming.
 *
 * Files are UTF-8 text, one record per line, fields separated by '|' (option `delimiter`); the
 * first line is the header. In fields, a backslash escapes: "\\" is a backslash, "\|" the
 * delimiter, "\n" and "\r" line breaks. An empty field is an empty cell.
 *
 * The reader holds one buffer of input (64 KiB) and one line at a time, whatever the file's size;
 * the writer buffers 64 KiB of output. Build, check and use it (docs/plugins.md):
 *
 *     cc -shared -fPIC -O2 -Wall -Wextra -I"$(dataport plugin-sdk-path)" \
 *        -o libdataport_plugin_psv.so psv_plugin.c
 *     dataport plugin-check ./libdataport_plugin_psv.so
 *     dataport serve --plugin-dir .
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataport_plugin.h"

#define PSV_VERSION "1.0.0"
#define READ_CHUNK 65536
#define WRITE_CHUNK 65536
#define DEFAULT_MAX_LINE 1048576

#define STR(s) {(const uint8_t *)(s), sizeof(s) - 1}

/* ---- errors ------------------------------------------------------------------------------ */

/* The ABI version the host's handshake agreed on: under v2 errors may name their row, and the
 * host passes `locale`. Written by dataport_plugin_init, which hosts call before opening any
 * instance; each reader copies it when it is opened. */
static uint32_t host_abi = 1;

/* Copies `message` into the host's buffer, cut at a UTF-8 character boundary. */
static void set_error(DpPluginError *err, const char *message) {
    if (err == NULL || err->message == NULL) return;
    size_t n = strlen(message);
    if (n > err->capacity) {
        n = err->capacity;
        while (n > 0 && ((unsigned char)message[n] & 0xC0) == 0x80) n--; /* not mid-character */
    }
    memcpy(err->message, message, n);
    err->len = n;
}

static DpStatus fail(DpPluginError *err, DpStatus status, const char *message) {
    set_error(err, message);
    return status;
}

/* As fail(), naming the source line where reading stopped, when the host speaks `abi` >= 2 (a
 * v1 host's struct has no such field). */
static DpStatus fail_at(DpPluginError *err, DpStatus status, const char *message, uint64_t line, uint32_t abi) {
    set_error(err, message);
    if (err != NULL && abi >= 2) err->row = line;
    return status;
}

/* ---- descriptor and options ----------------------------------------------------------------- */

static const DpOptionSpec OPTIONS[] = {
    {STR("delimiter"), DP_OPTION_CHAR, DP_OPTION_READ | DP_OPTION_WRITE, STR("|"), STR(""),
     STR("field separator: one ASCII character other than a backslash or a line break")},
    {STR("max_line_bytes"), DP_OPTION_INTEGER, DP_OPTION_READ, STR("1048576"), STR(""),
     STR("longest line; a longer one is reported as a row error and skipped")},
};

static const DpPluginDescriptor DESCRIPTOR = {
    sizeof(DpPluginDescriptor),
    STR("psv"),
    STR(PSV_VERSION),
    STR("psv"),
    STR("psv"),
    STR(""), /* any module */
    DP_CAP_READ | DP_CAP_WRITE | DP_CAP_DECLARES_OPTIONS,
    OPTIONS,
    sizeof OPTIONS / sizeof OPTIONS[0],
};

static const DpPluginDescriptor *describe(void) { return &DESCRIPTOR; }

static int key_is(DpStrRef key, const char *name) {
    size_t n = strlen(name);
    if (key.len != n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = key.ptr[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)name[i]) return 0;
    }
    return 1;
}

typedef struct Settings {
    uint8_t delimiter;
    size_t max_line;
    int chinese; /* locale=zh-CN (ABI v2): row messages in Chinese */
} Settings;

/* Reads the options; the last value of a key wins. */
static DpStatus parse_options(const DpKeyValue *options, size_t n, int reading, Settings *out,
                              DpPluginError *err) {
    out->delimiter = '|';
    out->max_line = DEFAULT_MAX_LINE;
    out->chinese = 0;
    for (size_t i = 0; i < n; i++) {
        DpStrRef v = options[i].value;
        if (key_is(options[i].key, "locale")) { /* set by a v2 host, never declared */
            out->chinese = v.len >= 2 && v.ptr[0] == 'z' && v.ptr[1] == 'h';
        } else if (key_is(options[i].key, "delimiter")) {
            if (v.len == 3 && memcmp(v.ptr, "tab", 3) == 0) {
                out->delimiter = '\t';
            } else if (v.len == 2 && v.ptr[0] == '\\' && v.ptr[1] == 't') {
                out->delimiter = '\t';
            } else if (v.len == 1 && v.ptr[0] < 0x80 && v.ptr[0] != '\\' && v.ptr[0] != '\n' &&
                       v.ptr[0] != '\r') {
                out->delimiter = v.ptr[0];
            } else {
                return fail(err, DP_STATUS_INVALID_OPTION,
                            "option `delimiter` must be one ASCII character other than a backslash "
                            "or a line break");
            }
        } else if (reading && key_is(options[i].key, "max_line_bytes")) {
            size_t value = 0;
            if (v.len == 0 || v.len > 12) {
                return fail(err, DP_STATUS_INVALID_OPTION,
                            "option `max_line_bytes` must be a whole number from 1 to 999999999999");
            }
            for (size_t j = 0; j < v.len; j++) {
                if (v.ptr[j] < '0' || v.ptr[j] > '9') {
                    return fail(err, DP_STATUS_INVALID_OPTION,
                                "option `max_line_bytes` must be a whole number");
                }
                value = value * 10 + (size_t)(v.ptr[j] - '0');
            }
            if (value == 0) {
                return fail(err, DP_STATUS_INVALID_OPTION, "option `max_line_bytes` must be at least 1");
            }
            out->max_line = value;
        } else {
            return fail(err, DP_STATUS_INVALID_OPTION,
                        reading ? "unknown option; options when reading: delimiter, max_line_bytes"
                                : "unknown option; options when writing: delimiter");
        }
    }
    return DP_STATUS_OK;
}

static int format_is_psv(DpStrRef format) { return key_is(format, "psv"); }

/* ---- reader ----------------------------------------------------------------------------------- */

typedef struct Reader {
    DpSourceCallbacks source;
    Settings settings;
    uint8_t *chunk; /* READ_CHUNK bytes of input */
    size_t chunk_pos, chunk_len;
    int at_eof;
    uint8_t *line; /* the current line, at most settings.max_line bytes */
    size_t line_len;
    uint64_t line_no;
    size_t width; /* fields in the header */
    int input_failed; /* a read callback failed: the next call reports it */
    uint32_t abi;     /* the handshake's version, copied at open */
} Reader;

/* What next_line found. */
enum { LINE_OK, LINE_EOF, LINE_TOO_LONG, LINE_IO };

/* Reads the next line (without its terminator) into r->line. A line longer than max_line is
 * consumed to its end and reported as LINE_TOO_LONG. */
static int next_line(Reader *r) {
    int too_long = 0, any = 0;
    r->line_len = 0;
    for (;;) {
        if (r->chunk_pos == r->chunk_len) {
            if (r->at_eof) break;
            size_t got = 0;
            if (r->source.read(r->source.ctx, r->chunk, READ_CHUNK, &got) != DP_STATUS_OK) return LINE_IO;
            r->chunk_pos = 0;
            r->chunk_len = got;
            if (got == 0) {
                r->at_eof = 1;
                break;
            }
        }
        any = 1;
        uint8_t *start = r->chunk + r->chunk_pos;
        size_t avail = r->chunk_len - r->chunk_pos;
        uint8_t *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) : avail;
        if (!too_long) {
            if (r->line_len + take > r->settings.max_line) {
                too_long = 1;
            } else {
                memcpy(r->line + r->line_len, start, take);
                r->line_len += take;
            }
        }
        r->chunk_pos += take + (nl ? 1 : 0);
        if (nl) break;
    }
    if (!any) return LINE_EOF;
    r->line_no++;
    if (too_long) return LINE_TOO_LONG;
    if (r->line_len > 0 && r->line[r->line_len - 1] == '\r') r->line_len--;
    return LINE_OK;
}

/* Whether bytes are well-formed UTF-8. */
static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { extra = 1; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { extra = 2; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { extra = 3; cp = c & 0x07; }
        else return 0;
        if (i + extra >= n) return 0; /* cut short */
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += extra + 1;
    }
    return 1;
}

/* Splits r->line into fields, unescaping in place into `text`. Returns the number of fields, or
 * SIZE_MAX for a bad escape. Fields are stored as (offset, length) pairs in `spans`, which has
 * room for `max_fields`; a count above it is returned but not stored. */
static size_t split_line(Reader *r, uint8_t *text, size_t *spans, size_t max_fields) {
    size_t fields = 0, out = 0, start = 0;
    for (size_t i = 0; i <= r->line_len; i++) {
        if (i == r->line_len || r->line[i] == r->settings.delimiter) {
            if (fields < max_fields) {
                spans[2 * fields] = start;
                spans[2 * fields + 1] = out - start;
            }
            fields++;
            start = out;
            continue;
        }
        uint8_t c = r->line[i];
        if (c == '\\') {
            if (++i == r->line_len) return SIZE_MAX;
            c = r->line[i];
            if (c == 'n') c = '\n';
            else if (c == 'r') c = '\r';
            else if (c != '\\' && c != r->settings.delimiter) return SIZE_MAX;
        }
        text[out++] = c;
    }
    return fields;
}

static DpStatus open_reader(DpStrRef format, const DpKeyValue *options, size_t num_options,
                            const DpSourceCallbacks *source, DpReaderHandle **out, DpPluginError *err) {
    if (!format_is_psv(format)) return fail(err, DP_STATUS_UNSUPPORTED, "the psv plugin serves `psv` only");
    if (source == NULL || source->read == NULL || out == NULL)
        return fail(err, DP_STATUS_INVALID_ARGUMENT, "no source to read from");
    Settings settings;
    DpStatus status = parse_options(options, num_options, 1, &settings, err);
    if (status != DP_STATUS_OK) return status;
    Reader *r = calloc(1, sizeof *r);
    if (r == NULL) return fail(err, DP_STATUS_INTERNAL, "out of memory");
    r->source = *source; /* copied by value: the struct itself is borrowed */
    r->settings = settings;
    r->abi = host_abi;
    r->chunk = malloc(READ_CHUNK);
    r->line = malloc(settings.max_line > 0 ? settings.max_line : 1);
    if (r->chunk == NULL || r->line == NULL) {
        free(r->chunk);
        free(r->line);
        free(r);
        return fail(err, DP_STATUS_INTERNAL, "out of memory");
    }
    *out = (DpReaderHandle *)r;
    return DP_STATUS_OK;
}

/* A header or batch block: one malloc holding everything the struct points to. */
static void release_header(DpHeader *header) {
    free(header->private_data);
    header->release = NULL;
}

static DpStatus reader_header(DpReaderHandle *handle, DpHeader *out, DpPluginError *err) {
    Reader *r = (Reader *)handle;
    char message[160];
    int got = next_line(r);
    if (got == LINE_IO) return fail_at(err, DP_STATUS_IO, "the input failed", 1, r->abi);
    if (got == LINE_TOO_LONG) {
        snprintf(message, sizeof message, "the header is longer than %zu bytes", r->settings.max_line);
        return fail_at(err, DP_STATUS_MALFORMED_FILE, message, 1, r->abi);
    }
    size_t n = 0;
    size_t *spans = NULL;
    uint8_t *block = NULL;
    if (got == LINE_OK) {
        if (!valid_utf8(r->line, r->line_len)) return fail_at(err, DP_STATUS_ENCODING, "the header is not UTF-8", 1, r->abi);
        /* Fields never outnumber bytes + 1; count first, then store. */
        size_t cap = r->line_len + 1;
        block = malloc(cap * sizeof(DpStrRef) + cap * 2 * sizeof(size_t) + r->line_len + 1);
        if (block == NULL) return fail(err, DP_STATUS_INTERNAL, "out of memory");
        DpStrRef *names = (DpStrRef *)block;
        spans = (size_t *)(block + cap * sizeof(DpStrRef));
        uint8_t *text = (uint8_t *)(spans + cap * 2);
        n = split_line(r, text, spans, cap);
        if (n == SIZE_MAX) {
            free(block);
            return fail_at(err, DP_STATUS_MALFORMED_FILE, "a backslash in the header escapes nothing it may escape", 1, r->abi);
        }
        for (size_t i = 0; i < n; i++) {
            names[i].ptr = text + spans[2 * i];
            names[i].len = spans[2 * i + 1];
        }
    }
    r->width = n;
    out->names = (const DpStrRef *)block;
    out->len = n;
    out->private_data = block;
    out->release = release_header;
    return DP_STATUS_OK;
}

/* One batch: rows, cells, errors and all their text in growing arrays owned by the batch. */
typedef struct BatchData {
    DpRow *rows;
    DpCell *cells;
    DpRowError *errors;
    uint8_t *text;
    size_t num_rows, num_cells, num_errors, text_len, text_cap;
} BatchData;

static void release_batch(DpBatch *batch) {
    BatchData *b = batch->private_data;
    if (b != NULL) {
        free(b->rows);
        free(b->cells);
        free(b->errors);
        free(b->text);
        free(b);
    }
    batch->private_data = NULL;
    batch->release = NULL;
}

/* Appends bytes to the batch's text; returns its offset, or SIZE_MAX when out of memory. */
static size_t add_text(BatchData *b, const void *bytes, size_t n) {
    if (b->text_len + n > b->text_cap) {
        size_t cap = b->text_cap ? b->text_cap : 4096;
        while (cap < b->text_len + n) cap *= 2;
        uint8_t *grown = realloc(b->text, cap);
        if (grown == NULL) return SIZE_MAX;
        b->text = grown;
        b->text_cap = cap;
    }
    memcpy(b->text + b->text_len, bytes, n);
    b->text_len += n;
    return b->text_len - n;
}

static int add_error(BatchData *b, uint64_t row, DpStatus kind, const char *message) {
    size_t at = add_text(b, message, strlen(message));
    if (at == SIZE_MAX) return 0;
    b->errors[b->num_errors].row = row;
    b->errors[b->num_errors].kind = kind;
    /* ptr is fixed up once the text stops moving; keep the offset for now. */
    b->errors[b->num_errors].message.ptr = (const uint8_t *)(uintptr_t)at;
    b->errors[b->num_errors].message.len = strlen(message);
    b->num_errors++;
    return 1;
}

static DpStatus next_batch(DpReaderHandle *handle, size_t max_rows, DpBatch *out, DpPluginError *err) {
    Reader *r = (Reader *)handle;
    if (max_rows == 0) return fail(err, DP_STATUS_INVALID_ARGUMENT, "max_rows is 0");
    if (r->input_failed) return fail_at(err, DP_STATUS_IO, "the input failed", r->line_no + 1, r->abi);
    BatchData *b = calloc(1, sizeof *b);
    size_t width = r->width ? r->width : 1;
    size_t row_cap = max_rows < 1024 ? max_rows : 1024;
    if (b != NULL) {
        b->rows = malloc(row_cap * sizeof(DpRow));
        b->cells = malloc(row_cap * width * sizeof(DpCell));
        b->errors = malloc(row_cap * sizeof(DpRowError));
    }
    /* Scratch for one line: unescaped text and field spans. */
    uint8_t *scratch = malloc(r->settings.max_line + 1);
    size_t *spans = malloc((width + 1) * 2 * sizeof(size_t));
    DpBatch done = {0};
    done.private_data = b;
    done.release = release_batch;
    if (b == NULL || b->rows == NULL || b->cells == NULL || b->errors == NULL || scratch == NULL ||
        spans == NULL) {
        free(scratch);
        free(spans);
        release_batch(&done);
        return fail(err, DP_STATUS_INTERNAL, "out of memory");
    }
    DpStatus status = DP_STATUS_OK;
    char message[200];
    while (b->num_rows + b->num_errors < max_rows) {
        if (b->num_rows == row_cap || b->num_errors == row_cap) {
            size_t cap = row_cap * 2 > max_rows ? max_rows : row_cap * 2;
            DpRow *rows = realloc(b->rows, cap * sizeof(DpRow));
            if (rows) b->rows = rows;
            DpCell *cells = realloc(b->cells, cap * width * sizeof(DpCell));
            if (cells) b->cells = cells;
            DpRowError *errors = realloc(b->errors, cap * sizeof(DpRowError));
            if (errors) b->errors = errors;
            if (!rows || !cells || !errors) {
                status = fail(err, DP_STATUS_INTERNAL, "out of memory");
                break;
            }
            row_cap = cap;
        }
        int got = next_line(r);
        if (got == LINE_EOF) break;
        if (got == LINE_IO) {
            /* Hand out what was read; the next call reports the failure. */
            r->input_failed = 1;
            if (b->num_rows == 0 && b->num_errors == 0)
                status = fail_at(err, DP_STATUS_IO, "the input failed", r->line_no + 1, r->abi);
            break;
        }
        uint64_t row = r->line_no;
        if (got == LINE_TOO_LONG) {
            snprintf(message, sizeof message, "line %llu is longer than %zu bytes (option max_line_bytes)",
                     (unsigned long long)row, r->settings.max_line);
            if (!add_error(b, row, DP_STATUS_MALFORMED_FILE, message)) status = DP_STATUS_INTERNAL;
            continue;
        }
        if (r->line_len == 0) continue; /* blank lines are no rows */
        if (!valid_utf8(r->line, r->line_len)) {
            snprintf(message, sizeof message, "line %llu is not UTF-8", (unsigned long long)row);
            if (!add_error(b, row, DP_STATUS_ENCODING, message)) status = DP_STATUS_INTERNAL;
            continue;
        }
        size_t n = split_line(r, scratch, spans, width);
        if (n == SIZE_MAX || n != r->width) {
            if (n == SIZE_MAX)
                snprintf(message, sizeof message, "line %llu: a backslash escapes nothing it may escape",
                         (unsigned long long)row);
            else if (r->settings.chinese)
                snprintf(message, sizeof message, "第%llu行有%zu个字段，表头有%zu个",
                         (unsigned long long)row, n, r->width);
            else
                snprintf(message, sizeof message, "line %llu has %zu fields, the header has %zu",
                         (unsigned long long)row, n, r->width);
            if (!add_error(b, row, DP_STATUS_MALFORMED_FILE, message)) status = DP_STATUS_INTERNAL;
            continue;
        }
        DpCell *cells = b->cells + b->num_rows * width;
        for (size_t i = 0; i < n; i++) {
            size_t len = spans[2 * i + 1];
            if (len == 0) {
                cells[i].tag = DP_CELL_NULL;
                continue;
            }
            size_t at = add_text(b, scratch + spans[2 * i], len);
            if (at == SIZE_MAX) {
                status = DP_STATUS_INTERNAL;
                break;
            }
            cells[i].tag = DP_CELL_TEXT;
            cells[i].value.text.ptr = (const uint8_t *)(uintptr_t)at; /* fixed up below */
            cells[i].value.text.len = len;
        }
        if (status != DP_STATUS_OK) break;
        b->rows[b->num_rows].number = row;
        b->rows[b->num_rows].cells = (const DpCell *)(uintptr_t)(b->num_rows * width); /* index */
        b->rows[b->num_rows].num_cells = n;
        b->num_rows++;
    }
    free(scratch);
    free(spans);
    if (status == DP_STATUS_INTERNAL && err != NULL && err->len == 0) set_error(err, "out of memory");
    if (status != DP_STATUS_OK || (b->num_rows == 0 && b->num_errors == 0)) {
        release_batch(&done);
        return status != DP_STATUS_OK ? status : DP_STATUS_END_OF_DATA; /* *out untouched */
    }
    /* The arrays no longer move: turn offsets into pointers. */
    for (size_t i = 0; i < b->num_rows; i++) {
        DpCell *cells = b->cells + (size_t)(uintptr_t)b->rows[i].cells;
        b->rows[i].cells = cells;
        for (size_t c = 0; c < b->rows[i].num_cells; c++)
            if (cells[c].tag == DP_CELL_TEXT)
                cells[c].value.text.ptr = b->text + (size_t)(uintptr_t)cells[c].value.text.ptr;
    }
    for (size_t i = 0; i < b->num_errors; i++)
        b->errors[i].message.ptr = b->text + (size_t)(uintptr_t)b->errors[i].message.ptr;
    done.rows = b->rows;
    done.num_rows = b->num_rows;
    done.errors = b->errors;
    done.num_errors = b->num_errors;
    *out = done;
    return DP_STATUS_OK;
}

static void reader_release(DpReaderHandle *handle) {
    Reader *r = (Reader *)handle;
    if (r == NULL) return;
    free(r->chunk);
    free(r->line);
    free(r);
}

/* ---- writer ------------------------------------------------------------------------------------ */

typedef struct Writer {
    DpSinkCallbacks sink;
    Settings settings;
    uint8_t *buf;
    size_t len;
    uint32_t *kinds; /* the current header's column kinds */
    size_t width;
} Writer;

static DpStatus flush_buffer(Writer *w) {
    if (w->len == 0) return DP_STATUS_OK;
    DpStatus status = w->sink.write(w->sink.ctx, w->buf, w->len);
    w->len = 0;
    return status == DP_STATUS_OK ? DP_STATUS_OK : DP_STATUS_IO;
}

static DpStatus put(Writer *w, const void *bytes, size_t n) {
    const uint8_t *p = bytes;
    while (n > 0) {
        if (w->len == WRITE_CHUNK) {
            DpStatus status = flush_buffer(w);
            if (status != DP_STATUS_OK) return status;
        }
        size_t take = WRITE_CHUNK - w->len < n ? WRITE_CHUNK - w->len : n;
        memcpy(w->buf + w->len, p, take);
        w->len += take;
        p += take;
        n -= take;
    }
    return DP_STATUS_OK;
}

/* Writes text with the escapes the reader undoes. */
static DpStatus put_escaped(Writer *w, DpStrRef text) {
    for (size_t i = 0; i < text.len; i++) {
        uint8_t c = text.ptr[i];
        const char *escape = NULL;
        char two[3] = {'\\', 0, 0};
        if (c == '\\') escape = "\\\\";
        else if (c == '\n') escape = "\\n";
        else if (c == '\r') escape = "\\r";
        else if (c == w->settings.delimiter) {
            two[1] = (char)c;
            escape = two;
        }
        DpStatus status = escape ? put(w, escape, strlen(escape)) : put(w, &c, 1);
        if (status != DP_STATUS_OK) return status;
    }
    return DP_STATUS_OK;
}

/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm). */
static void civil(int64_t days, int64_t *y, unsigned *m, unsigned *d) {
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* One cell as text, typed as the column kinds in dataport_plugin.h say. */
static DpStatus put_cell(Writer *w, const DpCell *cell, uint32_t kind) {
    char text[512]; /* "%.2f" of DBL_MAX needs 312 bytes */
    int n = 0;
    switch (cell->tag) {
    case DP_CELL_NULL:
        return DP_STATUS_OK;
    case DP_CELL_TEXT:
    case DP_CELL_FORMULA:
        return put_escaped(w, cell->value.text);
    case DP_CELL_INT:
        n = snprintf(text, sizeof text, "%lld", (long long)cell->value.int_value);
        break;
    case DP_CELL_FLOAT:
        /* Amounts are exact to the cent: "%.2f" keeps 12.50 as 12.50; "%.17g" round-trips others. */
        n = snprintf(text, sizeof text, kind == DP_COLUMN_DECIMAL2 ? "%.2f" : "%.17g", cell->value.float_value);
        break;
    case DP_CELL_BOOL:
        n = snprintf(text, sizeof text, "%s", cell->value.bool_value ? "true" : "false");
        break;
    case DP_CELL_DATE: {
        int64_t y;
        unsigned m, d;
        civil(cell->value.date_days, &y, &m, &d);
        n = snprintf(text, sizeof text, "%04lld-%02u-%02u", (long long)y, m, d);
        break;
    }
    case DP_CELL_DATETIME: {
        int64_t micros = cell->value.datetime_micros;
        int64_t secs = micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
        int64_t frac = micros - secs * 1000000;
        int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
        int64_t of_day = secs - days * 86400;
        int64_t y;
        unsigned m, d;
        civil(days, &y, &m, &d);
        n = snprintf(text, sizeof text, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", (long long)y, m, d,
                     (long long)(of_day / 3600), (long long)(of_day / 60 % 60), (long long)(of_day % 60));
        if (frac != 0) n += snprintf(text + n, sizeof text - (size_t)n, ".%06lld", (long long)frac);
        n += snprintf(text + n, sizeof text - (size_t)n, "Z");
        break;
    }
    default:
        return DP_STATUS_INVALID_ARGUMENT;
    }
    if (n < 0 || (size_t)n >= sizeof text) return DP_STATUS_INVALID_ARGUMENT;
    return put(w, text, (size_t)n);
}

static DpStatus open_writer(DpStrRef format, const DpKeyValue *options, size_t num_options,
                            const DpSinkCallbacks *sink, DpWriterHandle **out, DpPluginError *err) {
    if (!format_is_psv(format)) return fail(err, DP_STATUS_UNSUPPORTED, "the psv plugin serves `psv` only");
    if (sink == NULL || sink->write == NULL || out == NULL)
        return fail(err, DP_STATUS_INVALID_ARGUMENT, "no sink to write to");
    Settings settings;
    DpStatus status = parse_options(options, num_options, 0, &settings, err);
    if (status != DP_STATUS_OK) return status;
    Writer *w = calloc(1, sizeof *w);
    if (w == NULL || (w->buf = malloc(WRITE_CHUNK)) == NULL) {
        free(w);
        return fail(err, DP_STATUS_INTERNAL, "out of memory");
    }
    w->sink = *sink;
    w->settings = settings;
    *out = (DpWriterHandle *)w;
    return DP_STATUS_OK;
}

static DpStatus end_line(Writer *w) { return put(w, "\n", 1); }

static DpStatus write_header(DpWriterHandle *handle, const DpColumn *columns, size_t n, DpPluginError *err) {
    Writer *w = (Writer *)handle;
    uint32_t *kinds = realloc(w->kinds, (n ? n : 1) * sizeof *kinds);
    if (kinds == NULL) return fail(err, DP_STATUS_INTERNAL, "out of memory");
    w->kinds = kinds;
    w->width = n;
    DpStatus status = DP_STATUS_OK;
    for (size_t i = 0; i < n && status == DP_STATUS_OK; i++) {
        kinds[i] = columns[i].kind;
        if (i > 0) status = put(w, &w->settings.delimiter, 1);
        if (status == DP_STATUS_OK) status = put_escaped(w, columns[i].name);
    }
    if (status == DP_STATUS_OK) status = end_line(w);
    return status;
}

static DpStatus write_rows(DpWriterHandle *handle, const DpBatch *batch, DpPluginError *err) {
    Writer *w = (Writer *)handle;
    char message[120];
    for (size_t r = 0; r < batch->num_rows; r++) {
        const DpRow *row = &batch->rows[r];
        if (row->num_cells != w->width) {
            snprintf(message, sizeof message, "a row has %zu cells, the header %zu columns", row->num_cells,
                     w->width);
            return fail(err, DP_STATUS_INVALID_ARGUMENT, message);
        }
        for (size_t c = 0; c < row->num_cells; c++) {
            DpStatus status = c > 0 ? put(w, &w->settings.delimiter, 1) : DP_STATUS_OK;
            if (status == DP_STATUS_OK) status = put_cell(w, &row->cells[c], w->kinds[c]);
            if (status == DP_STATUS_INVALID_ARGUMENT) return fail(err, status, "a cell has an unknown tag");
            if (status != DP_STATUS_OK) return status;
        }
        DpStatus status = end_line(w);
        if (status != DP_STATUS_OK) return status;
    }
    return DP_STATUS_OK;
}

static DpStatus writer_finish(DpWriterHandle *handle, DpPluginError *err) {
    (void)err;
    Writer *w = (Writer *)handle;
    DpStatus status = flush_buffer(w);
    if (status == DP_STATUS_OK && w->sink.flush != NULL && w->sink.flush(w->sink.ctx) != DP_STATUS_OK)
        status = DP_STATUS_IO;
    return status;
}

static void writer_release(DpWriterHandle *handle) {
    Writer *w = (Writer *)handle;
    if (w == NULL) return;
    free(w->buf);
    free(w->kinds);
    free(w);
}

/* ---- entry point ------------------------------------------------------------------------------ */

static const DpPluginVTable VTABLE = {
    sizeof(DpPluginVTable),
    DP_ABI_VERSION,
    describe,
    open_reader,
    reader_header,
    next_batch,
    reader_release,
    open_writer,
    write_header,
    write_rows,
    writer_finish,
    writer_release,
    NULL, /* writer_start_sheet: one sheet only */
    NULL, /* reader_checkpoint: interrupted imports are sent again whole */
    NULL, /* reader_resume */
    NULL, /* reader_rows_total: a stream cannot count its rows before reading them */
};

/* Speaks v1 and v2: a v2 host asks for 2, an older one for 1. */
DpStatus dataport_plugin_init(uint32_t abi_version, DpPluginVTable *out, DpPluginError *err) {
    if (out == NULL) return DP_STATUS_INVALID_ARGUMENT;
    if (abi_version < DP_OLDEST_ABI_VERSION || abi_version > DP_ABI_VERSION) {
        char message[120];
        out->abi_version = DP_ABI_VERSION; /* our newest, so the host can name both versions */
        snprintf(message, sizeof message, "the psv plugin speaks ABI v%u to v%u, the host asked for v%u",
                 DP_OLDEST_ABI_VERSION, DP_ABI_VERSION, abi_version);
        return fail(err, DP_STATUS_ABI_MISMATCH, message);
    }
    size_t n = out->size < sizeof VTABLE ? out->size : sizeof VTABLE;
    memcpy(out, &VTABLE, n);
    out->size = n;
    out->abi_version = abi_version; /* the version agreed on */
    host_abi = abi_version;
    return DP_STATUS_OK;
}
