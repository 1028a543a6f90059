/* make_bigram_transformer.c — writes the hand-made transformer of the
 * compare tests: a one-block Llama whose next-token distribution depends
 * only on the current token, with probabilities given on the command line.
 *
 *   make_bigram_transformer TOKENIZER_DIR OUT.kvg P0 P1 ... (V*V numbers)
 *
 * V = the tokenizer's token count = d_model. Row t of the P matrix is the
 * distribution after token t (0 written as a logit of -1e4, whose softmax
 * underflows to exactly 0). Why the output is exactly that distribution:
 *   - every weight of the block is zero (q, k, v, attention output, gate,
 *     up, down), so both sub-blocks add 0 and the residual stream stays the
 *     embedding: x = tok_embd[t] = e_t, the one-hot vector of t;
 *   - the final RMSNorm gives e_t / sqrt(mean(e_t^2) + eps) * g
 *     = e_t * sqrt(V) * g (eps = 1e-12 is below float resolution next to
 *     1/V); with g = 1/sqrt(V) that is e_t again;
 *   - logits[v] = output[v] . e_t = output[v][t], and output[v][t] = ln P[t][v],
 *     so softmax(logits) = P[t] (each row of P sums to 1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvg_writer.h"
#include "tokenizer.h"
#include "transformer.h"

static int vec(kvg_writer *w, const char *name, const float *x, uint64_t n, kvg_error *err)
{
    return kvg_writer_tensor(w, name, KVG_DTYPE_F32, 1, &n, x, err);
}

static int mat(kvg_writer *w, const char *name, const float *x, uint64_t rows, uint64_t cols, kvg_error *err)
{
    uint64_t shape[2] = {rows, cols};
    return kvg_writer_tensor(w, name, KVG_DTYPE_F32, 2, shape, x, err);
}

int main(int argc, char **argv)
{
    kvg_error err;
    kvg_tokenizer *tok;
    if (argc < 3 || kvg_tokenizer_from_hf(argv[1], &tok, &err)) {
        fprintf(stderr, "%s\n", argc < 3 ? "usage: make_bigram_transformer TOKENIZER_DIR OUT.kvg P..." : err.msg);
        return 1;
    }
    const uint32_t V = kvg_tokenizer_n_tokens(tok), d = V;
    if ((uint64_t)argc != 3 + (uint64_t)V * V) {
        fprintf(stderr, "need %u probabilities (V = %u), got %d\n", V * V, V, argc - 3);
        return 1;
    }
    float *zero = calloc((size_t)d * d, sizeof *zero), *ones = malloc(d * sizeof *ones),
          *gain = malloc(d * sizeof *gain), *embd = calloc((size_t)V * d, sizeof *embd),
          *out = malloc((size_t)V * d * sizeof *out);
    for (uint32_t i = 0; i < d; i++) {
        ones[i] = 1;
        gain[i] = (float)(1 / sqrt((double)d));
        embd[(size_t)i * d + i] = 1;
    }
    for (uint32_t t = 0; t < V; t++)
        for (uint32_t v = 0; v < V; v++) {
            double p = atof(argv[3 + t * V + v]);
            out[(size_t)v * d + t] = p > 0 ? (float)log(p) : -1e4f;
        }
    kvg_tf_config c = {0};
    c.arch = KVG_ARCH_LLAMA;
    c.n_layers = 1;
    c.d_model = d;
    c.n_heads = c.n_kv_heads = 1;
    c.head_dim = d;
    c.ffn_dim = d;
    c.vocab_size = V;
    c.context_length = 64;
    c.norm_eps = 1e-12;
    c.rope = (kvg_rope){d, d, 10000.0, KVG_ROPE_NONE, 1, 0, 0, 0};
    c.activation = KVG_ACT_SILU;
    c.weight_type = KVG_DTYPE_F32;
    kvg_writer *w;
    int bad = kvg_writer_open(argv[2], 0, &w, &err);
    if (!bad) {
        bad = kvg_tf_config_write(&c, w, &err) || mat(w, "tok_embd.weight", embd, V, d, &err) ||
              vec(w, "blk.0.attn_norm.weight", ones, d, &err) || mat(w, "blk.0.attn_q.weight", zero, d, d, &err) ||
              mat(w, "blk.0.attn_k.weight", zero, d, d, &err) || mat(w, "blk.0.attn_v.weight", zero, d, d, &err) ||
              mat(w, "blk.0.attn_out.weight", zero, d, d, &err) || vec(w, "blk.0.ffn_norm.weight", ones, d, &err) ||
              mat(w, "blk.0.ffn_gate.weight", zero, d, d, &err) || mat(w, "blk.0.ffn_down.weight", zero, d, d, &err) ||
              mat(w, "blk.0.ffn_up.weight", zero, d, d, &err) || vec(w, "output_norm.weight", gain, d, &err) ||
              mat(w, "output.weight", out, V, d, &err) || kvg_tokenizer_write(tok, w, &err);
        if (bad)
            kvg_writer_abort(w);
        else
            bad = kvg_writer_finish(w, &err);
    }
    if (bad)
        fprintf(stderr, "%s\n", err.msg);
    free(zero), free(ones), free(gain), free(embd), free(out);
    kvg_tokenizer_free(tok);
    return bad ? 1 : 0;
}
