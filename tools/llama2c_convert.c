/* llama2c_convert.c — llama2.c checkpoints (legacy, v1 f32, v2 q8) to .kvg.
 * See llama2c_convert.h for the input layouts. The header is validated and
 * the file's exact size computed from it (overflow-safe) before any weight
 * is read; each output tensor is then assembled from its source (f32, or
 * int8 with group scales) into one f32 buffer, permuted where needed,
 * converted to the output type and streamed to the writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kvg_mmap.h"
#include "kvg_writer.h"
#include "llama2c_convert.h"
#include "tokenizer.h"
#include "transformer.h"

#define AK42_MAGIC 0x616b3432u
#define VERSIONED_HEADER 256

/* The matrices and vectors of the checkpoint, one stack of n_layers each
 * (or a single tensor for EMBED, FINAL_NORM, CLS). */
enum kind { EMBED, ATT_NORM, WQ, WK, WV, WO, FFN_NORM, W1, W2, W3, FINAL_NORM, CLS, N_KINDS };

typedef struct source {
    uint64_t off;       /* byte offset of the stack's first element */
    uint64_t n;         /* elements per layer (per tensor) */
    uint64_t scale_off; /* v2 int8 matrices: byte offset of the stack's first scale, else 0 */
} source;

typedef struct ckpt {
    const char *path;
    const unsigned char *map;
    size_t size;
    int version;             /* 0 legacy, 1, 2 */
    int32_t dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len;
    int shared;              /* classifier = embedding */
    uint64_t group;          /* v2 quantization group */
    source src[N_KINDS];
} ckpt;

static int32_t rd_i32(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t s;
    memcpy(&s, &v, 4);
    return s;
}

int llama2c_is_checkpoint(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char b[4];
    int magic = f && fread(b, 1, 4, f) == 4 && (uint32_t)rd_i32(b) == AK42_MAGIC;
    if (f)
        fclose(f);
    size_t n = strlen(path);
    return magic || (n > 4 && strcmp(path + n - 4, ".bin") == 0);
}

/* Adds n elements of `bytes` each to *at, recording the stack's offset;
 * overflow sets *bad. */
static void place(uint64_t *at, source *s, uint64_t per, uint64_t count, uint64_t bytes, int *bad)
{
    s->off = *at;
    s->n = per;
    if (per && count > UINT64_MAX / per / bytes) {
        *bad = 1;
        return;
    }
    uint64_t add = per * count * bytes;
    if (*at > UINT64_MAX - add)
        *bad = 1;
    else
        *at += add;
}

/* Reads and checks the header, lays out every source, checks the size. */
static int parse(ckpt *c, kvg_error *err)
{
    const char *path = c->path;
    size_t hdr;
    if (c->size >= 8 && (uint32_t)rd_i32(c->map) == AK42_MAGIC) {
        c->version = rd_i32(c->map + 4);
        if (c->version != 1 && c->version != 2)
            return kvg_errorf(err, path, "llama2.c export version %d is not supported (1: f32, 2: q8_0)",
                              c->version);
        if (c->size < VERSIONED_HEADER)
            return kvg_errorf(err, path, "truncated llama2.c header (%zu bytes, need %d)", c->size,
                              VERSIONED_HEADER);
        hdr = 8;
    } else {
        c->version = 0;
        if (c->size < 28)
            return kvg_errorf(err, path, "truncated llama2.c header (%zu bytes, need 28)", c->size);
        hdr = 0;
    }
    int32_t *f[7] = {&c->dim, &c->hidden, &c->n_layers, &c->n_heads, &c->n_kv, &c->vocab, &c->seq_len};
    for (int i = 0; i < 7; i++)
        *f[i] = rd_i32(c->map + hdr + 4 * i);
    if (c->version == 0) {
        c->shared = c->vocab > 0;
        if (c->vocab < 0 && c->vocab != INT32_MIN)
            c->vocab = -c->vocab;
    } else {
        c->shared = c->map[36];
        if (c->shared > 1)
            return kvg_errorf(err, path, "header byte 36 (shared classifier) is %d, not 0 or 1", c->shared);
        if (c->version == 2) {
            int32_t g = rd_i32(c->map + 37);
            if (g < 1 || g > (1 << 20))
                return kvg_errorf(err, path, "q8_0 group size %d is out of range", g);
            c->group = (uint64_t)g;
        }
    }
    static const char *const names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size",
                                         "seq_len"};
    static const int32_t max[7] = {1 << 16, 1 << 20, 1024, 1024, 1024, 1 << 24, 1 << 20};
    for (int i = 0; i < 7; i++)
        if (*f[i] < 1 || *f[i] > max[i])
            return kvg_errorf(err, path, "header %s = %d is out of range [1, %d]; not a llama2.c checkpoint?",
                              names[i], *f[i], max[i]);
    if (c->dim % c->n_heads || (c->dim / c->n_heads) % 2)
        return kvg_errorf(err, path, "dim = %d is not n_heads (%d) times an even head size", c->dim, c->n_heads);
    if (c->n_heads % c->n_kv)
        return kvg_errorf(err, path, "n_heads = %d is not a multiple of n_kv_heads = %d", c->n_heads, c->n_kv);

    const uint64_t d = (uint64_t)c->dim, h = (uint64_t)c->hidden, L = (uint64_t)c->n_layers;
    const uint64_t V = (uint64_t)c->vocab, kv = d / (uint64_t)c->n_heads * (uint64_t)c->n_kv;
    const uint64_t hs = d / (uint64_t)c->n_heads;
    int bad = 0;
    source *s = c->src;
    uint64_t at = c->version ? VERSIONED_HEADER : 28;
    if (c->version == 0) {
        place(&at, &s[EMBED], V * d, 1, 4, &bad);
        place(&at, &s[ATT_NORM], d, L, 4, &bad);
        place(&at, &s[WQ], d * d, L, 4, &bad);
        place(&at, &s[WK], kv * d, L, 4, &bad);
        place(&at, &s[WV], kv * d, L, 4, &bad);
        place(&at, &s[WO], d * d, L, 4, &bad);
        place(&at, &s[FFN_NORM], d, L, 4, &bad);
        place(&at, &s[W1], h * d, L, 4, &bad);
        place(&at, &s[W2], d * h, L, 4, &bad);
        place(&at, &s[W3], h * d, L, 4, &bad);
        place(&at, &s[FINAL_NORM], d, 1, 4, &bad);
        source rope_tables;
        place(&at, &rope_tables, (uint64_t)c->seq_len * hs, 1, 4, &bad); /* cos and sin: [seq_len, hs/2] each */
    } else {
        place(&at, &s[ATT_NORM], d, L, 4, &bad);
        place(&at, &s[FFN_NORM], d, L, 4, &bad);
        place(&at, &s[FINAL_NORM], d, 1, 4, &bad);
    }
    /* The matrices, in their file order for v1 and v2. */
    const enum kind order[] = {EMBED, WQ, WK, WV, WO, W1, W2, W3, CLS};
    const uint64_t per[] = {V * d, d * d, kv * d, kv * d, d * d, h * d, d * h, h * d, V * d};
    const uint64_t count[] = {1, L, L, L, L, L, L, L, 1};
    size_t n_mat = c->shared ? 8 : 9;
    if (c->version == 0 && !c->shared)
        place(&at, &s[CLS], V * d, 1, 4, &bad);
    for (size_t i = 0; c->version && i < n_mat; i++)
        place(&at, &s[order[i]], per[i], count[i], c->version == 1 ? 4 : 1, &bad);
    for (size_t i = 0; c->version == 2 && i < n_mat; i++) {
        if (per[i] % c->group)
            return kvg_errorf(err, path, "a weight of %llu elements is not a multiple of the group size %llu",
                              (unsigned long long)per[i], (unsigned long long)c->group);
        source scales;
        place(&at, &scales, per[i] / c->group, count[i], 4, &bad);
        s[order[i]].scale_off = scales.off;
    }
    if (bad)
        return kvg_errorf(err, path, "header sizes overflow; not a llama2.c checkpoint?");
    if (at != c->size)
        return kvg_errorf(err, path, "file is %zu bytes but its header (dim %d, hidden %d, %d layers, %d heads, "
                          "%d kv heads, vocab %d, seq %d%s) needs %llu: %s",
                          c->size, c->dim, c->hidden, c->n_layers, c->n_heads, c->n_kv, c->vocab, c->seq_len,
                          c->shared ? "" : ", separate classifier", (unsigned long long)at,
                          at > c->size ? "truncated" : "trailing bytes");
    return 0;
}

/* dst[n] = layer `layer` of the stack k as f32. */
static void fetch(const ckpt *c, enum kind k, uint64_t layer, float *dst)
{
    const source *s = &c->src[k];
    if (!s->scale_off) {
        memcpy(dst, c->map + s->off + layer * s->n * 4, s->n * 4); /* little-endian host (the reader checks) */
        return;
    }
    const int8_t *q = (const int8_t *)(c->map + s->off + layer * s->n);
    const unsigned char *scales = c->map + s->scale_off + layer * (s->n / c->group) * 4;
    for (uint64_t g = 0; g < s->n / c->group; g++) {
        float scale;
        memcpy(&scale, scales + 4 * g, 4);
        for (uint64_t j = g * c->group; j < (g + 1) * c->group; j++)
            dst[j] = (float)q[j] * scale;
    }
}

/* Rows of a [n_heads * hs, cols] projection from interleaved pairs to
 * rotate_half: within each head, source row 2i + j goes to row j*hs/2 + i. */
static void permute_rope_rows(const float *src, float *dst, uint64_t n_heads, uint64_t hs, uint64_t cols)
{
    for (uint64_t h = 0; h < n_heads; h++)
        for (uint64_t i = 0; i < hs / 2; i++)
            for (uint64_t j = 0; j < 2; j++)
                memcpy(dst + (h * hs + j * hs / 2 + i) * cols, src + (h * hs + 2 * i + j) * cols, cols * 4);
}

typedef struct out_ctx {
    const ckpt *c;
    kvg_writer *w;
    const tf_types *types; /* resolved: types->type >= 0 */
    int notes;
    float *buf, *buf2;
    void *conv;
    kvg_error *err;
} out_ctx;

/* Writes tensor `name` [rows, cols] (cols = 0: a vector, always f32; a
 * matrix in the type tf_matrix_type gives) from source k, layer.
 * perm_heads: permute rows for RoPE over that many heads. */
static int emit(out_ctx *o, const char *name, enum kind k, uint64_t layer, uint64_t rows, uint64_t cols,
                uint64_t perm_heads)
{
    const ckpt *c = o->c;
    fetch(c, k, layer, o->buf);
    const float *data = o->buf;
    if (perm_heads) {
        permute_rope_rows(o->buf, o->buf2, perm_heads, (uint64_t)(c->dim / c->n_heads), cols);
        data = o->buf2;
    }
    uint64_t shape[2] = {rows, cols};
    int fell_back_from = -1;
    kvg_dtype type = cols ? tf_matrix_type(o->types, name, c->shared, cols, &fell_back_from) : KVG_DTYPE_F32;
    if (fell_back_from >= 0 && o->notes)
        tf_note_fallback("convert", c->path, name, cols, (kvg_dtype)fell_back_from);
    if (type == KVG_DTYPE_F32)
        return kvg_writer_tensor(o->w, name, KVG_DTYPE_F32, cols ? 2 : 1, shape, data, o->err);
    kvg_dtype_get(type)->from_f32(data, o->conv, rows * cols);
    return kvg_writer_tensor(o->w, name, type, 2, shape, o->conv, o->err);
}

static int write_model(const ckpt *c, const llama2c_options *opt, kvg_writer *w, kvg_error *err)
{
    const uint64_t d = (uint64_t)c->dim, h = (uint64_t)c->hidden, V = (uint64_t)c->vocab;
    const uint64_t hs = d / (uint64_t)c->n_heads, kv = hs * (uint64_t)c->n_kv;
    kvg_tf_config cfg = {0};
    cfg.arch = KVG_ARCH_LLAMA;
    cfg.n_layers = (uint32_t)c->n_layers;
    cfg.d_model = (uint32_t)c->dim;
    cfg.n_heads = (uint32_t)c->n_heads;
    cfg.n_kv_heads = (uint32_t)c->n_kv;
    cfg.head_dim = (uint32_t)hs;
    cfg.ffn_dim = (uint32_t)c->hidden;
    cfg.vocab_size = (uint32_t)c->vocab;
    cfg.context_length = (uint32_t)c->seq_len;
    cfg.norm_eps = 1e-5; /* llama2.c's rmsnorm */
    cfg.rope = (kvg_rope){(uint32_t)hs, (uint32_t)hs, 10000.0, KVG_ROPE_NONE, 1, 0, 0, 0};
    cfg.tied_embeddings = c->shared;
    cfg.activation = KVG_ACT_SILU;
    tf_types types = opt->types;
    if (types.type < 0)
        types.type = KVG_DTYPE_F32;
    cfg.weight_type = (kvg_dtype)types.type;
    char converter[64];
    snprintf(converter, sizeof converter, "kvgram %s llama2c v%d", KVG_VERSION, c->version);
    if (kvg_tf_config_write(&cfg, w, err) ||
        kvg_writer_meta_str(w, "general.source", c->path, strlen(c->path), err) ||
        kvg_writer_meta_str(w, "general.converter", converter, strlen(converter), err))
        return -1;

    uint64_t biggest = V * d > h * d ? V * d : h * d;
    out_ctx o = {c, w, &types, opt->notes, malloc(biggest * 4), malloc(d * d * 4), malloc(biggest * 4), err};
    int rc = -1;
    if (!o.buf || !o.buf2 || !o.conv) {
        kvg_errorf(err, c->path, "out of memory");
        goto done;
    }
    if (emit(&o, "tok_embd.weight", EMBED, 0, V, d, 0))
        goto done;
    for (uint64_t L = 0; L < (uint64_t)c->n_layers; L++) {
        char n[10][48];
        const char *what[10] = {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                                "attn_out.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_down.weight",
                                "ffn_up.weight", NULL};
        for (int i = 0; what[i]; i++)
            snprintf(n[i], sizeof n[i], "blk.%llu.%s", (unsigned long long)L, what[i]);
        if (emit(&o, n[0], ATT_NORM, L, d, 0, 0) || emit(&o, n[1], WQ, L, d, d, (uint64_t)c->n_heads) ||
            emit(&o, n[2], WK, L, kv, d, (uint64_t)c->n_kv) || emit(&o, n[3], WV, L, kv, d, 0) ||
            emit(&o, n[4], WO, L, d, d, 0) || emit(&o, n[5], FFN_NORM, L, d, 0, 0) ||
            emit(&o, n[6], W1, L, h, d, 0) || emit(&o, n[7], W2, L, d, h, 0) || emit(&o, n[8], W3, L, h, d, 0))
            goto done;
        if (opt->progress)
            fprintf(stderr, "\rkvgram: %s: layer %llu/%d", c->path, (unsigned long long)L + 1, c->n_layers);
    }
    if (opt->progress)
        fputc('\n', stderr);
    if (emit(&o, "output_norm.weight", FINAL_NORM, 0, d, 0, 0) ||
        (!c->shared && emit(&o, "output.weight", CLS, 0, V, d, 0)))
        goto done;
    rc = 0;
done:
    free(o.buf);
    free(o.buf2);
    free(o.conv);
    return rc;
}

int llama2c_convert(const char *in_path, const char *out_path, const llama2c_options *opt, kvg_error *err)
{
    if (!tf_types_ok(&opt->types))
        return kvg_errorf(err, NULL, "llama2.c conversion writes matrices in f32, f16, bf16, q8_0 or q4_0");
    ckpt c;
    memset(&c, 0, sizeof c);
    c.path = in_path;
    const void *map;
    if (kvg_map_file(in_path, "llama2.c checkpoint", &map, &c.size, err))
        return -1;
    c.map = map;
    int rc = -1;
    kvg_writer *w = NULL;
    kvg_tokenizer *tok = NULL;
    if (parse(&c, err))
        goto done;
    /* The tokenizer is read in full before the output is created, so a bad
     * tok.bin leaves nothing behind. */
    if (opt->tokenizer && kvg_tokenizer_from_llama2c(opt->tokenizer, (uint32_t)c.vocab, &tok, err))
        goto done;
    if (kvg_writer_open(out_path, 0, &w, err))
        goto done;
    if (write_model(&c, opt, w, err) || (tok && kvg_tokenizer_write(tok, w, err))) {
        kvg_writer_abort(w);
        goto done;
    }
    rc = kvg_writer_finish(w, err);
done:
    kvg_tokenizer_free(tok);
    munmap((void *)map, c.size);
    return rc;
}
