/* tokenizer_hf.c — kvg_tokenizer_from_hf: a Hugging Face model folder's tokenizer
 * (hf_tokenizer.c parses the files) with its special tokens.
 *
 * BOS/EOS: tokenizer.json's post_processor decides whether BOS is prepended
 * and names the ids it adds. What it leaves open comes from
 * tokenizer_config.json ("bos_token" / "eos_token" as text or {"content"},
 * "add_bos_token"), then config.json ("bos_token_id" / "eos_token_id", an id
 * or a list whose first id is taken). */
#include "hf_tokenizer.h"
#include "tokenizer_impl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The id of the token whose text is s: an added token, else a vocab entry. */
static uint32_t find_token(const bpe_config *c, const char *s, size_t len)
{
    for (size_t i = 0; i < c->n_added; i++)
        if (c->added[i].len == len && memcmp(c->added[i].content, s, len) == 0)
            return c->added[i].id;
    for (uint32_t i = 0; i < c->n_tokens; i++)
        if (c->tokens[i] && c->token_lens[i] == len && memcmp(c->tokens[i], s, len) == 0)
            return i;
    return KVG_TOKEN_NONE;
}

/* tokenizer_config.json's "bos_token" / "eos_token": a string or {"content": ...}. */
static int config_token(const char *path, json_t *cfg, const char *key, const bpe_config *c, uint32_t *id,
                        kvg_error *err)
{
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v))
        v = json_object_get(v, "content");
    if (!json_is_string(v))
        return 0;
    uint32_t found = find_token(c, json_string_value(v), json_string_length(v));
    if (found == KVG_TOKEN_NONE)
        return kvg_errorf(err, path, "%s \"%s\" is not a token of the tokenizer", key, json_string_value(v));
    *id = found;
    return 0;
}

/* config.json's "bos_token_id" / "eos_token_id": an id, or a list (first id). */
static int config_id(const char *path, json_t *cfg, const char *key, uint32_t n_tokens, uint32_t *id, kvg_error *err)
{
    json_t *v = json_object_get(cfg, key);
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (json_int_t)n_tokens)
        return kvg_errorf(err, path, "%s is not a token id below %u", key, n_tokens);
    *id = (uint32_t)json_integer_value(v);
    return 0;
}

/* dir/name, or dir/name.gz when only that exists; 0 when neither does. */
static int find_file(char *out, size_t cap, const char *dir, const char *name)
{
    if (snprintf(out, cap, "%s/%s", dir, name) < (int)cap && is_file(out))
        return 1;
    return snprintf(out, cap, "%s/%s.gz", dir, name) < (int)cap && is_file(out);
}

int kvg_tokenizer_from_hf(const char *dir_or_file, kvg_tokenizer **out, kvg_error *err)
{
    *out = NULL;
    char dir[4096], path[4096], vocab[4096], merges[4096];
    hf_tokenizer *h = NULL;
    /* a tokenizer.json given by name: the config files are looked for next to it */
    int json_given = is_file(dir_or_file);
    snprintf(dir, sizeof dir, "%s", dir_or_file);
    if (json_given) {
        snprintf(path, sizeof path, "%s", dir_or_file);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
    }
    if (json_given || find_file(path, sizeof path, dir, "tokenizer.json")) {
        if (hf_tokenizer_load_json(path, &h, err))
            return -1;
    } else if (find_file(vocab, sizeof vocab, dir, "vocab.json") && find_file(merges, sizeof merges, dir, "merges.txt")) {
        if (hf_tokenizer_load_gpt2(vocab, merges, &h, err))
            return -1;
        snprintf(path, sizeof path, "%s", vocab);
    } else {
        return kvg_errorf(err, dir_or_file,
                          "no tokenizer: neither tokenizer.json nor vocab.json + merges.txt is there");
    }
    uint32_t bos = h->bos, eos = h->eos;
    int adds_bos = h->adds_bos, known = h->special_known, decoder = h->decoder, rc = -1;
    bpe_config cfg = h->cfg;
    memset(&h->cfg, 0, sizeof h->cfg);
    hf_tokenizer_free(h);

    char tc_path[4096], c_path[4096];
    json_t *tc = NULL, *c = NULL;
    if (find_file(tc_path, sizeof tc_path, dir, "tokenizer_config.json") && !(tc = hf_json_load(tc_path, err)))
        goto done;
    if (find_file(c_path, sizeof c_path, dir, "config.json") && !(c = hf_json_load(c_path, err)))
        goto done;
    if (tc) {
        if (bos == KVG_TOKEN_NONE && config_token(tc_path, tc, "bos_token", &cfg, &bos, err))
            goto done;
        if (eos == KVG_TOKEN_NONE && config_token(tc_path, tc, "eos_token", &cfg, &eos, err))
            goto done;
        json_t *add = json_object_get(tc, "add_bos_token");
        if (!known && json_is_boolean(add))
            adds_bos = json_is_true(add);
    }
    if (c) {
        if (bos == KVG_TOKEN_NONE && config_id(c_path, c, "bos_token_id", cfg.n_tokens, &bos, err))
            goto done;
        if (eos == KVG_TOKEN_NONE && config_id(c_path, c, "eos_token_id", cfg.n_tokens, &eos, err))
            goto done;
    }
    rc = tok_create(&cfg, bos, eos, adds_bos, (tok_decoder)decoder, path, out, err);
done:
    tok_config_free(&cfg);
    json_decref(tc);
    json_decref(c);
    return rc;
}
