/* hf_tokenizer.c — tokenizer.json and vocab.json + merges.txt -> bpe (see hf_tokenizer.h). */
#include "hf_tokenizer.h"
#include "tokenizer_impl.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_FILE (1u << 30) /* bytes; a tokenizer file larger than this is refused */

/* Reads a whole (possibly gzip-compressed) file; NUL-terminated. */
static char *read_file(const char *path, size_t *len, kvg_error *err)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        kvg_errorf(err, path, "cannot open: %s", strerror(errno ? errno : ENOMEM));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            kvg_errorf(err, path, "out of memory");
            break;
        }
        if (n == cap) {
            if (cap >= MAX_FILE) {
                kvg_errorf(err, path, "larger than %u bytes", MAX_FILE);
                break;
            }
            cap *= 2;
            char *b = realloc(buf, cap + 1);
            if (!b) {
                kvg_errorf(err, path, "out of memory");
                break;
            }
            buf = b;
        }
        int got = gzread(gz, buf + n, (unsigned)(cap - n));
        if (got < 0) {
            int e;
            kvg_errorf(err, path, "read error: %s", gzerror(gz, &e));
            break;
        }
        if (got == 0) {
            gzclose(gz);
            buf[n] = 0;
            *len = n;
            return buf;
        }
        n += (size_t)got;
    }
    free(buf);
    gzclose(gz);
    return NULL;
}

/* ---- the table being built ------------------------------------------------------------ */

typedef struct builder {
    const char *path;
    uint32_t n;       /* ids 0..n-1 */
    char **tokens;    /* raw bytes */
    size_t *lens;
    uint8_t *flags;
    json_t *vocab;    /* byte-level string -> id (borrowed) */
    bpe_merge *merges;
    size_t n_merges;
    bpe_added_token *added;
    size_t n_added;
    bpe_step steps[16];
    char *patterns[16], *withs[16];
    size_t n_steps;
    int byte_level;           /* a ByteLevel pre-tokenizer: tokens are byte-level strings, symbols bytes */
    uint32_t *byte_fallback;  /* BPE with byte_fallback: the "<0xXX>" token of each byte */
    int normalizes;           /* a normalizer other than NFC changes the text */
} builder;

static void builder_free(builder *b)
{
    for (uint32_t i = 0; b->tokens && i < b->n; i++)
        free(b->tokens[i]);
    free(b->tokens);
    free(b->lens);
    free(b->flags);
    free(b->merges);
    for (size_t i = 0; i < b->n_added; i++)
        free((char *)b->added[i].content);
    free(b->added);
    for (size_t i = 0; i < b->n_steps; i++) {
        free(b->patterns[i]);
        free(b->withs[i]);
    }
    free(b->byte_fallback);
}

/* Decodes a byte-level string to raw bytes. Returns 0 when some character
 * is outside the alphabet (then *out holds a copy of the UTF-8). */
static int bytelevel_decode(const char *s, size_t len, char **out, size_t *out_len)
{
    char *o = malloc(len ? len : 1);
    if (!o) {
        *out = NULL;
        return 0;
    }
    size_t n = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l;
        if (u[i] < 0x80) {
            cp = u[i];
            l = 1;
        } else if ((u[i] & 0xE0) == 0xC0 && i + 1 < len) {
            cp = (uint32_t)(u[i] & 0x1F) << 6 | (u[i + 1] & 0x3F);
            l = 2;
        } else {
            cp = UINT32_MAX; /* every alphabet character is below U+0800 */
            l = 1;
        }
        int b = cp == UINT32_MAX ? -1 : bpe_char_to_byte(cp);
        if (b < 0) {
            memcpy(o, s, len);
            *out = o;
            *out_len = len;
            return 0;
        }
        o[n++] = (char)b;
        i += l;
    }
    *out = o;
    *out_len = n;
    return 1;
}

/* Sets id's token from a byte-level string (vocab) or from text (an added
 * token not in the vocab, flagged unreachable). */
static int set_token(builder *b, uint32_t id, const char *s, size_t len, int from_vocab, kvg_error *err)
{
    if (b->tokens[id]) {
        if (from_vocab)
            return kvg_errorf(err, b->path, "vocab id %u is given to two strings", id);
        return 0; /* an added token that is also in the vocab keeps the vocab's bytes */
    }
    int ok;
    if (from_vocab && b->byte_level) {
        ok = bytelevel_decode(s, len, &b->tokens[id], &b->lens[id]);
    } else if (from_vocab) { /* SentencePiece style: the string as it is matched */
        b->tokens[id] = malloc(len ? len : 1);
        if (b->tokens[id])
            memcpy(b->tokens[id], s, len);
        b->lens[id] = len;
        ok = 1;
    } else {
        b->tokens[id] = malloc(len ? len : 1);
        if (b->tokens[id])
            memcpy(b->tokens[id], s, len);
        b->lens[id] = len;
        ok = 0;
    }
    if (!b->tokens[id])
        return kvg_errorf(err, b->path, "out of memory");
    if (!ok)
        b->flags[id] |= BPE_TOKEN_UNREACHABLE;
    return 0;
}

/* Allocates ids 0..n-1 and fills them from the vocab object. */
static int load_vocab(builder *b, json_t *vocab, kvg_error *err)
{
    if (!json_is_object(vocab))
        return kvg_errorf(err, b->path, "vocab is not a JSON object");
    uint64_t n = 0;
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= (json_int_t)UINT32_MAX - 1)
            return kvg_errorf(err, b->path, "vocab entry \"%s\" has no valid id", key);
        if ((uint64_t)id + 1 > n)
            n = (uint64_t)id + 1;
    }
    if (n == 0)
        return kvg_errorf(err, b->path, "the vocabulary is empty");
    if (n > 16u * json_object_size(vocab) + 65536)
        return kvg_errorf(err, b->path, "ids up to %llu for %zu vocab entries: too sparse", (unsigned long long)n - 1,
                          json_object_size(vocab));
    b->n = (uint32_t)n;
    b->tokens = calloc(n, sizeof *b->tokens);
    b->lens = calloc(n, sizeof *b->lens);
    b->flags = calloc(n, 1);
    if (!b->tokens || !b->lens || !b->flags)
        return kvg_errorf(err, b->path, "out of memory");
    b->vocab = vocab;
    json_object_foreach(vocab, key, v) {
        if (set_token(b, (uint32_t)json_integer_value(v), key, strlen(key), 1, err))
            return -1;
    }
    return 0;
}

static int vocab_id(builder *b, const char *s, size_t len, uint32_t *id)
{
    json_t *v = json_object_getn(b->vocab, s, len);
    if (!v)
        return 0;
    *id = (uint32_t)json_integer_value(v);
    return 1;
}

/* Adds merge number r, "left right" as two strings. */
static int add_merge(builder *b, size_t r, const char *l, size_t ll, const char *rt, size_t rl, kvg_error *err)
{
    bpe_merge *m = &b->merges[b->n_merges];
    if (!vocab_id(b, l, ll, &m->left))
        return kvg_errorf(err, b->path, "merge %zu: \"%.*s\" is not in the vocab", r + 1, (int)ll, l);
    if (!vocab_id(b, rt, rl, &m->right))
        return kvg_errorf(err, b->path, "merge %zu: \"%.*s\" is not in the vocab", r + 1, (int)rl, rt);
    char stackbuf[256];
    char *cat = ll + rl <= sizeof stackbuf ? stackbuf : malloc(ll + rl);
    if (!cat)
        return kvg_errorf(err, b->path, "out of memory");
    memcpy(cat, l, ll);
    memcpy(cat + ll, rt, rl);
    int found = vocab_id(b, cat, ll + rl, &m->merged);
    if (!found)
        kvg_errorf(err, b->path, "merge %zu: the merged token \"%.*s\" is not in the vocab", r + 1, (int)(ll + rl), cat);
    if (cat != stackbuf)
        free(cat);
    if (!found)
        return -1;
    b->n_merges++;
    return 0;
}

static int add_regex_step(builder *b, const char *pattern, size_t len, int literal, kvg_error *err)
{
    if (b->n_steps == sizeof b->steps / sizeof b->steps[0])
        return kvg_errorf(err, b->path, "pre_tokenizer: too many steps");
    char *p = malloc(2 * len + 1), *o = p;
    if (!p)
        return kvg_errorf(err, b->path, "out of memory");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pattern[i];
        if (literal && c < 0x80 && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !(c >= '0' && c <= '9'))
            *o++ = '\\';
        *o++ = (char)c;
    }
    *o = 0;
    b->patterns[b->n_steps] = p;
    b->withs[b->n_steps] = NULL;
    b->steps[b->n_steps++] = (bpe_step){BPE_STEP_REGEX, p, NULL};
    return 0;
}

static int add_prefix_step(builder *b, kvg_error *err)
{
    if (b->n_steps == sizeof b->steps / sizeof b->steps[0])
        return kvg_errorf(err, b->path, "pre_tokenizer: too many steps");
    b->patterns[b->n_steps] = NULL;
    b->withs[b->n_steps] = NULL;
    b->steps[b->n_steps++] = (bpe_step){BPE_STEP_PREFIX_SPACE, NULL, NULL};
    return 0;
}

/* A step with string arguments (copied; NULL for none). */
static int add_step(builder *b, bpe_step_kind kind, const char *str, const char *with, kvg_error *err)
{
    if (b->n_steps == sizeof b->steps / sizeof b->steps[0])
        return kvg_errorf(err, b->path, "normalizer + pre_tokenizer: too many steps");
    char *p = str ? strdup(str) : NULL, *w = with ? strdup(with) : NULL;
    if ((str && !p) || (with && !w)) {
        free(p);
        free(w);
        return kvg_errorf(err, b->path, "out of memory");
    }
    b->patterns[b->n_steps] = p;
    b->withs[b->n_steps] = w;
    b->steps[b->n_steps++] = (bpe_step){kind, p, w};
    return 0;
}

/* Moves the builder's arrays into a new hf_tokenizer and builds the bpe. */
static int finish(builder *b, uint32_t n_model_vocab, uint32_t unk_id, int fuse_unk, int ignore_merges,
                  hf_tokenizer **out, kvg_error *err)
{
    hf_tokenizer *t = calloc(1, sizeof *t);
    bpe_step *steps = calloc(b->n_steps ? b->n_steps : 1, sizeof *steps);
    if (!t || !steps) {
        free(t);
        free(steps);
        return kvg_errorf(err, b->path, "out of memory");
    }
    memcpy(steps, b->steps, b->n_steps * sizeof *steps);
    t->cfg = (bpe_config){
        .n_tokens = b->n,
        .tokens = (const char *const *)b->tokens,
        .token_lens = b->lens,
        .token_flags = b->flags,
        .merges = b->merges,
        .n_merges = b->n_merges,
        .added = b->added,
        .n_added = b->n_added,
        .steps = steps,
        .n_steps = b->n_steps,
        .unk_id = unk_id,
        .fuse_unk = fuse_unk,
        .ignore_merges = ignore_merges,
        .symbols = b->byte_level ? BPE_SYMBOLS_BYTES : BPE_SYMBOLS_CHARS,
        .byte_fallback = b->byte_fallback,
    };
    t->n_model_vocab = n_model_vocab;
    t->bos = t->eos = BPE_NONE;
    const char *where = b->path;
    memset(b, 0, sizeof *b); /* the arrays now belong to t */
    if (bpe_create(&t->cfg, where, &t->bpe, err)) {
        hf_tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void hf_tokenizer_free(hf_tokenizer *t)
{
    if (!t)
        return;
    bpe_free(t->bpe);
    tok_config_free(&t->cfg);
    free(t);
}

/* ---- tokenizer.json ------------------------------------------------------------------- */

static const char *type_of(json_t *o)
{
    json_t *t = json_object_get(o, "type");
    return json_is_string(t) ? json_string_value(t) : NULL;
}

static int get_bool(json_t *o, const char *key, int dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* A key that must be absent, null (or, for strings, empty). */
static int unset(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return !v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0) ||
           (json_is_false(v));
}

static int parse_bytelevel(builder *b, json_t *pt, kvg_error *err)
{
    if (get_bool(pt, "add_prefix_space", 1) && add_prefix_step(b, err))
        return -1;
    if (get_bool(pt, "use_regex", 1) && add_regex_step(b, BPE_GPT2_PATTERN, strlen(BPE_GPT2_PATTERN), 0, err))
        return -1;
    return 0;
}

/* HF Metaspace: spaces become the replacement, which is prepended as the scheme says, and with
 * split the piece is cut before each replacement (MergedWithNext). */
static int parse_metaspace(builder *b, json_t *p, kvg_error *err)
{
    json_t *rep = json_object_get(p, "replacement"), *scheme = json_object_get(p, "prepend_scheme");
    const char *r = json_is_string(rep) ? json_string_value(rep) : "\xE2\x96\x81";
    uint32_t cp = 0;
    size_t rl = strlen(r);
    const unsigned char *u = (const unsigned char *)r;
    if (rl == 1 && u[0] < 0x80)
        cp = u[0];
    else if (rl == 2 && (u[0] & 0xE0) == 0xC0)
        cp = (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    else if (rl == 3 && (u[0] & 0xF0) == 0xE0)
        cp = (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    if (cp == 0)
        return kvg_errorf(err, b->path, "pre_tokenizer Metaspace: replacement \"%s\" is not one character", r);
    const char *sch = json_is_string(scheme) ? json_string_value(scheme)
                      : get_bool(p, "add_prefix_space", 1) ? "always" : "never"; /* older files */
    if (strcmp(sch, "always") != 0 && strcmp(sch, "first") != 0 && strcmp(sch, "never") != 0)
        return kvg_errorf(err, b->path, "pre_tokenizer Metaspace: prepend_scheme \"%s\" is not supported", sch);
    if (add_step(b, BPE_STEP_REPLACE, " ", r, err))
        return -1;
    if (strcmp(sch, "never") != 0 &&
        add_step(b, strcmp(sch, "first") == 0 ? BPE_STEP_META_FIRST : BPE_STEP_META_ALWAYS, r, NULL, err))
        return -1;
    if (get_bool(p, "split", 1)) {
        char re[64];
        snprintf(re, sizeof re, "\\x{%X}[^\\x{%X}]*|[^\\x{%X}]+", cp, cp, cp);
        if (add_regex_step(b, re, strlen(re), 0, err))
            return -1;
    }
    return 0;
}

/* One pre-tokenizer (top level or an item of a Sequence, LAST: it is the final one). */
static int parse_pretokenizer_item(builder *b, json_t *p, int last, kvg_error *err)
{
    const char *ty = type_of(p);
    if (!ty)
        return kvg_errorf(err, b->path, "pre_tokenizer without a type");
    if (strcmp(ty, "ByteLevel") == 0) {
        if (!last)
            return kvg_errorf(err, b->path, "pre_tokenizer: ByteLevel must be the last of the Sequence");
        return parse_bytelevel(b, p, err);
    }
    if (strcmp(ty, "Metaspace") == 0)
        return parse_metaspace(b, p, err);
    if (strcmp(ty, "Split") == 0) {
        json_t *pat = json_object_get(p, "pattern");
        json_t *re = json_object_get(pat, "Regex"), *str = json_object_get(pat, "String");
        json_t *beh = json_object_get(p, "behavior");
        if (!json_is_string(re) && !json_is_string(str))
            return kvg_errorf(err, b->path, "pre_tokenizer Split has no Regex or String pattern");
        if (!json_is_string(beh) || strcmp(json_string_value(beh), "Isolated") != 0)
            return kvg_errorf(err, b->path, "pre_tokenizer Split behavior \"%s\" is not supported (only Isolated)",
                              json_is_string(beh) ? json_string_value(beh) : "?");
        if (get_bool(p, "invert", 0))
            return kvg_errorf(err, b->path, "pre_tokenizer Split with invert: true is not supported");
        json_t *s = re ? re : str;
        return add_regex_step(b, json_string_value(s), json_string_length(s), !re, err);
    }
    if (strcmp(ty, "Digits") == 0) {
        const char *pat = get_bool(p, "individual_digits", 0) ? "\\p{N}" : "\\p{N}+";
        return add_regex_step(b, pat, strlen(pat), 0, err);
    }
    return kvg_errorf(err, b->path, "pre_tokenizer type \"%s\" is not supported (ByteLevel, Metaspace, Split, Digits, "
                      "Sequence)", ty);
}

static int parse_pretokenizer(builder *b, json_t *pt, kvg_error *err)
{
    if (!pt || json_is_null(pt))
        return 0; /* SentencePiece style: the normalizer did the work; the text is one word */
    const char *type = json_is_object(pt) ? type_of(pt) : NULL;
    if (!type)
        return kvg_errorf(err, b->path, "pre_tokenizer has no type");
    if (strcmp(type, "Sequence") != 0)
        return parse_pretokenizer_item(b, pt, 1, err);
    json_t *list = json_object_get(pt, "pretokenizers");
    size_t n = json_array_size(list);
    if (n == 0)
        return kvg_errorf(err, b->path, "pre_tokenizer Sequence has no pretokenizers");
    for (size_t i = 0; i < n; i++)
        if (parse_pretokenizer_item(b, json_array_get(list, i), i + 1 == n, err))
            return -1;
    return 0;
}

/* 1 when the pre-tokenizer is or contains ByteLevel: byte-level BPE. */
static int has_bytelevel(json_t *pt)
{
    const char *type = type_of(pt);
    if (type && strcmp(type, "ByteLevel") == 0)
        return 1;
    json_t *list = json_object_get(pt, "pretokenizers");
    for (size_t i = 0; i < json_array_size(list); i++)
        if (has_bytelevel(json_array_get(list, i)))
            return 1;
    return 0;
}

static int parse_normalizer(builder *b, json_t *n, kvg_error *err)
{
    if (!n || json_is_null(n))
        return 0;
    const char *type = type_of(n);
    if (!type)
        return kvg_errorf(err, b->path, "normalizer has no type");
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(n, "normalizers");
        for (size_t i = 0; i < json_array_size(list); i++)
            if (parse_normalizer(b, json_array_get(list, i), err))
                return -1;
        return 0;
    }
    if (strcmp(type, "NFC") == 0)
        return add_step(b, BPE_STEP_NFC, NULL, NULL, err);
    if (strcmp(type, "Prepend") == 0) {
        json_t *pre = json_object_get(n, "prepend");
        if (!json_is_string(pre) || json_string_length(pre) == 0 || strlen(json_string_value(pre)) != json_string_length(pre))
            return kvg_errorf(err, b->path, "normalizer Prepend has no \"prepend\" string");
        b->normalizes = 1;
        return add_step(b, BPE_STEP_PREPEND, json_string_value(pre), NULL, err);
    }
    if (strcmp(type, "Replace") == 0) {
        json_t *str = json_object_get(json_object_get(n, "pattern"), "String"), *content = json_object_get(n, "content");
        if (!json_is_string(str) || !json_is_string(content))
            return kvg_errorf(err, b->path, "normalizer Replace: only a String pattern and content are supported");
        if (json_string_length(str) == 0 || strlen(json_string_value(str)) != json_string_length(str) ||
            strlen(json_string_value(content)) != json_string_length(content))
            return kvg_errorf(err, b->path, "normalizer Replace: empty pattern or a NUL byte");
        b->normalizes = 1;
        return add_step(b, BPE_STEP_REPLACE, json_string_value(str), json_string_value(content), err);
    }
    return kvg_errorf(err, b->path, "normalizer \"%s\" is not supported (NFC, Prepend, Replace, Sequence)", type);
}

/* The decoder, as a tok_decoder: ByteLevel (byte-level BPE); for SentencePiece style
 * Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)] (ByteFallback optional) or
 * Metaspace with a prepend scheme. */
static int parse_decoder(builder *b, json_t *d, int *out, kvg_error *err)
{
    const char *type = d && !json_is_null(d) ? type_of(d) : "null";
    *out = TOK_DECODE_BYTES;
    if (b->byte_level) {
        if (!type || (strcmp(type, "ByteLevel") != 0 && strcmp(type, "null") != 0))
            return kvg_errorf(err, b->path, "decoder \"%s\" is not supported with a ByteLevel pre-tokenizer (only "
                              "ByteLevel)", type ? type : "?");
        return 0;
    }
    if (type && strcmp(type, "null") == 0)
        return 0;
    if (type && strcmp(type, "Metaspace") == 0) {
        json_t *scheme = json_object_get(d, "prepend_scheme");
        if ((json_is_string(scheme) && strcmp(json_string_value(scheme), "never") == 0) ||
            (!scheme && !get_bool(d, "add_prefix_space", 1)))
            return kvg_errorf(err, b->path, "decoder Metaspace without a prepend scheme is not supported");
        *out = TOK_DECODE_METASPACE;
        return 0;
    }
    if (!type || strcmp(type, "Sequence") != 0)
        return kvg_errorf(err, b->path, "decoder \"%s\" is not supported (ByteLevel, Metaspace, or a Sequence of "
                          "Replace, ByteFallback, Fuse, Strip)", type ? type : "?");
    json_t *list = json_object_get(d, "decoders");
    int replace = 0, fallback = 0, strip = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *x = json_array_get(list, i);
        const char *t = type_of(x);
        if (t && strcmp(t, "Replace") == 0) {
            json_t *str = json_object_get(json_object_get(x, "pattern"), "String"), *c = json_object_get(x, "content");
            replace = json_is_string(str) && strcmp(json_string_value(str), "\xE2\x96\x81") == 0 && json_is_string(c) &&
                      strcmp(json_string_value(c), " ") == 0;
            if (!replace)
                return kvg_errorf(err, b->path, "decoder Replace other than \"\xE2\x96\x81\" -> \" \" is not supported");
        } else if (t && strcmp(t, "ByteFallback") == 0) {
            fallback = 1;
        } else if (t && strcmp(t, "Fuse") == 0) {
            /* concatenation: what decoding does anyway */
        } else if (t && strcmp(t, "Strip") == 0) {
            json_t *c = json_object_get(x, "content"), *start = json_object_get(x, "start"), *stop = json_object_get(x, "stop");
            strip = json_is_string(c) && strcmp(json_string_value(c), " ") == 0 && json_integer_value(start) == 1 &&
                    json_integer_value(stop) == 0;
            if (!strip)
                return kvg_errorf(err, b->path, "decoder Strip other than one leading space is not supported");
        } else {
            return kvg_errorf(err, b->path, "decoder \"%s\" (in a Sequence) is not supported", t ? t : "?");
        }
    }
    if (!replace || !strip)
        return kvg_errorf(err, b->path, "decoder Sequence without Replace(\"\xE2\x96\x81\", \" \") and Strip is not supported");
    *out = fallback ? TOK_DECODE_SENTENCEPIECE : TOK_DECODE_METASPACE;
    return 0;
}

/* Ids of added tokens are assigned the way HF's AddedVocabulary::add_tokens does when it loads
 * a file (the "id" written in the file is only a hint it warns about): a content that is in the
 * model vocab gets the vocab's id, one added before keeps its id, any other gets one past the
 * largest added id (or the model vocab size, whichever is larger). A later entry with the same
 * content replaces the earlier one's flags. */
static int parse_added(builder *b, json_t *added, uint32_t n_model_vocab, kvg_error *err)
{
    size_t n = json_array_size(added);
    b->added = calloc(n ? n : 1, sizeof *b->added);
    if (!b->added)
        return kvg_errorf(err, b->path, "out of memory");
    uint32_t max_added = 0;
    int any_added = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(added, i);
        json_t *content = json_object_get(a, "content");
        if (!json_is_object(a) || !json_is_string(content))
            return kvg_errorf(err, b->path, "added_tokens[%zu] has no \"content\" string", i);
        const char *s = json_string_value(content);
        size_t len = json_string_length(content);
        if (len == 0)
            continue; /* HF skips empty added tokens */
        unsigned flags = (get_bool(a, "lstrip", 0) ? BPE_ADDED_LSTRIP : 0) |
                         (get_bool(a, "rstrip", 0) ? BPE_ADDED_RSTRIP : 0) |
                         (get_bool(a, "single_word", 0) ? BPE_ADDED_SINGLE_WORD : 0) |
                         (get_bool(a, "special", 0) ? BPE_ADDED_SPECIAL : 0);
        bpe_added_token *prev = NULL;
        for (size_t j = 0; j < b->n_added; j++)
            if (b->added[j].len == len && memcmp(b->added[j].content, s, len) == 0)
                prev = &b->added[j];
        if (prev) {
            prev->flags = flags;
            continue;
        }
        uint32_t id;
        if (!vocab_id(b, s, len, &id))
            id = any_added && (max_added >= n_model_vocab || n_model_vocab == 0) ? max_added + 1 : n_model_vocab;
        if (!any_added || id > max_added)
            max_added = id;
        any_added = 1;
        if (id >= b->n) { /* grow the token table */
            uint32_t nn = id + 1;
            char **t = realloc(b->tokens, nn * sizeof *t);
            if (t)
                b->tokens = t;
            size_t *l = realloc(b->lens, nn * sizeof *l);
            if (l)
                b->lens = l;
            uint8_t *f = realloc(b->flags, nn);
            if (f)
                b->flags = f;
            if (!t || !l || !f)
                return kvg_errorf(err, b->path, "out of memory");
            for (uint32_t k = b->n; k < nn; k++) {
                b->tokens[k] = NULL;
                b->lens[k] = 0;
                b->flags[k] = 0;
            }
            b->n = nn;
        }
        char *copy = malloc(len);
        if (!copy)
            return kvg_errorf(err, b->path, "out of memory");
        memcpy(copy, s, len);
        b->added[b->n_added++] = (bpe_added_token){copy, len, id, flags};
        if (set_token(b, id, s, len, 0, err))
            return -1;
    }
    return 0;
}

static int parse_model(builder *b, json_t *model, uint32_t *unk_id, kvg_error *err)
{
    const char *type = json_is_object(model) ? type_of(model) : NULL;
    if (!json_is_object(model))
        return kvg_errorf(err, b->path, "no \"model\" object");
    if (!type && json_object_get(model, "merges"))
        type = "BPE"; /* older files leave the type out */
    if (!type || strcmp(type, "BPE") != 0)
        return kvg_errorf(err, b->path, "model type \"%s\" is not supported (only byte-level BPE)", type ? type : "?");
    if (get_bool(model, "byte_fallback", 0) && b->byte_level)
        return kvg_errorf(err, b->path, "BPE with byte_fallback under a ByteLevel pre-tokenizer is not supported");
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0.0)
        return kvg_errorf(err, b->path, "BPE dropout is not supported");
    if (!unset(model, "continuing_subword_prefix") || !unset(model, "end_of_word_suffix"))
        return kvg_errorf(err, b->path, "BPE continuing_subword_prefix / end_of_word_suffix are not supported");
    if (load_vocab(b, json_object_get(model, "vocab"), err))
        return -1;
    if (get_bool(model, "byte_fallback", 0)) { /* HF looks up format!("<{:#04X}>", byte) */
        if (!(b->byte_fallback = malloc(256 * sizeof *b->byte_fallback)))
            return kvg_errorf(err, b->path, "out of memory");
        for (int c = 0; c < 256; c++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", c);
            if (!vocab_id(b, name, 6, &b->byte_fallback[c]))
                b->byte_fallback[c] = BPE_NONE;
        }
    }
    *unk_id = BPE_NONE;
    json_t *unk = json_object_get(model, "unk_token");
    if (json_is_string(unk) && !vocab_id(b, json_string_value(unk), json_string_length(unk), unk_id))
        return kvg_errorf(err, b->path, "unk_token \"%s\" is not in the vocab", json_string_value(unk));
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges))
        return kvg_errorf(err, b->path, "model.merges is not an array");
    size_t n = json_array_size(merges);
    b->merges = calloc(n ? n : 1, sizeof *b->merges);
    if (!b->merges)
        return kvg_errorf(err, b->path, "out of memory");
    for (size_t r = 0; r < n; r++) {
        json_t *m = json_array_get(merges, r);
        if (json_is_string(m)) {
            const char *s = json_string_value(m), *sp = memchr(s, ' ', json_string_length(m));
            size_t len = json_string_length(m);
            if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s)))
                return kvg_errorf(err, b->path, "merge %zu \"%s\" is not two tokens separated by one space", r + 1, s);
            if (add_merge(b, r, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp + 1 - s), err))
                return -1;
        } else if (json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            json_t *l = json_array_get(m, 0), *rt = json_array_get(m, 1);
            if (add_merge(b, r, json_string_value(l), json_string_length(l), json_string_value(rt),
                          json_string_length(rt), err))
                return -1;
        } else {
            return kvg_errorf(err, b->path, "merge %zu is neither \"a b\" nor [\"a\", \"b\"]", r + 1);
        }
    }
    return 0;
}

/* The id of a post-processor's special token: TemplateProcessing names it
 * by its key in special_tokens, whose "ids" must be one id. */
static int template_special(const char *path, json_t *specials, json_t *item, uint32_t *id, kvg_error *err)
{
    json_t *name = json_object_get(json_object_get(item, "SpecialToken"), "id");
    json_t *ids = json_object_get(json_object_get(specials, json_string_value(name)), "ids");
    if (!json_is_string(name) || json_array_size(ids) != 1 || !json_is_integer(json_array_get(ids, 0)) ||
        json_integer_value(json_array_get(ids, 0)) < 0 || json_integer_value(json_array_get(ids, 0)) >= UINT32_MAX)
        return kvg_errorf(err, path, "post_processor TemplateProcessing: special token \"%s\" has no single id",
                          json_is_string(name) ? json_string_value(name) : "?");
    *id = (uint32_t)json_integer_value(json_array_get(ids, 0));
    return 0;
}

/* An id from a ["token", id] pair (RobertaProcessing / BertProcessing cls and sep). */
static int pair_id(const char *path, json_t *pair, const char *what, uint32_t *id, kvg_error *err)
{
    json_t *v = json_array_get(pair, 1);
    if (json_array_size(pair) != 2 || !json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) >= UINT32_MAX)
        return kvg_errorf(err, path, "post_processor: %s is not a [\"token\", id] pair", what);
    *id = (uint32_t)json_integer_value(v);
    return 0;
}

/* BOS/EOS and whether BOS is prepended, as the post_processor adds them to a single sequence. */
static int parse_post_processor(const char *path, json_t *pp, hf_tokenizer *h, kvg_error *err)
{
    if (!pp || json_is_null(pp))
        return 0;
    const char *type = type_of(pp);
    if (!type)
        return kvg_errorf(err, path, "post_processor has no type");
    h->special_known = 1;
    if (strcmp(type, "ByteLevel") == 0)
        return 0; /* offsets only */
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(pp, "processors");
        for (size_t i = 0; i < json_array_size(list); i++)
            if (parse_post_processor(path, json_array_get(list, i), h, err))
                return -1;
        return 0;
    }
    if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        h->adds_bos = 1;
        return pair_id(path, json_object_get(pp, "cls"), "cls", &h->bos, err) ||
               pair_id(path, json_object_get(pp, "sep"), "sep", &h->eos, err) ? -1 : 0;
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return kvg_errorf(err, path, "post_processor type \"%s\" is not supported (TemplateProcessing, ByteLevel, "
                          "RobertaProcessing, BertProcessing, Sequence)", type);
    json_t *single = json_object_get(pp, "single"), *specials = json_object_get(pp, "special_tokens");
    size_t before = 0, after = 0;
    int seen_text = 0;
    for (size_t i = 0; i < json_array_size(single); i++) {
        json_t *item = json_array_get(single, i);
        if (json_object_get(item, "Sequence")) {
            seen_text = 1;
            continue;
        }
        uint32_t id = 0;
        if (template_special(path, specials, item, &id, err))
            return -1;
        if (seen_text) {
            h->eos = id;
            after++;
        } else {
            h->bos = id;
            h->adds_bos = 1;
            before++;
        }
    }
    if (!seen_text || before > 1 || after > 1)
        return kvg_errorf(err, path, "post_processor TemplateProcessing: \"single\" is not [BOS] $A [EOS]");
    return 0;
}

/* Reads and parses a (possibly gzipped) JSON file; NULL with err set on failure. */
json_t *hf_json_load(const char *path, kvg_error *err)
{
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text)
        return NULL;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_ALLOW_NUL, &je);
    free(text);
    if (!root)
        kvg_errorf(err, path, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    return root;
}

int hf_tokenizer_load_json(const char *path, hf_tokenizer **out, kvg_error *err)
{
    *out = NULL;
    json_t *root = hf_json_load(path, err);
    if (!root)
        return -1;
    builder b = {.path = path};
    int rc = -1;
    if (!json_is_object(root)) {
        kvg_errorf(err, path, "not a tokenizer.json (the top level is not an object)");
        goto done;
    }
    b.byte_level = has_bytelevel(json_object_get(root, "pre_tokenizer"));
    int decoder;
    if (parse_decoder(&b, json_object_get(root, "decoder"), &decoder, err) ||
        parse_normalizer(&b, json_object_get(root, "normalizer"), err))
        goto done;
    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_null(added) && !json_is_array(added)) {
        kvg_errorf(err, path, "added_tokens is not an array");
        goto done;
    }
    uint32_t unk_id = BPE_NONE;
    json_t *model = json_object_get(root, "model");
    if (parse_model(&b, model, &unk_id, err) ||
        parse_added(&b, added, (uint32_t)json_object_size(json_object_get(model, "vocab")), err) ||
        parse_pretokenizer(&b, json_object_get(root, "pre_tokenizer"), err))
        goto done;
    for (size_t i = 0; b.normalizes && i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        if (get_bool(a, "normalized", !get_bool(a, "special", 0))) {
            kvg_errorf(err, path, "added token \"%s\" has normalized: true under a normalizer that changes the text: "
                       "not supported", json_string_value(json_object_get(a, "content")));
            goto done;
        }
    }
    rc = finish(&b, (uint32_t)json_object_size(json_object_get(model, "vocab")), unk_id,
                get_bool(model, "fuse_unk", 0), get_bool(model, "ignore_merges", 0), out, err);
    if (rc == 0)
        (*out)->decoder = decoder;
    if (rc == 0 && parse_post_processor(path, json_object_get(root, "post_processor"), *out, err)) {
        hf_tokenizer_free(*out);
        *out = NULL;
        rc = -1;
    }
done:
    builder_free(&b);
    json_decref(root);
    return rc;
}

/* ---- GPT-2 vocab.json + merges.txt ---------------------------------------------------- */

int hf_tokenizer_load_gpt2(const char *vocab_json, const char *merges_txt, hf_tokenizer **out, kvg_error *err)
{
    *out = NULL;
    json_t *vocab = hf_json_load(vocab_json, err);
    if (!vocab)
        return -1;
    size_t len;
    builder b = {.path = vocab_json, .byte_level = 1};
    int rc = -1;
    char *m = NULL;
    if (load_vocab(&b, vocab, err))
        goto done;
    m = read_file(merges_txt, &len, err);
    if (!m)
        goto done;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += m[i] == '\n';
    b.merges = calloc(lines, sizeof *b.merges);
    if (!b.merges) {
        kvg_errorf(err, merges_txt, "out of memory");
        goto done;
    }
    b.path = merges_txt;
    size_t line_no = 0;
    for (char *p = m, *end = m + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line_no++;
        size_t ll = (size_t)(e - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (ll >= 8 && memcmp(p, "#version", 8) == 0) {
            /* the header */
        } else if (ll == 0 && !nl) {
            /* no newline at the end */
        } else {
            char *sp = memchr(p, ' ', ll);
            if (!sp || memchr(sp + 1, ' ', ll - (size_t)(sp + 1 - p))) {
                kvg_errorf(err, merges_txt, "line %zu: \"%.*s\" is not two tokens separated by one space", line_no,
                           (int)(ll > 60 ? 60 : ll), p);
                goto done;
            }
            if (add_merge(&b, line_no - 1, p, (size_t)(sp - p), sp + 1, ll - (size_t)(sp + 1 - p), err))
                goto done;
        }
        p = nl ? nl + 1 : end;
    }
    b.path = vocab_json;
    if (add_regex_step(&b, BPE_GPT2_PATTERN, strlen(BPE_GPT2_PATTERN), 0, err))
        goto done;
    rc = finish(&b, (uint32_t)json_object_size(vocab), BPE_NONE, 0, 0, out, err);
done:
    free(m);
    builder_free(&b);
    json_decref(vocab);
    return rc;
}
