/* test_ngram_model.c — the n-gram model's answers against a reference.
 *
 * The reference is written here, independently of the engine: a plain ARPA
 * parser (fgets + strtok) into a sorted table of "w1 w2 ... wn" strings, and
 * the textbook back-off rule
 *     p(w | h) = prob(h w)                 if (h w) is listed,
 *              = backoff(h) + p(w | h')    otherwise (h' = h without its first word).
 * For models whose lower-order entries are all present (lmplz output) this is
 * exactly what KenLM computes. Checked: point scores for every word after
 * many contexts, the full distribution word by word, normalization, top-k,
 * continuations, and KenLM's blank entries on test.arpa. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "arpa_convert.h"
#include "kvg_test.h"
#include "line_score.h"
#include "ngram.h"

/* ---- reference ---- */

typedef struct ref_entry {
    char *key; /* words joined by single spaces */
    float prob, backoff;
} ref_entry;

typedef struct ref_model {
    ref_entry *e;
    size_t n, cap;
    int order;
} ref_model;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const ref_entry *)a)->key, ((const ref_entry *)b)->key);
}

static void ref_load(ref_model *m, const char *path)
{
    char cmd[1024];
    /* gzip or plain: let zcat -f decompress when needed */
    snprintf(cmd, sizeof cmd, "zcat -f '%s'", path);
    FILE *in = popen(cmd, "r");
    if (!in) {
        perror("popen");
        exit(1);
    }
    memset(m, 0, sizeof *m);
    static char line[1 << 16];
    int section = 0;
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\\') {
            if (sscanf(line, "\\%d-grams:", &section) == 1 && section > m->order)
                m->order = section;
            if (strcmp(line, "\\end\\") == 0 || strcmp(line, "\\data\\") == 0)
                section = 0;
            continue;
        }
        if (section == 0 || line[0] == '\0')
            continue;
        char *save, *tok = strtok_r(line, " \t", &save);
        float prob = strtof(tok, NULL);
        char key[4096] = "";
        for (int k = 0; k < section; k++) {
            tok = strtok_r(NULL, " \t", &save);
            if (k)
                strcat(key, " ");
            strcat(key, tok);
        }
        tok = strtok_r(NULL, " \t", &save);
        float backoff = tok ? strtof(tok, NULL) : 0.0f;
        if (m->n == m->cap) {
            m->cap = m->cap ? 2 * m->cap : 1024;
            m->e = realloc(m->e, m->cap * sizeof *m->e);
        }
        m->e[m->n++] = (ref_entry){strdup(key), prob, backoff};
    }
    pclose(in);
    qsort(m->e, m->n, sizeof *m->e, cmp_entry);
}

static const ref_entry *ref_find(const ref_model *m, const char *key)
{
    ref_entry probe = {(char *)key, 0, 0};
    return bsearch(&probe, m->e, m->n, sizeof *m->e, cmp_entry);
}

/* Textbook back-off, in double (the engine works in float: compare with a
 * float-sized tolerance). ctx[0] is the oldest word. */
static double ref_prob(const ref_model *m, const char *const *ctx, int n_ctx, const char *w)
{
    char key[4096] = "";
    for (int k = 0; k < n_ctx; k++) {
        strcat(key, ctx[k]);
        strcat(key, " ");
    }
    strcat(key, w);
    const ref_entry *e = ref_find(m, key);
    if (e)
        return e->prob;
    if (n_ctx == 0) {
        e = ref_find(m, "<unk>");
        return e ? e->prob : -100.0;
    }
    key[0] = '\0';
    for (int k = 0; k < n_ctx; k++) {
        if (k)
            strcat(key, " ");
        strcat(key, ctx[k]);
    }
    e = ref_find(m, key);
    return (e ? e->backoff : 0.0) + ref_prob(m, ctx + 1, n_ctx - 1, w);
}

/* ---- engine side ---- */

typedef struct loaded {
    kvg_file *f;
    kvg_ngram *m;
    char path[256];
} loaded;

static int load(loaded *l, const char *arpa, int quantize)
{
    snprintf(l->path, sizeof l->path, "%s/kvg-ngram-test-%d.kvg", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    arpa_convert_options opt = {quantize, 0};
    kvg_error err;
    if (arpa_convert(arpa, l->path, &opt, &err) || kvg_open(l->path, &l->f, &err) ||
        kvg_ngram_open(l->f, &l->m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return -1;
    }
    return 0;
}

static void unload(loaded *l)
{
    kvg_ngram_close(l->m);
    kvg_close(l->f);
    unlink(l->path);
}

static uint32_t id_of(const kvg_ngram *m, const char *w) { return kvg_ngram_word_id(m, w, strlen(w)); }

static const char *word_of(const kvg_ngram *m, uint32_t id, char *buf)
{
    size_t len;
    const char *s = kvg_vocab_str(kvg_ngram_vocab(m), id, &len);
    memcpy(buf, s, len);
    buf[len] = '\0';
    return buf;
}

/* Feeds ctx[0..n) after the empty context, returning the state. */
static void state_after(const kvg_ngram *m, const char *const *ctx, int n, kvg_ngram_state *st)
{
    kvg_ngram_null_state(m, st);
    for (int k = 0; k < n; k++)
        kvg_ngram_score(m, st, id_of(m, ctx[k]), st, NULL);
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint32_t next_rand(uint32_t bound)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % bound);
}

/* For a sample of contexts (length 0..order-1, built from words that follow
 * each other in the model so that long n-grams are hit), every word's score
 * equals the reference, the distribution equals the scores bit for bit, and
 * the distribution sums to 1 when the model is normalized. */
static void check_against_reference(const char *arpa, int n_contexts, int normalized)
{
    ref_model ref;
    ref_load(&ref, arpa);
    loaded l;
    if (load(&l, arpa, 0))
        return;
    const kvg_ngram *m = l.m;
    uint32_t V = kvg_ngram_vocab_size(m);
    CHECK_INT(ref.order, kvg_ngram_order(m));
    float *dist = malloc(V * sizeof *dist);
    char words[KVG_NGRAM_MAX_ORDER][256];
    const char *ctx[KVG_NGRAM_MAX_ORDER];
    int bad_scores = 0, bad_dist = 0, bad_sum = 0;
    for (int c = 0; c < n_contexts; c++) {
        int n_ctx = (int)(c % (uint32_t)ref.order);
        /* a context taken from a listed n-gram when possible */
        const ref_entry *e = &ref.e[next_rand((uint32_t)ref.n)];
        char tmp[4096];
        strcpy(tmp, e->key);
        int k = 0;
        char *save;
        for (char *t = strtok_r(tmp, " ", &save); t && k < n_ctx; t = strtok_r(NULL, " ", &save))
            strcpy(words[k++], t);
        while (k < n_ctx)
            word_of(m, next_rand(V), words[k++]);
        for (int j = 0; j < n_ctx; j++)
            ctx[j] = words[j];
        kvg_ngram_state st;
        state_after(m, ctx, n_ctx, &st);
        kvg_ngram_distribution(m, &st, dist);
        double sum = 0;
        for (uint32_t w = 0; w < V; w++) {
            char wb[256];
            const char *word = word_of(m, w, wb);
            double want = ref_prob(&ref, ctx, n_ctx, word);
            kvg_ngram_state out;
            float got = kvg_ngram_score(m, &st, w, &out, NULL);
            if (fabs(got - want) > 1e-5 * (1 + fabs(want))) {
                if (bad_scores++ < 5)
                    fprintf(stderr, "%s: p(%s | %d words) expected %.9g, got %.9g\n", arpa, word, n_ctx, want, got);
            }
            if (memcmp(&got, &dist[w], sizeof got) != 0 && bad_dist++ < 5)
                fprintf(stderr, "%s: distribution[%s] = %.9g but score = %.9g\n", arpa, word, dist[w], got);
            if (strcmp(word, "<s>") != 0)
                sum += pow(10.0, dist[w]);
        }
        if (normalized && fabs(sum - 1.0) > 1e-3 && bad_sum++ < 5)
            fprintf(stderr, "%s: distribution after %d words sums to %.6f\n", arpa, n_ctx, sum);
    }
    CHECK_INT(0, bad_scores);
    CHECK_INT(0, bad_dist);
    CHECK_INT(0, bad_sum);
    free(dist);
    unload(&l);
    for (size_t i = 0; i < ref.n; i++)
        free(ref.e[i].key);
    free(ref.e);
}

static int collect(void *user, uint32_t word, float p)
{
    (void)p;
    uint32_t *n = user;
    (*n)++;
    (void)word;
    return 0;
}

/* test.arpa: KenLM's edge cases, with values worked out by hand from the file. */
static void check_blanks_and_edges(const char *dir)
{
    char arpa[512];
    snprintf(arpa, sizeof arpa, "%s/data/kenlm/test.arpa", dir);
    loaded l;
    if (load(&l, arpa, 0))
        return;
    const kvg_ngram *m = l.m;
    /* ids: <unk> 0, then the 1-grams in file order (",", ".", "</s>", "<s>", ...) */
    CHECK_INT(0, id_of(m, "<unk>"));
    CHECK_INT(1, id_of(m, ","));
    CHECK_INT(3, id_of(m, "</s>"));
    CHECK_INT(4, id_of(m, "<s>"));
    CHECK_INT(5, id_of(m, "a"));
    CHECK_INT(0, id_of(m, "no-such-word"));
    CHECK_INT(3, kvg_ngram_eos(m));
    CHECK_INT(4, kvg_ngram_bos(m));

    /* "higher looking" is not in the file, but "also would consider higher
     * looking" is: KenLM fills the gap with a blank entry whose probability is
     * p(looking) + backoff(higher) = -1.285941 + -0.30103, matched length 2. */
    const char *ctx[] = {"higher"};
    kvg_ngram_state st;
    state_after(m, ctx, 1, &st);
    uint32_t matched;
    float p = kvg_ngram_score(m, &st, id_of(m, "looking"), &st, &matched);
    CHECK_INT(2, matched);
    CHECK_NEAR(-1.285941f + -0.30103f, p, 1e-6);
    /* And the full 5-gram is reached through it: -5 as listed. */
    const char *ctx5[] = {"also", "would", "consider", "higher"};
    state_after(m, ctx5, 4, &st);
    p = kvg_ngram_score(m, &st, id_of(m, "looking"), &st, &matched);
    CHECK_INT(5, matched);
    CHECK_NEAR(-5.0, p, 0);

    /* Continuations of the empty context are all the words; of "also would
     * consider" exactly the listed 4-gram ("higher"). */
    uint32_t count = 0;
    kvg_ngram_null_state(m, &st);
    kvg_ngram_continuations(m, &st, 0, collect, &count);
    CHECK_INT(kvg_ngram_vocab_size(m), count);
    const char *ctx3[] = {"also", "would", "consider"};
    state_after(m, ctx3, 3, &st);
    count = 0;
    kvg_ngram_continuations(m, &st, 3, collect, &count);
    CHECK_INT(1, count);

    /* top-k agrees with the distribution, best first, ties by id. */
    uint32_t V = kvg_ngram_vocab_size(m), ids[10];
    float lp[10];
    float *scratch = malloc(V * sizeof *scratch), *dist = malloc(V * sizeof *dist);
    kvg_ngram_bos_state(m, &st);
    size_t k = kvg_ngram_top_k(m, &st, 10, ids, lp, scratch);
    kvg_ngram_distribution(m, &st, dist);
    CHECK_INT(10, k);
    for (size_t i = 0; i < k; i++) {
        CHECK(lp[i] == dist[ids[i]]);
        if (i)
            CHECK(lp[i] < lp[i - 1] || (lp[i] == lp[i - 1] && ids[i] > ids[i - 1]));
        /* nothing outside the top k beats the k-th */
        for (uint32_t w = 0; w < V && i == k - 1; w++) {
            int in_top = 0;
            for (size_t j = 0; j < k; j++)
                in_top |= ids[j] == w;
            if (!in_top)
                CHECK(dist[w] < lp[k - 1] || (dist[w] == lp[k - 1] && w > ids[k - 1]));
        }
    }
    /* k beyond V is capped at V */
    uint32_t *all_ids = malloc((V + 5) * sizeof *all_ids);
    float *all_lp = malloc((V + 5) * sizeof *all_lp);
    CHECK_INT(V, kvg_ngram_top_k(m, &st, V + 5, all_ids, all_lp, scratch));
    free(all_ids);
    free(all_lp);
    free(scratch);
    free(dist);
    unload(&l);
}

/* 8-bit tables: every score within the codebook's resolution of the exact one. */
static void check_quantized_close(const char *arpa)
{
    loaded exact, q;
    if (load(&exact, arpa, 0))
        return;
    if (load(&q, arpa, 8)) {
        unload(&exact);
        return;
    }
    CHECK_INT(1, kvg_ngram_quantized(q.m));
    CHECK_INT(0, kvg_ngram_quantized(exact.m));
    uint32_t V = kvg_ngram_vocab_size(exact.m);
    double max_diff = 0, sum_diff = 0;
    uint64_t n = 0;
    for (int c = 0; c < 200; c++) {
        kvg_ngram_state se, sq;
        kvg_ngram_bos_state(exact.m, &se);
        kvg_ngram_bos_state(q.m, &sq);
        for (int t = 0; t < 20; t++) {
            uint32_t w = next_rand(V);
            float a = kvg_ngram_score(exact.m, &se, w, &se, NULL);
            float b = kvg_ngram_score(q.m, &sq, w, &sq, NULL);
            double d = fabs((double)a - b);
            max_diff = d > max_diff ? d : max_diff;
            sum_diff += d;
            n++;
        }
    }
    /* KenLM's q8 tables are off by a few hundredths of a log10 unit on
     * average; allow 0.05 mean and 0.5 worst. */
    CHECK(sum_diff / (double)n < 0.05);
    CHECK(max_diff < 0.5);
    if (!(sum_diff / (double)n < 0.05) || !(max_diff < 0.5))
        fprintf(stderr, "q8: mean |diff| %.4f, max %.4f\n", sum_diff / (double)n, max_diff);
    unload(&exact);
    unload(&q);
}

/* Lines scored in interleaved groups (kvg_ngram_score_lines, what `score`
 * runs) give bit for bit what scoring each line alone without a cache gives:
 * every token's id, matched length and log10 p, and the line totals. Groups
 * of every size 1..KVG_LINE_GROUP over held-out lines, including an empty
 * line and an all-OOV one, with and without <s> and </s>. */
static void check_grouped_lines(const char *dir)
{
    char arpa[512], text[512];
    snprintf(arpa, sizeof arpa, "%s/data/kjv/kjv.small.o5.arpa.gz", dir);
    snprintf(text, sizeof text, "%s/data/kjv/kjv.test.head200.txt", dir);
    loaded l;
    if (load(&l, arpa, 0))
        return;
    enum { N_LINES = 64 };
    char *lines[N_LINES];
    size_t lens[N_LINES], n = 0, cap = 0;
    FILE *in = fopen(text, "r");
    CHECK(in != NULL);
    char *buf = NULL;
    ssize_t got;
    while (in && n < N_LINES - 2 && (got = getline(&buf, &cap, in)) > 0) {
        lens[n] = (size_t)got - (buf[got - 1] == '\n');
        lines[n] = strndup(buf, lens[n]);
        n++;
    }
    if (in)
        fclose(in);
    free(buf);
    lines[n] = strdup("");
    lens[n++] = 0;
    lines[n] = strdup("zzqx qqzx\tzxzq");
    lens[n] = strlen(lines[n]);
    n++;
    kvg_line_score alone = {0}, group[KVG_LINE_GROUP];
    memset(group, 0, sizeof group);
    kvg_ngram_cache *cache = kvg_ngram_cache_new(l.m);
    CHECK(cache != NULL);
    for (int g = 0; g < KVG_LINE_GROUP; g++)
        group[g].cache = cache;
    for (int mode = 0; mode < 2; mode++)
        for (size_t size = 1; size <= KVG_LINE_GROUP; size++)
            for (size_t i = 0; i < n; i += size) {
                size_t k = n - i < size ? n - i : size;
                CHECK(kvg_ngram_score_lines(l.m, k, (const char *const *)&lines[i], &lens[i], mode, mode, group) ==
                      0);
                for (size_t j = 0; j < k; j++) {
                    CHECK(kvg_ngram_score_line(l.m, lines[i + j], lens[i + j], mode, mode, &alone) == 0);
                    const kvg_line_score *a = &alone, *b = &group[j];
                    CHECK_INT(a->n, b->n);
                    CHECK_INT(a->oov, b->oov);
                    CHECK(memcmp(&a->total_log10, &b->total_log10, sizeof a->total_log10) == 0);
                    CHECK(memcmp(&a->oov_log10, &b->oov_log10, sizeof a->oov_log10) == 0);
                    for (size_t t = 0; t < a->n && t < b->n; t++) {
                        CHECK_INT(a->tokens[t].id, b->tokens[t].id);
                        CHECK_INT(a->tokens[t].matched, b->tokens[t].matched);
                        CHECK(memcmp(&a->tokens[t].log10p, &b->tokens[t].log10p, sizeof(float)) == 0);
                    }
                }
            }
    CHECK(kvg_ngram_score_lines(l.m, KVG_LINE_GROUP + 1, (const char *const *)lines, lens, 1, 1, group) == -1);
    for (int g = 0; g < KVG_LINE_GROUP; g++)
        free(group[g].tokens);
    free(alone.tokens);
    kvg_ngram_cache_free(cache);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    unload(&l);
}

/* kvg_ngram_score_seqs (all words of many sentences at once, level by
 * level, the path `score` takes) gives bit for bit what kvg_ngram_score
 * gives word by word: the log10 p and matched length of every word. The
 * sentences are real text with words replaced at random (by OOV, by
 * random words, by ids >= V, which read as 0) and runs of one word, so that
 * matches of every length, misses, structural nodes (pruned models) and
 * empty sentences all occur; with and without <s>; scored all together
 * and one by one through the same cache (its memo carries over). */
static void check_seqs_match_stepwise(const char *arpa, const char *text, int quantize)
{
    loaded l;
    if (load(&l, arpa, quantize))
        return;
    const kvg_ngram *m = l.m;
    uint32_t V = kvg_ngram_vocab_size(m);
    enum { N_SEQS = 48, MAX_LEN = 80 };
    uint32_t ids[N_SEQS][MAX_LEN];
    size_t lens[N_SEQS];
    FILE *in = fopen(text, "r");
    CHECK(in != NULL);
    char *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < N_SEQS; i++) {
        lens[i] = 0;
        ssize_t got = in ? getline(&buf, &cap, in) : -1;
        if (i % 7 == 3 || got <= 0)
            continue; /* empty */
        for (char *tok = strtok(buf, " \t\n"); tok && lens[i] < MAX_LEN; tok = strtok(NULL, " \t\n"))
            ids[i][lens[i]++] = id_of(m, tok);
        for (size_t t = 0; t < lens[i]; t++) {
            uint32_t r = next_rand(20);
            if (r == 0)
                ids[i][t] = 0; /* OOV */
            else if (r == 1)
                ids[i][t] = next_rand(V);
            else if (r == 2)
                ids[i][t] = V + next_rand(5); /* reads as <unk> */
            else if (r == 3 && t > 0)
                ids[i][t] = ids[i][t - 1];
        }
    }
    free(buf);
    if (in)
        fclose(in);
    float got_p[N_SEQS][MAX_LEN];
    uint32_t got_m[N_SEQS][MAX_LEN];
    kvg_ngram_seq seqs[N_SEQS];
    for (size_t i = 0; i < N_SEQS; i++)
        seqs[i] = (kvg_ngram_seq){ids[i], got_p[i], got_m[i], lens[i], sizeof(uint32_t)};
    kvg_ngram_cache *cache = kvg_ngram_cache_new(m);
    CHECK(cache != NULL);
    for (int bos = 0; bos < 2; bos++)
        for (int together = 0; together < 2; together++) {
            if (together)
                CHECK(kvg_ngram_score_seqs(m, cache, bos, N_SEQS, seqs) == 0);
            else
                for (size_t i = 0; i < N_SEQS; i++)
                    CHECK(kvg_ngram_score_seqs(m, cache, bos, 1, &seqs[i]) == 0);
            for (size_t i = 0; i < N_SEQS; i++) {
                kvg_ngram_state st;
                if (bos)
                    kvg_ngram_bos_state(m, &st);
                else
                    kvg_ngram_null_state(m, &st);
                for (size_t t = 0; t < lens[i]; t++) {
                    uint32_t matched;
                    float p = kvg_ngram_score(m, &st, ids[i][t] < V ? ids[i][t] : 0, &st, &matched);
                    if (memcmp(&p, &got_p[i][t], sizeof p) != 0 || matched != got_m[i][t]) {
                        fprintf(stderr, "%s: sentence %zu word %zu (bos %d, together %d): word by word %.9g (%u), "
                                        "level by level %.9g (%u)\n",
                                arpa, i, t, bos, together, p, matched, got_p[i][t], got_m[i][t]);
                        CHECK(0);
                        t = lens[i];
                    }
                }
            }
        }
    kvg_ngram_cache_free(cache);
    unload(&l);
}

int main(void)
{
    const char *dir = getenv("KVG_SHARED_DIR");
    if (!dir) {
        fprintf(stderr, "KVG_SHARED_DIR is not set\n");
        return 1;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/data/kenlm/toy0.arpa", dir);
    check_against_reference(path, 200, 1);
    snprintf(path, sizeof path, "%s/data/kenlm/toy1.arpa", dir);
    check_against_reference(path, 200, 1);
    snprintf(path, sizeof path, "%s/data/kjv/kjv.small.o3.arpa.gz", dir);
    check_against_reference(path, 30, 1);
    snprintf(path, sizeof path, "%s/data/kjv/kjv.small.o5.arpa.gz", dir);
    check_against_reference(path, 20, 1);
    check_blanks_and_edges(dir);
    snprintf(path, sizeof path, "%s/data/kjv/kjv.small.o3.arpa.gz", dir);
    check_quantized_close(path);
    check_grouped_lines(dir);
    char text[512];
    snprintf(text, sizeof text, "%s/data/kenlm/expected/sentences.txt", dir);
    snprintf(path, sizeof path, "%s/data/kenlm/test.arpa", dir);
    check_seqs_match_stepwise(path, text, 0);
    snprintf(path, sizeof path, "%s/data/kenlm/test_nounk.arpa", dir);
    check_seqs_match_stepwise(path, text, 0);
    snprintf(text, sizeof text, "%s/data/kjv/kjv.test.head200.txt", dir);
    snprintf(path, sizeof path, "%s/data/kjv/kjv.small.o4.prune011.arpa.gz", dir);
    check_seqs_match_stepwise(path, text, 0);
    snprintf(path, sizeof path, "%s/data/kjv/kjv.small.o5.arpa.gz", dir);
    check_seqs_match_stepwise(path, text, 0);
    check_seqs_match_stepwise(path, text, 8);
    return kvg_test_end();
}
