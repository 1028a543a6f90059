/* fuzz_tokenizer.c — libFuzzer target for the tokenizers (engine/tokenizer.h).
 *
 * An input that starts with the .kvg magic is a hostile file: it is opened
 * (as it is and re-sealed, see fuzz_common.h) and, if kvg_tokenizer_open
 * accepts its tokenizer.* entries, that tokenizer encodes and decodes a few
 * texts; a refusal must be one line. Any other input is text, encoded by
 * three real tokenizers loaded once from the source tree, with round-trip
 * properties that must hold for every input:
 *   llama2.c tok512:        decode(encode(x)) == x, byte for byte;
 *   byte-level BPE (every byte a token): decode(encode(x)) == x with invalid
 *                           UTF-8 replaced (HF only ever sees text);
 *   SentencePiece-style (byte fallback): the same, for x without "▁" or the
 *                           special tokens' text. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "fuzz_common.h"
#include "kvg_reader.h"
#include "tokenizer.h"

static void encode_decode(const kvg_tokenizer *t, const char *text, size_t len, int expect_round_trip, int lossy)
{
    kvg_error err;
    uint32_t *ids = NULL;
    size_t n = 0;
    if (kvg_tokenizer_encode(t, text, len, &ids, &n, &err)) {
        check(strchr(err.msg, '\n') == NULL, "encode error is one line");
        return;
    }
    for (size_t i = 0; i < n; i++)
        check(ids[i] < kvg_tokenizer_n_tokens(t), "ids in range");
    char *back = NULL;
    size_t blen = 0;
    int rc = kvg_tokenizer_decode(t, ids, n, &back, &blen, &err);
    if (expect_round_trip) {
        check(rc == 0, "decode of encoded ids works");
        size_t want_len = len;
        char *want = lossy ? bpe_utf8_lossy(text, len, &want_len) : NULL;
        check(blen == want_len && memcmp(back, want ? want : text, blen) == 0, "decode(encode(x)) == x");
        free(want);
    }
    for (size_t i = 0; i < n; i++) {
        size_t pl;
        sink += kvg_tokenizer_piece(t, ids[i], &pl) != NULL;
    }
    free(back);
    free(ids);
}

static void open_and_use(void)
{
    kvg_file *f;
    kvg_tokenizer *t;
    kvg_error err;
    if (kvg_open(memfd_path, &f, &err))
        return;
    if (kvg_tokenizer_open(f, &t, &err) == 0) {
        static const char *const texts[] = {"Once upon a time, there was a little girl named Lily.",
                                            "  caf\xC3\xA9 \xE4\xB8\xAD\xFF\xC3 <s></s> 42\n", ""};
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
            encode_decode(t, texts[i], strlen(texts[i]), 0, 0);
        kvg_tokenizer_free(t);
    } else {
        check(strchr(err.msg, '\n') == NULL, "open error is one line");
    }
    kvg_close(f);
}

static kvg_tokenizer *llama2c, *byte_level, *spm;

static void load_tokenizers(void)
{
    kvg_error err;
    check(kvg_tokenizer_from_llama2c(KVG_SHARED_DIR "/models/tok512.bin", 512, &llama2c, &err) == 0, err.msg);
    check(kvg_tokenizer_from_hf(KVG_SOURCE_DIR "/models/tinystories-bpe", &byte_level, &err) == 0, err.msg);
    check(kvg_tokenizer_from_hf(KVG_SOURCE_DIR "/tests/tokenizer/spm-llama2.tokenizer.json", &spm, &err) == 0,
          err.msg);
}

static int contains(const uint8_t *d, size_t n, const char *s)
{
    return memmem(d, n, s, strlen(s)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= KVG_MAGIC_LEN && memcmp(data, KVG_MAGIC, KVG_MAGIC_LEN) == 0) {
        fuzz_both_ways(data, size, open_and_use);
        return 0;
    }
    if (!llama2c)
        load_tokenizers();
    const char *text = (const char *)data;
    encode_decode(llama2c, text, size, 1, 0);
    encode_decode(byte_level, text, size, 1, 1);
    int special = contains(data, size, "\xE2\x96\x81") || contains(data, size, "<s>") ||
                  contains(data, size, "</s>") || contains(data, size, "<unk>");
    encode_decode(spm, text, size, !special, 1);
    return 0;
}
