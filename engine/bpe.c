/* bpe.c — byte-level BPE, the way Hugging Face tokenizers computes it (see bpe.h). */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "bpe.h"

#include <pcre2.h>
#include <utf8proc.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* ---- the GPT-2 byte-level alphabet ---------------------------------------------------- */

/* Printable bytes stand for themselves; the 68 others are mapped, in byte
 * order, to U+0100, U+0101, ... (GPT-2's bytes_to_unicode). */
static int byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t bpe_byte_to_char(uint8_t b)
{
    if (byte_is_printable(b))
        return b;
    uint32_t n = 0;
    for (unsigned i = 0; i < b; i++)
        n += !byte_is_printable(i);
    return 0x100 + n;
}

int bpe_char_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return byte_is_printable(cp) ? (int)cp : -1;
    uint32_t n = 0;
    for (unsigned b = 0; b < 256; b++) {
        if (byte_is_printable(b))
            continue;
        if (0x100 + n == cp)
            return (int)b;
        n++;
    }
    return -1;
}

/* ---- UTF-8 ---------------------------------------------------------------------------- */

/* Length of the valid UTF-8 character at s[0..len), or 0 when s starts with
 * an invalid sequence; then *bad is the length of its maximal subpart (the
 * bytes one U+FFFD replaces: Unicode 3.9, Table 3-7). */
static size_t utf8_char(const unsigned char *s, size_t len, uint32_t *cp, size_t *bad)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= len || s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xBF)) {
            *bad = i;
            return 0;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return need + 1;
}

/* Code point of the (valid) character ending at s[end), and its length. */
static uint32_t utf8_last(const unsigned char *s, size_t end, size_t *clen)
{
    size_t b = end - 1;
    while (b > 0 && end - b < 4 && (s[b] & 0xC0) == 0x80)
        b--;
    uint32_t cp = 0;
    size_t bad;
    *clen = utf8_char(s + b, end - b, &cp, &bad);
    if (*clen == 0)
        *clen = 1;
    return cp;
}

/* Returns a copy of s with each maximal invalid subpart replaced by U+FFFD,
 * or NULL (with *out_len untouched) when s is valid already. */
static char *utf8_sanitize(const char *s, size_t len, size_t *out_len, int *oom)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, bad = 0;
    uint32_t cp;
    while (i < len) {
        size_t l = utf8_char(u + i, len - i, &cp, &bad);
        if (l == 0)
            break;
        i += l;
    }
    if (i == len)
        return NULL;
    char *out = malloc(len * 3 + 1); /* each bad byte becomes at most 3 */
    if (!out) {
        *oom = 1;
        return NULL;
    }
    memcpy(out, s, i);
    size_t o = i;
    while (i < len) {
        size_t l = utf8_char(u + i, len - i, &cp, &bad);
        if (l) {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += bad;
        }
    }
    *out_len = o;
    return out;
}

char *bpe_utf8_lossy(const char *s, size_t len, size_t *out_len)
{
    int oom = 0;
    char *r = utf8_sanitize(s, len, out_len, &oom);
    if (r || oom) {
        if (r) {
            r[*out_len] = 0;
        }
        return r;
    }
    r = malloc(len + 1);
    if (r) {
        memcpy(r, s, len);
        r[len] = 0;
        *out_len = len;
    }
    return r;
}

/* Unicode White_Space (Rust's char::is_whitespace, Oniguruma's \s). */
static int is_white_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* ---- hash tables ---------------------------------------------------------------------- */

/* (left, right) -> (rank, merged): open addressing on the packed pair. */
typedef struct pair_slot {
    uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
    uint32_t rank, merged;
} pair_slot;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static size_t table_size(size_t n)
{
    size_t s = 16;
    while (s < 2 * n)
        s <<= 1;
    return s;
}

/* ---- the tokenizer -------------------------------------------------------------------- */

typedef struct added_tok {
    char *content;
    size_t len;
    uint32_t id;
    unsigned flags;
} added_tok;

typedef struct step {
    bpe_step_kind kind;
    pcre2_code *re; /* REGEX */
    char *str, *with; /* PREPEND / REPLACE: NUL-terminated copies */
    size_t str_len, with_len;
} step;

struct bpe {
    uint32_t n_tokens;
    uint32_t *tok_off; /* n_tokens + 1 offsets into tok_bytes */
    char *tok_bytes;
    uint8_t *tok_present;
    uint32_t byte_id[256]; /* the token of each single byte, or BPE_NONE */

    pair_slot *pairs; /* merges */
    size_t pair_mask;

    uint32_t *word_slots; /* raw bytes -> id (reachable tokens), id+1, 0 = empty */
    size_t word_mask;

    added_tok *added;   /* sorted by first byte, then longest first */
    size_t n_added;
    size_t added_first[257]; /* added[added_first[b] .. added_first[b+1]) start with byte b */

    step *steps;
    size_t n_steps;
    pcre2_code *word_re; /* \w, for single_word added tokens */

    uint32_t unk_id;
    int fuse_unk, ignore_merges;
    bpe_symbols symbols;
    int has_fallback;
    uint32_t fallback[256]; /* CHARS / LLAMA2C: byte-fallback token of each byte, or BPE_NONE */
};

static int pair_get(const bpe *t, uint32_t left, uint32_t right, uint32_t *rank, uint32_t *merged)
{
    uint64_t key = ((uint64_t)left << 32 | right) + 1;
    for (size_t i = mix64(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pairs[i].key == key) {
            *rank = t->pairs[i].rank;
            *merged = t->pairs[i].merged;
            return 1;
        }
        if (t->pairs[i].key == 0)
            return 0;
    }
}

static uint32_t word_find(const bpe *t, const char *s, size_t len)
{
    for (size_t i = XXH3_64bits(s, len) & t->word_mask;; i = (i + 1) & t->word_mask) {
        uint32_t v = t->word_slots[i];
        if (v == 0)
            return BPE_NONE;
        uint32_t id = v - 1;
        if (t->tok_off[id + 1] - t->tok_off[id] == len && memcmp(t->tok_bytes + t->tok_off[id], s, len) == 0)
            return id;
    }
}

uint32_t bpe_n_tokens(const bpe *t) { return t->n_tokens; }

const char *bpe_token_bytes(const bpe *t, uint32_t id, size_t *len)
{
    if (id >= t->n_tokens || !t->tok_present[id]) {
        *len = 0;
        return NULL;
    }
    *len = t->tok_off[id + 1] - t->tok_off[id];
    return t->tok_bytes + t->tok_off[id];
}

void bpe_free(bpe *t)
{
    if (!t)
        return;
    free(t->tok_off);
    free(t->tok_bytes);
    free(t->tok_present);
    free(t->pairs);
    free(t->word_slots);
    for (size_t i = 0; i < t->n_added; i++)
        free(t->added[i].content);
    free(t->added);
    for (size_t i = 0; i < t->n_steps; i++) {
        pcre2_code_free(t->steps[i].re);
        free(t->steps[i].str);
        free(t->steps[i].with);
    }
    free(t->steps);
    pcre2_code_free(t->word_re);
    free(t);
}

/* Compiles a pre-tokenizer pattern: UTF-8, Unicode properties, JIT when available. */
static pcre2_code *compile_regex(const char *pattern, const char *where, kvg_error *err)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        kvg_errorf(err, where, "pre-tokenizer regex does not compile (%s near offset %zu): %s", (char *)msg,
                   (size_t)eo, pattern);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* best effort: the interpreter is the fallback */
    return re;
}

static int cmp_added(const void *a, const void *b)
{
    const added_tok *x = a, *y = b;
    unsigned char fx = (unsigned char)x->content[0], fy = (unsigned char)y->content[0];
    if (fx != fy)
        return fx < fy ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return memcmp(x->content, y->content, x->len);
}

int bpe_create(const bpe_config *cfg, const char *where, bpe **out, kvg_error *err)
{
    *out = NULL;
    bpe *t = calloc(1, sizeof *t);
    if (!t)
        return kvg_errorf(err, where, "out of memory");
    uint32_t n = cfg->n_tokens;
    t->n_tokens = n;
    t->unk_id = cfg->unk_id;
    t->fuse_unk = cfg->fuse_unk;
    t->ignore_merges = cfg->ignore_merges;
    t->symbols = cfg->symbols;
    t->has_fallback = cfg->byte_fallback != NULL && cfg->symbols != BPE_SYMBOLS_BYTES;
    for (int b = 0; b < 256; b++) {
        t->fallback[b] = t->has_fallback ? cfg->byte_fallback[b] : BPE_NONE;
        if (t->fallback[b] != BPE_NONE && (t->fallback[b] >= n || !cfg->tokens[t->fallback[b]])) {
            kvg_errorf(err, where, "byte-fallback token %u of byte 0x%02X is not a token", t->fallback[b], b);
            goto fail;
        }
    }
    if (cfg->unk_id != BPE_NONE && (cfg->unk_id >= n || !cfg->tokens[cfg->unk_id])) {
        kvg_errorf(err, where, "unknown-token id %u is not a token", cfg->unk_id);
        goto fail;
    }

    /* token bytes */
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += cfg->tokens[i] ? cfg->token_lens[i] : 0;
    if (total > UINT32_MAX) {
        kvg_errorf(err, where, "token strings too large (%zu bytes)", total);
        goto fail;
    }
    t->tok_off = malloc(((size_t)n + 1) * sizeof *t->tok_off);
    t->tok_bytes = malloc(total ? total : 1);
    t->tok_present = calloc(n ? n : 1, 1);
    t->word_mask = table_size(n) - 1;
    t->word_slots = calloc(t->word_mask + 1, sizeof *t->word_slots);
    if (!t->tok_off || !t->tok_bytes || !t->tok_present || !t->word_slots) {
        kvg_errorf(err, where, "out of memory");
        goto fail;
    }
    for (int b = 0; b < 256; b++)
        t->byte_id[b] = BPE_NONE;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        t->tok_off[i] = (uint32_t)off;
        if (!cfg->tokens[i])
            continue;
        size_t len = cfg->token_lens[i];
        memcpy(t->tok_bytes + off, cfg->tokens[i], len);
        off += len;
        t->tok_present[i] = 1;
        if (cfg->token_flags && (cfg->token_flags[i] & BPE_TOKEN_UNREACHABLE))
            continue;
        if (len == 0) {
            kvg_errorf(err, where, "token %u is empty", i);
            goto fail;
        }
        t->tok_off[i + 1] = (uint32_t)off; /* word_find reads it */
        if (word_find(t, cfg->tokens[i], len) != BPE_NONE) {
            kvg_errorf(err, where, "tokens %u and %u have the same bytes", word_find(t, cfg->tokens[i], len), i);
            goto fail;
        }
        size_t s = XXH3_64bits(cfg->tokens[i], len) & t->word_mask;
        while (t->word_slots[s])
            s = (s + 1) & t->word_mask;
        t->word_slots[s] = i + 1;
        if (len == 1)
            t->byte_id[(unsigned char)cfg->tokens[i][0]] = i;
    }
    t->tok_off[n] = (uint32_t)off;

    /* merges; a repeated pair keeps its last rank, as HF's HashMap collect does */
    t->pair_mask = table_size(cfg->n_merges) - 1;
    t->pairs = calloc(t->pair_mask + 1, sizeof *t->pairs);
    if (!t->pairs) {
        kvg_errorf(err, where, "out of memory");
        goto fail;
    }
    for (size_t r = 0; r < cfg->n_merges; r++) {
        const bpe_merge *m = &cfg->merges[r];
        if (m->left >= n || m->right >= n || m->merged >= n || !t->tok_present[m->left] ||
            !t->tok_present[m->right] || !t->tok_present[m->merged]) {
            kvg_errorf(err, where, "merge %zu (%u %u -> %u) names a token that does not exist", r, m->left,
                       m->right, m->merged);
            goto fail;
        }
        uint64_t key = ((uint64_t)m->left << 32 | m->right) + 1;
        size_t s = mix64(key) & t->pair_mask;
        while (t->pairs[s].key && t->pairs[s].key != key)
            s = (s + 1) & t->pair_mask;
        t->pairs[s] = (pair_slot){key, cfg->merge_ranks ? cfg->merge_ranks[r] : (uint32_t)r, m->merged};
    }

    /* added tokens */
    if (cfg->n_added && cfg->symbols == BPE_SYMBOLS_LLAMA2C) {
        kvg_errorf(err, where, "llama2.c-style symbols take no added tokens");
        goto fail;
    }
    t->added = calloc(cfg->n_added ? cfg->n_added : 1, sizeof *t->added);
    if (!t->added) {
        kvg_errorf(err, where, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_added; i++) {
        const bpe_added_token *a = &cfg->added[i];
        if (a->len == 0 || a->id >= n || !t->tok_present[a->id]) {
            kvg_errorf(err, where, "added token %zu (id %u) is empty or has no token id", i, a->id);
            goto fail;
        }
        t->added[i].content = malloc(a->len);
        if (!t->added[i].content) {
            kvg_errorf(err, where, "out of memory");
            goto fail;
        }
        memcpy(t->added[i].content, a->content, a->len);
        t->added[i].len = a->len;
        t->added[i].id = a->id;
        t->added[i].flags = a->flags;
        t->n_added = i + 1;
    }
    qsort(t->added, t->n_added, sizeof *t->added, cmp_added);
    for (size_t b = 0, i = 0; b <= 256; b++) {
        while (i < t->n_added && (unsigned char)t->added[i].content[0] < b)
            i++;
        t->added_first[b] = i;
    }

    /* pre-tokenizer */
    t->steps = calloc(cfg->n_steps ? cfg->n_steps : 1, sizeof *t->steps);
    if (!t->steps) {
        kvg_errorf(err, where, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_steps; i++) {
        t->steps[i].kind = cfg->steps[i].kind;
        t->n_steps = i + 1;
        const bpe_step *cs = &cfg->steps[i];
        if (cfg->symbols == BPE_SYMBOLS_LLAMA2C && cs->kind != BPE_STEP_PREPEND && cs->kind != BPE_STEP_REPLACE) {
            kvg_errorf(err, where, "llama2.c-style symbols take only prepend / replace steps");
            goto fail;
        }
        if (cs->kind == BPE_STEP_REGEX) {
            t->steps[i].re = compile_regex(cs->pattern, where, err);
            if (!t->steps[i].re)
                goto fail;
        } else if (cs->kind == BPE_STEP_PREPEND || cs->kind == BPE_STEP_REPLACE || cs->kind == BPE_STEP_META_ALWAYS ||
                   cs->kind == BPE_STEP_META_FIRST) {
            if (!cs->pattern || !cs->pattern[0] || (cs->kind == BPE_STEP_REPLACE && !cs->with)) {
                kvg_errorf(err, where, "normalizer step %zu has an empty string", i);
                goto fail;
            }
            t->steps[i].str = strdup(cs->pattern);
            t->steps[i].with = strdup(cs->with ? cs->with : "");
            if (!t->steps[i].str || !t->steps[i].with) {
                kvg_errorf(err, where, "out of memory");
                goto fail;
            }
            t->steps[i].str_len = strlen(cs->pattern);
            t->steps[i].with_len = strlen(t->steps[i].with);
        } else if (cs->kind > BPE_STEP_META_FIRST) {
            kvg_errorf(err, where, "step %zu has an unknown kind %d", i, (int)cs->kind);
            goto fail;
        }
    }
    t->word_re = compile_regex("^[\\p{L}\\p{N}\\p{M}_]", where, err);
    if (!t->word_re)
        goto fail;
    *out = t;
    return 0;
fail:
    bpe_free(t);
    return -1;
}

/* ---- encoding ------------------------------------------------------------------------- */

typedef struct symbol {
    uint32_t id;
    int32_t prev, next; /* -1 at the ends */
    uint32_t len;       /* bytes; 0 once merged into its left neighbour */
} symbol;

typedef struct heap_item {
    uint32_t rank, pos, merged;
} heap_item;

/* Per-call state: growing buffers, the output, and PCRE2 match data. */
typedef struct enc {
    const bpe *t;
    uint32_t *ids;
    size_t cap, n;
    symbol *sym;
    size_t sym_cap;
    heap_item *heap;
    size_t heap_cap;
    pcre2_match_data **md;
    pcre2_match_context *mctx; /* with a large JIT stack, made on first need */
    pcre2_jit_stack *jstack;
    kvg_error *err;
    size_t prefix_len; /* LLAMA2C: bytes a PREPEND step put before the word (grouped apart from it) */
} enc;

static void emit(enc *e, uint32_t id)
{
    if (e->n < e->cap)
        e->ids[e->n] = id;
    e->n++;
}

static int heap_less(heap_item a, heap_item b)
{
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
}

static void heap_push(heap_item *h, size_t *n, heap_item x)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(x, h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static heap_item heap_pop(heap_item *h, size_t *n)
{
    heap_item top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && heap_less(h[c + 1], h[c]))
            c++;
        if (!heap_less(h[c], x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
    return top;
}

/* One symbol per byte; bytes with no token become unk (fused if asked) or vanish. */
static size_t byte_symbols(const bpe *t, const char *w, size_t len, symbol *s)
{
    size_t ns = 0;
    int last_unk = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t id = t->byte_id[(unsigned char)w[i]];
        if (id == BPE_NONE) {
            if (t->unk_id == BPE_NONE)
                continue;
            if (last_unk && t->fuse_unk) {
                s[ns - 1].len++;
                continue;
            }
            id = t->unk_id;
            last_unk = 1;
        } else {
            last_unk = 0;
        }
        s[ns] = (symbol){id, (int32_t)ns - 1, (int32_t)ns + 1, 1};
        ns++;
    }
    return ns;
}

static void push_symbol(symbol *s, size_t *ns, uint32_t id, size_t len)
{
    s[*ns] = (symbol){id, (int32_t)*ns - 1, (int32_t)*ns + 1, (uint32_t)len};
    (*ns)++;
}

/* Byte length of the character at w[i..len): valid UTF-8 (the text was made
 * valid before), or llama2.c's grouping of raw bytes. */
static size_t char_len(const bpe *t, const unsigned char *w, size_t len, size_t i)
{
    size_t l = 1;
    if (t->symbols == BPE_SYMBOLS_LLAMA2C) {
        while (i + l < len && (w[i + l] & 0xC0) == 0x80 && l < 4)
            l++;
        return l;
    }
    uint32_t cp;
    size_t bad;
    l = utf8_char(w + i, len - i, &cp, &bad);
    return l ? l : 1;
}

/* One symbol per character that is a token; any other character becomes its
 * byte-fallback tokens when every byte has one, else unk (fused if asked),
 * else vanishes. Like HF's BPE::merge_word, a pending unk is only flushed by
 * the next character that is a token (or the end), not by byte fallback. */
static size_t char_symbols(const bpe *t, const char *w, size_t len, size_t prefix_len, symbol *s)
{
    const unsigned char *u = (const unsigned char *)w;
    size_t ns = 0, unk_len = 0;
    for (size_t i = 0; i < len;) {
        /* llama2.c adds its dummy prefix as a token of its own: no character spans it */
        size_t l = i < prefix_len ? char_len(t, u, prefix_len, i) : char_len(t, u, len, i);
        uint32_t id = word_find(t, w + i, l);
        if (id != BPE_NONE) {
            if (unk_len)
                push_symbol(s, &ns, t->unk_id, unk_len);
            unk_len = 0;
            push_symbol(s, &ns, id, l);
        } else {
            int fb = t->has_fallback;
            for (size_t k = 0; fb && k < l; k++)
                fb = t->fallback[u[i + k]] != BPE_NONE;
            if (fb) {
                for (size_t k = 0; k < l; k++)
                    push_symbol(s, &ns, t->fallback[u[i + k]], 1);
            } else if (t->unk_id != BPE_NONE) {
                if (unk_len && !t->fuse_unk) {
                    push_symbol(s, &ns, t->unk_id, unk_len);
                    unk_len = 0;
                }
                unk_len += l;
            }
        }
        i += l;
    }
    if (unk_len)
        push_symbol(s, &ns, t->unk_id, unk_len);
    return ns;
}

/* HF's Word::merge_all: lowest (rank, pos) first; an entry whose pair
     * no longer yields its merged id is stale and skipped. */
static void merge_symbols(enc *e, symbol *s, size_t ns)
{
    const bpe *t = e->t;
    size_t hn = 0;
    uint32_t rank, merged;
    for (size_t i = 0; i + 1 < ns; i++)
        if (pair_get(t, s[i].id, s[i + 1].id, &rank, &merged))
            heap_push(e->heap, &hn, (heap_item){rank, (uint32_t)i, merged});
    while (hn) {
        heap_item top = heap_pop(e->heap, &hn);
        symbol *cur = &s[top.pos];
        if (cur->len == 0 || cur->next < 0)
            continue;
        symbol *right = &s[cur->next];
        if (!pair_get(t, cur->id, right->id, &rank, &merged) || merged != top.merged)
            continue;
        cur->id = top.merged;
        cur->len += right->len;
        cur->next = right->next;
        right->len = 0;
        if (cur->next >= 0)
            s[cur->next].prev = (int32_t)top.pos;
        /* hn <= 2 * ns: each merge pops one and pushes at most two, and there
         * are fewer than ns merges */
        if (cur->prev >= 0 && pair_get(t, s[cur->prev].id, cur->id, &rank, &merged))
            heap_push(e->heap, &hn, (heap_item){rank, (uint32_t)cur->prev, merged});
        if (cur->next >= 0 && pair_get(t, cur->id, s[cur->next].id, &rank, &merged))
            heap_push(e->heap, &hn, (heap_item){rank, top.pos, merged});
    }
}

/* BPE on one word (raw bytes), appending its ids. */
static int encode_word(enc *e, const char *w, size_t len)
{
    const bpe *t = e->t;
    if (len == 0)
        return 0;
    if (t->ignore_merges) {
        uint32_t id = word_find(t, w, len);
        if (id != BPE_NONE) {
            emit(e, id);
            return 0;
        }
    }
    if (len > e->sym_cap) {
        size_t c = len > 2 * e->sym_cap ? len : 2 * e->sym_cap;
        symbol *s = realloc(e->sym, c * sizeof *s);
        heap_item *h = realloc(e->heap, 2 * c * sizeof *h);
        if (s)
            e->sym = s;
        if (h)
            e->heap = h;
        if (!s || !h)
            return kvg_errorf(e->err, NULL, "out of memory");
        e->sym_cap = c;
        e->heap_cap = 2 * c;
    }
    symbol *s = e->sym;
    size_t ns = t->symbols == BPE_SYMBOLS_BYTES ? byte_symbols(t, w, len, s) : char_symbols(t, w, len, e->prefix_len, s);
    if (ns == 0)
        return 0;
    s[ns - 1].next = -1;
    merge_symbols(e, s, ns);
    for (int32_t i = 0; i >= 0; i = s[i].next)
        emit(e, s[i].id);
    return 0;
}

/* first: p starts the text (for Metaspace's prepend_scheme "first"). */
static int pretokenize(enc *e, size_t step_i, const char *p, size_t len, int first);

/* Replaces every occurrence of step k's string (left to right, not
 * overlapping) and passes the result on. */
static int replace_step(enc *e, size_t k, const char *p, size_t len, int first)
{
    const step *st = &e->t->steps[k];
    size_t count = 0;
    for (size_t i = 0; i + st->str_len <= len;) {
        if (memcmp(p + i, st->str, st->str_len) == 0) {
            count++;
            i += st->str_len;
        } else {
            i++;
        }
    }
    if (count == 0)
        return pretokenize(e, k + 1, p, len, first);
    size_t out_len = len - count * st->str_len + count * st->with_len;
    char *q = malloc(out_len ? out_len : 1);
    if (!q)
        return kvg_errorf(e->err, NULL, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (i + st->str_len <= len && memcmp(p + i, st->str, st->str_len) == 0) {
            memcpy(q + o, st->with, st->with_len);
            o += st->with_len;
            i += st->str_len;
        } else {
            q[o++] = p[i++];
        }
    }
    int rc = pretokenize(e, k + 1, q, out_len, first);
    free(q);
    return rc;
}

/* Unicode NFC of the (valid UTF-8) piece. */
static int nfc_step(enc *e, size_t k, const char *p, size_t len, int first)
{
    if (len == 0)
        return pretokenize(e, k + 1, p, len, first);
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)len, &out,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0)
        return kvg_errorf(e->err, NULL, "NFC normalization failed: %s", utf8proc_errmsg(n));
    int rc = pretokenize(e, k + 1, (const char *)out, (size_t)n, first);
    free(out);
    return rc;
}

/* Splits p[0..len) on step k's regex: matches and the gaps between them. */
static int split_regex(enc *e, size_t k, const char *p, size_t len, int first)
{
    pcre2_code *re = e->t->steps[k].re;
    pcre2_match_data *md = e->md[k];
    size_t pos = 0, gap = 0;
    while (pos <= len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)p, len, pos, PCRE2_NO_UTF_CHECK, md, e->mctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !e->mctx) {
            e->jstack = pcre2_jit_stack_create(32 * 1024, 256 * 1024 * 1024, NULL);
            e->mctx = pcre2_match_context_create(NULL);
            if (!e->jstack || !e->mctx)
                return kvg_errorf(e->err, NULL, "out of memory");
            pcre2_jit_stack_assign(e->mctx, NULL, e->jstack);
            continue;
        }
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return kvg_errorf(e->err, NULL, "pre-tokenizer regex failed: %s", (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* an empty match splits nothing: step one character */
            if (ms >= len)
                break;
            uint32_t cp;
            size_t bad, l = utf8_char((const unsigned char *)p + ms, len - ms, &cp, &bad);
            pos = ms + (l ? l : 1);
            continue;
        }
        if (ms > gap && pretokenize(e, k + 1, p + gap, ms - gap, first && gap == 0))
            return -1;
        if (pretokenize(e, k + 1, p + ms, me - ms, first && ms == 0))
            return -1;
        gap = pos = me;
    }
    if (len > gap && pretokenize(e, k + 1, p + gap, len - gap, first && gap == 0))
        return -1;
    return 0;
}

static int pretokenize(enc *e, size_t k, const char *p, size_t len, int first)
{
    if (k == e->t->n_steps)
        return encode_word(e, p, len);
    const step *st = &e->t->steps[k];
    if (st->kind == BPE_STEP_REGEX)
        return split_regex(e, k, p, len, first);
    if (st->kind == BPE_STEP_REPLACE)
        return replace_step(e, k, p, len, first);
    if (st->kind == BPE_STEP_NFC)
        return nfc_step(e, k, p, len, first);
    /* PREFIX_SPACE: " " unless there is one; PREPEND: the string, to a non-empty piece;
     * META_*: the string, to a non-empty piece not starting with it (META_FIRST: at the start) */
    const char *pre = st->kind == BPE_STEP_PREFIX_SPACE ? " " : st->str;
    size_t pl = st->kind == BPE_STEP_PREFIX_SPACE ? 1 : st->str_len;
    int starts_with = len >= pl && memcmp(p, pre, pl) == 0;
    int skip = st->kind == BPE_STEP_PREFIX_SPACE  ? starts_with
               : st->kind == BPE_STEP_PREPEND     ? len == 0
               : st->kind == BPE_STEP_META_ALWAYS ? len == 0 || starts_with
                                                  : len == 0 || starts_with || !first;
    if (skip)
        return pretokenize(e, k + 1, p, len, first);
    char *q = malloc(len + pl);
    if (!q)
        return kvg_errorf(e->err, NULL, "out of memory");
    memcpy(q, pre, pl);
    memcpy(q + pl, p, len);
    if (e->t->symbols == BPE_SYMBOLS_LLAMA2C)
        e->prefix_len = pl;
    int rc = pretokenize(e, k + 1, q, len + pl, first);
    e->prefix_len = 0;
    free(q);
    return rc;
}

static int is_word_char(const bpe *t, pcre2_match_data *md, const char *p, size_t len)
{
    return pcre2_match(t->word_re, (PCRE2_SPTR)p, len, 0, PCRE2_NO_UTF_CHECK, md, NULL) >= 0;
}

/* Cuts out added tokens (bpe.h step 2), pre-tokenizing the text between them. */
static int split_added(enc *e, const char *p, size_t len, pcre2_match_data *wmd)
{
    const bpe *t = e->t;
    const unsigned char *u = (const unsigned char *)p;
    size_t start_offset = 0, i = 0;
    while (i < len) {
        size_t b = u[i];
        const added_tok *hit = NULL;
        for (size_t j = t->added_first[b]; j < t->added_first[b + 1]; j++) {
            const added_tok *a = &t->added[j];
            if (a->len <= len - i && memcmp(a->content, p + i, a->len) == 0) {
                hit = a; /* longest first */
                break;
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        size_t start = i, stop = i + hit->len;
        i = stop; /* non-overlapping: the next search starts after this match */
        if (hit->flags & BPE_ADDED_SINGLE_WORD) {
            size_t cl;
            int word_before = start > 0 && (utf8_last(u, start, &cl), is_word_char(t, wmd, p + start - cl, cl));
            int word_after = stop < len && is_word_char(t, wmd, p + stop, len - stop);
            if (word_before || word_after)
                continue;
        }
        if (hit->flags & BPE_ADDED_LSTRIP) {
            size_t s = start, cl;
            while (s > 0 && is_white_space(utf8_last(u, s, &cl)))
                s -= cl;
            start = s > start_offset ? s : start_offset;
        }
        if (hit->flags & BPE_ADDED_RSTRIP) {
            uint32_t cp;
            size_t bad, cl;
            while (stop < len && (cl = utf8_char(u + stop, len - stop, &cp, &bad)) && is_white_space(cp))
                stop += cl;
        }
        if (start_offset < start && pretokenize(e, 0, p + start_offset, start - start_offset, start_offset == 0))
            return -1;
        emit(e, hit->id);
        start_offset = stop;
    }
    if (start_offset < len)
        return pretokenize(e, 0, p + start_offset, len - start_offset, start_offset == 0);
    return 0;
}

int bpe_encode(const bpe *t, const char *text, size_t len, uint32_t *ids, size_t cap, size_t *n, kvg_error *err)
{
    *n = 0;
    int oom = 0;
    size_t clean_len = len;
    /* llama2.c works on the raw bytes; HF only ever sees text */
    char *clean = t->symbols == BPE_SYMBOLS_LLAMA2C ? NULL : utf8_sanitize(text, len, &clean_len, &oom);
    if (oom)
        return kvg_errorf(err, NULL, "out of memory");
    enc e = {.t = t, .ids = ids, .cap = cap, .err = err};
    int rc = -1;
    pcre2_match_data *wmd = pcre2_match_data_create(1, NULL);
    e.md = calloc(t->n_steps ? t->n_steps : 1, sizeof *e.md);
    if (!wmd || !e.md) {
        kvg_errorf(err, NULL, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < t->n_steps; k++) {
        if (t->steps[k].re && !(e.md[k] = pcre2_match_data_create_from_pattern(t->steps[k].re, NULL))) {
            kvg_errorf(err, NULL, "out of memory");
            goto done;
        }
    }
    rc = split_added(&e, clean ? clean : text, clean_len, wmd);
    if (rc == 0 && e.n > cap)
        rc = kvg_errorf(err, NULL, "%zu token ids do not fit in a buffer of %zu", e.n, cap);
done:
    *n = e.n;
    for (size_t k = 0; e.md && k < t->n_steps; k++)
        pcre2_match_data_free(e.md[k]);
    free(e.md);
    pcre2_match_data_free(wmd);
    pcre2_match_context_free(e.mctx);
    pcre2_jit_stack_free(e.jstack);
    free(e.sym);
    free(e.heap);
    free(clean);
    return rc;
}

int bpe_decode(const bpe *t, const uint32_t *ids, size_t n_ids, char *out, size_t cap, size_t *len, kvg_error *err)
{
    size_t o = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t l;
        const char *b = bpe_token_bytes(t, ids[i], &l);
        if (!b) {
            *len = o;
            return kvg_errorf(err, NULL, "token id %u (at position %zu) is not in the vocabulary", ids[i], i);
        }
        if (o + l <= cap)
            memcpy(out + o, b, l);
        else if (o < cap)
            memcpy(out + o, b, cap - o);
        o += l;
    }
    *len = o;
    if (o > cap)
        return kvg_errorf(err, NULL, "%zu decoded bytes do not fit in a buffer of %zu", o, cap);
    return 0;
}
