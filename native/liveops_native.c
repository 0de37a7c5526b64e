/*
 * The ingest's native fast path (see transforms/decode.py).
 *
 * One call types a batch of one topic family's messages: each message that is, beyond doubt, a valid event
 * of one of the family's event types is written into Arrow columns (the family's table layout); every other
 * message is left out, and Python sends it to the rules path, which gives the reason code. So this code only
 * ever accepts or refuses: it never decides a reason. It refuses anything unusual that a valid message may
 * still hold (an escaped key, a timestamp with a lower-case `t` or more than six fraction digits, a key the
 * event type does not declare, `\u0000`): the rules path is the judge of those.
 *
 * What it accepts: strict RFC 8259 JSON (UTF-8, no trailing comma, no NaN, no leading zero, no raw control
 * character in a string, no lone surrogate), one top-level object of scalar values, no key repeated, no key
 * the event type does not declare, every required field present and not null, each value of its field's
 * type (an integer field holds a JSON integer within int64) and within its bounds (string length in
 * characters, integer range, enumeration), and `event_time` of the plain RFC 3339 shape
 * `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM|-HH:MM)`, a real calendar date, inside the plausible range.
 * Patterns and the feedback score's survey range are checked by Python on the typed columns.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_STRING = 0, KIND_INT = 1, KIND_BOOL = 2, KIND_TIMESTAMP = 3 };
enum { MAX_COLUMNS = 64, MAX_TYPES = 32, MAX_RULES = 64, MAX_CHOICES = 32, MAX_PAIRS = 64 };

typedef struct {
    const uint8_t *ptr;
    size_t len;
} Slice;

typedef struct {
    Slice key;
    uint32_t column;
    uint8_t kind, nullable, has_min, has_max;
    int64_t min_len, max_len; /* -1: no bound */
    int64_t min, max;
    int32_t n_choices; /* -1: not an enumeration */
    Slice choices[MAX_CHOICES];
} Rule;

typedef struct {
    Slice name;
    uint32_t n_rules;
    uint64_t required;
    Rule rules[MAX_RULES];
} EventType;

typedef struct {
    uint32_t n_columns, tag_column, id_column, time_column, n_types;
    int64_t time_min, time_end;
    uint8_t kinds[MAX_COLUMNS];
    EventType types[MAX_TYPES];
} Spec;

/* ---- reading the spec (a little-endian blob written by transforms/decode.py) ---- */

typedef struct {
    const uint8_t *p, *end;
    int ok;
} Reader;

static uint64_t read_uint(Reader *r, int bytes) {
    uint64_t v = 0;
    if (!r->ok || r->end - r->p < bytes) {
        r->ok = 0;
        return 0;
    }
    for (int i = 0; i < bytes; i++) v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    return v;
}

static Slice read_slice(Reader *r) {
    Slice s = {NULL, 0};
    uint64_t len = read_uint(r, 4);
    if (!r->ok || (uint64_t)(r->end - r->p) < len) {
        r->ok = 0;
        return s;
    }
    s.ptr = r->p;
    s.len = (size_t)len;
    r->p += len;
    return s;
}

static int read_spec(const uint8_t *blob, size_t size, Spec *spec) {
    Reader r = {blob, blob + size, 1};
    spec->n_columns = (uint32_t)read_uint(&r, 4);
    spec->tag_column = (uint32_t)read_uint(&r, 4);
    spec->id_column = (uint32_t)read_uint(&r, 4);
    spec->time_column = (uint32_t)read_uint(&r, 4);
    spec->time_min = (int64_t)read_uint(&r, 8);
    spec->time_end = (int64_t)read_uint(&r, 8);
    spec->n_types = (uint32_t)read_uint(&r, 4);
    if (!r.ok || spec->n_columns > MAX_COLUMNS || spec->n_types > MAX_TYPES || spec->tag_column >= spec->n_columns)
        return 0;
    for (uint32_t c = 0; c < spec->n_columns; c++) {
        spec->kinds[c] = (uint8_t)read_uint(&r, 1);
        if (spec->kinds[c] > KIND_TIMESTAMP) return 0;
    }
    if (spec->id_column >= spec->n_columns || spec->time_column >= spec->n_columns) return 0;
    if (spec->kinds[spec->tag_column] != KIND_STRING || spec->kinds[spec->id_column] != KIND_STRING ||
        spec->kinds[spec->time_column] != KIND_TIMESTAMP)
        return 0;
    for (uint32_t t = 0; t < spec->n_types; t++) {
        EventType *type = &spec->types[t];
        type->name = read_slice(&r);
        type->n_rules = (uint32_t)read_uint(&r, 4);
        type->required = 0;
        if (!r.ok || type->n_rules > MAX_RULES) return 0;
        for (uint32_t i = 0; i < type->n_rules; i++) {
            Rule *rule = &type->rules[i];
            rule->key = read_slice(&r);
            rule->column = (uint32_t)read_uint(&r, 4);
            rule->kind = (uint8_t)read_uint(&r, 1);
            rule->nullable = (uint8_t)read_uint(&r, 1);
            rule->min_len = (int64_t)read_uint(&r, 8);
            rule->max_len = (int64_t)read_uint(&r, 8);
            rule->has_min = (uint8_t)read_uint(&r, 1);
            rule->min = (int64_t)read_uint(&r, 8);
            rule->has_max = (uint8_t)read_uint(&r, 1);
            rule->max = (int64_t)read_uint(&r, 8);
            rule->n_choices = (int32_t)read_uint(&r, 4);
            if (!r.ok || rule->column >= spec->n_columns || spec->kinds[rule->column] != rule->kind ||
                rule->n_choices > MAX_CHOICES || rule->n_choices < -1)
                return 0;
            for (int32_t k = 0; k < rule->n_choices; k++) rule->choices[k] = read_slice(&r);
            if (!rule->nullable) type->required |= (uint64_t)1 << i;
        }
    }
    return r.ok && r.p == r.end;
}

/* ---- growable buffers ---- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
    int failed;
} Buffer;

static int reserve(Buffer *b, size_t more) {
    if (b->failed) return 0;
    if (b->len + more <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (data == NULL) {
        b->failed = 1;
        return 0;
    }
    b->data = data;
    b->cap = cap;
    return 1;
}

static void append(Buffer *b, const void *src, size_t n) {
    if (n == 0 || !reserve(b, n)) return;
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void append_i64(Buffer *b, int64_t v) {
    if (b->len + sizeof v > b->cap && !reserve(b, sizeof v)) return;
    memcpy(b->data + b->len, &v, sizeof v);
    b->len += sizeof v;
}

/* A bitmap: `bits` counts the bits pushed. */
static void push_bit(Buffer *b, size_t *bits, int bit) {
    if (*bits % 8 == 0) {
        uint8_t zero = 0;
        append(b, &zero, 1);
        if (b->failed) return;
    }
    if (bit) b->data[*bits / 8] |= (uint8_t)(1u << (*bits % 8));
    (*bits)++;
}

/* ---- scanning one message ---- */

typedef enum { V_STR, V_INT, V_TRUE, V_FALSE, V_NULL } ValueTag;

typedef struct {
    size_t key_start, key_end;
    ValueTag tag;
    size_t start, end; /* a string's content, quotes excluded */
    int escaped;
    int64_t integer;
} Pair;

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* A byte of w is zero / equal to c / below c (c <= 128): the high bit of each such byte is set (and maybe
 * of bytes above one, never below the lowest). */
static inline uint64_t has_zero(uint64_t w) { return (w - ONES) & ~w & HIGHS; }
static inline uint64_t has_byte(uint64_t w, uint8_t c) { return has_zero(w ^ (ONES * c)); }
static inline uint64_t has_below(uint64_t w, uint8_t c) { return (w - ONES * c) & ~w & HIGHS; }

static int is_ws(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }

static size_t skip_ws(const uint8_t *m, size_t n, size_t i) {
    while (i < n && is_ws(m[i])) i++;
    return i;
}

static int hex_digit(uint8_t b) {
    if (b >= '0' && b <= '9') return b - '0';
    if (b >= 'a' && b <= 'f') return b - 'a' + 10;
    if (b >= 'A' && b <= 'F') return b - 'A' + 10;
    return -1;
}

static long hex4(const uint8_t *m, size_t n, size_t i) {
    if (i + 4 > n) return -1;
    long v = 0;
    for (size_t k = i; k < i + 4; k++) {
        int d = hex_digit(m[k]);
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* A string whose opening quote is at i - 1: the index after its closing quote, or 0 where RFC 8259 refuses
 * it (or it holds \u0000 or a lone surrogate). */
static int utf8_valid(const uint8_t *s, size_t n);

static size_t scan_string(const uint8_t *m, size_t n, size_t i, int *escaped) {
    *escaped = 0;
    size_t start = i;
    uint64_t high = 0; /* a byte >= 0x80 seen: the string's UTF-8 is checked at its end */
    while (i < n) {
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* Eight bytes at a time to the first quote, backslash or control character: the lowest flagged byte
         * of the mask is exact (a false positive can only follow a true one). */
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, m + i, 8);
            uint64_t mask = has_byte(w, '"') | has_byte(w, '\\') | has_below(w, 0x20);
            if (mask == 0) {
                high |= w & HIGHS;
                i += 8;
                continue;
            }
            size_t skip = (size_t)__builtin_ctzll(mask) / 8;
            if (skip) high |= (w & HIGHS) & ((1ULL << (8 * skip)) - 1);
            i += skip;
        }
#endif
        uint8_t b = m[i];
        if (b == '"') return (high && !utf8_valid(m + start, i - start)) ? 0 : i + 1;
        if (b < 0x20) return 0;
        if (b != '\\') {
            high |= b & 0x80;
            i++;
            continue;
        }
        *escaped = 1;
        if (i + 1 >= n) return 0;
        switch (m[i + 1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                i += 2;
                break;
            case 'u': {
                long unit = hex4(m, n, i + 2);
                if (unit <= 0 || (unit >= 0xDC00 && unit < 0xE000)) return 0;
                if (unit >= 0xD800 && unit < 0xDC00) {
                    if (i + 7 >= n || m[i + 6] != '\\' || m[i + 7] != 'u') return 0;
                    long low = hex4(m, n, i + 8);
                    if (low < 0xDC00 || low >= 0xE000) return 0;
                    i += 12;
                } else {
                    i += 6;
                }
                break;
            }
            default:
                return 0;
        }
    }
    return 0;
}

/* The text of a string checked by scan_string, escapes decoded, appended to out. */
static void unescape(const uint8_t *m, size_t n, Buffer *out) {
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && m[run] != '\\') run++;
        append(out, m + i, run - i);
        i = run;
        if (i >= n) break;
        uint8_t c = 0;
        switch (m[i + 1]) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = 8; break;
            case 'f': c = 12; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: break;
        }
        if (c) {
            append(out, &c, 1);
            i += 2;
            continue;
        }
        uint32_t code = (uint32_t)hex4(m, n, i + 2);
        if (code >= 0xD800 && code < 0xDC00) {
            uint32_t low = (uint32_t)hex4(m, n, i + 8);
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            i += 12;
        } else {
            i += 6;
        }
        uint8_t u[4];
        size_t len;
        if (code < 0x80) {
            u[0] = (uint8_t)code;
            len = 1;
        } else if (code < 0x800) {
            u[0] = (uint8_t)(0xC0 | (code >> 6));
            u[1] = (uint8_t)(0x80 | (code & 0x3F));
            len = 2;
        } else if (code < 0x10000) {
            u[0] = (uint8_t)(0xE0 | (code >> 12));
            u[1] = (uint8_t)(0x80 | ((code >> 6) & 0x3F));
            u[2] = (uint8_t)(0x80 | (code & 0x3F));
            len = 3;
        } else {
            u[0] = (uint8_t)(0xF0 | (code >> 18));
            u[1] = (uint8_t)(0x80 | ((code >> 12) & 0x3F));
            u[2] = (uint8_t)(0x80 | ((code >> 6) & 0x3F));
            u[3] = (uint8_t)(0x80 | (code & 0x3F));
            len = 4;
        }
        append(out, u, len);
    }
}

/* An integer at i that fits int64: the index after it, or 0 (a fraction, an exponent, an integer beyond
 * int64, a leading zero, or no digit). */
static size_t scan_int(const uint8_t *m, size_t n, size_t i, int64_t *value) {
    int negative = m[i] == '-';
    if (negative) i++;
    size_t first = i;
    int64_t v = 0;
    while (i < n && m[i] >= '0' && m[i] <= '9') {
        int digit = m[i] - '0';
        if (negative ? (v < (INT64_MIN + digit) / 10) : (v > (INT64_MAX - digit) / 10)) return 0;
        v = negative ? v * 10 - digit : v * 10 + digit;
        i++;
    }
    size_t count = i - first;
    if (count == 0 || (count > 1 && m[first] == '0')) return 0;
    if (i < n && (m[i] == '.' || m[i] == 'e' || m[i] == 'E')) return 0;
    *value = v;
    return i;
}

/* The top-level object's pairs: their count, or -1 where it is refused. */
static int scan_object(const uint8_t *m, size_t n, Pair *pairs) {
    int count = 0;
    size_t i = skip_ws(m, n, 0);
    if (i >= n || m[i] != '{') return -1;
    i = skip_ws(m, n, i + 1);
    for (;;) {
        if (count == MAX_PAIRS || i >= n || m[i] != '"') return -1; /* also `{}` and a trailing comma */
        Pair *p = &pairs[count++];
        int escaped;
        size_t end = scan_string(m, n, i + 1, &escaped);
        if (end == 0 || escaped) return -1;
        p->key_start = i + 1;
        p->key_end = end - 1;
        i = skip_ws(m, n, end);
        if (i >= n || m[i] != ':') return -1;
        i = skip_ws(m, n, i + 1);
        if (i >= n) return -1;
        uint8_t b = m[i];
        if (b == '"') {
            end = scan_string(m, n, i + 1, &p->escaped);
            if (end == 0) return -1;
            p->tag = V_STR;
            p->start = i + 1;
            p->end = end - 1;
            i = end;
        } else if (b == '-' || (b >= '0' && b <= '9')) {
            end = scan_int(m, n, i, &p->integer);
            if (end == 0) return -1;
            p->tag = V_INT;
            i = end;
        } else if (i + 4 <= n && memcmp(m + i, "true", 4) == 0) {
            p->tag = V_TRUE;
            i += 4;
        } else if (i + 5 <= n && memcmp(m + i, "false", 5) == 0) {
            p->tag = V_FALSE;
            i += 5;
        } else if (i + 4 <= n && memcmp(m + i, "null", 4) == 0) {
            p->tag = V_NULL;
            i += 4;
        } else {
            return -1; /* a nested value, or not JSON */
        }
        i = skip_ws(m, n, i);
        if (i >= n) return -1;
        if (m[i] == ',') {
            i = skip_ws(m, n, i + 1);
        } else if (m[i] == '}') {
            break;
        } else {
            return -1;
        }
    }
    return skip_ws(m, n, i + 1) == n ? count : -1;
}

static int utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & HIGHS) break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t min;
        uint32_t code;
        if ((b & 0xE0) == 0xC0) {
            len = 2, min = 0x80, code = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3, min = 0x800, code = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, code = b & 0x07;
        } else {
            return 0;
        }
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            code = (code << 6) | (s[i + k] & 0x3F);
        }
        if (code < min || code > 0x10FFFF || (code >= 0xD800 && code < 0xE000)) return 0;
        i += len;
    }
    return 1;
}

static int64_t char_count(const uint8_t *s, size_t n) {
    int64_t count = 0;
    for (size_t i = 0; i < n; i++) count += (s[i] & 0xC0) != 0x80;
    return count;
}

static int digits(const uint8_t *t, size_t start, size_t count, int64_t *out) {
    int64_t v = 0;
    for (size_t i = start; i < start + count; i++) {
        if (t[i] < '0' || t[i] > '9') return 0;
        v = v * 10 + (t[i] - '0');
    }
    *out = v;
    return 1;
}

static int64_t days_from_civil(int64_t year, int64_t month, int64_t day) {
    int64_t y = month <= 2 ? year - 1 : year;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM) as microseconds since the epoch, UTC; 0 when refused. */
static int timestamp_micros(const uint8_t *t, size_t n, int64_t *out) {
    int64_t year, month, day, hour, minute, second, micros = 0, offset = 0;
    if (n < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':') return 0;
    if (!digits(t, 0, 4, &year) || !digits(t, 5, 2, &month) || !digits(t, 8, 2, &day) || !digits(t, 11, 2, &hour) ||
        !digits(t, 14, 2, &minute) || !digits(t, 17, 2, &second))
        return 0;
    static const int64_t month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1) return 0;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > month_days[month - 1] + (month == 2 && leap)) return 0;
    if (hour > 23 || minute > 59 || second > 59) return 0;
    size_t i = 19;
    if (t[i] == '.') {
        size_t start = ++i;
        while (i < n && t[i] >= '0' && t[i] <= '9') i++;
        size_t count = i - start;
        if (count == 0 || count > 6 || !digits(t, start, count, &micros)) return 0;
        for (size_t k = count; k < 6; k++) micros *= 10;
    }
    if (n - i == 1 && t[i] == 'Z') {
        offset = 0;
    } else if (n - i == 6 && (t[i] == '+' || t[i] == '-') && t[i + 3] == ':') {
        int64_t oh, om;
        if (!digits(t, i + 1, 2, &oh) || !digits(t, i + 4, 2, &om) || oh > 23 || om > 59) return 0;
        offset = (oh * 3600 + om * 60) * (t[i] == '+' ? 1 : -1);
    } else {
        return 0;
    }
    *out = (days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset) * 1000000 + micros;
    return 1;
}

/* ---- one message ---- */

typedef enum { T_ABSENT, T_STR, T_INT, T_BOOL } TypedTag;

typedef struct {
    TypedTag tag;
    int from_text; /* a string unescaped into the text buffer, else in the message */
    size_t start, end;
    int64_t integer;
} Typed;

static int slice_eq(Slice s, const uint8_t *p, size_t n) { return s.len == n && memcmp(s.ptr, p, n) == 0; }

/* Check one message; its typed fields go to typed[column]. 1: accepted, 0: refused. */
static int check(const Spec *spec, const uint8_t *m, size_t n, Pair *pairs, Typed *typed, Buffer *text) {
    /* UTF-8: a byte >= 0x80 outside a string is refused by the scan; each string's bytes are checked. */
    int count = scan_object(m, n, pairs);
    if (count < 0) return 0;
    const Pair *tag = NULL;
    for (int k = 0; k < count; k++) {
        const Pair *p = &pairs[k];
        if (p->key_end - p->key_start == 10 && memcmp(m + p->key_start, "event_type", 10) == 0) {
            if (tag != NULL || p->tag != V_STR || p->escaped) return 0;
            tag = p;
        }
    }
    if (tag == NULL) return 0;
    const EventType *type = NULL;
    for (uint32_t t = 0; t < spec->n_types; t++) {
        if (slice_eq(spec->types[t].name, m + tag->start, tag->end - tag->start)) type = &spec->types[t];
    }
    if (type == NULL) return 0;
    text->len = 0;
    for (uint32_t c = 0; c < spec->n_columns; c++) typed[c].tag = T_ABSENT;
    typed[spec->tag_column] = (Typed){T_STR, 0, tag->start, tag->end, 0};
    uint64_t seen = 0;
    uint32_t guess = 0;
    for (int k = 0; k < count; k++) {
        const Pair *p = &pairs[k];
        if (p == tag) continue;
        const uint8_t *key = m + p->key_start;
        size_t key_len = p->key_end - p->key_start;
        uint32_t index = guess;
        if (index >= type->n_rules || !slice_eq(type->rules[index].key, key, key_len)) {
            index = 0;
            while (index < type->n_rules && !slice_eq(type->rules[index].key, key, key_len)) index++;
        }
        guess = index + 1;
        if (index == type->n_rules || (seen & ((uint64_t)1 << index))) return 0; /* undeclared, or repeated */
        seen |= (uint64_t)1 << index;
        const Rule *rule = &type->rules[index];
        Typed *out = &typed[rule->column];
        if (p->tag == V_NULL) {
            if (!rule->nullable) return 0;
            continue;
        }
        switch (rule->kind) {
            case KIND_STRING: {
                if (p->tag != V_STR) return 0;
                const uint8_t *s = m + p->start;
                size_t len = p->end - p->start;
                *out = (Typed){T_STR, 0, p->start, p->end, 0};
                if (p->escaped) {
                    size_t from = text->len;
                    unescape(s, len, text);
                    if (text->failed) return 0;
                    *out = (Typed){T_STR, 1, from, text->len, 0};
                    s = text->data + from;
                    len = text->len - from;
                }
                int64_t bytes = (int64_t)len;
                if ((rule->min_len >= 0 && bytes < 4 * rule->min_len) || (rule->max_len >= 0 && bytes > rule->max_len)) {
                    int64_t chars = char_count(s, len);
                    if ((rule->min_len >= 0 && chars < rule->min_len) || (rule->max_len >= 0 && chars > rule->max_len))
                        return 0;
                }
                if (rule->n_choices >= 0) {
                    int found = 0;
                    for (int32_t c = 0; c < rule->n_choices && !found; c++) found = slice_eq(rule->choices[c], s, len);
                    if (!found) return 0;
                }
                break;
            }
            case KIND_INT:
                if (p->tag != V_INT || (rule->has_min && p->integer < rule->min) ||
                    (rule->has_max && p->integer > rule->max))
                    return 0;
                *out = (Typed){T_INT, 0, 0, 0, p->integer};
                break;
            case KIND_BOOL:
                if (p->tag != V_TRUE && p->tag != V_FALSE) return 0;
                *out = (Typed){T_BOOL, 0, 0, 0, p->tag == V_TRUE};
                break;
            default: { /* KIND_TIMESTAMP */
                int64_t micros;
                if (p->tag != V_STR || p->escaped || !timestamp_micros(m + p->start, p->end - p->start, &micros) ||
                    micros < spec->time_min || micros >= spec->time_end)
                    return 0;
                *out = (Typed){T_INT, 0, 0, 0, micros};
            }
        }
    }
    return (seen & type->required) == type->required;
}

typedef struct {
    Buffer validity, values, data;
    size_t validity_bits, value_bits;
} Column;

static void push_value(Column *col, uint8_t kind, const Typed *v, const uint8_t *m, const Buffer *text) {
    push_bit(&col->validity, &col->validity_bits, v->tag != T_ABSENT);
    switch (kind) {
        case KIND_STRING: {
            /* An Arrow string view: the length, then the text itself when it fits in 12 bytes, else its first
             * 4 bytes, the data buffer (0) and where it starts there. */
            uint8_t view[16] = {0};
            if (v->tag == T_STR) {
                const uint8_t *text_start = (v->from_text ? text->data : m) + v->start;
                uint32_t len = (uint32_t)(v->end - v->start);
                memcpy(view, &len, 4);
                if (len <= 12) {
                    memcpy(view + 4, text_start, len);
                } else {
                    uint32_t at = (uint32_t)col->data.len;
                    memcpy(view + 4, text_start, 4);
                    memcpy(view + 12, &at, 4);
                    append(&col->data, text_start, len);
                }
            }
            append(&col->values, view, sizeof view);
            break;
        }
        case KIND_BOOL:
            push_bit(&col->values, &col->value_bits, v->tag == T_BOOL && v->integer);
            break;
        default:
            append_i64(&col->values, v->tag == T_ABSENT ? 0 : v->integer);
    }
}

/* A 64-bit hash of an event's key, its event_id and the UTC day of its event_time (both required, so
 * present): equal keys give equal hashes; Python groups the rows flagged by the key itself. */
static uint64_t event_key(const Typed *id, const Typed *time, const uint8_t *m, const Buffer *text) {
    const uint8_t *s = (id->from_text ? text->data : m) + id->start;
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < id->end - id->start; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    int64_t micros = time->integer, day_us = 86400LL * 1000000LL;
    int64_t day = micros / day_us - (micros % day_us < 0);
    h ^= (uint64_t)day * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 31; /* splitmix64's finaliser */
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    return h;
}

/* A bitmap of the keys that occur more than once among `n` (an open-addressing table of twice as many
 * slots); NULL when memory runs out. */
static uint8_t *repeated_keys(const uint64_t *keys, size_t n, size_t *bytes) {
    size_t slots = 16;
    while (slots < 2 * n) slots *= 2;
    uint64_t *table = calloc(slots, sizeof(uint64_t));
    uint8_t *seen_twice = calloc(slots, 1), *bits = calloc(n / 8 + 1, 1);
    size_t *slot_of = malloc(sizeof(size_t) * (n ? n : 1));
    if (table == NULL || seen_twice == NULL || bits == NULL || slot_of == NULL) {
        free(table), free(seen_twice), free(bits), free(slot_of);
        return NULL;
    }
    /* A slot holds key + 1 (0: empty); a key of UINT64_MAX shares its slot's chain with no harm. */
    for (size_t i = 0; i < n; i++) {
        uint64_t k = keys[i] + 1 ? keys[i] + 1 : 1;
        size_t j = (size_t)(keys[i] & (slots - 1));
        while (table[j] != 0 && table[j] != k) j = (j + 1) & (slots - 1);
        if (table[j] == k) seen_twice[j] = 1;
        table[j] = k;
        slot_of[i] = j;
    }
    for (size_t i = 0; i < n; i++) {
        if (seen_twice[slot_of[i]]) bits[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    free(table), free(seen_twice), free(slot_of);
    *bytes = n / 8 + 1;
    return bits;
}

static PyObject *bytes_of(const Buffer *b) {
    return PyBytes_FromStringAndSize(b->len ? (const char *)b->data : "", (Py_ssize_t)b->len);
}

PyDoc_STRVAR(decode_doc,
    "decode(spec, count, offset, validity, views, buffers) -> (rows, columns, keys)\n\n"
    "Type the messages of an Arrow BinaryView array given by the addresses of its buffers (validity: 0 when\n"
    "it has none; offset: the array's offset; views: the views' buffer; buffers: the data buffers' addresses\n"
    "and sizes, uint64 pairs in native byte order; the caller keeps the buffers alive). spec: the family's\n"
    "rules (see transforms/decode.py). Returns the accepted messages' indexes (uint32, native byte order)\n"
    "and, per column, its Arrow buffers (validity, values, data): a string column gives its string views and\n"
    "their data buffer, a boolean one its bitmap, the others their int64 values, and None as data; and a\n"
    "bitmap of the accepted messages whose key (event_id, UTC day of event_time) may occur twice among them:\n"
    "every one that does is set (a set bit whose key is unique is a hash collision).");

static PyObject *decode(PyObject *self, PyObject *args) {
    (void)self;
    const char *blob, *buffer_table;
    Py_ssize_t blob_size, count, offset, table_size;
    unsigned long long validity_addr, views_addr;
    if (!PyArg_ParseTuple(args, "y#nnKKy#", &blob, &blob_size, &count, &offset, &validity_addr, &views_addr,
                          &buffer_table, &table_size))
        return NULL;
    /* A string view addresses its data with 32 bits: the strings of a part (at most as long as its values)
     * must be under 4 GiB together; so must each data buffer. */
    uint64_t total = 0;
    Py_ssize_t n_buffers = table_size / 16;
    const uint64_t *table = (const uint64_t *)buffer_table;
    for (Py_ssize_t k = 0; k < n_buffers; k++) total += table[2 * k + 1];
    if (count < 0 || offset < 0 || count > UINT32_MAX || table_size % 16 != 0 || total > UINT32_MAX ||
        (count > 0 && !views_addr)) {
        PyErr_SetString(PyExc_ValueError, "decode: bad array geometry");
        return NULL;
    }
    Spec *spec = calloc(1, sizeof(Spec));
    if (spec == NULL) return PyErr_NoMemory();
    if (!read_spec((const uint8_t *)blob, (size_t)blob_size, spec)) {
        free(spec);
        PyErr_SetString(PyExc_ValueError, "decode: the spec is malformed");
        return NULL;
    }
    const uint8_t *views = (const uint8_t *)(uintptr_t)views_addr;
    const uint8_t *validity = (const uint8_t *)(uintptr_t)validity_addr;
    Column *columns = calloc(spec->n_columns, sizeof(Column));
    Pair *pairs = malloc(sizeof(Pair) * MAX_PAIRS);
    Typed *typed = malloc(sizeof(Typed) * MAX_COLUMNS);
    Buffer rows = {0}, keys = {0}, text = {0};
    uint8_t *repeated = NULL;
    size_t repeated_size = 0;
    int failed = columns == NULL || pairs == NULL || typed == NULL;
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS
        for (uint32_t c = 0; c < spec->n_columns; c++) {
            reserve(&columns[c].values, (size_t)count * (spec->kinds[c] == KIND_STRING ? 16 : sizeof(int64_t)));
            reserve(&columns[c].validity, (size_t)count / 8 + 1);
        }
        for (Py_ssize_t row = 0; row < count; row++) {
            Py_ssize_t i = offset + row;
            if (validity && !(validity[i / 8] & (1u << (i % 8)))) continue;
            /* A binary view: the length, then the bytes themselves when they fit in 12, else their first 4,
             * the data buffer and where they start there. */
            const uint8_t *view = views + 16 * (size_t)i;
            uint32_t n, buffer, at;
            memcpy(&n, view, 4);
            const uint8_t *m = view + 4;
            if (n > 12) {
                memcpy(&buffer, view + 8, 4);
                memcpy(&at, view + 12, 4);
                if ((Py_ssize_t)buffer >= n_buffers || (uint64_t)at + n > table[2 * buffer + 1]) continue;
                m = (const uint8_t *)(uintptr_t)table[2 * buffer] + at;
            }
            if (!check(spec, m, n, pairs, typed, &text)) continue;
            uint32_t r = (uint32_t)row;
            append(&rows, &r, sizeof r);
            uint64_t key = event_key(&typed[spec->id_column], &typed[spec->time_column], m, &text);
            append(&keys, &key, sizeof key);
            for (uint32_t c = 0; c < spec->n_columns; c++) push_value(&columns[c], spec->kinds[c], &typed[c], m, &text);
        }
        failed = rows.failed | keys.failed;
        if (!failed) {
            repeated = repeated_keys((const uint64_t *)keys.data, keys.len / sizeof(uint64_t), &repeated_size);
            failed = repeated == NULL;
        }
        for (uint32_t c = 0; c < spec->n_columns; c++) {
            failed |= columns[c].validity.failed | columns[c].values.failed | columns[c].data.failed;
        }
        Py_END_ALLOW_THREADS
    }
    PyObject *result = NULL;
    if (failed) {
        PyErr_NoMemory();
    } else {
        PyObject *list = PyList_New((Py_ssize_t)spec->n_columns);
        for (uint32_t c = 0; list != NULL && c < spec->n_columns; c++) {
            PyObject *item = spec->kinds[c] == KIND_STRING
                ? Py_BuildValue("(NNN)", bytes_of(&columns[c].validity), bytes_of(&columns[c].values),
                                bytes_of(&columns[c].data))
                : Py_BuildValue("(NNO)", bytes_of(&columns[c].validity), bytes_of(&columns[c].values), Py_None);
            if (item == NULL) {
                Py_CLEAR(list);
                break;
            }
            PyList_SetItem(list, (Py_ssize_t)c, item);
        }
        Buffer flags = {repeated, repeated_size, repeated_size, 0};
        if (list != NULL) result = Py_BuildValue("(NNN)", bytes_of(&rows), list, bytes_of(&flags));
    }
    for (uint32_t c = 0; columns != NULL && c < spec->n_columns; c++) {
        free(columns[c].validity.data);
        free(columns[c].values.data);
        free(columns[c].data.data);
    }
    free(columns);
    free(pairs);
    free(typed);
    free(rows.data);
    free(keys.data);
    free(repeated);
    free(text.data);
    free(spec);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS, decode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "liveops_native",
    "The ingest's native fast path: strict JSON decoding of contract events into Arrow columns.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_liveops_native(void) { return PyModule_Create(&module); }
