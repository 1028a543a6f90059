/* arpa_convert.c — ARPA back-off model → .kvg n-gram tables.
 *
 * Streams the ARPA text once: unigrams become the vocabulary (ids as KenLM
 * gives them: <unk> is 0, the other words follow in file order), higher
 * orders become word-id tuples; then ngram_build sorts, completes, links and
 * writes them. Memory holds the binary n-grams (about the size of the
 * model), never the text. */
#include "arpa_convert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
/* Inlined: words are a few bytes, and a call into the shared library
 * would cost as much as hashing them. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "arpa_reader.h"
#include "cli.h"
#include "ngram_build.h"

/* The words of the unigram section, with a hash table from string to id.
 * Every n-gram word is looked up here, so a lookup should touch little
 * memory: each word is stored once, in an arena, as its length (u32), its
 * bytes and a NUL, 8-byte aligned, and a slot holds both the word's place
 * in the arena and its id. words and lens, the arrays the builder wants,
 * are made at the end (the arena moves while it grows). */
typedef struct word_table {
    char *arena;
    uint64_t used, arena_cap; /* bytes */
    uint64_t *slots;          /* (arena offset / 8) << 32 | (id + 1); 0: empty */
    uint64_t n_slots;
    uint32_t n, cap;          /* ids 0..n-1 in use, room for cap */
    char **words;             /* [cap], by table_finish */
    size_t *lens;
} word_table;

static uint32_t table_find(const word_table *t, const char *s, size_t len)
{
    uint64_t mask = t->n_slots - 1;
    for (uint64_t i = XXH3_64bits(s, len) & mask;; i = (i + 1) & mask) {
        uint64_t slot = t->slots[i];
        if (!slot)
            return UINT32_MAX;
        const char *entry = t->arena + (slot >> 32) * 8;
        uint32_t elen;
        memcpy(&elen, entry, 4);
        if (elen == len && memcmp(entry + 4, s, len) == 0)
            return (uint32_t)slot - 1;
    }
}

static int table_init(word_table *t, uint64_t expected)
{
    memset(t, 0, sizeof *t);
    if (expected > UINT32_MAX - 2)
        return -1;
    t->cap = (uint32_t)expected + 1; /* + <unk> when missing */
    t->n_slots = 16;
    while (t->n_slots < 2 * (uint64_t)t->cap)
        t->n_slots <<= 1;
    t->slots = calloc((size_t)t->n_slots, sizeof *t->slots);
    return t->slots ? 0 : -1;
}

/* Stores word as id (ids are assigned by the caller). */
static int table_put(word_table *t, uint32_t id, const char *s, size_t len)
{
    uint64_t size = (4 + len + 1 + 7) & ~(uint64_t)7;
    if (len > UINT32_MAX || t->used + size > ((uint64_t)UINT32_MAX + 1) * 8)
        return -1;
    if (t->used + size > t->arena_cap) {
        uint64_t cap = t->arena_cap ? 2 * t->arena_cap : 64 << 10;
        while (cap < t->used + size)
            cap *= 2;
        char *a = realloc(t->arena, (size_t)cap);
        if (!a)
            return -1;
        t->arena = a;
        t->arena_cap = cap;
    }
    char *entry = t->arena + t->used;
    uint32_t len32 = (uint32_t)len;
    memcpy(entry, &len32, 4);
    memcpy(entry + 4, s, len);
    entry[4 + len] = '\0';
    uint64_t mask = t->n_slots - 1, i = XXH3_64bits(s, len) & mask;
    while (t->slots[i])
        i = (i + 1) & mask;
    t->slots[i] = (t->used / 8) << 32 | (uint64_t)(id + 1);
    t->used += size;
    if (id + 1 > t->n)
        t->n = id + 1;
    return 0;
}

/* The words and their lengths by id, pointing into the arena. */
static int table_finish(word_table *t)
{
    t->words = calloc(t->cap, sizeof *t->words);
    t->lens = calloc(t->cap, sizeof *t->lens);
    if (!t->words || !t->lens)
        return -1;
    for (uint64_t i = 0; i < t->n_slots; i++) {
        uint64_t slot = t->slots[i];
        if (!slot)
            continue;
        char *entry = t->arena + (slot >> 32) * 8;
        uint32_t len;
        memcpy(&len, entry, 4);
        t->words[(uint32_t)slot - 1] = entry + 4;
        t->lens[(uint32_t)slot - 1] = len;
    }
    return 0;
}

static void table_free(word_table *t)
{
    free(t->arena);
    free(t->slots);
    free(t->words);
    free(t->lens);
}

/* The id of each word of the previous n-gram, by position. ARPA files list
 * n-grams sorted, so a word is often the one in the same place on the line
 * above (half of them in lmplz's files), and comparing with that is cheaper
 * than a lookup, whose table is rarely in cache. */
#define RECENT_MAX 32
typedef struct recent_word {
    char text[RECENT_MAX];
    size_t len; /* > RECENT_MAX: nothing here */
    uint32_t id;
} recent_word;

/* The id of word s (at position k of its n-gram), or UINT32_MAX. */
static uint32_t lookup_word(const word_table *t, recent_word *recent, int k, const char *s)
{
    size_t len = strlen(s);
    recent_word *r = &recent[k];
    if (r->len == len && memcmp(r->text, s, len) == 0)
        return r->id;
    uint32_t id = table_find(t, s, len);
    if (id != UINT32_MAX && len <= RECENT_MAX) {
        memcpy(r->text, s, len);
        r->len = len;
        r->id = id;
    }
    return id;
}

/* ---- progress on stderr ---- */

typedef struct progress_state {
    int on;
    const char *path;
    time_t last;
} progress_state;

static void progress_bytes(progress_state *p, const arpa_reader *r, int force)
{
    if (!p->on || !cli_progress_due(&p->last, force))
        return;
    uint64_t done = arpa_bytes_read(r), total = arpa_file_size(r);
    if (total)
        fprintf(stderr, "\rkvgram convert: %s: reading %5.1f%% (%llu MiB)   ", p->path, 100.0 * (double)done / (double)total,
                (unsigned long long)(done >> 20));
    else
        fprintf(stderr, "\rkvgram convert: %s: reading %llu MiB   ", p->path, (unsigned long long)(done >> 20));
}

static void progress_phase(void *user, const char *phase)
{
    progress_state *p = user;
    if (p->on)
        fprintf(stderr, "\rkvgram convert: %s: %-40s\n", p->path, phase);
}

/* ---- conversion ---- */

int arpa_convert(const char *in_path, const char *out_path, const arpa_convert_options *opt, kvg_error *err)
{
    arpa_reader *r = NULL;
    kvg_writer *w = NULL;
    word_table words;
    memset(&words, 0, sizeof words);
    kvg_ngram_input in;
    memset(&in, 0, sizeof in);
    float *uni_prob = NULL, *uni_backoff = NULL;
    int rc = -1;
    progress_state prog = {opt->progress, in_path, 0};

    if (arpa_open(in_path, &r, err))
        return -1;
    const arpa_header *h = arpa_get_header(r);
    if (h->order > KVG_NGRAM_MAX_ORDER) {
        kvg_errorf(err, in_path, "order %d is above the supported maximum of %d", h->order, KVG_NGRAM_MAX_ORDER);
        goto done;
    }
    uint64_t n_uni = h->counts[1];
    if (n_uni == 0) {
        kvg_errorf(err, in_path, "the model has no 1-grams");
        goto done;
    }
    if (table_init(&words, n_uni) || !(uni_prob = malloc((n_uni + 1) * sizeof *uni_prob)) ||
        !(uni_backoff = malloc((n_uni + 1) * sizeof *uni_backoff))) {
        kvg_errorf(err, in_path, "out of memory for %llu words", (unsigned long long)n_uni);
        goto done;
    }
    in.order = (uint32_t)h->order;
    for (int n = 2; n <= h->order; n++) {
        kvg_ngram_order_input *lv = &in.levels[n];
        uint64_t c = h->counts[n] ? h->counts[n] : 1;
        lv->ids = malloc(c * (uint64_t)n * sizeof *lv->ids);
        lv->prob = malloc(c * sizeof *lv->prob);
        lv->backoff = n < h->order ? malloc(c * sizeof *lv->backoff) : NULL;
        if (!lv->ids || !lv->prob || (n < h->order && !lv->backoff)) {
            kvg_errorf(err, in_path, "out of memory for %llu %d-grams", (unsigned long long)h->counts[n], n);
            goto done;
        }
    }

    /* Read every entry. Unigram ids: <unk> is 0; the others are numbered
     * from 1 in file order, which after <unk> means their position. */
    arpa_entry e;
    recent_word recent[ARPA_MAX_ORDER];
    for (int k = 0; k < ARPA_MAX_ORDER; k++)
        recent[k].len = RECENT_MAX + 1;
    int got, unk_seen = 0;
    uint64_t pos = 0;
    while ((got = arpa_next(r, &e, err)) == 1) {
        if ((pos & 0xFFFF) == 0)
            progress_bytes(&prog, r, 0);
        if (e.order == 1) {
            size_t len = strlen(e.words[0]);
            uint32_t id;
            if (strcmp(e.words[0], "<unk>") == 0) {
                id = 0;
                unk_seen = 1;
            } else {
                id = (uint32_t)(unk_seen ? pos : pos + 1);
            }
            if (table_find(&words, e.words[0], len) != UINT32_MAX) {
                kvg_errorf(err, NULL, "%s:%llu: the 1-gram \"%s\" appears twice", in_path, (unsigned long long)e.line,
                           e.words[0]);
                goto done;
            }
            if (id >= words.cap || table_put(&words, id, e.words[0], len)) {
                kvg_errorf(err, in_path, "out of memory");
                goto done;
            }
            uni_prob[id] = e.log10p;
            uni_backoff[id] = e.backoff;
            pos++;
            continue;
        }
        kvg_ngram_order_input *lv = &in.levels[e.order];
        uint64_t i = lv->count++;
        for (int k = 0; k < e.order; k++) {
            uint32_t id = lookup_word(&words, recent, k, e.words[k]);
            if (id == UINT32_MAX) {
                kvg_errorf(err, NULL, "%s:%llu: word \"%s\" of a %d-gram is not among the 1-grams", in_path,
                           (unsigned long long)e.line, e.words[k], e.order);
                goto done;
            }
            lv->ids[i * (uint64_t)e.order + (uint64_t)k] = id;
        }
        lv->prob[i] = e.log10p;
        if (lv->backoff)
            lv->backoff[i] = e.backoff;
        pos++;
    }
    if (got < 0)
        goto done;
    progress_bytes(&prog, r, 1);
    if (prog.on)
        fputc('\n', stderr);

    /* KenLM: a model without <unk> gets one with log10 p = -100, backoff 0. */
    if (!unk_seen) {
        if (table_put(&words, 0, "<unk>", 5)) {
            kvg_errorf(err, in_path, "out of memory");
            goto done;
        }
        uni_prob[0] = -100.0f;
        uni_backoff[0] = 0.0f;
        in.unk_added = 1;
    }
    uint32_t bos = table_find(&words, "<s>", 3), eos = table_find(&words, "</s>", 4);
    if (bos == UINT32_MAX || eos == UINT32_MAX) {
        kvg_errorf(err, in_path, "the 1-grams have no %s (KenLM refuses such models too)",
                   bos == UINT32_MAX ? "<s>" : "</s>");
        goto done;
    }
    if (table_finish(&words)) {
        kvg_errorf(err, in_path, "out of memory");
        goto done;
    }
    in.vocab_size = words.n;
    in.words = (const char *const *)words.words;
    in.word_lens = words.lens;
    in.bos_id = bos;
    in.eos_id = eos;
    in.unigram_prob = uni_prob;
    in.unigram_backoff = uni_backoff;
    in.progress = progress_phase;
    in.progress_user = &prog;

    if (kvg_writer_open(out_path, 0, &w, err))
        goto done;
    if (kvg_ngram_build(&in, opt->quantize, w, in_path, err) ||
        kvg_writer_meta_str(w, "general.source", in_path, strlen(in_path), err) ||
        kvg_writer_meta_str(w, "general.converter", "kvgram " KVG_VERSION " arpa", strlen("kvgram " KVG_VERSION " arpa"), err)) {
        kvg_writer_abort(w);
        w = NULL;
        goto done;
    }
    rc = kvg_writer_finish(w, err);
    w = NULL;
done:
    if (w)
        kvg_writer_abort(w);
    arpa_close(r);
    for (int n = 2; n <= KVG_NGRAM_MAX_ORDER; n++) {
        free(in.levels[n].ids);
        free(in.levels[n].prob);
        free(in.levels[n].backoff);
    }
    table_free(&words);
    free(uni_prob);
    free(uni_backoff);
    return rc;
}
