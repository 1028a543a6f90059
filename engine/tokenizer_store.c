/* tokenizer_store.c — a kvg_tokenizer in a .kvg: tokenizer.* metadata and
 * tensors (format/SPEC.md §10). Writing stores the bpe_config the tokenizer
 * was built from; opening validates every entry and builds it again, so a
 * file that lies gets a one-line error, never a crash. */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

#define TOKEN_ABSENT 0x80u /* token_flags bit: no token has this id (a hole) */

static const char *const step_names[] = {"regex",          "prefix_space",    "prepend", "replace",
                                         "nfc",            "metaspace_always", "metaspace_first"};
static const char *const symbol_names[] = {"bytes", "chars", "llama2c"};
static const char *const decoder_names[] = {"bytes", "sentencepiece", "metaspace"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int64_t id_or_minus1(uint32_t id) { return id == KVG_TOKEN_NONE || id == BPE_NONE ? -1 : (int64_t)id; }

int kvg_tokenizer_write(const kvg_tokenizer *t, kvg_writer *w, kvg_error *err)
{
    const bpe_config *c = &t->cfg;
    uint32_t n = c->n_tokens;
    int rc = -1;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += c->tokens[i] ? c->token_lens[i] : 0;
    char *bytes = malloc(total ? total : 1);
    uint32_t *off = malloc(((size_t)n + 1) * sizeof *off);
    uint8_t *flags = calloc(n, 1);
    uint32_t *merges = malloc((c->n_merges ? c->n_merges : 1) * 3 * sizeof *merges);
    const char **strs = calloc(c->n_steps + c->n_added + 1, sizeof *strs);
    size_t *lens = calloc(c->n_steps + c->n_added + 1, sizeof *lens);
    uint64_t *u = calloc(c->n_steps + c->n_added + 1, sizeof *u);
    if (!bytes || !off || !flags || !merges || !strs || !lens || !u) {
        kvg_errorf(err, NULL, "out of memory");
        goto done;
    }
    size_t o = 0;
    for (uint32_t i = 0; i < n; i++) {
        off[i] = (uint32_t)o;
        if (!c->tokens[i]) {
            flags[i] = TOKEN_ABSENT;
            continue;
        }
        memcpy(bytes + o, c->tokens[i], c->token_lens[i]);
        o += c->token_lens[i];
        flags[i] = c->token_flags ? c->token_flags[i] : 0;
    }
    off[n] = (uint32_t)o;
    for (size_t i = 0; i < c->n_merges; i++) {
        merges[3 * i] = c->merges[i].left;
        merges[3 * i + 1] = c->merges[i].right;
        merges[3 * i + 2] = c->merges[i].merged;
    }
    if (kvg_writer_meta_str(w, "tokenizer.model", "bpe", 3, err) ||
        kvg_writer_meta_str(w, "tokenizer.symbols", symbol_names[c->symbols], strlen(symbol_names[c->symbols]),
                            err) ||
        kvg_writer_meta_str(w, "tokenizer.decoder", decoder_names[t->decoder], strlen(decoder_names[t->decoder]),
                            err) ||
        kvg_writer_meta_u64(w, "tokenizer.n_tokens", n, err) ||
        kvg_writer_meta_i64(w, "tokenizer.bos_id", id_or_minus1(t->bos), err) ||
        kvg_writer_meta_i64(w, "tokenizer.eos_id", id_or_minus1(t->eos), err) ||
        kvg_writer_meta_u64(w, "tokenizer.add_bos", t->adds_bos ? 1 : 0, err) ||
        kvg_writer_meta_i64(w, "tokenizer.unk_id", id_or_minus1(c->unk_id), err) ||
        kvg_writer_meta_u64(w, "tokenizer.fuse_unk", c->fuse_unk ? 1 : 0, err) ||
        kvg_writer_meta_u64(w, "tokenizer.ignore_merges", c->ignore_merges ? 1 : 0, err))
        goto done;
    if (c->n_steps) {
        for (size_t i = 0; i < c->n_steps; i++) {
            strs[i] = step_names[c->steps[i].kind];
            lens[i] = strlen(strs[i]);
        }
        if (kvg_writer_meta_str_array(w, "tokenizer.steps", strs, lens, c->n_steps, err))
            goto done;
        for (size_t i = 0; i < c->n_steps; i++) {
            strs[i] = c->steps[i].pattern ? c->steps[i].pattern : "";
            lens[i] = strlen(strs[i]);
        }
        if (kvg_writer_meta_str_array(w, "tokenizer.step_args", strs, lens, c->n_steps, err))
            goto done;
        for (size_t i = 0; i < c->n_steps; i++) {
            strs[i] = c->steps[i].with ? c->steps[i].with : "";
            lens[i] = strlen(strs[i]);
        }
        if (kvg_writer_meta_str_array(w, "tokenizer.step_with", strs, lens, c->n_steps, err))
            goto done;
    }
    if (c->n_added) {
        for (size_t i = 0; i < c->n_added; i++) {
            strs[i] = c->added[i].content;
            lens[i] = c->added[i].len;
        }
        if (kvg_writer_meta_str_array(w, "tokenizer.added", strs, lens, c->n_added, err))
            goto done;
        for (size_t i = 0; i < c->n_added; i++)
            u[i] = c->added[i].id;
        if (kvg_writer_meta_u64_array(w, "tokenizer.added_ids", u, c->n_added, err))
            goto done;
        for (size_t i = 0; i < c->n_added; i++)
            u[i] = c->added[i].flags;
        if (kvg_writer_meta_u64_array(w, "tokenizer.added_flags", u, c->n_added, err))
            goto done;
    }
    uint64_t shape[2];
    shape[0] = total;
    if (total && kvg_writer_tensor(w, "tokenizer.token_bytes", KVG_DTYPE_U8, 1, shape, bytes, err))
        goto done;
    shape[0] = (uint64_t)n + 1;
    if (kvg_writer_tensor(w, "tokenizer.token_offsets", KVG_DTYPE_U32, 1, shape, off, err))
        goto done;
    shape[0] = n;
    if (kvg_writer_tensor(w, "tokenizer.token_flags", KVG_DTYPE_U8, 1, shape, flags, err))
        goto done;
    shape[0] = c->n_merges;
    shape[1] = 3;
    if (c->n_merges && kvg_writer_tensor(w, "tokenizer.merges", KVG_DTYPE_U32, 2, shape, merges, err))
        goto done;
    if (c->n_merges && c->merge_ranks &&
        kvg_writer_tensor(w, "tokenizer.merge_ranks", KVG_DTYPE_U32, 1, shape, c->merge_ranks, err))
        goto done;
    shape[0] = 256;
    if (c->byte_fallback && kvg_writer_tensor(w, "tokenizer.byte_fallback", KVG_DTYPE_U32, 1, shape,
                                              c->byte_fallback, err))
        goto done;
    rc = 0;
done:
    free(bytes);
    free(off);
    free(flags);
    free(merges);
    free(strs);
    free(lens);
    free(u);
    return rc;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* A string key's value among names; -1 (err set) when absent or unknown. */
static int get_enum(const kvg_file *f, const char *key, const char *const *names, size_t n, kvg_error *err)
{
    const char *s;
    uint64_t len;
    if (kvg_meta_get_str(f, key, &s, &len, err))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return (int)i;
    return kvg_errorf(err, kvg_path(f), "%s \"%.*s\" is not known to this kvgram", key, (int)(len > 64 ? 64 : len), s);
}

/* An i64 id key: -1 is none; else it must be below n. */
static int get_id(const kvg_file *f, const char *key, uint32_t n, uint32_t *id, kvg_error *err)
{
    int64_t v;
    if (kvg_meta_get_i64(f, key, &v, err))
        return -1;
    if (v < -1 || v >= (int64_t)n)
        return kvg_errorf(err, kvg_path(f), "%s %lld is not -1 or a token id below %u", key, (long long)v, n);
    *id = v < 0 ? KVG_TOKEN_NONE : (uint32_t)v;
    return 0;
}

static int get_flag(const kvg_file *f, const char *key, int *out, kvg_error *err)
{
    uint64_t v;
    if (kvg_meta_get_u64(f, key, &v, err))
        return -1;
    if (v > 1)
        return kvg_errorf(err, kvg_path(f), "%s is %llu, not 0 or 1", key, (unsigned long long)v);
    *out = (int)v;
    return 0;
}

/* A tensor of the given dtype and 1-D length (or [len, cols] when cols > 0); NULL (err set) otherwise. */
static const void *get_tensor(const kvg_file *f, const char *name, kvg_dtype dt, uint64_t len, uint64_t cols,
                              int optional, kvg_error *err)
{
    const kvg_tensor *t = kvg_tensor_find(f, name);
    if (!t) {
        if (!optional)
            kvg_errorf(err, kvg_path(f), "tensor %s is missing", name);
        return NULL;
    }
    uint32_t dims = cols ? 2 : 1;
    if (t->dtype != (uint32_t)dt || t->n_dims != dims || t->shape[0] != len || (cols && t->shape[1] != cols)) {
        kvg_errorf(err, kvg_path(f), "tensor %s has the wrong dtype or shape (expected %s [%llu%s])", name,
                   dt == KVG_DTYPE_U8 ? "u8" : "u32", (unsigned long long)len, cols ? ", 3" : "");
        return NULL;
    }
    return t->data;
}

/* An array key of n elements of elem_type (KVG_META_STR / KVG_META_U64); NULL with err set otherwise. */
static const kvg_meta *get_array(const kvg_file *f, const char *key, uint32_t elem_type, size_t n, kvg_error *err)
{
    const kvg_meta *m = kvg_meta_find(f, key);
    if (!m || m->type != KVG_META_ARR || m->elem_type != elem_type || m->count != n) {
        kvg_errorf(err, kvg_path(f), "%s is missing or not an array of %zu %s", key, n,
                   elem_type == KVG_META_STR ? "strings" : "u64");
        return NULL;
    }
    return m;
}

static char *dup_mem(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

static int read_steps(const kvg_file *f, bpe_config *c, kvg_error *err)
{
    const kvg_meta *kinds = kvg_meta_find(f, "tokenizer.steps");
    if (!kinds)
        return 0;
    if (kinds->type != KVG_META_ARR || kinds->elem_type != KVG_META_STR || kinds->count > 64)
        return kvg_errorf(err, kvg_path(f), "tokenizer.steps is not an array of at most 64 strings");
    size_t n = (size_t)kinds->count;
    const kvg_meta *args = get_array(f, "tokenizer.step_args", KVG_META_STR, n, err);
    const kvg_meta *with = args ? get_array(f, "tokenizer.step_with", KVG_META_STR, n, err) : NULL;
    if (!with)
        return -1;
    bpe_step *st = calloc(n ? n : 1, sizeof *st);
    if (!st)
        return kvg_errorf(err, kvg_path(f), "out of memory");
    c->steps = st;
    kvg_meta_str_iter ik = kvg_meta_str_begin(kinds), ia = kvg_meta_str_begin(args), iw = kvg_meta_str_begin(with);
    for (size_t i = 0; i < n; i++) {
        const char *k, *a, *wi;
        uint64_t kl, al, wl;
        if (!kvg_meta_str_next(&ik, &k, &kl) || !kvg_meta_str_next(&ia, &a, &al) || !kvg_meta_str_next(&iw, &wi, &wl))
            return kvg_errorf(err, kvg_path(f), "tokenizer.steps: entry %zu unreadable", i);
        size_t j = 0;
        while (j < N_OF(step_names) && !(strlen(step_names[j]) == kl && memcmp(step_names[j], k, kl) == 0))
            j++;
        if (j == N_OF(step_names))
            return kvg_errorf(err, kvg_path(f), "tokenizer.steps[%zu] \"%.*s\" is not known to this kvgram", i,
                              (int)(kl > 64 ? 64 : kl), k);
        if (memchr(a, 0, al) || memchr(wi, 0, wl))
            return kvg_errorf(err, kvg_path(f), "tokenizer.steps[%zu]: an argument holds a NUL byte", i);
        st[i].kind = (bpe_step_kind)j;
        st[i].pattern = dup_mem(a, al);
        st[i].with = dup_mem(wi, wl);
        c->n_steps = i + 1;
        if (!st[i].pattern || !st[i].with)
            return kvg_errorf(err, kvg_path(f), "out of memory");
    }
    return 0;
}

static int read_added(const kvg_file *f, bpe_config *c, kvg_error *err)
{
    const kvg_meta *contents = kvg_meta_find(f, "tokenizer.added");
    if (!contents)
        return 0;
    if (contents->type != KVG_META_ARR || contents->elem_type != KVG_META_STR)
        return kvg_errorf(err, kvg_path(f), "tokenizer.added is not an array of strings");
    size_t n = (size_t)contents->count;
    const kvg_meta *ids = get_array(f, "tokenizer.added_ids", KVG_META_U64, n, err);
    const kvg_meta *flags = ids ? get_array(f, "tokenizer.added_flags", KVG_META_U64, n, err) : NULL;
    if (!flags)
        return -1;
    bpe_added_token *a = calloc(n ? n : 1, sizeof *a);
    if (!a)
        return kvg_errorf(err, kvg_path(f), "out of memory");
    c->added = a;
    kvg_meta_str_iter it = kvg_meta_str_begin(contents);
    for (size_t i = 0; i < n; i++) {
        const char *s;
        uint64_t len;
        if (!kvg_meta_str_next(&it, &s, &len))
            return kvg_errorf(err, kvg_path(f), "tokenizer.added: entry %zu unreadable", i);
        uint64_t id = kvg_meta_arr_u64(ids, i), fl = kvg_meta_arr_u64(flags, i);
        if (id >= c->n_tokens || fl > 15)
            return kvg_errorf(err, kvg_path(f), "tokenizer.added[%zu]: id %llu or flags %llu out of range", i,
                              (unsigned long long)id, (unsigned long long)fl);
        a[i] = (bpe_added_token){dup_mem(s, len), (size_t)len, (uint32_t)id, (unsigned)fl};
        c->n_added = i + 1;
        if (!a[i].content)
            return kvg_errorf(err, kvg_path(f), "out of memory");
    }
    return 0;
}

int kvg_tokenizer_open(const kvg_file *f, kvg_tokenizer **out, kvg_error *err)
{
    *out = NULL;
    const char *path = kvg_path(f);
    bpe_config c = {0};
    uint64_t n64;
    uint32_t bos = KVG_TOKEN_NONE, eos = KVG_TOKEN_NONE;
    int adds_bos = 0, symbols, decoder;
    if (get_enum(f, "tokenizer.model", (const char *const[]){"bpe"}, 1, err) < 0 ||
        (symbols = get_enum(f, "tokenizer.symbols", symbol_names, N_OF(symbol_names), err)) < 0 ||
        (decoder = get_enum(f, "tokenizer.decoder", decoder_names, N_OF(decoder_names), err)) < 0 ||
        kvg_meta_get_u64(f, "tokenizer.n_tokens", &n64, err))
        return -1;
    if (n64 == 0 || n64 > (1u << 24))
        return kvg_errorf(err, path, "tokenizer.n_tokens %llu is out of range (1..16777216)", (unsigned long long)n64);
    uint32_t n = (uint32_t)n64;
    c.n_tokens = n;
    c.symbols = (bpe_symbols)symbols;
    if (get_id(f, "tokenizer.bos_id", n, &bos, err) || get_id(f, "tokenizer.eos_id", n, &eos, err) ||
        get_id(f, "tokenizer.unk_id", n, &c.unk_id, err) || get_flag(f, "tokenizer.add_bos", &adds_bos, err) ||
        get_flag(f, "tokenizer.fuse_unk", &c.fuse_unk, err) ||
        get_flag(f, "tokenizer.ignore_merges", &c.ignore_merges, err))
        return -1;
    if (c.unk_id == KVG_TOKEN_NONE)
        c.unk_id = BPE_NONE;

    const uint32_t *off = get_tensor(f, "tokenizer.token_offsets", KVG_DTYPE_U32, (uint64_t)n + 1, 0, 0, err);
    const uint8_t *flags = off ? get_tensor(f, "tokenizer.token_flags", KVG_DTYPE_U8, n, 0, 0, err) : NULL;
    if (!flags)
        return -1;
    uint32_t total = off[n];
    const char *bytes = total ? get_tensor(f, "tokenizer.token_bytes", KVG_DTYPE_U8, total, 0, 0, err) : "";
    if (!bytes)
        return -1;
    if (off[0] != 0)
        return kvg_errorf(err, path, "tokenizer.token_offsets[0] is %u, not 0", off[0]);
    for (uint32_t i = 0; i < n; i++) /* all of them first: off[n] bounds them only if they never decrease */
        if (off[i + 1] < off[i] || flags[i] & ~(TOKEN_ABSENT | BPE_TOKEN_UNREACHABLE))
            return kvg_errorf(err, path, "tokenizer token %u: offsets decrease or flags 0x%02x are unknown", i,
                              flags[i]);
    c.tokens = calloc(n, sizeof *c.tokens);
    c.token_lens = calloc(n, sizeof *c.token_lens);
    c.token_flags = calloc(n, 1);
    if (!c.tokens || !c.token_lens || !c.token_flags) {
        kvg_errorf(err, path, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (flags[i] & TOKEN_ABSENT)
            continue;
        size_t len = off[i + 1] - off[i];
        ((char **)c.tokens)[i] = dup_mem(bytes + off[i], len);
        ((size_t *)c.token_lens)[i] = len;
        ((uint8_t *)c.token_flags)[i] = flags[i];
        if (!c.tokens[i]) {
            kvg_errorf(err, path, "out of memory");
            goto fail;
        }
    }
    const kvg_tensor *mt = kvg_tensor_find(f, "tokenizer.merges");
    size_t n_merges = mt ? (size_t)mt->shape[0] : 0;
    if (mt) {
        const uint32_t *m = get_tensor(f, "tokenizer.merges", KVG_DTYPE_U32, n_merges, 3, 0, err);
        bpe_merge *dst = malloc((n_merges ? n_merges : 1) * sizeof *dst);
        c.merges = dst;
        if (!m || !dst) {
            if (m)
                kvg_errorf(err, path, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n_merges; i++)
            dst[i] = (bpe_merge){m[3 * i], m[3 * i + 1], m[3 * i + 2]};
        c.n_merges = n_merges; /* bpe_create checks the ids */
    }
    const uint32_t *ranks = get_tensor(f, "tokenizer.merge_ranks", KVG_DTYPE_U32, n_merges, 0, 1, err);
    if (!ranks && kvg_tensor_find(f, "tokenizer.merge_ranks"))
        goto fail;
    if (ranks) {
        uint32_t *r = malloc((n_merges ? n_merges : 1) * sizeof *r);
        if (!r) {
            kvg_errorf(err, path, "out of memory");
            goto fail;
        }
        memcpy(r, ranks, n_merges * sizeof *r);
        c.merge_ranks = r;
    }
    const uint32_t *fb = get_tensor(f, "tokenizer.byte_fallback", KVG_DTYPE_U32, 256, 0, 1, err);
    if (!fb && kvg_tensor_find(f, "tokenizer.byte_fallback"))
        goto fail;
    if (fb) {
        uint32_t *b = malloc(256 * sizeof *b);
        if (!b) {
            kvg_errorf(err, path, "out of memory");
            goto fail;
        }
        memcpy(b, fb, 256 * sizeof *b); /* bpe_create checks the ids */
        c.byte_fallback = b;
    }
    if (read_steps(f, &c, err) || read_added(f, &c, err))
        goto fail;
    return tok_create(&c, bos, eos, adds_bos, (tok_decoder)decoder, path, out, err);
fail:
    tok_config_free(&c);
    return -1;
}
