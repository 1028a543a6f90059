/* tokenizer_synth.c — a synthetic byte-level BPE tokenizer of any
 * vocabulary size, for benchmark models (`kvgram synth`) that need a
 * tokenizer of a real model's size but have no real vocabulary.
 *
 * Ids 0..255 are the single bytes (id b = byte b); ids 256..n-2 are two-byte
 * tokens, each the merge of two byte tokens, ranked by id; id n-1 is the
 * special token "<|endoftext|>" (BOS and EOS, not prepended when encoding,
 * as GPT-2's). The pairs are enumerated most-common-looking first (lower-case
 * letters and the space, then upper case, digits, punctuation, then every
 * other byte), so ordinary English text encodes to about one id per two bytes.
 * Pre-tokenization is GPT-2's regex. Every byte string encodes and decodes
 * back to itself. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

#define SYNTH_EOT "<|endoftext|>"

/* The bytes in enumeration order (256 of them, each once). */
static void byte_order(uint8_t order[256])
{
    static const char first[] = "etaoinshrdlucmfwypvbgkjqxz ETAOINSHRDLUCMFWYPVBGKJQXZ0123456789.,'\"-!?;:()\n";
    uint8_t seen[256] = {0};
    size_t n = 0;
    for (const char *p = first; *p; p++) {
        order[n++] = (uint8_t)*p;
        seen[(uint8_t)*p] = 1;
    }
    for (int b = 0; b < 256; b++)
        if (!seen[b])
            order[n++] = (uint8_t)b;
}

int kvg_tokenizer_synthetic(uint32_t n_tokens, kvg_tokenizer **out, kvg_error *err)
{
    *out = NULL;
    const uint32_t max_tokens = 256 + 256 * 256 + 1;
    if (n_tokens < 257 || n_tokens > max_tokens)
        return kvg_errorf(err, NULL, "synthetic tokenizer: %u tokens; it makes 257 to %u", n_tokens, max_tokens);
    const uint32_t eot = n_tokens - 1, n_pairs = n_tokens - 257;
    bpe_config c = {0};
    c.n_tokens = n_tokens;
    char **tokens = calloc(n_tokens, sizeof *tokens);
    size_t *lens = calloc(n_tokens, sizeof *lens);
    bpe_merge *merges = malloc((n_pairs ? n_pairs : 1) * sizeof *merges);
    bpe_added_token *added = calloc(1, sizeof *added);
    bpe_step *step = calloc(1, sizeof *step);
    c.tokens = (const char *const *)tokens;
    c.token_lens = lens;
    c.merges = merges;
    c.added = added;
    c.steps = step;
    if (!tokens || !lens || !merges || !added || !step)
        goto oom;
    uint8_t order[256];
    byte_order(order);
    for (uint32_t i = 0; i < n_tokens; i++) {
        size_t len = i < 256 ? 1 : i < eot ? 2 : strlen(SYNTH_EOT);
        tokens[i] = malloc(len + 1);
        if (!tokens[i])
            goto oom;
        lens[i] = len;
        if (i < 256) {
            tokens[i][0] = (char)i;
        } else if (i < eot) {
            uint32_t k = i - 256; /* pair k: (order[k / 256], order[k % 256]) */
            uint8_t a = order[k / 256], b = order[k % 256];
            tokens[i][0] = (char)a;
            tokens[i][1] = (char)b;
            merges[k] = (bpe_merge){a, b, i};
        } else {
            memcpy(tokens[i], SYNTH_EOT, len);
        }
        tokens[i][len] = '\0';
    }
    c.n_merges = n_pairs;
    added->content = strdup(SYNTH_EOT);
    added->len = strlen(SYNTH_EOT);
    added->id = eot;
    added->flags = BPE_ADDED_SPECIAL;
    c.n_added = 1;
    step->kind = BPE_STEP_REGEX;
    step->pattern = strdup(BPE_GPT2_PATTERN);
    c.n_steps = 1;
    c.symbols = BPE_SYMBOLS_BYTES;
    c.unk_id = BPE_NONE;
    if (!added->content || !step->pattern)
        goto oom;
    return tok_create(&c, eot, eot, 0, TOK_DECODE_BYTES, "synthetic tokenizer", out, err);
oom:
    tok_config_free(&c);
    return kvg_errorf(err, NULL, "synthetic tokenizer: out of memory");
}
