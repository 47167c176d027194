/*
 * OTLP/JSON export lines (one ExportTraceServiceRequest or ExportLogsServiceRequest
 * per line) straight into Arrow-layout column buffers, one row per span or log
 * record.
 *
 * Why C: the Python readers spend most of their time building objects for
 * attribute lists only to pick a few values out of them. This scanner validates
 * each line as JSON and copies only what a column needs, skipping everything
 * else where it lies; no library offers JSON-to-columns with selected keys.
 *
 * The contract with the Python readers (flatten.py defines the rows): a line this
 * scanner accepts gives exactly the rows flatten.py's dict walk gives it. Anything
 * it is not sure of (any JSON error, a field of an unexpected type, a repeated
 * field, a promoted value of another kind than text, deep nesting, numbers orjson
 * might reject) is declined: scanning stops at the start of that line and the
 * caller reads it with the Python readers, which decide what it is.
 *
 * Scanner(span_keys, span_integers, log_keys, log_integers).scan(block, start)
 *   -> (stop, lines, spans, logs)
 *   spans/logs: None or (rows, columns), each column a tuple of bytes:
 *     text:     (validity bitmap, int32 offsets, data)
 *     json:     (validity bitmap, int64 offsets, data)   attribute lists, events
 *     integer:  (validity bitmap, int64 values)
 *   in the order of schema.SPAN_FIELDS / LOG_FIELDS, then one column per promoted
 *   key, in the order given: integer for the keys in *_integers (a value that is not
 *   a plain decimal integer is declined), text for the others.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define MAX_KEYS 24
#define MAX_COLS (16 + MAX_KEYS)
#define MAX_DEPTH 64
#define MAX_NUMBER_DIGITS 300

/* -- growable buffers ------------------------------------------------------------ */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} Buf;

static int buf_grow(Buf *b, size_t extra) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int buf_reserve(Buf *b, size_t extra) {
    return b->len + extra <= b->cap ? 0 : buf_grow(b, extra);
}

/* Inline, so that fixed-size appends (offsets, integers) are single stores. */
static inline int buf_put(Buf *b, const void *src, size_t n) {
    if (buf_reserve(b, n))
        return -1;
    if (n) /* an empty text into a buffer not yet allocated */
        memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static void buf_free(Buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* -- columns ----------------------------------------------------------------------- */

enum { COL_TEXT, COL_JSON, COL_INT };

typedef struct {
    int kind;
    bool empty_is_null; /* ids: OTLP/JSON writes "" for none */
    size_t rows, nulls;
    Buf valid, offsets, data; /* offsets: int32 (text) or int64 (json); data: int64 values */
} Col;

/* A value waiting for its row to be complete. */
enum { V_NULL, V_INPUT, V_SCRATCH, V_INT };

typedef struct {
    int state;
    const uint8_t *ptr; /* V_INPUT */
    size_t off, len;    /* V_SCRATCH: offset into the row scratch; both: length */
    int64_t i;          /* V_INT */
} Slot;

typedef struct {
    int ncols, first_key, nkeys;
    Col cols[MAX_COLS];
    Slot row[MAX_COLS];
    Slot defaults[MAX_COLS];
    char *keys[MAX_KEYS];
    size_t key_lens[MAX_KEYS];
} Table;

static int col_start(Col *c) {
    if (c->kind == COL_INT)
        return 0;
    if (c->kind == COL_TEXT) {
        int32_t zero = 0;
        return buf_put(&c->offsets, &zero, sizeof zero);
    }
    int64_t zero = 0;
    return buf_put(&c->offsets, &zero, sizeof zero);
}

static int col_bit(Col *c, bool valid) {
    size_t i = c->rows, need = i / 8 + 1;
    if (need > c->valid.len) {
        if (buf_reserve(&c->valid, need - c->valid.len))
            return -1;
        memset(c->valid.p + c->valid.len, 0, need - c->valid.len);
        c->valid.len = need;
    }
    if (valid)
        c->valid.p[i >> 3] |= (uint8_t)(1u << (i & 7));
    else
        c->nulls++;
    c->rows++;
    return 0;
}

static int col_append(Col *c, const Slot *v, const Buf *scratch) {
    if (c->kind == COL_INT) {
        int64_t value = v->state == V_INT ? v->i : 0;
        if (buf_put(&c->data, &value, sizeof value))
            return -1;
        return col_bit(c, v->state == V_INT);
    }
    const uint8_t *text = NULL;
    size_t len = 0;
    if (v->state == V_INPUT) {
        text = v->ptr;
        len = v->len;
    } else if (v->state == V_SCRATCH) {
        text = scratch->p + v->off;
        len = v->len;
    }
    bool valid = text != NULL && !(c->empty_is_null && len == 0);
    if (valid && buf_put(&c->data, text, len))
        return -1;
    if (c->kind == COL_TEXT) {
        if (c->data.len > INT32_MAX)
            return -1;
        int32_t end = (int32_t)c->data.len;
        if (buf_put(&c->offsets, &end, sizeof end))
            return -1;
    } else {
        int64_t end = (int64_t)c->data.len;
        if (buf_put(&c->offsets, &end, sizeof end))
            return -1;
    }
    return col_bit(c, valid);
}

/* Forget the rows from ``rows`` on (a line that was declined half way). */
static void col_truncate(Col *c, size_t rows) {
    if (rows >= c->rows)
        return;
    for (size_t i = rows; i < c->rows; i++) {
        if (c->valid.p[i >> 3] & (1u << (i & 7)))
            c->valid.p[i >> 3] &= (uint8_t)~(1u << (i & 7));
        else
            c->nulls--;
    }
    c->valid.len = (rows + 7) / 8;
    if (c->kind == COL_INT) {
        c->data.len = rows * sizeof(int64_t);
    } else if (c->kind == COL_TEXT) {
        c->offsets.len = (rows + 1) * sizeof(int32_t);
        c->data.len = (size_t)((int32_t *)c->offsets.p)[rows];
    } else {
        c->offsets.len = (rows + 1) * sizeof(int64_t);
        c->data.len = (size_t)((int64_t *)c->offsets.p)[rows];
    }
    c->rows = rows;
}

static void col_reset(Col *c) {
    c->rows = c->nulls = 0;
    c->valid.len = c->offsets.len = c->data.len = 0;
}

static void col_free(Col *c) {
    buf_free(&c->valid);
    buf_free(&c->offsets);
    buf_free(&c->data);
}

/* -- the scanner's state ------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    Table spans, logs;
    Buf scratch;        /* a row's unescaped texts */
    Buf key;            /* an object key that had escapes */
    Buf service, scope; /* the current resource's service.name and scope name */
    bool has_service, has_scope;
    bool oom;
} Scanner;

/* Span columns, in the order of schema.SPAN_FIELDS. */
enum {
    S_TRACE, S_SPAN, S_PARENT, S_NAME, S_KIND, S_START, S_END, S_STATUS_CODE,
    S_STATUS_MESSAGE, S_SERVICE, S_SCOPE, S_ATTRIBUTES, S_EVENTS, S_NFIELDS
};
/* Log columns, in the order of schema.LOG_FIELDS. */
enum {
    L_TIME, L_OBSERVED, L_SEVERITY_NUMBER, L_SEVERITY_TEXT, L_BODY, L_TRACE, L_SPAN,
    L_SERVICE, L_SCOPE, L_ATTRIBUTES, L_NFIELDS
};

static const int span_kinds[S_NFIELDS] = {
    COL_TEXT, COL_TEXT, COL_TEXT, COL_TEXT, COL_INT, COL_INT, COL_INT, COL_INT,
    COL_TEXT, COL_TEXT, COL_TEXT, COL_JSON, COL_JSON,
};
static const int log_kinds[L_NFIELDS] = {
    COL_INT, COL_INT, COL_INT, COL_TEXT, COL_TEXT, COL_TEXT, COL_TEXT, COL_TEXT,
    COL_TEXT, COL_JSON,
};

/* -- JSON ----------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
} Cur;

#define DECLINE (-1)

/* 1 for bytes that can stand in a string as they are: printable ASCII but " and \. */
static uint8_t plain[256];

static void init_tables(void) {
    for (int i = 0x20; i < 0x80; i++)
        plain[i] = 1;
    plain['"'] = 0;
    plain['\\'] = 0;
}

static inline void ws(Cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

static inline bool peek(Cur *c, uint8_t ch) {
    ws(c);
    return c->p < c->end && *c->p == ch;
}

static inline bool eat(Cur *c, uint8_t ch) {
    if (peek(c, ch)) {
        c->p++;
        return true;
    }
    return false;
}

static bool eat_literal(Cur *c, const char *word, size_t n) {
    ws(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return true;
    }
    return false;
}

/* The length of the valid UTF-8 sequence at p (a byte >= 0x80), or 0. */
static int utf8_sequence(const uint8_t *p, const uint8_t *end) {
    uint8_t b = p[0];
    int n;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        n = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (end - p < n)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

static int hex4(const uint8_t *p, const uint8_t *end, uint32_t *out) {
    if (end - p < 4)
        return DECLINE;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t h = p[i];
        v <<= 4;
        if (h >= '0' && h <= '9')
            v |= (uint32_t)(h - '0');
        else if (h >= 'a' && h <= 'f')
            v |= (uint32_t)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F')
            v |= (uint32_t)(h - 'A' + 10);
        else
            return DECLINE;
    }
    *out = v;
    return 0;
}

/* The high bit of each of the 8 bytes in w that needs a closer look in a string
 * (a quote, a backslash, a control character, a byte of a multi-byte UTF-8
 * sequence). A byte above a flagged one may be flagged wrongly, never one below:
 * the lowest flag is exact. */
static inline uint64_t special8(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    uint64_t zero_quote = (quote - ones) & ~quote;
    uint64_t zero_backslash = (backslash - ones) & ~backslash;
    uint64_t control = (w - ones * 0x20) & ~w;
    return (zero_quote | zero_backslash | control | w) & high;
}

/* A string at c->p (its opening quote): validated, its raw contents in (*s, *n), and
 * whether it has escapes. Lone surrogates, control characters and invalid UTF-8
 * are declined, as orjson rejects them. */
static int scan_string(Cur *c, const uint8_t **s, size_t *n, bool *escaped) {
    const uint8_t *p = c->p + 1, *end = c->end;
    bool esc = false;
    for (;;) {
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            uint64_t flags = special8(w);
            if (flags) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                p += __builtin_ctzll(flags) / 8;
#endif
                break;
            }
            p += 8;
        }
        while (p < end && plain[*p])
            p++;
        if (p >= end)
            return DECLINE;
        uint8_t ch = *p;
        if (ch == '"')
            break;
        if (ch == '\\') {
            esc = true;
            if (++p >= end)
                return DECLINE;
            ch = *p;
            if (ch == 'u') {
                uint32_t unit;
                if (hex4(p + 1, end, &unit))
                    return DECLINE;
                p += 5;
                if (unit >= 0xDC00 && unit <= 0xDFFF)
                    return DECLINE;
                if (unit >= 0xD800 && unit <= 0xDBFF) {
                    uint32_t low;
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &low))
                        return DECLINE;
                    if (low < 0xDC00 || low > 0xDFFF)
                        return DECLINE;
                    p += 6;
                }
                continue;
            }
            if (ch != '"' && ch != '\\' && ch != '/' && ch != 'b' && ch != 'f' && ch != 'n' &&
                ch != 'r' && ch != 't')
                return DECLINE;
            p++;
            continue;
        }
        if (ch < 0x20)
            return DECLINE;
        int k = utf8_sequence(p, end);
        if (k == 0)
            return DECLINE;
        p += k;
    }
    *s = c->p + 1;
    *n = (size_t)(p - *s);
    *escaped = esc;
    c->p = p + 1;
    return 0;
}

static void put_utf8(uint8_t **o, uint32_t cp) {
    uint8_t *q = *o;
    if (cp < 0x80) {
        *q++ = (uint8_t)cp;
    } else if (cp < 0x800) {
        *q++ = (uint8_t)(0xC0 | (cp >> 6));
        *q++ = (uint8_t)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *q++ = (uint8_t)(0xE0 | (cp >> 12));
        *q++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (uint8_t)(0x80 | (cp & 0x3F));
    } else {
        *q++ = (uint8_t)(0xF0 | (cp >> 18));
        *q++ = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        *q++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (uint8_t)(0x80 | (cp & 0x3F));
    }
    *o = q;
}

/* Unescape a validated string's raw contents onto the end of ``out``. The text
 * never grows: every escape is at least as long as the UTF-8 it stands for. */
static int unescape(Buf *out, const uint8_t *s, size_t n) {
    if (buf_reserve(out, n))
        return -1;
    uint8_t *o = out->p + out->len;
    const uint8_t *end = s + n;
    while (s < end) {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        uint8_t ch = s[1];
        s += 2;
        switch (ch) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            uint32_t cp, low;
            hex4(s, end, &cp);
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                hex4(s + 2, end, &low);
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            put_utf8(&o, cp);
            break;
        }
        default: *o++ = ch; break; /* " \ / */
        }
    }
    out->len = (size_t)(o - out->p);
    return 0;
}

static int skip_value(Cur *c, int depth);

static int skip_number(Cur *c) {
    const uint8_t *p = c->p, *end = c->end;
    if (p < end && *p == '-')
        p++;
    const uint8_t *digits = p;
    if (p < end && *p == '0') {
        p++;
    } else {
        if (p >= end || *p < '1' || *p > '9')
            return DECLINE;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p - digits > MAX_NUMBER_DIGITS)
        return DECLINE; /* orjson turns these into floats, or rejects them as infinite */
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return DECLINE;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const uint8_t *exponent = p;
        if (p >= end || *p < '0' || *p > '9')
            return DECLINE;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p - exponent > 2)
            return DECLINE; /* might overflow a double: leave it to orjson */
    }
    c->p = p;
    return 0;
}

static int skip_string(Cur *c) {
    const uint8_t *s;
    size_t n;
    bool esc;
    return scan_string(c, &s, &n, &esc);
}

/* Members and elements: after ``{``/``[``, 1 if one follows, 0 at the closing bracket. */
static int first_item(Cur *c, uint8_t close) {
    if (eat(c, close))
        return 0;
    return 1;
}

static int next_item(Cur *c, uint8_t close) {
    ws(c);
    if (c->p >= c->end)
        return DECLINE;
    if (*c->p == ',') {
        c->p++;
        return 1;
    }
    if (*c->p == close) {
        c->p++;
        return 0;
    }
    return DECLINE;
}

/* An object key and its colon: the key's text (unescaped into s->key if need be). */
static int read_key(Scanner *s, Cur *c, const uint8_t **key, size_t *n) {
    if (!peek(c, '"'))
        return DECLINE;
    bool esc;
    if (scan_string(c, key, n, &esc))
        return DECLINE;
    if (esc) {
        s->key.len = 0;
        if (unescape(&s->key, *key, *n)) {
            s->oom = true;
            return DECLINE;
        }
        *key = s->key.p;
        *n = s->key.len;
    }
    return eat(c, ':') ? 0 : DECLINE;
}

static int skip_value(Cur *c, int depth) {
    ws(c);
    if (c->p >= c->end)
        return DECLINE;
    switch (*c->p) {
    case '"':
        return skip_string(c);
    case '{': {
        if (depth >= MAX_DEPTH)
            return DECLINE;
        c->p++;
        int more = first_item(c, '}');
        while (more == 1) {
            if (!peek(c, '"') || skip_string(c) || !eat(c, ':') || skip_value(c, depth + 1))
                return DECLINE;
            more = next_item(c, '}');
        }
        return more;
    }
    case '[': {
        if (depth >= MAX_DEPTH)
            return DECLINE;
        c->p++;
        int more = first_item(c, ']');
        while (more == 1) {
            if (skip_value(c, depth + 1))
                return DECLINE;
            more = next_item(c, ']');
        }
        return more;
    }
    case 't':
        return eat_literal(c, "true", 4) ? 0 : DECLINE;
    case 'f':
        return eat_literal(c, "false", 5) ? 0 : DECLINE;
    case 'n':
        return eat_literal(c, "null", 4) ? 0 : DECLINE;
    default:
        return skip_number(c);
    }
}

static inline bool is(const uint8_t *key, size_t n, const char *name) {
    size_t m = strlen(name);
    return n == m && memcmp(key, name, m) == 0;
}

/* The fields read from an object, each at most once (a repeated one is declined). */
static inline int once(unsigned *seen, unsigned bit) {
    if (*seen & bit)
        return DECLINE;
    *seen |= bit;
    return 0;
}

/* -- values into slots -------------------------------------------------------------- */

/* A string (or null, if ``nullable``) into ``slot``. */
static int read_text(Scanner *s, Cur *c, Slot *slot, bool nullable) {
    ws(c);
    if (c->p < c->end && *c->p == 'n' && nullable) {
        if (!eat_literal(c, "null", 4))
            return DECLINE;
        slot->state = V_NULL;
        return 0;
    }
    if (c->p >= c->end || *c->p != '"')
        return DECLINE;
    const uint8_t *text;
    size_t n;
    bool esc;
    if (scan_string(c, &text, &n, &esc))
        return DECLINE;
    if (!esc) {
        slot->state = V_INPUT;
        slot->ptr = text;
        slot->len = n;
        return 0;
    }
    size_t at = s->scratch.len;
    if (unescape(&s->scratch, text, n)) {
        s->oom = true;
        return DECLINE;
    }
    slot->state = V_SCRATCH;
    slot->off = at;
    slot->len = s->scratch.len - at;
    return 0;
}

/* A nanosecond timestamp, written as a decimal string (or null). */
static int read_time(Cur *c, Slot *slot) {
    ws(c);
    if (c->p < c->end && *c->p == 'n') {
        if (!eat_literal(c, "null", 4))
            return DECLINE;
        slot->state = V_NULL;
        return 0;
    }
    if (c->p >= c->end || *c->p != '"')
        return DECLINE;
    const uint8_t *p = c->p + 1, *end = c->end;
    uint64_t v = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p - '0');
        if (++digits > 19)
            return DECLINE;
        p++;
    }
    if (!digits || p >= end || *p != '"' || v > (uint64_t)INT64_MAX)
        return DECLINE;
    c->p = p + 1;
    slot->state = V_INT;
    slot->i = (int64_t)v;
    return 0;
}

/* A small JSON integer (an enum: kind, status code, severity number). */
static int read_int(Cur *c, Slot *slot) {
    ws(c);
    const uint8_t *p = c->p, *end = c->end;
    bool negative = p < end && *p == '-';
    if (negative)
        p++;
    if (p >= end || *p < '0' || *p > '9' || (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9'))
        return DECLINE;
    int64_t v = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (++digits > 18)
            return DECLINE;
        p++;
    }
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
        return DECLINE;
    c->p = p;
    slot->state = V_INT;
    slot->i = negative ? -v : v;
    return 0;
}

/* An AnyValue read for its text: exactly one member, stringValue (or intValue if
 * ``integers``), a string. ``{}`` is none if ``empty`` allows it, else declined. */
static int read_any_text(Scanner *s, Cur *c, Slot *slot, bool empty, bool integers) {
    if (!eat(c, '{'))
        return DECLINE;
    int more = first_item(c, '}');
    if (more == 0) {
        slot->state = V_NULL;
        return empty ? 0 : DECLINE;
    }
    const uint8_t *key;
    size_t n;
    if (read_key(s, c, &key, &n))
        return DECLINE;
    if (!is(key, n, "stringValue") && !(integers && is(key, n, "intValue")))
        return DECLINE;
    if (read_text(s, c, slot, false))
        return DECLINE;
    return next_item(c, '}') == 0 ? 0 : DECLINE;
}

/* A text that is a plain decimal integer (sign, up to 19 digits) as one. */
static int text_integer(Scanner *s, Slot *slot) {
    const uint8_t *p = slot->state == V_INPUT ? slot->ptr : s->scratch.p + slot->off;
    const uint8_t *end = p + slot->len;
    bool negative = p < end && *p == '-';
    if (negative)
        p++;
    if (p >= end || end - p > 19)
        return DECLINE;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return DECLINE;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return DECLINE;
    slot->state = V_INT;
    slot->i = negative ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* A promoted attribute's value into its slot: text, or an integer for such columns. */
static int read_promoted(Scanner *s, Table *t, Cur *c, int promoted) {
    int col = t->first_key + promoted;
    if (read_any_text(s, c, &t->row[col], false, true))
        return DECLINE;
    return t->cols[col].kind == COL_INT ? text_integer(s, &t->row[col]) : 0;
}

/* -- rows ----------------------------------------------------------------------------- */

static void row_begin(Table *t) {
    memcpy(t->row, t->defaults, sizeof(Slot) * (size_t)t->ncols);
}

static int row_commit(Scanner *s, Table *t, int service_col, int scope_col) {
    Slot *r = t->row;
    if (s->has_service) {
        r[service_col].state = V_INPUT;
        r[service_col].ptr = s->service.p;
        r[service_col].len = s->service.len;
    }
    if (s->has_scope) {
        r[scope_col].state = V_INPUT;
        r[scope_col].ptr = s->scope.p;
        r[scope_col].len = s->scope.len;
    }
    for (int i = 0; i < t->ncols; i++) {
        if (col_append(&t->cols[i], &r[i], &s->scratch)) {
            s->oom = true;
            return DECLINE;
        }
    }
    s->scratch.len = 0;
    return 0;
}

static int key_index(Table *t, const uint8_t *key, size_t n) {
    for (int i = 0; i < t->nkeys; i++)
        if (t->key_lens[i] == n && memcmp(t->keys[i], key, n) == 0)
            return i;
    return -1;
}

/* One {"key": ..., "value": ...} of an attribute list; a promoted value into its slot
 * (a later one for the same key wins, as in the dict walk). */
static int read_attribute(Scanner *s, Table *t, Cur *c) {
    if (!eat(c, '{'))
        return DECLINE;
    unsigned seen = 0;
    int promoted = -1;
    const uint8_t *deferred = NULL, *deferred_end = NULL;
    int more = first_item(c, '}');
    while (more == 1) {
        const uint8_t *key;
        size_t n;
        if (read_key(s, c, &key, &n))
            return DECLINE;
        if (is(key, n, "key")) {
            if (once(&seen, 1) || !peek(c, '"'))
                return DECLINE;
            const uint8_t *text;
            size_t len;
            bool esc;
            if (scan_string(c, &text, &len, &esc))
                return DECLINE;
            if (esc) {
                s->key.len = 0;
                if (unescape(&s->key, text, len)) {
                    s->oom = true;
                    return DECLINE;
                }
                text = s->key.p;
                len = s->key.len;
            }
            promoted = key_index(t, text, len);
        } else if (is(key, n, "value")) {
            if (once(&seen, 2))
                return DECLINE;
            if (seen & 1) {
                if (promoted >= 0) {
                    if (read_promoted(s, t, c, promoted))
                        return DECLINE;
                } else if (skip_value(c, 3)) {
                    return DECLINE;
                }
            } else { /* the key comes later: come back to the value then */
                ws(c);
                deferred = c->p;
                if (skip_value(c, 3))
                    return DECLINE;
                deferred_end = c->p;
            }
        } else if (skip_value(c, 3)) {
            return DECLINE;
        }
        more = next_item(c, '}');
    }
    if (more != 0 || seen != 3)
        return DECLINE;
    if (deferred != NULL && promoted >= 0) {
        Cur value = {deferred, deferred_end};
        if (read_promoted(s, t, &value, promoted))
            return DECLINE;
        ws(&value);
        if (value.p != value.end)
            return DECLINE;
    }
    return 0;
}

/* An attribute list: the promoted values, and the list's JSON as written (none if empty). */
static int read_attributes(Scanner *s, Table *t, Cur *c, Slot *raw) {
    ws(c);
    if (c->p < c->end && *c->p == 'n') {
        raw->state = V_NULL;
        return eat_literal(c, "null", 4) ? 0 : DECLINE;
    }
    const uint8_t *start = c->p;
    if (!eat(c, '['))
        return DECLINE;
    int more = first_item(c, ']');
    if (more == 0) {
        raw->state = V_NULL;
        return 0;
    }
    while (more == 1) {
        if (read_attribute(s, t, c))
            return DECLINE;
        more = next_item(c, ']');
    }
    if (more != 0)
        return DECLINE;
    raw->state = V_INPUT;
    raw->ptr = start;
    raw->len = (size_t)(c->p - start);
    return 0;
}

/* Span events: kept as written, none if the list is empty. */
static int read_events(Cur *c, Slot *raw) {
    ws(c);
    if (c->p < c->end && *c->p == 'n') {
        raw->state = V_NULL;
        return eat_literal(c, "null", 4) ? 0 : DECLINE;
    }
    if (!peek(c, '['))
        return DECLINE;
    const uint8_t *start = c->p;
    if (skip_value(c, 2))
        return DECLINE;
    Cur inside = {start + 1, c->p};
    raw->state = peek(&inside, ']') ? V_NULL : V_INPUT;
    raw->ptr = start;
    raw->len = (size_t)(c->p - start);
    return 0;
}

static int read_status(Scanner *s, Cur *c, Slot *code, Slot *message) {
    if (!eat(c, '{'))
        return DECLINE;
    unsigned seen = 0;
    int more = first_item(c, '}');
    while (more == 1) {
        const uint8_t *key;
        size_t n;
        if (read_key(s, c, &key, &n))
            return DECLINE;
        if (is(key, n, "code")) {
            if (once(&seen, 1) || read_int(c, code))
                return DECLINE;
        } else if (is(key, n, "message")) {
            if (once(&seen, 2) || read_text(s, c, message, true))
                return DECLINE;
        } else if (skip_value(c, 4)) {
            return DECLINE;
        }
        more = next_item(c, '}');
    }
    return more;
}

static int read_span(Scanner *s, Cur *c) {
    Table *t = &s->spans;
    Slot *r = t->row;
    row_begin(t);
    if (!eat(c, '{'))
        return DECLINE;
    unsigned seen = 0;
    int more = first_item(c, '}');
    while (more == 1) {
        const uint8_t *key;
        size_t n;
        int rc;
        if (read_key(s, c, &key, &n))
            return DECLINE;
        if (is(key, n, "traceId"))
            rc = once(&seen, 1 << 0) || read_text(s, c, &r[S_TRACE], false);
        else if (is(key, n, "spanId"))
            rc = once(&seen, 1 << 1) || read_text(s, c, &r[S_SPAN], false);
        else if (is(key, n, "parentSpanId"))
            rc = once(&seen, 1 << 2) || read_text(s, c, &r[S_PARENT], true);
        else if (is(key, n, "name"))
            rc = once(&seen, 1 << 3) || read_text(s, c, &r[S_NAME], true);
        else if (is(key, n, "kind"))
            rc = once(&seen, 1 << 4) || read_int(c, &r[S_KIND]);
        else if (is(key, n, "startTimeUnixNano"))
            rc = once(&seen, 1 << 5) || read_time(c, &r[S_START]) || r[S_START].state != V_INT;
        else if (is(key, n, "endTimeUnixNano"))
            rc = once(&seen, 1 << 6) || read_time(c, &r[S_END]);
        else if (is(key, n, "status"))
            rc = once(&seen, 1 << 7) ||
                 read_status(s, c, &r[S_STATUS_CODE], &r[S_STATUS_MESSAGE]);
        else if (is(key, n, "attributes"))
            rc = once(&seen, 1 << 8) || read_attributes(s, t, c, &r[S_ATTRIBUTES]);
        else if (is(key, n, "events"))
            rc = once(&seen, 1 << 9) || read_events(c, &r[S_EVENTS]);
        else
            rc = skip_value(c, 4);
        if (rc)
            return DECLINE;
        more = next_item(c, '}');
    }
    if (more != 0 || (seen & 0x23) != 0x23) /* traceId, spanId and the start are required */
        return DECLINE;
    return row_commit(s, t, S_SERVICE, S_SCOPE);
}

static int read_log(Scanner *s, Cur *c) {
    Table *t = &s->logs;
    Slot *r = t->row;
    row_begin(t);
    if (!eat(c, '{'))
        return DECLINE;
    unsigned seen = 0;
    int more = first_item(c, '}');
    while (more == 1) {
        const uint8_t *key;
        size_t n;
        int rc;
        if (read_key(s, c, &key, &n))
            return DECLINE;
        if (is(key, n, "timeUnixNano"))
            rc = once(&seen, 1 << 0) || read_time(c, &r[L_TIME]);
        else if (is(key, n, "observedTimeUnixNano"))
            rc = once(&seen, 1 << 1) || read_time(c, &r[L_OBSERVED]);
        else if (is(key, n, "severityNumber"))
            rc = once(&seen, 1 << 2) || read_int(c, &r[L_SEVERITY_NUMBER]);
        else if (is(key, n, "severityText"))
            rc = once(&seen, 1 << 3) || read_text(s, c, &r[L_SEVERITY_TEXT], true);
        else if (is(key, n, "body")) {
            /* a string body is its text; any other kind is JSON in the dict walk */
            rc = once(&seen, 1 << 4);
            if (!rc && peek(c, 'n'))
                rc = !eat_literal(c, "null", 4);
            else if (!rc)
                rc = read_any_text(s, c, &r[L_BODY], true, false);
        } else if (is(key, n, "traceId"))
            rc = once(&seen, 1 << 5) || read_text(s, c, &r[L_TRACE], true);
        else if (is(key, n, "spanId"))
            rc = once(&seen, 1 << 6) || read_text(s, c, &r[L_SPAN], true);
        else if (is(key, n, "attributes"))
            rc = once(&seen, 1 << 7) || read_attributes(s, t, c, &r[L_ATTRIBUTES]);
        else
            rc = skip_value(c, 4);
        if (rc)
            return DECLINE;
        more = next_item(c, '}');
    }
    if (more != 0)
        return DECLINE;
    return row_commit(s, t, L_SERVICE, L_SCOPE);
}

/* -- resources, scopes and requests -------------------------------------------------- */

/* service.name as the dict walk finds it: the first such attribute's stringValue. */
static int read_resource(Scanner *s, Cur *c) {
    s->has_service = false;
    s->service.len = 0;
    ws(c);
    if (c->p < c->end && *c->p == 'n')
        return eat_literal(c, "null", 4) ? 0 : DECLINE;
    if (!eat(c, '{'))
        return DECLINE;
    unsigned seen = 0;
    bool found = false;
    int more = first_item(c, '}');
    while (more == 1) {
        const uint8_t *key;
        size_t n;
        if (read_key(s, c, &key, &n))
            return DECLINE;
        if (!is(key, n, "attributes")) {
            if (skip_value(c, 2))
                return DECLINE;
        } else if (once(&seen, 1)) {
            return DECLINE;
        } else if (peek(c, 'n')) {
            if (!eat_literal(c, "null", 4))
                return DECLINE;
        } else {
            if (!eat(c, '['))
                return DECLINE;
            int item = first_item(c, ']');
            while (item == 1) {
                /* {"key": "service.name", "value": {"stringValue": ...}}, key first */
                if (!eat(c, '{'))
                    return DECLINE;
                unsigned fields = 0;
                bool service = false;
                int member = first_item(c, '}');
                while (member == 1) {
                    const uint8_t *name;
                    size_t len;
                    if (read_key(s, c, &name, &len))
                        return DECLINE;
                    if (is(name, len, "key")) {
                        Slot k = {0};
                        if (once(&fields, 1) || read_text(s, c, &k, false))
                            return DECLINE;
                        const uint8_t *text = k.state == V_INPUT ? k.ptr : s->scratch.p + k.off;
                        service = !found && is(text, k.len, "service.name");
                    } else if (is(name, len, "value") && service) {
                        Slot v = {0};
                        if (once(&fields, 2) || read_any_text(s, c, &v, true, false))
                            return DECLINE;
                        if (v.state != V_NULL) {
                            const uint8_t *text = v.state == V_INPUT ? v.ptr : s->scratch.p + v.off;
                            if (buf_put(&s->service, text, v.len)) {
                                s->oom = true;
                                return DECLINE;
                            }
                            s->has_service = true;
                        }
                        found = true;
                    } else if (is(name, len, "value")) {
                        if (once(&fields, 2) || skip_value(c, 4))
                            return DECLINE;
                    } else if (skip_value(c, 4)) {
                        return DECLINE;
                    }
                    member = next_item(c, '}');
                }
                if (member != 0 || (service && !(fields & 2)))
                    return DECLINE; /* a service.name without a value: leave it to the walk */
                found = found || service;
                item = next_item(c, ']');
            }
            if (item != 0)
                return DECLINE;
        }
        more = next_item(c, '}');
    }
    s->scratch.len = 0;
    return more;
}

static int read_scope(Scanner *s, Cur *c) {
    s->has_scope = false;
    s->scope.len = 0;
    ws(c);
    if (c->p < c->end && *c->p == 'n')
        return eat_literal(c, "null", 4) ? 0 : DECLINE;
    if (!eat(c, '{'))
        return DECLINE;
    unsigned seen = 0;
    int more = first_item(c, '}');
    while (more == 1) {
        const uint8_t *key;
        size_t n;
        if (read_key(s, c, &key, &n))
            return DECLINE;
        if (is(key, n, "name")) {
            Slot v = {0};
            if (once(&seen, 1) || read_text(s, c, &v, true))
                return DECLINE;
            if (v.state != V_NULL) {
                const uint8_t *text = v.state == V_INPUT ? v.ptr : s->scratch.p + v.off;
                if (buf_put(&s->scope, text, v.len)) {
                    s->oom = true;
                    return DECLINE;
                }
                s->has_scope = true;
            }
        } else if (skip_value(c, 3)) {
            return DECLINE;
        }
        more = next_item(c, '}');
    }
    s->scratch.len = 0;
    return more;
}

typedef int (*ItemReader)(Scanner *, Cur *);

/* A list of items (spans or log records), or null. */
static int read_items(Scanner *s, Cur *c, ItemReader item) {
    ws(c);
    if (c->p < c->end && *c->p == 'n')
        return eat_literal(c, "null", 4) ? 0 : DECLINE;
    if (!eat(c, '['))
        return DECLINE;
    int more = first_item(c, ']');
    while (more == 1) {
        if (item(s, c))
            return DECLINE;
        more = next_item(c, ']');
    }
    return more;
}

/* {"scope": ..., "spans": [...]}: the scope must come first (as every writer puts it),
 * for its name goes on the items read after it. */
static int read_scoped(Scanner *s, Cur *c, const char *items, ItemReader item) {
    if (!eat(c, '{'))
        return DECLINE;
    s->has_scope = false;
    unsigned seen = 0;
    int more = first_item(c, '}');
    while (more == 1) {
        const uint8_t *key;
        size_t n;
        if (read_key(s, c, &key, &n))
            return DECLINE;
        if (is(key, n, "scope")) {
            if (seen || read_scope(s, c))
                return DECLINE;
            seen |= 1;
        } else if (is(key, n, items)) {
            if (once(&seen, 2) || read_items(s, c, item))
                return DECLINE;
        } else if (skip_value(c, 3)) {
            return DECLINE;
        }
        more = next_item(c, '}');
    }
    return more;
}

/* {"resource": ..., "scopeSpans": [...]}, the resource first. */
static int read_group(Scanner *s, Cur *c, const char *scopes, const char *items, ItemReader item) {
    if (!eat(c, '{'))
        return DECLINE;
    s->has_service = false;
    unsigned seen = 0;
    int more = first_item(c, '}');
    while (more == 1) {
        const uint8_t *key;
        size_t n;
        if (read_key(s, c, &key, &n))
            return DECLINE;
        if (is(key, n, "resource")) {
            if (seen || read_resource(s, c))
                return DECLINE;
            seen |= 1;
        } else if (is(key, n, scopes)) {
            if (once(&seen, 2))
                return DECLINE;
            ws(c);
            if (c->p < c->end && *c->p == 'n') {
                if (!eat_literal(c, "null", 4))
                    return DECLINE;
            } else {
                if (!eat(c, '['))
                    return DECLINE;
                int scoped = first_item(c, ']');
                while (scoped == 1) {
                    if (read_scoped(s, c, items, item))
                        return DECLINE;
                    scoped = next_item(c, ']');
                }
                if (scoped != 0)
                    return DECLINE;
            }
        } else if (skip_value(c, 2)) {
            return DECLINE;
        }
        more = next_item(c, '}');
    }
    return more;
}

/* One export request: {"resourceSpans": [...]} or {"resourceLogs": [...]}. */
static int read_request(Scanner *s, Cur *c) {
    if (!eat(c, '{'))
        return DECLINE;
    unsigned seen = 0;
    int more = first_item(c, '}');
    while (more == 1) {
        const uint8_t *key;
        size_t n;
        if (read_key(s, c, &key, &n))
            return DECLINE;
        bool spans = is(key, n, "resourceSpans"), logs = is(key, n, "resourceLogs");
        if (spans || logs) {
            if (seen)
                return DECLINE; /* two signals in one line: the walk reads only one */
            seen = 1;
            if (!eat(c, '['))
                return DECLINE;
            int group = first_item(c, ']');
            while (group == 1) {
                if (spans ? read_group(s, c, "scopeSpans", "spans", read_span)
                          : read_group(s, c, "scopeLogs", "logRecords", read_log))
                    return DECLINE;
                group = next_item(c, ']');
            }
            if (group != 0)
                return DECLINE;
        } else if (is(key, n, "resourceMetrics")) {
            return DECLINE;
        } else if (skip_value(c, 1)) {
            return DECLINE;
        }
        more = next_item(c, '}');
    }
    if (more != 0 || !seen)
        return DECLINE;
    ws(c);
    return c->p == c->end ? 0 : DECLINE;
}

/* -- Python ------------------------------------------------------------------------------ */

static bool blank(const uint8_t *p, const uint8_t *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\v' && *p != '\f')
            return false;
    return true;
}

static void table_free(Table *t) {
    for (int i = 0; i < t->ncols; i++)
        col_free(&t->cols[i]);
    for (int i = 0; i < t->nkeys; i++)
        PyMem_Free(t->keys[i]);
    t->nkeys = 0;
}

static int table_reset(Table *t) {
    for (int i = 0; i < t->ncols; i++) {
        col_reset(&t->cols[i]);
        if (col_start(&t->cols[i]))
            return -1;
    }
    return 0;
}

static int table_init(Table *t, const int *kinds, int nfields, PyObject *keys, PyObject *integers,
                      int default_ints[], int ndefaults) {
    PyObject *seq = PySequence_Fast(keys, "keys must be a sequence of str");
    if (seq == NULL)
        return -1;
    Py_ssize_t nkeys = PySequence_Fast_GET_SIZE(seq);
    if (nkeys > MAX_KEYS) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "at most %d promoted keys", MAX_KEYS);
        return -1;
    }
    t->ncols = nfields + (int)nkeys;
    t->first_key = nfields;
    for (int i = 0; i < t->ncols; i++) {
        t->cols[i].kind = i < nfields ? kinds[i] : COL_TEXT;
        t->defaults[i].state = V_NULL;
    }
    for (int i = 0; i < ndefaults; i++) {
        t->defaults[default_ints[i]].state = V_INT;
        t->defaults[default_ints[i]].i = 0;
    }
    for (Py_ssize_t i = 0; i < nkeys; i++) {
        Py_ssize_t len;
        const char *text = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(seq, i), &len);
        if (text == NULL) {
            Py_DECREF(seq);
            return -1;
        }
        t->keys[i] = PyMem_Malloc((size_t)len + 1);
        if (t->keys[i] == NULL) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(t->keys[i], text, (size_t)len + 1);
        t->key_lens[i] = (size_t)len;
        t->nkeys++;
        int integer = PySequence_Contains(integers, PySequence_Fast_GET_ITEM(seq, i));
        if (integer < 0) {
            Py_DECREF(seq);
            return -1;
        }
        if (integer)
            t->cols[nfields + i].kind = COL_INT;
    }
    Py_DECREF(seq);
    if (table_reset(t)) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static PyObject *bytes_of(const Buf *b) {
    return PyBytes_FromStringAndSize((const char *)b->p, (Py_ssize_t)b->len);
}

/* (rows, ((validity, offsets, data) | (validity, values), ...)), or None if no rows. */
static PyObject *table_take(Table *t) {
    size_t rows = t->cols[0].rows;
    if (rows == 0)
        Py_RETURN_NONE;
    PyObject *cols = PyTuple_New(t->ncols);
    if (cols == NULL)
        return NULL;
    for (int i = 0; i < t->ncols; i++) {
        Col *c = &t->cols[i];
        PyObject *valid = c->nulls ? bytes_of(&c->valid) : Py_NewRef(Py_None);
        PyObject *col = c->kind == COL_INT
                            ? Py_BuildValue("(NN)", valid, bytes_of(&c->data))
                            : Py_BuildValue("(NNN)", valid, bytes_of(&c->offsets), bytes_of(&c->data));
        if (col == NULL) {
            Py_DECREF(cols);
            return NULL;
        }
        PyTuple_SET_ITEM(cols, i, col);
    }
    return Py_BuildValue("(nN)", (Py_ssize_t)rows, cols);
}

static int Scanner_init(Scanner *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"span_keys", "span_integers", "log_keys", "log_integers", NULL};
    PyObject *span_keys, *span_integers, *log_keys, *log_integers;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO", names, &span_keys, &span_integers,
                                     &log_keys, &log_integers))
        return -1;
    table_free(&self->spans);
    table_free(&self->logs);
    int span_ints[] = {S_KIND, S_STATUS_CODE};
    int log_ints[] = {L_SEVERITY_NUMBER};
    if (table_init(&self->spans, span_kinds, S_NFIELDS, span_keys, span_integers, span_ints, 2) ||
        table_init(&self->logs, log_kinds, L_NFIELDS, log_keys, log_integers, log_ints, 1))
        return -1;
    self->spans.cols[S_TRACE].empty_is_null = true;
    self->spans.cols[S_SPAN].empty_is_null = true;
    self->spans.cols[S_PARENT].empty_is_null = true;
    self->logs.cols[L_TRACE].empty_is_null = true;
    self->logs.cols[L_SPAN].empty_is_null = true;
    return 0;
}

static void Scanner_dealloc(Scanner *self) {
    table_free(&self->spans);
    table_free(&self->logs);
    buf_free(&self->scratch);
    buf_free(&self->key);
    buf_free(&self->service);
    buf_free(&self->scope);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Scanner_scan(Scanner *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "y*n", &view, &start))
        return NULL;
    if (start < 0 || start > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "start is outside the block");
        return NULL;
    }
    if (table_reset(&self->spans) || table_reset(&self->logs)) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    const uint8_t *base = view.buf, *end = base + view.len, *line = base + start;
    Py_ssize_t lines = 0;
    self->oom = false;
    Py_BEGIN_ALLOW_THREADS
    while (line < end) {
        const uint8_t *newline = memchr(line, '\n', (size_t)(end - line));
        const uint8_t *next = newline ? newline + 1 : end;
        if (*line != '{') {
            if (blank(line, next)) {
                line = next;
                continue;
            }
            break;
        }
        size_t spans = self->spans.cols[0].rows, logs = self->logs.cols[0].rows;
        Cur c = {line, next};
        self->scratch.len = 0;
        if (read_request(self, &c)) {
            for (int i = 0; i < self->spans.ncols; i++)
                col_truncate(&self->spans.cols[i], spans);
            for (int i = 0; i < self->logs.ncols; i++)
                col_truncate(&self->logs.cols[i], logs);
            break;
        }
        lines++;
        line = next;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (self->oom)
        return PyErr_NoMemory();
    PyObject *spans = table_take(&self->spans);
    PyObject *logs = spans ? table_take(&self->logs) : NULL;
    if (logs == NULL) {
        Py_XDECREF(spans);
        return NULL;
    }
    return Py_BuildValue("(nnNN)", (Py_ssize_t)(line - base), lines, spans, logs);
}

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)Scanner_scan, METH_VARARGS,
     "scan(block, start) -> (stop, lines, spans, logs): read whole lines from ``start``,\n"
     "stopping at the first line declined (``stop`` is where it starts) or the end."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "telemetry.analysis._scan.Scanner",
    .tp_doc = "Reads OTLP/JSON span and log lines into column buffers.",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
};

static struct PyModuleDef scan_module = {
    PyModuleDef_HEAD_INIT, .m_name = "_scan",
    .m_doc = "OTLP/JSON lines into Arrow-layout column buffers.", .m_size = -1,
};

PyMODINIT_FUNC PyInit__scan(void) {
    init_tables();
    if (PyType_Ready(&ScannerType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&scan_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
