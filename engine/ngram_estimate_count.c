/* ngram_estimate_count.c — stage 1: words to ids, order-N windows counted
 * in a bounded buffer.
 *
 * Each token closes one window: the token and the order-1 before it, <s>
 * standing in before the sentence start (lmplz's padding). Windows go into
 * a buffer of packed items (see est_key_words); when it is full it is radix
 * sorted (two halves at once, then merged) and equal windows are combined. If that frees less than half of it,
 * the sorted run is written to a temporary file that is unlinked at once
 * (an interrupted run leaves nothing behind) and the buffer starts over.
 * At the end, when no run was spilled and the windows are few enough for
 * the in-memory stages (IN_MEMORY_BYTES_PER_NGRAM), the buffer is the
 * result; otherwise the runs are handed on as a merger (ngram_estimate_sort.c)
 * that the streamed stages read in order (ngram_estimate_stream.c).
 *
 * Memory: the buffer and its sort scratch (together at most the -S budget;
 * they start at 4 MiB and double as needed), the vocabulary (about 40 bytes
 * per distinct word plus its bytes); after counting, one 64 KiB read buffer
 * per merged run (as many as the budget holds). */
#include "ngram_estimate_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "radix_sort.h"

#define MIN_BUFFER_ITEMS 4096

struct kvg_ngram_counter {
    uint32_t order;
    unsigned w;               /* words per item */
    int skip_symbols;
    char *temp_dir;

    /* vocabulary: words in an arena, a hash of (hash high bits, id + 1) */
    char *arena;
    uint64_t arena_used, arena_cap;
    uint64_t *word_off;       /* [cap_words] arena offset by id */
    uint32_t *word_len;
    uint32_t n_words, cap_words;
    uint64_t *slots;
    uint64_t n_slots;

    uint32_t hist[KVG_NGRAM_MAX_ORDER]; /* the order-1 ids before the next token, oldest first */

    uint64_t *buf, *tmp;      /* alloc items each, growing to cap (the -S budget) */
    uint64_t n, alloc, cap;
    uint64_t memory;          /* the -S budget, bytes */
    est_stream *runs;         /* sorted runs spilled to temporary files */
    size_t n_runs, cap_runs;

    uint64_t tokens, sentences;
    uint32_t n_tokens;        /* > 0: counting token ids; token t is word t + 3 */
};

/* ---- vocabulary ---- */

static uint32_t word_find(const kvg_ngram_counter *c, const char *s, size_t len, uint64_t h)
{
    uint64_t mask = c->n_slots - 1;
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        uint64_t slot = c->slots[i];
        if (!slot)
            return UINT32_MAX;
        if ((slot >> 32) == (h >> 32)) {
            uint32_t id = (uint32_t)slot - 1;
            if (c->word_len[id] == len && memcmp(c->arena + c->word_off[id], s, len) == 0)
                return id;
        }
    }
}

static void slot_put(uint64_t *slots, uint64_t n_slots, uint64_t h, uint32_t id)
{
    uint64_t mask = n_slots - 1, i = h & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = (h >> 32) << 32 | (uint64_t)(id + 1);
}

/* Adds a word not in the table; returns its id or UINT32_MAX (out of memory). */
static uint32_t word_add(kvg_ngram_counter *c, const char *s, size_t len, uint64_t h)
{
    if (c->n_words == UINT32_MAX - 1 || len > UINT32_MAX - 1)
        return UINT32_MAX;
    if ((uint64_t)c->n_words * 2 >= c->n_slots) {
        uint64_t n_slots = c->n_slots * 2;
        uint64_t *slots = calloc((size_t)n_slots, sizeof *slots);
        if (!slots)
            return UINT32_MAX;
        for (uint32_t id = 0; id < c->n_words; id++)
            slot_put(slots, n_slots, XXH3_64bits(c->arena + c->word_off[id], c->word_len[id]), id);
        free(c->slots);
        c->slots = slots;
        c->n_slots = n_slots;
    }
    if (c->n_words == c->cap_words) {
        uint32_t cap = c->cap_words * 2;
        uint64_t *off = realloc(c->word_off, cap * sizeof *off);
        if (!off)
            return UINT32_MAX;
        c->word_off = off;
        uint32_t *lens = realloc(c->word_len, cap * sizeof *lens);
        if (!lens)
            return UINT32_MAX;
        c->word_len = lens;
        c->cap_words = cap;
    }
    if (c->arena_used + len + 1 > c->arena_cap) {
        uint64_t cap = c->arena_cap * 2;
        while (cap < c->arena_used + len + 1)
            cap *= 2;
        char *a = realloc(c->arena, (size_t)cap);
        if (!a)
            return UINT32_MAX;
        c->arena = a;
        c->arena_cap = cap;
    }
    uint32_t id = c->n_words++;
    memcpy(c->arena + c->arena_used, s, len);
    c->arena[c->arena_used + len] = '\0';
    c->word_off[id] = c->arena_used;
    c->word_len[id] = (uint32_t)len;
    c->arena_used += len + 1;
    slot_put(c->slots, c->n_slots, h, id);
    return id;
}

/* ---- windows, sorting, runs ---- */

static int key_cmp(const uint64_t *a, const uint64_t *b, unsigned kw)
{
    for (unsigned k = 0; k < kw; k++)
        if (a[k] != b[k])
            return a[k] < b[k] ? -1 : 1;
    return 0;
}

/* Appends item to out[0..*n), adding its count to the last item instead
 * when the windows are equal. */
static inline void put_merged(uint64_t *out, uint64_t *n, const uint64_t *item, unsigned w)
{
    if (*n && memcmp(out + (*n - 1) * w, item, (w - 1) * sizeof *item) == 0) {
        out[*n * w - 1] += item[w - 1];
        return;
    }
    memcpy(out + *n * w, item, w * sizeof *item);
    (*n)++;
}

/* Sorts the buffer and merges equal windows (summing counts). Two halves
 * are radix sorted at once (OpenMP), then merged into the scratch buffer,
 * which becomes the buffer. */
static int sort_and_merge(kvg_ngram_counter *c)
{
    unsigned w = c->w;
    uint64_t n = c->n, h = n / 2, out = 0;
    int bad = 0;
    if (n < (1u << 16)) {
        bad = radix_sort(c->buf, c->tmp, n, w, 64, 64 * w);
        h = n; /* one sorted part */
    } else {
#pragma omp parallel sections reduction(| : bad)
        {
#pragma omp section
            bad |= radix_sort(c->buf, c->tmp, h, w, 64, 64 * w);
#pragma omp section
            bad |= radix_sort(c->buf + h * w, c->tmp + h * w, n - h, w, 64, 64 * w);
        }
    }
    if (bad)
        return -1;
    const uint64_t *a = c->buf, *a_end = c->buf + h * w, *b = a_end, *b_end = c->buf + n * w;
    while (a < a_end && b < b_end) {
        if (key_cmp(a, b, w - 1) <= 0) {
            put_merged(c->tmp, &out, a, w);
            a += w;
        } else {
            put_merged(c->tmp, &out, b, w);
            b += w;
        }
    }
    for (; a < a_end; a += w)
        put_merged(c->tmp, &out, a, w);
    for (; b < b_end; b += w)
        put_merged(c->tmp, &out, b, w);
    uint64_t *t = c->buf;
    c->buf = c->tmp;
    c->tmp = t;
    c->n = out;
    return 0;
}

static int spill(kvg_ngram_counter *c, kvg_error *err)
{
    if (c->n_runs == c->cap_runs) {
        size_t cap = c->cap_runs ? 2 * c->cap_runs : 16;
        est_stream *r = realloc(c->runs, cap * sizeof *r);
        if (!r)
            return kvg_errorf(err, NULL, "out of memory");
        c->runs = r;
        c->cap_runs = cap;
    }
    est_stream *run = &c->runs[c->n_runs];
    if (est_stream_open(run, c->w, c->temp_dir, err))
        return -1;
    c->n_runs++;
    if (fwrite(c->buf, c->w * sizeof *c->buf, (size_t)c->n, run->f) != c->n || fflush(run->f) != 0)
        return kvg_errorf(err, c->temp_dir, "cannot write sorted counts to a temporary file: %s", strerror(errno));
    run->n = c->n;
    c->n = 0;
    return 0;
}

/* The buffer is full: merge what repeats, and spill if that did not free half. */
static int make_room(kvg_ngram_counter *c, kvg_error *err)
{
    if (sort_and_merge(c))
        return kvg_errorf(err, NULL, "out of memory while sorting counts");
    if (c->n > c->alloc / 2)
        return spill(c, err);
    return 0;
}

/* Doubles the buffer (up to the budget); 0, or -1 when it cannot grow. */
static int grow(kvg_ngram_counter *c)
{
    if (c->alloc >= c->cap)
        return -1;
    uint64_t alloc = c->alloc * 2 < c->cap ? c->alloc * 2 : c->cap;
    size_t bytes = (size_t)alloc * c->w * sizeof *c->buf;
    uint64_t *b = realloc(c->buf, bytes);
    if (!b)
        return -1;
    c->buf = b;
    uint64_t *t = realloc(c->tmp, bytes);
    if (!t)
        return -1;
    c->tmp = t;
    c->alloc = alloc;
    return 0;
}

/* Counts the window that ends with id and shifts it into the history. */
static int add_token(kvg_ngram_counter *c, uint32_t id, kvg_error *err)
{
    if (c->n == c->alloc && grow(c) && make_room(c, err))
        return -1;
    uint64_t *it = c->buf + c->n++ * c->w;
    uint32_t order = c->order;
    memset(it, 0, c->w * sizeof *it);
    /* reversed: r[0] = id, r[j] = hist[order-1-j] */
    it[0] = (uint64_t)id << 32;
    for (uint32_t j = 1; j < order; j++)
        it[j / 2] |= (uint64_t)c->hist[order - 1 - j] << ((j & 1) ? 0 : 32);
    it[c->w - 1] = 1;
    if (order > 1) {
        memmove(c->hist, c->hist + 1, (order - 2) * sizeof *c->hist);
        c->hist[order - 2] = id;
    }
    return 0;
}

/* ---- public: counter ---- */

int kvg_ngram_counter_new(const kvg_ngram_count_options *opt, kvg_ngram_counter **out, kvg_error *err)
{
    *out = NULL;
    if (opt->order < 1 || opt->order > KVG_NGRAM_MAX_ORDER)
        return kvg_errorf(err, NULL, "order %u is out of range (1 to %d)", opt->order, KVG_NGRAM_MAX_ORDER);
    kvg_ngram_counter *c = calloc(1, sizeof *c);
    if (!c)
        return kvg_errorf(err, NULL, "out of memory");
    c->order = opt->order;
    c->w = est_key_words(opt->order) + 1;
    c->skip_symbols = opt->skip_symbols;
    const char *td = opt->temp_dir;
    if (!td || !*td)
        td = getenv("TMPDIR");
    if (!td || !*td)
        td = "/tmp";
    c->temp_dir = strdup(td);
    c->memory = opt->memory;
    uint64_t item_bytes = c->w * sizeof(uint64_t);
    c->cap = opt->memory / (2 * item_bytes);
    if (c->cap < MIN_BUFFER_ITEMS)
        c->cap = MIN_BUFFER_ITEMS;
    c->arena_cap = 1 << 16;
    c->cap_words = 1024;
    c->n_slots = 4096;
    c->arena = malloc((size_t)c->arena_cap);
    c->word_off = malloc(c->cap_words * sizeof *c->word_off);
    c->word_len = malloc(c->cap_words * sizeof *c->word_len);
    c->slots = calloc((size_t)c->n_slots, sizeof *c->slots);
    c->alloc = c->cap < (1u << 16) ? c->cap : (1u << 16);
    c->buf = malloc((size_t)(c->alloc * item_bytes));
    c->tmp = malloc((size_t)(c->alloc * item_bytes));
    if (!c->temp_dir || !c->arena || !c->word_off || !c->word_len || !c->slots || !c->buf || !c->tmp) {
        kvg_ngram_counter_free(c);
        return kvg_errorf(err, NULL, "out of memory for a %llu-byte counting buffer",
                          (unsigned long long)opt->memory);
    }
    static const char *const specials[] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) {
        size_t len = strlen(specials[i]);
        word_add(c, specials[i], len, XXH3_64bits(specials[i], len));
    }
    *out = c;
    return 0;
}

static int is_delim(unsigned char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == 0; }

int kvg_ngram_counter_add_line(kvg_ngram_counter *c, const char *text, size_t len, const char *where, uint64_t line,
                               kvg_error *err)
{
    for (uint32_t j = 0; j + 1 < c->order; j++)
        c->hist[j] = KVG_EST_BOS;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_delim((unsigned char)text[i]))
            i++;
        if (i == len)
            break;
        size_t start = i;
        while (i < len && !is_delim((unsigned char)text[i]))
            i++;
        const char *s = text + start;
        size_t n = i - start;
        uint64_t h = XXH3_64bits(s, n);
        uint32_t id = word_find(c, s, n, h);
        if (id == UINT32_MAX) {
            id = word_add(c, s, n, h);
            if (id == UINT32_MAX)
                return kvg_errorf(err, NULL, "%s:%llu: out of memory for the vocabulary (%u words)", where,
                                  (unsigned long long)line, c->n_words);
        } else if (id <= KVG_EST_EOS) {
            if (c->skip_symbols)
                continue;
            return kvg_errorf(err, NULL,
                              "%s:%llu: the word %s is not allowed in the corpus (it is a sentence marker or "
                              "the unknown word); pass --skip_symbols to treat <s>, </s> and <unk> as spaces",
                              where, (unsigned long long)line, id == KVG_EST_UNK ? "<unk>" : id == KVG_EST_BOS ? "<s>" : "</s>");
        }
        if (add_token(c, id, err))
            return -1;
        c->tokens++;
    }
    c->sentences++;
    return add_token(c, KVG_EST_EOS, err);
}

int kvg_ngram_counter_set_tokens(kvg_ngram_counter *c, uint32_t n_tokens, kvg_error *err)
{
    if (c->n_words != 3 || c->n_tokens || n_tokens == 0 || n_tokens > UINT32_MAX - 4)
        return kvg_errorf(err, NULL, "a token vocabulary must be set once, before any text, with 1 to 2^32-5 tokens");
    char name[32];
    for (uint32_t t = 0; t < n_tokens; t++) {
        size_t len = (size_t)snprintf(name, sizeof name, "%u", t) & 15; /* at most 10 digits */
        if (word_add(c, name, len, XXH3_64bits(name, len)) == UINT32_MAX)
            return kvg_errorf(err, NULL, "out of memory for %u tokens", n_tokens);
    }
    c->n_tokens = n_tokens;
    return 0;
}

int kvg_ngram_counter_add_ids(kvg_ngram_counter *c, const uint32_t *ids, size_t n, const char *where, uint64_t line,
                              kvg_error *err)
{
    if (!c->n_tokens)
        return kvg_errorf(err, where, "no token vocabulary set");
    for (uint32_t j = 0; j + 1 < c->order; j++)
        c->hist[j] = KVG_EST_BOS;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= c->n_tokens)
            return kvg_errorf(err, NULL, "%s:%llu: token id %u is outside the vocabulary (%u tokens)", where,
                              (unsigned long long)line, ids[i], c->n_tokens);
        if (add_token(c, ids[i] + 3, err))
            return -1;
        c->tokens++;
    }
    c->sentences++;
    return add_token(c, KVG_EST_EOS, err);
}

void kvg_ngram_counter_stats(const kvg_ngram_counter *c, uint64_t *tokens, uint64_t *sentences, uint64_t *runs)
{
    *tokens = c->tokens;
    *sentences = c->sentences;
    *runs = c->n_runs;
}

void kvg_ngram_counter_free(kvg_ngram_counter *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_runs; i++)
        est_stream_close(&c->runs[i]);
    free(c->runs);
    free(c->buf);
    free(c->tmp);
    free(c->arena);
    free(c->word_off);
    free(c->word_len);
    free(c->slots);
    free(c->temp_dir);
    free(c);
}

/* ---- finishing ---- */

/* Bytes per counted window the in-memory estimation needs, per order: the
 * adjusted levels, probabilities and the output copies (kjv5 measured 75 B
 * per n-gram of any order; a window gives at most one n-gram per order). */
#define IN_MEMORY_BYTES_PER_NGRAM 80

/* Hands the runs (and what is left in the buffer, as one more run) to a
 * merger that yields the distinct windows with summed counts. */
static int stream_runs(kvg_ngram_counter *c, est_counts *out, kvg_error *err)
{
    if (c->n && spill(c, err))
        return -1;
    free(c->buf);
    free(c->tmp);
    c->buf = c->tmp = NULL;
    /* the merger appends merged runs: room for as many again */
    est_stream *runs = calloc(2 * c->n_runs + 2, sizeof *runs);
    if (!runs)
        return kvg_errorf(err, NULL, "out of memory");
    memcpy(runs, c->runs, c->n_runs * sizeof *runs);
    size_t n = c->n_runs;
    c->n_runs = 0;
    for (size_t i = 0; i < n; i++)
        runs[i].dir = out->temp_dir; /* the counter's copy goes with it */
    int rc = est_merger_open(runs, n, c->w - 1, 1, c->memory, out->temp_dir, &out->stream, err);
    free(runs);
    return rc;
}

int est_counter_finish(kvg_ngram_counter *c, est_counts *out, kvg_error *err)
{
    memset(out, 0, sizeof *out);
    out->order = c->order;
    out->words_per_item = c->w;
    out->tokens = c->tokens;
    int rc = -1;
    if (sort_and_merge(c)) {
        kvg_errorf(err, NULL, "out of memory while sorting counts");
        goto done;
    }
    out->memory = c->memory;
    out->temp_dir = strdup(c->temp_dir);
    if (!out->temp_dir) {
        kvg_errorf(err, NULL, "out of memory");
        goto done;
    }
    if (c->n_runs || (double)c->n * c->order * IN_MEMORY_BYTES_PER_NGRAM > (double)c->memory) {
        /* beyond the budget: the later stages stream (ngram_estimate_stream.c) */
        if (stream_runs(c, out, err))
            goto done;
    } else {
        /* everything fit: the buffer is the result */
        uint64_t *items = realloc(c->buf, (size_t)(c->n ? c->n : 1) * c->w * sizeof *items);
        out->items = items ? items : c->buf;
        out->n = c->n;
        c->buf = NULL;
        free(c->tmp);
        c->tmp = NULL;
    }
    /* the vocabulary, as arrays by id pointing into one block */
    out->vocab_size = c->n_words;
    out->words = calloc(c->n_words, sizeof *out->words);
    out->word_lens = malloc(c->n_words * sizeof *out->word_lens);
    if (!out->words || !out->word_lens) {
        kvg_errorf(err, NULL, "out of memory");
        goto done;
    }
    char *arena = realloc(c->arena, (size_t)(c->arena_used ? c->arena_used : 1));
    if (arena)
        c->arena = arena;
    for (uint32_t id = 0; id < c->n_words; id++) {
        out->words[id] = c->arena + c->word_off[id];
        out->word_lens[id] = c->word_len[id];
    }
    c->arena = NULL; /* now owned through out->words[0] */
    rc = 0;
done:
    kvg_ngram_counter_free(c);
    if (rc)
        est_counts_free(out);
    return rc;
}

void est_counts_free(est_counts *f)
{
    free(f->items);
    est_merger_free(f->stream);
    free(f->temp_dir);
    if (f->words)
        free(f->words[0]);
    free(f->words);
    free(f->word_lens);
    memset(f, 0, sizeof *f);
}
