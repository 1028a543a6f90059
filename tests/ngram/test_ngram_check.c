/* test_ngram_check.c — damaged n-gram tables: the deep check finds them,
 * and nothing reads outside the file either way.
 *
 * A real model (kjv.small.o5.arpa.gz, exact and q8) is converted, then
 * copies of the file are made with one field of the tables changed, at
 * positions computed here from format/SPEC.md §8 (not from the engine's
 * layout header): a first-child pointer of level 1, a block's data offset,
 * the sentinel header, the keys of a block, the child offsets of a block,
 * a block's first key.
 * Each copy still opens (tensor data is only checksummed on request), so
 * kvg_ngram_check must name the damage. Then random byte changes inside
 * the tables: whatever they do, scoring, distributions and the check must
 * stay inside the mapping (run under ASan/UBSan in CI). */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "arpa_convert.h"
#include "kvg_test.h"
#include "line_score.h"
#include "ngram.h"

static char tmpdir[512];

static unsigned bits_for(uint64_t x)
{
    unsigned b = 1;
    while (b < 64 && (x >> b))
        b++;
    return b;
}

/* Little-endian bit fields in a byte buffer, read and written a bit at a time. */
static uint64_t get_field(const uint8_t *p, uint64_t pos, unsigned width)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < width; k++)
        v |= (uint64_t)((p[(pos + k) / 8] >> ((pos + k) % 8)) & 1) << k;
    return v;
}

static void put_field(uint8_t *p, uint64_t pos, unsigned width, uint64_t v)
{
    for (unsigned k = 0; k < width; k++) {
        uint8_t bit = (uint8_t)(1u << ((pos + k) % 8));
        if ((v >> k) & 1)
            p[(pos + k) / 8] |= bit;
        else
            p[(pos + k) / 8] &= (uint8_t)~bit;
    }
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spill(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, n, f) == n);
    if (f)
        fclose(f);
}

/* Uses the model every way a reader can, so that ASan sees any stray read. */
static void exercise(const kvg_ngram *m)
{
    static const char *const lines[] = {"in the beginning god created the heaven and the earth .",
                                        "and the lord said unto moses , go", "<s> </s> <unk> the the the", ""};
    kvg_line_score ls = {0};
    ls.cache = kvg_ngram_cache_new(m);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        CHECK(kvg_ngram_score_line(m, lines[i], strlen(lines[i]), 1, 1, &ls) == 0);
    {
        /* several lines together, level by level, with prefetches */
        size_t lens[4];
        kvg_line_score group[4];
        memset(group, 0, sizeof group);
        for (int i = 0; i < 4; i++) {
            lens[i] = strlen(lines[i]);
            group[i].cache = ls.cache;
        }
        CHECK(kvg_ngram_score_lines(m, 4, lines, lens, 1, 1, group) == 0);
        for (int i = 0; i < 4; i++)
            free(group[i].tokens);
    }
    uint32_t V = kvg_ngram_vocab_size(m);
    float *dist = malloc(V * sizeof *dist);
    kvg_ngram_state st;
    kvg_ngram_bos_state(m, &st);
    for (uint32_t w = 0; w < V && w < 40; w++) {
        kvg_ngram_state a, b;
        kvg_ngram_score(m, &st, w, &a, NULL);
        kvg_ngram_score(m, &a, (w * 7 + 3) % V, &b, NULL);
        kvg_ngram_score(m, &b, (w * 13 + 5) % V, &a, NULL);
        kvg_ngram_distribution(m, &a, dist);
    }
    free(dist);
    free(ls.tokens);
    kvg_ngram_cache_free(ls.cache);
}

/* Opens a damaged copy; returns the check's verdict (0 = passed) and its message. */
static int check_copy(const uint8_t *b, size_t n, kvg_error *err)
{
    char path[600];
    snprintf(path, sizeof path, "%s/damaged.kvg", tmpdir);
    spill(path, b, n);
    kvg_file *f = NULL;
    kvg_ngram *m = NULL;
    if (kvg_open(path, &f, err))
        return 2;
    if (kvg_ngram_open(f, &m, err)) {
        kvg_close(f);
        return 3;
    }
    exercise(m);
    int rc = kvg_ngram_check(m, err) ? 1 : 0;
    kvg_ngram_close(m);
    kvg_close(f);
    return rc;
}

typedef struct level_info {
    uint64_t rec_off, rec_words, hdr_off, hdr_words; /* byte offsets of the tensors in the file */
    unsigned pb, fb, h;                               /* header field widths (SPEC §8) */
} level_info;

static void expect_damage(const char *what, const uint8_t *b, size_t n, const char *needle)
{
    kvg_error err;
    err.msg[0] = '\0';
    int rc = check_copy(b, n, &err);
    if (rc != 1 || !strstr(err.msg, needle))
        fprintf(stderr, "%s: check returned %d (%s), expected a failure naming \"%s\"\n", what, rc, err.msg, needle);
    CHECK_INT(1, rc);
    CHECK(strstr(err.msg, needle) != NULL);
}

static void damage_model(const char *arpa, int quantize)
{
    char path[600];
    snprintf(path, sizeof path, "%s/model.kvg", tmpdir);
    arpa_convert_options opt = {quantize, 0};
    kvg_error err;
    kvg_file *f = NULL;
    if (arpa_convert(arpa, path, &opt, &err) || kvg_open(path, &f, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return;
    }
    const kvg_meta *counts = kvg_meta_find(f, "ngram.counts");
    CHECK(counts != NULL);
    uint64_t order = counts->count, count[8] = {0};
    CHECK(order == 5);
    for (uint64_t k = 0; k < order && k < 8; k++)
        memcpy(&count[k], counts->value + 8 * k, 8);
    level_info lv[6];
    for (unsigned n = 2; n <= 5; n++) {
        char name[64];
        snprintf(name, sizeof name, "ngram.%u.records", n);
        const kvg_tensor *r = kvg_tensor_find(f, name);
        snprintf(name, sizeof name, "ngram.%u.blocks", n);
        const kvg_tensor *h = kvg_tensor_find(f, name);
        CHECK(r && h);
        if (!r || !h)
            return;
        lv[n].rec_off = r->offset;
        lv[n].rec_words = r->n_elems;
        lv[n].hdr_off = h->offset;
        lv[n].hdr_words = h->n_elems;
        lv[n].pb = bits_for(64 * r->n_elems);
        lv[n].fb = n < 5 ? bits_for(count[n]) : 0;
        lv[n].h = lv[n].pb + 12 + lv[n].fb;
    }
    const kvg_tensor *uni = kvg_tensor_find(f, "ngram.1.unigrams");
    CHECK(uni != NULL);
    uint64_t uni_off = uni ? uni->offset : 0;
    kvg_close(f);

    size_t n;
    uint8_t *orig = slurp(path, &n), *b = malloc(n);
    CHECK(orig && b);
    if (!orig || !b)
        return;

    /* the undamaged copy passes */
    memcpy(b, orig, n);
    CHECK_INT(0, check_copy(b, n, &err));

    /* level 1: the first child of word 3 beyond level 2 */
    memcpy(b, orig, n);
    uint32_t big = UINT32_MAX;
    memcpy(b + uni_off + (3 * 3 + 2) * 4, &big, 4);
    expect_damage("unigram first child", b, n, "ngram.1.unigrams");

    /* level 3: block 1 starts one bit late */
    memcpy(b, orig, n);
    uint8_t *hdr = b + lv[3].hdr_off;
    uint64_t pos1 = get_field(hdr, lv[3].h, lv[3].pb);
    put_field(hdr, lv[3].h, lv[3].pb, pos1 + 1);
    expect_damage("block offset", b, n, "ngram.3.blocks");

    /* level 4: the sentinel's first child is not the end of level 5 */
    memcpy(b, orig, n);
    hdr = b + lv[4].hdr_off;
    uint64_t nb = (count[3] + 31) / 32, first_at = nb * lv[4].h + lv[4].pb + 12;
    CHECK_INT(count[4], get_field(hdr, first_at, lv[4].fb));
    put_field(hdr, first_at, lv[4].fb, count[4] - 1);
    expect_damage("sentinel", b, n, "ngram.4");

    /* level 2, block 0 (the continuations of the first words): every key
     * but the first set to its largest value, so siblings are no longer
     * increasing */
    memcpy(b, orig, n);
    hdr = b + lv[2].hdr_off;
    unsigned kbits = (unsigned)get_field(hdr, lv[2].pb, 6);
    uint64_t pos0 = get_field(hdr, 0, lv[2].pb);
    CHECK(kbits > 0);
    for (unsigned r = 1; r < 32; r++) /* key 0 is also in ngram.2.first_keys */
        put_field(b + lv[2].rec_off, pos0 + r * kbits, kbits, (UINT64_C(1) << kbits) - 1);
    expect_damage("keys", b, n, "ngram.2 key");

    /* level 3, block 0: child offsets all zero, so its children never end
     * where block 1's begin */
    memcpy(b, orig, n);
    hdr = b + lv[3].hdr_off;
    kbits = (unsigned)get_field(hdr, lv[3].pb, 6);
    unsigned cbits = (unsigned)get_field(hdr, lv[3].pb + 6, 6);
    uint64_t first0 = get_field(hdr, lv[3].pb + 12, lv[3].fb), first1 = get_field(hdr, lv[3].h + lv[3].pb + 12, lv[3].fb);
    CHECK(cbits > 0 && first1 > first0);
    unsigned pbits = 0, bbits = 0;
    {
        /* value code widths: bits(D-1) of the value tables, or 32 */
        kvg_file *g = NULL;
        CHECK(kvg_open(path, &g, &err) == 0);
        const kvg_tensor *pv = g ? kvg_tensor_find(g, "ngram.3.prob_values") : NULL;
        const kvg_tensor *bv = g ? kvg_tensor_find(g, "ngram.3.backoff_values") : NULL;
        pbits = pv ? bits_for(pv->n_elems - 1) : 32;
        bbits = bv ? bits_for(bv->n_elems - 1) : 32;
        if (g)
            kvg_close(g);
    }
    /* after the 32 keys, record r = (prob code, backoff code, child offset) */
    uint64_t width = pbits + bbits + cbits, at = get_field(hdr, 0, lv[3].pb) + 32 * kbits + pbits + bbits;
    CHECK_INT(first1 - first0, get_field(b + lv[3].rec_off, at + 31 * width, cbits)); /* the layout as read here */
    for (unsigned r = 0; r < 32; r++)
        put_field(b + lv[3].rec_off, at + r * width, cbits, 0);
    expect_damage("child offsets", b, n, "ngram.3");

    /* level 4: the first key of block 2 is not its first entry's key */
    memcpy(b, orig, n);
    {
        kvg_file *g = NULL;
        CHECK(kvg_open(path, &g, &err) == 0);
        const kvg_tensor *fk = g ? kvg_tensor_find(g, "ngram.4.first_keys") : NULL;
        CHECK(fk != NULL && fk->n_elems == (count[3] + 31) / 32 && fk->n_elems > 2);
        if (fk) {
            size_t width = fk->dtype == KVG_DTYPE_U16 ? 2 : 4;
            uint64_t off = fk->offset + 2 * width;
            b[off] ^= 1;
        }
        if (g)
            kvg_close(g);
    }
    expect_damage("first keys", b, n, "ngram.4.first_keys");

    /* random bytes anywhere in the tables: no verdict asked, only no stray reads */
    srand(12345);
    for (int t = 0; t < 60; t++) {
        memcpy(b, orig, n);
        unsigned lvl = 2 + (unsigned)(rand() % 4);
        int hdr_side = rand() % 2;
        uint64_t off = hdr_side ? lv[lvl].hdr_off : lv[lvl].rec_off;
        uint64_t len = 8 * (hdr_side ? lv[lvl].hdr_words : lv[lvl].rec_words);
        for (int k = 0; k < 4; k++)
            b[off + (uint64_t)rand() % len] ^= (uint8_t)(1 + rand() % 255);
        int rc = check_copy(b, n, &err);
        CHECK(rc == 0 || rc == 1);
    }
    free(orig);
    free(b);
    unlink(path);
}

int main(void)
{
    const char *dir = getenv("KVG_SHARED_DIR");
    if (!dir) {
        fprintf(stderr, "KVG_SHARED_DIR is not set\n");
        return 1;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s/kvg-check-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    char arpa[1024];
    snprintf(arpa, sizeof arpa, "%s/data/kjv/kjv.small.o5.arpa.gz", dir);
    damage_model(arpa, 0);
    damage_model(arpa, 8);
    char p[600];
    snprintf(p, sizeof p, "%s/damaged.kvg", tmpdir);
    unlink(p);
    rmdir(tmpdir);
    return kvg_test_end();
}
