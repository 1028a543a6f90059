/* hf_tokenizer.h — load Hugging Face BPE tokenizers into a bpe.
 *
 * Two sources:
 *  - tokenizer.json, model.type "BPE" (vocab; merges as "a b" strings or
 *    ["a", "b"] pairs; unk_token, fuse_unk, ignore_merges, byte_fallback),
 *    added_tokens (single_word, lstrip, rstrip), and either
 *      byte-level: pre_tokenizer ByteLevel, or a Sequence of Split (Regex or
 *      String pattern, behavior "Isolated") and Digits ending in ByteLevel;
 *      decoder ByteLevel or null; or
 *      SentencePiece style (no ByteLevel anywhere): tokens are matched as
 *      the strings they are ("▁the"), symbols are characters with byte
 *      fallback to "<0xXX>" tokens; pre_tokenizer null, Metaspace
 *      (replacement, prepend_scheme always/first/never or the older
 *      add_prefix_space, split), Split, Digits; decoder
 *      Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)]
 *      (ByteFallback optional) or Metaspace;
 *    normalizer NFC, Prepend, Replace (String pattern) or a Sequence of them;
 *    post_processor ByteLevel, TemplateProcessing, RobertaProcessing,
 *    BertProcessing or a Sequence of them, read for BOS/EOS only
 *    (bpe_encode adds no special tokens); padding and truncation ignored.
 *  - GPT-2's vocab.json + merges.txt: ByteLevel without prefix space, GPT-2's
 *    regex, no added tokens ("<|endoftext|>" in text is plain text, as in
 *    gpt-3-encoder and HF's BPE.fromFile).
 * Added-token ids follow HF's loader, not the file: a content that is in the
 * vocab takes the vocab's id, others take ids after the vocab in file order
 * (for files HF wrote itself the two agree). Added tokens are matched on the
 * raw text, so one with normalized: true under a normalizer that changes the
 * text (Prepend, Replace) is refused.
 * Any file may be gzip-compressed (read through zlib, so plain files work too).
 *
 * Everything else is refused with one line naming the file and the thing:
 * WordPiece / Unigram / WordLevel models, dropout, subword prefixes/suffixes,
 * other normalizers, pre-tokenizers, Split behaviors and decoders. */
#ifndef KVG_HF_TOKENIZER_H
#define KVG_HF_TOKENIZER_H

#include "bpe.h"
#include "kvg_error.h"

typedef struct hf_tokenizer {
    bpe_config cfg; /* what the files say, as bpe_create takes it (owned; what a .kvg writer stores) */
    uint32_t n_model_vocab; /* entries of model.vocab / vocab.json */
    bpe *bpe;       /* built from cfg */
    /* what tokenizer.json's post_processor says (special_known 0: no post_processor) */
    int special_known;
    uint32_t bos, eos; /* BPE_NONE when it names none */
    int adds_bos;
    int decoder; /* a tok_decoder (tokenizer_impl.h) */
} hf_tokenizer;

int hf_tokenizer_load_json(const char *path, hf_tokenizer **out, kvg_error *err);
int hf_tokenizer_load_gpt2(const char *vocab_json, const char *merges_txt, hf_tokenizer **out, kvg_error *err);
void hf_tokenizer_free(hf_tokenizer *t);

/* Reads and parses a (possibly gzipped) JSON file: the root, or NULL with
 * err set ("PATH: invalid JSON at line L column C: ..."). */
struct json_t;
struct json_t *hf_json_load(const char *path, kvg_error *err);

#endif
