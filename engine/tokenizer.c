/* tokenizer.c — the kvg_tokenizer object: encode, decode, display pieces (see tokenizer.h). */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

void tok_config_free(bpe_config *c)
{
    for (uint32_t i = 0; c->tokens && i < c->n_tokens; i++)
        free((char *)c->tokens[i]);
    free((void *)c->tokens);
    free((void *)c->token_lens);
    free((void *)c->token_flags);
    free((void *)c->merges);
    free((void *)c->merge_ranks);
    free((void *)c->byte_fallback);
    for (size_t i = 0; c->added && i < c->n_added; i++)
        free((char *)c->added[i].content);
    free((void *)c->added);
    for (size_t i = 0; c->steps && i < c->n_steps; i++) {
        free((char *)c->steps[i].pattern);
        free((char *)c->steps[i].with);
    }
    free((void *)c->steps);
    memset(c, 0, sizeof *c);
}

void kvg_tokenizer_free(kvg_tokenizer *t)
{
    if (!t)
        return;
    bpe_free(t->bpe);
    tok_config_free(&t->cfg);
    free(t->piece_off);
    free(t->pieces);
    free(t);
}

static int hexdigit(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The byte of a SentencePiece byte piece "<0xXX>", or -1. */
static int byte_piece(const char *s, size_t len)
{
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int hi = hexdigit((unsigned char)s[3]), lo = hexdigit((unsigned char)s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* Writes the display bytes of a token to out (which has room for len bytes:
 * a display piece is never longer than the token); returns their count. */
static size_t display_piece(tok_decoder d, const char *s, size_t len, char *out)
{
    if (d == TOK_DECODE_BYTES) {
        memcpy(out, s, len);
        return len;
    }
    int b = d == TOK_DECODE_SENTENCEPIECE ? byte_piece(s, len) : -1;
    if (b >= 0) {
        out[0] = (char)b;
        return 1;
    }
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (i + 3 <= len && memcmp(s + i, "\xE2\x96\x81", 3) == 0) { /* U+2581 "▁" */
            out[o++] = ' ';
            i += 3;
        } else {
            out[o++] = s[i++];
        }
    }
    return o;
}

int tok_create(bpe_config *cfg, uint32_t bos, uint32_t eos, int adds_bos, tok_decoder decoder, const char *where,
               kvg_tokenizer **out, kvg_error *err)
{
    *out = NULL;
    kvg_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        tok_config_free(cfg);
        return kvg_errorf(err, where, "out of memory");
    }
    t->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    t->bos = bos;
    t->eos = eos;
    t->adds_bos = adds_bos;
    t->decoder = decoder;
    uint32_t n = t->cfg.n_tokens;
    if (bos != KVG_TOKEN_NONE && (bos >= n || !t->cfg.tokens[bos])) {
        kvg_errorf(err, where, "BOS id %u is not a token", bos);
        goto fail;
    }
    if (eos != KVG_TOKEN_NONE && (eos >= n || !t->cfg.tokens[eos])) {
        kvg_errorf(err, where, "EOS id %u is not a token", eos);
        goto fail;
    }
    if (bpe_create(&t->cfg, where, &t->bpe, err))
        goto fail;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += t->cfg.tokens[i] ? t->cfg.token_lens[i] : 0;
    t->piece_off = malloc(((size_t)n + 1) * sizeof *t->piece_off);
    t->pieces = malloc(total + 1);
    if (!t->piece_off || !t->pieces) {
        kvg_errorf(err, where, "out of memory");
        goto fail;
    }
    size_t o = 0;
    for (uint32_t i = 0; i < n; i++) {
        t->piece_off[i] = (uint32_t)o; /* bpe_create checked total < 4 GiB */
        if (t->cfg.tokens[i])
            o += display_piece(decoder, t->cfg.tokens[i], t->cfg.token_lens[i], t->pieces + o);
    }
    t->piece_off[n] = (uint32_t)o;
    *out = t;
    return 0;
fail:
    kvg_tokenizer_free(t);
    return -1;
}

uint32_t kvg_tokenizer_n_tokens(const kvg_tokenizer *t) { return t->cfg.n_tokens; }
uint32_t kvg_tokenizer_bos(const kvg_tokenizer *t) { return t->bos; }
uint32_t kvg_tokenizer_eos(const kvg_tokenizer *t) { return t->eos; }
int kvg_tokenizer_adds_bos(const kvg_tokenizer *t) { return t->adds_bos; }

int kvg_tokenizer_encode(const kvg_tokenizer *t, const char *text, size_t len, uint32_t **ids, size_t *n,
                         kvg_error *err)
{
    *ids = NULL;
    *n = 0;
    size_t cap = len / 2 + 16, got = 0;
    for (;;) {
        uint32_t *buf = malloc(cap * sizeof *buf);
        if (!buf)
            return kvg_errorf(err, NULL, "out of memory (%zu token ids)", cap);
        if (bpe_encode(t->bpe, text, len, buf, cap, &got, err) == 0) {
            *ids = buf;
            *n = got;
            return 0;
        }
        free(buf);
        if (got <= cap) /* a real failure, not a short buffer */
            return -1;
        cap = got;
    }
}

const char *kvg_tokenizer_piece(const kvg_tokenizer *t, uint32_t id, size_t *len)
{
    if (id >= t->cfg.n_tokens || !t->cfg.tokens[id]) {
        *len = 0;
        return NULL;
    }
    *len = t->piece_off[id + 1] - t->piece_off[id];
    return t->pieces + t->piece_off[id];
}

int kvg_tokenizer_decode(const kvg_tokenizer *t, const uint32_t *ids, size_t n, char **out, size_t *len,
                         kvg_error *err)
{
    *out = NULL;
    *len = 0;
    size_t total = 0, l;
    for (size_t i = 0; i < n; i++) {
        if (!kvg_tokenizer_piece(t, ids[i], &l))
            return kvg_errorf(err, NULL, "token id %u (at position %zu) is not in the vocabulary", ids[i], i);
        if (ids[i] != t->bos && ids[i] != t->eos)
            total += l;
    }
    char *buf = malloc(total + 1);
    if (!buf)
        return kvg_errorf(err, NULL, "out of memory (%zu bytes)", total);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == t->bos || ids[i] == t->eos)
            continue;
        const char *p = kvg_tokenizer_piece(t, ids[i], &l);
        memcpy(buf + o, p, l);
        o += l;
    }
    if (t->decoder != TOK_DECODE_BYTES && o > 0 && buf[0] == ' ') {
        memmove(buf, buf + 1, o - 1);
        o--;
    }
    buf[o] = 0;
    *out = buf;
    *len = o;
    return 0;
}
