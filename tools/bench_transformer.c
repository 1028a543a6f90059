/* bench_transformer.c — `kvgram bench -m TRANSFORMER.kvg`: end-to-end
 * scoring throughput.
 *
 * One pass is exactly what `kvgram score` does with a batch: `batch`
 * sequences of `seq` random token ids, packed into one batch of seq * batch
 * tokens, one forward pass over all of them with logits at every position
 * that has a next token (seq - 1 per sequence), and the log-softmax of each
 * of those rows over the whole vocabulary for the target's log-prob
 * (kvg_tf_score). Throughput counts the tokens that go through the model,
 * seq * batch per pass, as llama-perplexity counts n_ctx per chunk.
 *
 * Times: wall clock (what a user waits) and the process's CPU time (user +
 * system; on a machine shared with other work this is the steadier figure:
 * a descheduled thread does not count). One untimed pass first (page faults
 * of the mapping, first-touch of the scratch). */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_transformer.h"
#include "cli.h"
#include "kernels/kernel_path.h"
#include "kernels/kernels.h"
#include "kvg_reader.h"
#include "strbuf.h"
#include "tf_score.h"

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* min and median of v[0..n) (sorts v), n >= 1. */
static void min_median(double *v, int n, double *min, double *median)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *min = v[0];
    *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* What one run measured. */
typedef struct tf_report {
    uint32_t seq, batch;
    int threads;
    uint64_t tokens_per_pass, file_bytes, scratch_bytes;
    double wall_min, wall_median, cpu_min, cpu_median; /* seconds per pass */
    double mean_logprob;                              /* ln p per scored token, last pass */
    long peak_rss_kib;
} tf_report;

/* Random ids in [0, V): a fixed xorshift stream, so every run scores the same tokens. */
static void random_ids(uint32_t *ids, size_t n, uint32_t V)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids[i] = (uint32_t)((x >> 11) % V);
    }
}

static int run_passes(const tf_bench_options *o, const kvg_transformer *m, tf_report *r, kvg_error *err)
{
    const size_t S = r->seq, B = r->batch;
    kvg_tf_scorer *sc = NULL;
    uint32_t *ids = malloc(S * B * sizeof *ids);
    float *lp = malloc(S * B * sizeof *lp);
    const uint32_t **seqs = malloc(B * sizeof *seqs);
    size_t *lens = malloc(B * sizeof *lens);
    float **out = malloc(B * sizeof *out);
    double *wall = calloc((size_t)o->repeat, sizeof *wall), *cpu = calloc((size_t)o->repeat, sizeof *cpu);
    int rc = -1;
    if (!ids || !lp || !seqs || !lens || !out || !wall || !cpu) {
        kvg_errorf(err, NULL, "out of memory");
        goto done;
    }
    /* window = seq: each sequence is one window, scored whole in one pass */
    if (kvg_tf_scorer_new(m, r->seq, r->seq - 1, r->seq * r->batch, &sc, err))
        goto done;
    random_ids(ids, S * B, m->c.vocab_size);
    for (size_t i = 0; i < B; i++) {
        seqs[i] = ids + i * S;
        lens[i] = S;
        out[i] = lp + i * S;
    }
    for (int pass = -1; pass < o->repeat; pass++) { /* pass -1: the warm-up */
        double w0 = wall_s(), c0 = cpu_s();
        if (kvg_tf_score(sc, B, seqs, lens, out, err))
            goto done;
        if (pass >= 0) {
            wall[pass] = wall_s() - w0;
            cpu[pass] = cpu_s() - c0;
        }
    }
    double sum = 0;
    for (size_t i = 0; i < B; i++)
        for (size_t j = 0; j + 1 < S; j++)
            sum += out[i][j];
    r->mean_logprob = sum / (double)(B * (S - 1));
    min_median(wall, o->repeat, &r->wall_min, &r->wall_median);
    min_median(cpu, o->repeat, &r->cpu_min, &r->cpu_median);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r->peak_rss_kib = ru.ru_maxrss;
    rc = 0;
done:
    kvg_tf_scorer_free(sc);
    free(ids), free(lp), free(seqs), free(lens), free(out), free(wall), free(cpu);
    return rc;
}

static const char *dtype_name(kvg_dtype t)
{
    const kvg_dtype_traits *tr = kvg_dtype_get(t);
    return tr ? tr->name : "?";
}

static void print_json(const tf_bench_options *o, const kvg_tf_config *c, kvg_dtype embd, const tf_report *r)
{
    strbuf b = {0};
    const double tok = (double)r->tokens_per_pass;
    sb_puts(&b, "{\"model\":");
    sb_json_str(&b, o->model, strlen(o->model));
    sb_json_field_str(&b, "kind", "transformer");
    sb_json_field_str(&b, "arch", kvg_arch_name(c->arch));
    sb_json_field_u64(&b, "n_layers", c->n_layers);
    sb_json_field_u64(&b, "d_model", c->d_model);
    sb_json_field_u64(&b, "n_heads", c->n_heads);
    sb_json_field_u64(&b, "n_kv_heads", c->n_kv_heads);
    sb_json_field_u64(&b, "ffn_dim", c->ffn_dim);
    sb_json_field_u64(&b, "vocab_size", c->vocab_size);
    sb_json_field_str(&b, "dtype", dtype_name(c->weight_type));
    sb_json_field_str(&b, "embd_dtype", dtype_name(embd));
    sb_json_field_str(&b, "kernels", kvg_kernel_path_name(kvg_kernel_path_get()));
    sb_json_field_str(&b, "matmul", kvg_matmul_impl_name_for(c->weight_type)); /* what the layers' products ran on */
    sb_json_field_u64(&b, "seq", r->seq);
    sb_json_field_u64(&b, "batch", r->batch);
    sb_json_field_u64(&b, "threads", (uint64_t)r->threads);
    sb_json_field_u64(&b, "repeat", (uint64_t)o->repeat);
    sb_json_field_u64(&b, "tokens_per_pass", r->tokens_per_pass);
    sb_json_field_num(&b, "tokens_per_s", tok / r->wall_min);
    sb_json_field_num(&b, "tokens_per_s_median", tok / r->wall_median);
    sb_json_field_num(&b, "tokens_per_cpu_s", tok / r->cpu_min);
    sb_json_field_num(&b, "tokens_per_cpu_s_median", tok / r->cpu_median);
    sb_json_field_num(&b, "seconds_per_pass_min", r->wall_min);
    sb_json_field_num(&b, "seconds_per_pass_median", r->wall_median);
    sb_json_field_num(&b, "cpu_seconds_per_pass_min", r->cpu_min);
    sb_json_field_num(&b, "cpu_seconds_per_pass_median", r->cpu_median);
    sb_json_field_num(&b, "mean_logprob", r->mean_logprob);
    sb_json_field_u64(&b, "file_bytes", r->file_bytes);
    sb_json_field_u64(&b, "scratch_bytes", r->scratch_bytes);
    sb_json_field_u64(&b, "peak_rss_kib", (uint64_t)r->peak_rss_kib);
    sb_puts(&b, "}\n");
    fwrite(b.p, 1, b.len, stdout);
    sb_free(&b);
}

static void print_table(const tf_bench_options *o, const kvg_tf_config *c, kvg_dtype embd, const tf_report *r)
{
    char size[32], scratch[32], rss[32];
    const double tok = (double)r->tokens_per_pass;
    printf("model        %s (%s: %u layers, d %u, %u heads, %u kv, ffn %u, vocab %u)\n", o->model,
           kvg_arch_name(c->arch), c->n_layers, c->d_model, c->n_heads, c->n_kv_heads, c->ffn_dim, c->vocab_size);
    printf("weights      %s (embedding %s), %s kernels (matmul %s), file %s\n", dtype_name(c->weight_type),
           dtype_name(embd), kvg_kernel_path_name(kvg_kernel_path_get()), kvg_matmul_impl_name_for(c->weight_type),
           cli_human_bytes(r->file_bytes, size));
    printf("pass         %u sequence%s x %u tokens = %llu tokens, logits at every position, %d thread%s\n",
           r->batch, r->batch == 1 ? "" : "s", r->seq, (unsigned long long)r->tokens_per_pass, r->threads,
           r->threads == 1 ? "" : "s");
    printf("\n%-24s %14s %14s\n", "", "best", "median");
    printf("%-24s %14.1f %14.1f\n", "tokens/s (wall)", tok / r->wall_min, tok / r->wall_median);
    printf("%-24s %14.1f %14.1f\n", "tokens/CPU-s", tok / r->cpu_min, tok / r->cpu_median);
    printf("%-24s %14.3f %14.3f\n", "seconds per pass", r->wall_min, r->wall_median);
    printf("\nmean ln p %.4f (uniform over the vocabulary: %.4f); scratch %s; peak RSS %s; %d timed passes\n",
           r->mean_logprob, -log((double)c->vocab_size), cli_human_bytes(r->scratch_bytes, scratch),
           cli_human_bytes((unsigned long long)r->peak_rss_kib << 10, rss), o->repeat);
}

int bench_transformer(const tf_bench_options *o)
{
    kvg_file *f = NULL;
    kvg_transformer *m = NULL;
    kvg_error err;
    int rc = 1;
    if (kvg_open(o->model, &f, &err) || kvg_transformer_open(f, &m, &err))
        goto fail;
    const kvg_tf_config *c = &m->c;
    tf_report r;
    memset(&r, 0, sizeof r);
    r.seq = o->seq ? o->seq : c->context_length < 512 ? c->context_length : 512;
    r.batch = o->batch;
    if (r.seq < 2 || r.seq > c->context_length) {
        fprintf(stderr, "kvgram bench: --seq %u: the model %s takes 2 to %u tokens (its context length)\n", r.seq,
                o->model, c->context_length);
        rc = 2;
        goto done;
    }
    if ((uint64_t)r.seq * r.batch > (1u << 24)) {
        fprintf(stderr, "kvgram bench: --seq x --batch = %llu tokens per pass is too many (at most 16777216)\n",
                (unsigned long long)r.seq * r.batch);
        rc = 2;
        goto done;
    }
    omp_set_num_threads(o->threads);
    omp_set_max_active_levels(1); /* as score_transformer.c: never a team inside a team */
    r.threads = omp_get_max_threads();
    r.tokens_per_pass = (uint64_t)r.seq * r.batch;
    r.file_bytes = kvg_file_size(f);
    /* the scorer's state (KV cache + activations) and its per-token arrays with one vocabulary slice of
     * logits; the matmul's packing buffers (KC x NC floats per thread) are not counted */
    r.scratch_bytes = kvg_tf_scorer_scratch_bytes(m, r.seq * r.batch);
    if (run_passes(o, m, &r, &err))
        goto fail;
    if (o->json)
        print_json(o, c, m->tok_embd.type, &r);
    else
        print_table(o, c, m->tok_embd.type, &r);
    if (cli_flush_stdout())
        goto done;
    rc = 0;
    goto done;
fail:
    if (!strstr(err.msg, o->model))
        fprintf(stderr, "kvgram: %s: %s\n", o->model, err.msg);
    else
        cli_print_error(&err);
done:
    kvg_transformer_free(m);
    kvg_close(f);
    return rc;
}
