/* tokenizer_llama2c.c — llama2.c's tok.bin as a kvg_tokenizer.
 *
 * The file: int32 max_token_length, then per token f32 score, int32 length,
 * that many bytes (the piece, with SentencePiece's "▁" already turned into
 * " "; ids 3..258 are the byte pieces "<0x00>".."<0xFF>").
 *
 * llama2.c's encoder: a " " before a non-empty text; the text's raw bytes
 * grouped into characters (a byte and up to 3 following continuation bytes),
 * each looked up as a piece, else one byte-fallback id (byte + 3) per byte;
 * then, while some adjacent pair's concatenated pieces are a piece, merge the
 * pair whose result has the HIGHEST score (the leftmost on ties). That is BPE
 * with merges (a, b) -> t for every way of splitting each piece t into two
 * pieces a, b, ranked by t's score (equal scores, equal rank: the heap then
 * takes the leftmost, as llama2.c's scan does). Scores not above -1e10 never
 * merge (llama2.c's starting best score). A repeated piece keeps its first id
 * (later ones are never produced). Text with a NUL byte is encoded whole (the
 * NUL by byte fallback), where llama2.c would stop at it. */
#include "tokenizer_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct piece_table {
    uint32_t *slots; /* id + 1, 0 = empty */
    size_t mask;
    const bpe_config *c;
} piece_table;

static uint32_t piece_find(const piece_table *p, const char *s, size_t len)
{
    for (size_t i = XXH3_64bits(s, len) & p->mask;; i = (i + 1) & p->mask) {
        uint32_t v = p->slots[i];
        if (v == 0)
            return KVG_TOKEN_NONE;
        uint32_t id = v - 1;
        if (p->c->token_lens[id] == len && memcmp(p->c->tokens[id], s, len) == 0)
            return id;
    }
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y ? 1 : 0;
}

/* Merges from splitting every piece into two pieces, ranked by score (see above). */
static int derive_merges(bpe_config *c, const float *score, const char *path, kvg_error *err)
{
    uint32_t n = c->n_tokens;
    piece_table p = {NULL, 0, c};
    size_t size = 16;
    while (size < 2 * (size_t)n)
        size <<= 1;
    p.mask = size - 1;
    p.slots = calloc(size, sizeof *p.slots);
    float *sorted = malloc(((size_t)n + 1) * sizeof *sorted);
    size_t n_sorted = 0, cap = 1024;
    bpe_merge *m = malloc(cap * sizeof *m);
    uint32_t *ranks = malloc(cap * sizeof *ranks);
    if (!p.slots || !sorted || !m || !ranks)
        goto oom;
    uint8_t *flags = (uint8_t *)c->token_flags;
    for (uint32_t i = 0; i < n; i++) {
        if (c->token_lens[i] == 0 || piece_find(&p, c->tokens[i], c->token_lens[i]) != KVG_TOKEN_NONE) {
            flags[i] |= BPE_TOKEN_UNREACHABLE; /* empty, or a repeat: never produced */
            continue;
        }
        size_t s = XXH3_64bits(c->tokens[i], c->token_lens[i]) & p.mask;
        while (p.slots[s])
            s = (s + 1) & p.mask;
        p.slots[s] = i + 1;
        if (score[i] > -1e10f)
            sorted[n_sorted++] = score[i];
    }
    qsort(sorted, n_sorted, sizeof *sorted, cmp_desc);
    size_t n_m = 0;
    for (uint32_t t = 0; t < n; t++) {
        if ((flags[t] & BPE_TOKEN_UNREACHABLE) || !(score[t] > -1e10f))
            continue;
        /* rank: the number of distinct scores above score[t] */
        size_t lo = 0, hi = n_sorted;
        while (lo < hi) { /* first index whose score is <= score[t] */
            size_t mid = (lo + hi) / 2;
            if (sorted[mid] > score[t])
                lo = mid + 1;
            else
                hi = mid;
        }
        const char *s = c->tokens[t];
        for (size_t k = 1; k < c->token_lens[t]; k++) {
            uint32_t a = piece_find(&p, s, k), b = piece_find(&p, s + k, c->token_lens[t] - k);
            if (a == KVG_TOKEN_NONE || b == KVG_TOKEN_NONE)
                continue;
            if (n_m == cap) {
                cap *= 2;
                bpe_merge *m2 = realloc(m, cap * sizeof *m);
                if (m2)
                    m = m2;
                uint32_t *r2 = realloc(ranks, cap * sizeof *ranks);
                if (r2)
                    ranks = r2;
                if (!m2 || !r2)
                    goto oom;
            }
            m[n_m] = (bpe_merge){a, b, t};
            ranks[n_m++] = (uint32_t)lo; /* ties share lo: the index of the first equal score */
        }
    }
    free(p.slots);
    free(sorted);
    c->merges = m;
    c->merge_ranks = ranks;
    c->n_merges = n_m;
    return 0;
oom:
    free(p.slots);
    free(sorted);
    free(m);
    free(ranks);
    return kvg_errorf(err, path, "out of memory");
}

int kvg_tokenizer_from_llama2c(const char *tok_bin, uint32_t vocab_size, kvg_tokenizer **out, kvg_error *err)
{
    *out = NULL;
    if (vocab_size == 0 || vocab_size > (1u << 24))
        return kvg_errorf(err, tok_bin, "vocabulary size %u is out of range (1..16777216)", vocab_size);
    FILE *f = fopen(tok_bin, "rb");
    if (!f)
        return kvg_errorf(err, tok_bin, "cannot open: %s", strerror(errno));
    bpe_config c = {0};
    float *score = NULL;
    int32_t max_len;
    long off = 0;
    if (fread(&max_len, 4, 1, f) != 1) {
        kvg_errorf(err, tok_bin, "truncated: no header (int32 max_token_length)");
        goto fail;
    }
    off = 4;
    if (max_len <= 0 || max_len > (1 << 20)) {
        kvg_errorf(err, tok_bin, "max_token_length %d is out of range (1..1048576): not a llama2.c tokenizer", max_len);
        goto fail;
    }
    c.n_tokens = vocab_size;
    c.tokens = calloc(vocab_size, sizeof *c.tokens);
    c.token_lens = calloc(vocab_size, sizeof *c.token_lens);
    c.token_flags = calloc(vocab_size, 1);
    score = malloc(vocab_size * sizeof *score);
    uint32_t *fallback = malloc(256 * sizeof *fallback);
    c.byte_fallback = fallback;
    bpe_step *step = calloc(1, sizeof *step);
    c.steps = step;
    if (!c.tokens || !c.token_lens || !c.token_flags || !score || !fallback || !step) {
        kvg_errorf(err, tok_bin, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < vocab_size; i++) {
        int32_t len;
        if (fread(&score[i], 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1) {
            kvg_errorf(err, tok_bin, "truncated at token %u (offset %ld): the model has %u tokens", i, off,
                       vocab_size);
            goto fail;
        }
        if (len < 0 || len > max_len) {
            kvg_errorf(err, tok_bin, "token %u (offset %ld) has length %d, outside 0..max_token_length %d", i, off,
                       len, max_len);
            goto fail;
        }
        char *s = malloc((size_t)len + 1);
        ((char **)c.tokens)[i] = s;
        if (!s) {
            kvg_errorf(err, tok_bin, "out of memory");
            goto fail;
        }
        if (fread(s, 1, (size_t)len, f) != (size_t)len) {
            kvg_errorf(err, tok_bin, "truncated inside token %u (offset %ld)", i, off + 8);
            goto fail;
        }
        ((size_t *)c.token_lens)[i] = (size_t)len;
        off += 8 + len;
    }
    fclose(f);
    f = NULL;
    for (int b = 0; b < 256; b++)
        fallback[b] = (uint32_t)b + 3 < vocab_size ? (uint32_t)b + 3 : BPE_NONE;
    step->kind = BPE_STEP_PREPEND;
    step->pattern = strdup(" ");
    c.n_steps = 1;
    c.symbols = BPE_SYMBOLS_LLAMA2C;
    c.unk_id = BPE_NONE;
    if (!step->pattern) {
        kvg_errorf(err, tok_bin, "out of memory");
        goto fail;
    }
    if (derive_merges(&c, score, tok_bin, err))
        goto fail;
    free(score);
    return tok_create(&c, vocab_size > 1 ? 1 : KVG_TOKEN_NONE, vocab_size > 2 ? 2 : KVG_TOKEN_NONE, 1,
                      TOK_DECODE_SENTENCEPIECE, tok_bin, out, err);
fail:
    if (f)
        fclose(f);
    free(score);
    tok_config_free(&c);
    return -1;
}
