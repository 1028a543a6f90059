/* bpe.h — exact byte-level BPE tokenization (GPT-2, Llama 3, Qwen2, SmolLM, Pythia).
 *
 * The same ids as Hugging Face `tokenizers` for a BPE model under a ByteLevel
 * pre-tokenizer. The pipeline, as HF runs it:
 *   1. invalid UTF-8 in the input is replaced, each maximal invalid subpart
 *      by one U+FFFD (Unicode's "substitution of maximal subparts", what
 *      Rust's from_utf8_lossy and JS's TextDecoder do) -- HF only ever sees
 *      text, so text read from bytes reaches it this way;
 *   2. added tokens are cut out first: at the leftmost position where one
 *      matches, the longest one wins (HF's leftmost-longest Aho-Corasick),
 *      honouring lstrip / rstrip / single_word; they map straight to their id;
 *   3. every other piece goes through the pre-tokenizer steps in order; each
 *      step splits every piece it is given (a regex step keeps matches and
 *      the gaps between them as pieces, HF's Split(..., "Isolated"); a prefix
 *      step prepends " " to a piece that does not start with one, ByteLevel's
 *      add_prefix_space);
 *   4. each final piece (a "word") is bytes; with ignore_merges a word that
 *      is itself a token is emitted whole; otherwise it starts as one symbol
 *      per byte and pairs merge lowest rank first (leftmost among equal
 *      ranks), exactly HF's heap loop, stale entries included.
 *
 * Tokens are given as their RAW BYTES: the loader turns GPT-2's printable
 * byte-level strings ("Ġthe") back into bytes (" the"). A string that is not
 * byte-level (a character outside the 256-character alphabet) keeps its
 * UTF-8 bytes, is flagged BPE_TOKEN_UNREACHABLE (merging never produces it)
 * and decodes to those bytes -- HF's ByteLevel decoder does the same.
 *
 * SentencePiece-style BPE (bpe_config.symbols CHARS / LLAMA2C) works on
 * characters instead of bytes: tokens are the strings matched against the
 * normalized text ("▁the", "<0x0A>"), a character that is no token becomes
 * its byte-fallback tokens, and merges may carry explicit ranks (llama2.c's
 * scores). The pipeline is the same otherwise.
 *
 * Regexes are PCRE2, compiled with PCRE2_UTF | PCRE2_UCP (JIT when
 * available), patterns unchanged. Under UCP, PCRE2's \s is Unicode
 * White_Space (U+0085 in, U+FEFF out), as is HF's (Oniguruma's); JavaScript's
 * \s is not (gpt-3-encoder: U+FEFF in, U+0085 out) -- the tests pin HF's.
 *
 * A bpe is immutable once built: bpe_encode and bpe_decode may run on many
 * threads at once. */
#ifndef KVG_BPE_H
#define KVG_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_error.h"

#define BPE_NONE UINT32_MAX

/* Token flags. */
#define BPE_TOKEN_UNREACHABLE 1u /* never produced by merging bytes (decode only) */

/* Added-token flags (HF's AddedToken fields). */
#define BPE_ADDED_LSTRIP 1u      /* swallows the whitespace before it */
#define BPE_ADDED_RSTRIP 2u      /* swallows the whitespace after it */
#define BPE_ADDED_SINGLE_WORD 4u /* only matches when not inside a word */
#define BPE_ADDED_SPECIAL 8u     /* a special token (informational) */

typedef struct bpe_merge {
    uint32_t left, right, merged; /* token ids; rank = index in the list */
} bpe_merge;

typedef struct bpe_added_token {
    const char *content; /* UTF-8 text matched in the input */
    size_t len;
    uint32_t id;
    unsigned flags; /* BPE_ADDED_* */
} bpe_added_token;

typedef enum bpe_step_kind {
    BPE_STEP_REGEX,        /* split on a PCRE2 pattern, matches and gaps isolated */
    BPE_STEP_PREFIX_SPACE, /* prepend " " unless the piece starts with one */
    BPE_STEP_PREPEND,      /* prepend `pattern` to a non-empty piece (HF Prepend normalizer) */
    BPE_STEP_REPLACE,      /* replace every `pattern` (a literal string) by `with` (HF Replace) */
    BPE_STEP_NFC,          /* Unicode NFC (HF NFC normalizer; utf8proc) */
    BPE_STEP_META_ALWAYS,  /* prepend `pattern` to a non-empty piece not starting with it (HF
                            * Metaspace pre-tokenizer, prepend_scheme "always") */
    BPE_STEP_META_FIRST    /* the same, only for the piece that starts the text ("first") */
} bpe_step_kind;

typedef struct bpe_step {
    bpe_step_kind kind;
    const char *pattern; /* REGEX: NUL-terminated PCRE2 pattern; PREPEND / REPLACE: the string */
    const char *with;    /* REPLACE: the replacement (NUL-terminated); else NULL */
} bpe_step;

/* How a word becomes its first symbols, before merging. */
typedef enum bpe_symbols {
    BPE_SYMBOLS_BYTES = 0,  /* one per byte (byte-level BPE) */
    BPE_SYMBOLS_CHARS = 1,  /* one per UTF-8 character looked up whole in the vocab; a character
                             * that is not a token becomes its byte-fallback tokens, else unk
                             * (HF BPE with byte_fallback, SentencePiece style) */
    BPE_SYMBOLS_LLAMA2C = 2 /* as CHARS, but on raw bytes the way llama2.c groups them (a byte and
                             * up to 3 following continuation bytes; invalid UTF-8 not replaced) */
} bpe_symbols;

/* The GPT-2 pre-tokenizer regex (HF ByteLevel with use_regex). */
#define BPE_GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct bpe_config {
    uint32_t n_tokens;           /* ids are 0 .. n_tokens-1 */
    const char *const *tokens;   /* raw bytes of each token; NULL = no such id (a hole) */
    const size_t *token_lens;
    const uint8_t *token_flags;  /* BPE_TOKEN_* per token, or NULL for none */
    const bpe_merge *merges;     /* by rank, best first */
    const uint32_t *merge_ranks; /* merge i's rank (equal ranks merge leftmost first), or NULL: rank i */
    size_t n_merges;
    const bpe_added_token *added;
    size_t n_added;
    const bpe_step *steps;       /* the pre-tokenizer, in order */
    size_t n_steps;
    uint32_t unk_id;             /* BPE_NONE: bytes with no token are dropped (as HF does) */
    int fuse_unk;                /* consecutive unknown bytes become one unk */
    int ignore_merges;           /* a word that is a token is emitted whole (Llama 3) */
    bpe_symbols symbols;
    const uint32_t *byte_fallback; /* CHARS / LLAMA2C: 256 ids, the token of each byte (BPE_NONE:
                                    * none), or NULL for no byte fallback */
} bpe_config;

typedef struct bpe bpe;

/* Builds a tokenizer; copies everything it needs from cfg. WHERE names the
 * source in error messages. Checks: ids in range, merges naming existing
 * tokens, patterns that compile. Returns 0, or -1 with err set. */
int bpe_create(const bpe_config *cfg, const char *where, bpe **out, kvg_error *err);
void bpe_free(bpe *t);

/* Encodes text[0..len) (any bytes). Writes min(count, cap) ids and sets
 * *n = count. Returns 0, or -1 with err set: when count > cap (then *n is
 * the count needed, so a caller can size a buffer and call again), or on an
 * internal failure. No special tokens (BOS/EOS) are added. */
int bpe_encode(const bpe *t, const char *text, size_t len, uint32_t *ids, size_t cap, size_t *n, kvg_error *err);

/* Writes the bytes of ids[0..n_ids) (the concatenated raw token bytes; the
 * result may not be valid UTF-8 when a sequence ends inside a character).
 * Writes min(total, cap) bytes and sets *len = total. Returns 0, or -1 with
 * err set for an unknown id or total > cap. */
int bpe_decode(const bpe *t, const uint32_t *ids, size_t n_ids, char *out, size_t cap, size_t *len, kvg_error *err);

/* A copy of s[0..len), NUL-terminated, with each maximal invalid UTF-8
 * subpart replaced by U+FFFD: what bpe_encode does first, and how decoded
 * bytes become text (HF's from_utf8_lossy). NULL when out of memory. */
char *bpe_utf8_lossy(const char *s, size_t len, size_t *out_len);

uint32_t bpe_n_tokens(const bpe *t);
/* The raw bytes of token id (NULL with *len 0 for a hole or out of range). */
const char *bpe_token_bytes(const bpe *t, uint32_t id, size_t *len);

/* The GPT-2 byte-level alphabet: the character standing for byte b, as a
 * code point, and the inverse (-1 for a code point that stands for none). */
uint32_t bpe_byte_to_char(uint8_t b);
int bpe_char_to_byte(uint32_t cp);

#endif
