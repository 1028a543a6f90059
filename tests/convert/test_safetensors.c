/* test_safetensors.c — the safetensors reader (tools/safetensors.h): single
 * files, checkpoint folders and sharded checkpoints read with every name,
 * dtype, shape and element right; a multi-GB file opened without reading it;
 * every malformed file, truncation and header mutation refused with one line
 * naming the file at fault.
 *
 * Fixtures come from an independent writer in Python (struct + json):
 * tests/reference/make_safetensors_fixtures.py, run into a fresh temporary
 * folder. Element i of a float tensor NAME is value(NAME, i) below, the same
 * formula as the writer's; every such value is exact in F32, F16 and BF16,
 * so elements are compared exactly. */
#include "safetensors.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvg_dtype.h"
#include "kvg_test.h"

static char fx[256]; /* the fixture folder */

/* fx/rel in a rotating set of buffers, so a call can take several. */
static const char *fxp(const char *rel)
{
    static char bufs[4][1024];
    static int k;
    char *b = bufs[k++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", fx, rel);
    return b;
}

/* ---- the writer's formula -------------------------------------------- */

static int seed(const char *name)
{
    unsigned s = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        s += *p;
    return (int)(s % 17);
}

static int ivalue(const char *name, uint64_t i) { return (int)((i + (uint64_t)seed(name)) % 17) - 8; }
static float value(const char *name, uint64_t i) { return (float)ivalue(name, i) * 0.125f; }

/* ---- what the fixtures hold --------------------------------------------- */

typedef struct expect {
    const char *name;
    const char *st_dtype;
    int dtype;     /* kvg_dtype or -1 */
    uint32_t width; /* bytes per element */
    uint32_t n_dims;
    uint64_t shape[ST_MAX_DIMS];
} expect;

/* tests/reference/make_safetensors_fixtures.py: SINGLE, SHARD1, SHARD2. */
static const expect single[] = {
    {"model.embed.weight", "F32", KVG_DTYPE_F32, 4, 2, {5, 7}},
    {"layers.0.attn.q", "F16", KVG_DTYPE_F16, 2, 3, {2, 3, 4}},
    {"layers.0.norm", "BF16", KVG_DTYPE_BF16, 2, 1, {11}},
    {"scalar", "F32", KVG_DTYPE_F32, 4, 0, {0}},
    {"empty", "F16", KVG_DTYPE_F16, 2, 2, {0, 4}},
    {"lm_head", "BF16", KVG_DTYPE_BF16, 2, 5, {3, 1, 2, 1, 2}},
    {"eight_dims", "F32", KVG_DTYPE_F32, 4, 8, {1, 2, 1, 2, 1, 2, 1, 2}},
    {"ids", "I64", -1, 8, 1, {4}},
    {"mask", "BOOL", -1, 1, 1, {3}},
    {"bytes", "U8", -1, 1, 1, {6}},
    {"f64", "F64", -1, 8, 1, {2}},
    {"fp8", "F8_E4M3", -1, 1, 1, {4}},
};
static const expect shard1[] = {
    {"model.embed.weight", "F32", KVG_DTYPE_F32, 4, 2, {4, 6}},
    {"layers.0.w", "BF16", KVG_DTYPE_BF16, 2, 2, {6, 4}},
};
static const expect shard2[] = {
    {"layers.1.w", "F16", KVG_DTYPE_F16, 2, 2, {6, 4}},
    {"lm_head.weight", "F32", KVG_DTYPE_F32, 4, 2, {3, 4}},
};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Element i as the writer meant it, decoded here from the raw little-endian
 * bytes, independently of st_to_f32. Returns 1 when it matches. */
static int element_ok(const st_tensor *t, const expect *e, uint64_t i)
{
    const uint8_t *p = (const uint8_t *)t->data + i * e->width;
    uint64_t u = 0;
    for (uint32_t b = e->width; b-- > 0;)
        u = u << 8 | p[b];
    const char *d = e->st_dtype;
    if (strcmp(d, "F32") == 0) {
        uint32_t u32 = (uint32_t)u;
        float f;
        memcpy(&f, &u32, 4);
        return f == value(e->name, i);
    }
    if (strcmp(d, "F16") == 0)
        return kvg_f16_to_f32((uint16_t)u) == value(e->name, i);
    if (strcmp(d, "BF16") == 0)
        return kvg_bf16_to_f32((uint16_t)u) == value(e->name, i);
    if (strcmp(d, "F64") == 0) {
        double x;
        memcpy(&x, &u, 8);
        return x == (double)value(e->name, i);
    }
    if (strcmp(d, "I64") == 0)
        return (int64_t)u == ivalue(e->name, i);
    if (strcmp(d, "U8") == 0)
        return (int)u == ivalue(e->name, i) + 8;
    if (strcmp(d, "BOOL") == 0)
        return (int)u == ((ivalue(e->name, i) % 2) + 2) % 2;
    return u == 0x38; /* F8_E4M3: 1.0 in every element */
}

/* Tensor e is in c, in file `file`, with every property and element right. */
static void check_tensor(const st_checkpoint *c, const expect *e, const char *file)
{
    const st_tensor *t = st_find(c, e->name);
    CHECK(t != NULL);
    if (!t) {
        fprintf(stderr, "  tensor %s not found\n", e->name);
        return;
    }
    CHECK(strcmp(t->name, e->name) == 0);
    CHECK(strcmp(t->file, file) == 0);
    CHECK_STR_CONTAINS(t->st_dtype, e->st_dtype);
    CHECK_INT(strlen(e->st_dtype), strlen(t->st_dtype));
    CHECK_INT(e->dtype, t->dtype);
    CHECK_INT(e->n_dims, t->n_dims);
    uint64_t n = 1;
    for (uint32_t k = 0; k < e->n_dims; k++) {
        CHECK_INT(e->shape[k], t->shape[k]);
        n *= e->shape[k];
    }
    CHECK_INT(n, t->n_elems);
    CHECK_INT(n * e->width, t->size);
    uint64_t wrong = 0;
    for (uint64_t i = 0; i < n; i++)
        if (!element_ok(t, e, i)) {
            if (!wrong)
                fprintf(stderr, "  %s: element %llu differs\n", e->name, (unsigned long long)i);
            wrong++;
        }
    CHECK_INT(0, wrong);

    kvg_error err = {{0}};
    float buf[64];
    if (e->dtype >= 0) {
        /* st_to_f32 agrees, read whole and from an offset. */
        CHECK(n <= 64);
        CHECK_INT(0, st_to_f32(t, 0, (size_t)n, buf, &err));
        for (uint64_t i = 0; i < n && i < 64; i++)
            if (buf[i] != value(e->name, i))
                wrong++;
        if (n > 1) {
            CHECK_INT(0, st_to_f32(t, 1, (size_t)n - 1, buf, &err));
            for (uint64_t i = 1; i < n; i++)
                if (buf[i - 1] != value(e->name, i))
                    wrong++;
        }
        CHECK_INT(0, wrong);
        CHECK_INT(-1, st_to_f32(t, n, 1, buf, &err));
        CHECK_STR_CONTAINS(err.msg, "outside");
        CHECK_INT(-1, st_to_f32(t, UINT64_MAX, 2, buf, &err));
    } else {
        CHECK_INT(-1, st_to_f32(t, 0, 1, buf, &err));
        CHECK_STR_CONTAINS(err.msg, e->st_dtype);
        CHECK_STR_CONTAINS(err.msg, "is not F32, F16 or BF16");
    }
}

/* st_at lists every tensor once, in strictly increasing name order. */
static void check_order(const st_checkpoint *c, size_t expected)
{
    CHECK_INT(expected, st_count(c));
    for (size_t i = 1; i < st_count(c); i++)
        CHECK(strcmp(st_at(c, i - 1)->name, st_at(c, i)->name) < 0);
    CHECK(st_at(c, st_count(c)) == NULL);
    CHECK(st_find(c, "no.such.tensor") == NULL);
    CHECK(st_find(c, "") == NULL);
}

/* ---- valid checkpoints ------------------------------------------------- */

static void test_single(const char *open_path, const char *file, int unaligned)
{
    st_checkpoint *c = NULL;
    kvg_error err = {{0}};
    int rc = st_open(open_path, &c, &err);
    CHECK_INT(0, rc);
    if (rc != 0) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    check_order(c, N_OF(single));
    for (size_t i = 0; i < N_OF(single); i++)
        check_tensor(c, &single[i], file);
    CHECK(strcmp(st_metadata(c, "format") ? st_metadata(c, "format") : "", "pt") == 0);
    CHECK(strcmp(st_metadata(c, "source") ? st_metadata(c, "source") : "", "kvgram fixture") == 0);
    CHECK(st_metadata(c, "missing") == NULL);
    /* The good file's header makes the data region start 3 bytes past an
     * 8-byte boundary: the reader must not assume alignment. */
    const st_tensor *t = st_find(c, "model.embed.weight");
    if (t)
        CHECK_INT(unaligned ? 3 : 0, (uintptr_t)t->data % 8);
    st_close(c);
}

static void test_sharded(const char *open_path)
{
    st_checkpoint *c = NULL;
    kvg_error err = {{0}};
    int rc = st_open(open_path, &c, &err);
    CHECK_INT(0, rc);
    if (rc != 0) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    check_order(c, N_OF(shard1) + N_OF(shard2));
    for (size_t i = 0; i < N_OF(shard1); i++)
        check_tensor(c, &shard1[i], fxp("sharded/model-00001-of-00002.safetensors"));
    for (size_t i = 0; i < N_OF(shard2); i++)
        check_tensor(c, &shard2[i], fxp("sharded/model-00002-of-00002.safetensors"));
    CHECK(strcmp(st_metadata(c, "format") ? st_metadata(c, "format") : "", "pt") == 0);
    CHECK(strcmp(st_metadata(c, "extra") ? st_metadata(c, "extra") : "", "two") == 0);
    CHECK(st_metadata(c, "total_size") == NULL); /* the index's metadata is not __metadata__ */
    st_close(c);
}

/* A 2 GiB tensor (a sparse file) opens without its data being read. */
static void test_big_is_not_read(void)
{
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    st_checkpoint *c = NULL;
    kvg_error err = {{0}};
    int rc = st_open(fxp("big/model.safetensors"), &c, &err);
    getrusage(RUSAGE_SELF, &after);
    CHECK_INT(0, rc);
    if (rc != 0) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    long grew_kb = after.ru_maxrss - before.ru_maxrss;
    if (grew_kb >= 64 * 1024)
        fprintf(stderr, "  opening a 2 GiB checkpoint grew the peak RSS by %ld KiB\n", grew_kb);
    CHECK(grew_kb < 64 * 1024);
    const st_tensor *t = st_find(c, "huge");
    CHECK(t != NULL);
    if (t) {
        CHECK_INT((uint64_t)1 << 29, t->n_elems);
        CHECK_INT((uint64_t)1 << 31, t->size);
        float last[1] = {1.0f};
        CHECK_INT(0, st_to_f32(t, t->n_elems - 1, 1, last, &err));
        CHECK(last[0] == 0.0f);
    }
    st_close(c);
}

/* ---- refused input ----------------------------------------------------- */

/* Opening `open_rel` fails with one line "FAULT: ..." holding `phrase`, FAULT
 * being fx/fault_rel (fx/open_rel when fault_rel is NULL). */
static void expect_refused(const char *open_rel, const char *fault_rel, const char *phrase)
{
    const char *path = fxp(open_rel);
    char prefix[1100];
    snprintf(prefix, sizeof prefix, "%s: ", fault_rel ? fxp(fault_rel) : path);
    st_checkpoint *c = (st_checkpoint *)&prefix; /* must be reset to NULL */
    kvg_error err = {{0}};
    int rc = st_open(path, &c, &err);
    CHECK_INT(-1, rc);
    CHECK(c == NULL);
    if (rc == 0) {
        fprintf(stderr, "  %s was accepted\n", open_rel);
        st_close(c);
        return;
    }
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0) {
        kvg_test_failed++;
        fprintf(stderr, "%s:%d: expected \"%s\" to start with \"%s\"\n", __FILE__, __LINE__, err.msg, prefix);
    } else {
        kvg_test_passed++;
    }
    CHECK(strchr(err.msg, '\n') == NULL);
    CHECK_STR_CONTAINS(err.msg, phrase);
}

static void test_bad_files(void)
{
    static const struct {
        const char *open, *fault, *phrase;
    } cases[] = {
        {"bad/missing_dtype.safetensors", NULL, "tensor \"w\": missing \"dtype\""},
        {"bad/missing_shape.safetensors", NULL, "tensor \"w\": missing \"shape\""},
        {"bad/missing_offsets.safetensors", NULL, "tensor \"w\": missing \"data_offsets\""},
        {"bad/dtype_not_string.safetensors", NULL, "\"dtype\" is not a string"},
        {"bad/dtype_unknown.safetensors", NULL, "unknown dtype \"F33\""},
        {"bad/shape_not_array.safetensors", NULL, "\"shape\" is not an array"},
        {"bad/shape_negative.safetensors", NULL, "shape[0] is negative (-2)"},
        {"bad/shape_fraction.safetensors", NULL, "shape[0] is not an integer"},
        {"bad/shape_string.safetensors", NULL, "shape[0] is not an integer"},
        {"bad/shape_overflow.safetensors", NULL, "element count of the shape overflows 64 bits"},
        {"bad/shape_too_many_dims.safetensors", NULL, "9 dimensions, more than the 8"},
        {"bad/offsets_not_pair.safetensors", NULL, "\"data_offsets\" is not an array of two integers"},
        {"bad/offsets_fraction.safetensors", NULL, "\"data_offsets\" is not an array of two integers"},
        {"bad/offsets_negative.safetensors", NULL, "data_offsets [-8, 24] is negative"},
        {"bad/offsets_reversed.safetensors", NULL, "data_offsets [24, 0] begin after end"},
        {"bad/offsets_beyond.safetensors", NULL, "[0, 48] outside the data region (24 bytes"},
        {"bad/size_mismatch.safetensors", NULL, "hold 20 bytes, but 6 F32 elements take 24"},
        {"bad/dtype_f4_odd.safetensors", NULL, "3 F4 elements do not fill whole bytes"},
        {"bad/entry_not_object.safetensors", NULL, "tensor \"w\": entry is not a JSON object"},
        {"bad/metadata_not_object.safetensors", NULL, "\"__metadata__\" is not a JSON object"},
        {"bad/metadata_not_string.safetensors", NULL, "\"__metadata__\" value for \"n\" is not a string"},
        {"bad/overlap.safetensors", NULL, "tensors \"a\" [0, 16] and \"b\" [8, 24] overlap"},
        {"bad/duplicate_key.safetensors", NULL, "duplicate object key"},
        {"bad/header_not_json.safetensors", NULL, "header JSON does not parse at line 2"},
        {"bad/name_nul.safetensors", NULL, "header JSON does not parse at line 1"},
        {"bad/header_not_object.safetensors", NULL, "the header does not start with '{'"},
        {"bad/header_zero.safetensors", NULL, "the header does not start with '{'"},
        {"bad/header_absurd.safetensors", NULL, "header length 150000000 is over the 100000000-byte limit"},
        {"bad/header_beyond_file.safetensors", NULL, "header length 5000, but only"},
        {"bad/empty.safetensors", NULL, "empty file"},
        {"bad/short.safetensors", NULL, "(5 bytes, too short"},
        {"bad/text.safetensors", NULL, "not a safetensors file"},
        {"bad", NULL, "no model.safetensors or model.safetensors.index.json"},
        {"no/such/path.safetensors", NULL, "cannot open"},

        {"bad_sharded/shard_missing", "bad_sharded/shard_missing/model-00002-of-00002.safetensors",
         "missing shard: "},
        {"bad_sharded/shard_lacks_tensor", "bad_sharded/shard_lacks_tensor/model.safetensors.index.json",
         "weight_map puts tensor \"ghost\" in"},
        {"bad_sharded/shard_wrong", "bad_sharded/shard_wrong/model.safetensors.index.json",
         "which does not hold it (it is in"},
        {"bad_sharded/shard_duplicate", "bad_sharded/shard_duplicate/model-00002-of-00002.safetensors",
         "tensor \"layers.0.w\" is also in"},
        {"bad_sharded/shard_not_safetensors",
         "bad_sharded/shard_not_safetensors/model-00002-of-00002.safetensors", "not a safetensors file"},
        {"bad_sharded/shard_bad_header", "bad_sharded/shard_bad_header/model-00002-of-00002.safetensors",
         "outside the data region"},
        {"bad_sharded/index_not_json", "bad_sharded/index_not_json/model.safetensors.index.json",
         "index JSON does not parse at line 3"},
        {"bad_sharded/index_no_weight_map/model.safetensors.index.json", NULL, "no \"weight_map\" object"},
        {"bad_sharded/index_empty_map", "bad_sharded/index_empty_map/model.safetensors.index.json",
         "\"weight_map\" is empty"},
        {"bad_sharded/index_map_not_string", "bad_sharded/index_map_not_string/model.safetensors.index.json",
         "weight_map entry \"a\" is not a string"},
        {"bad_sharded/index_escape", "bad_sharded/index_escape/model.safetensors.index.json",
         "\"../outside.safetensors\" is not a relative path inside"},
        {"bad_sharded/no_safetensors", NULL, "no model.safetensors or model.safetensors.index.json"},
        {"bad_sharded/pytorch_bin", NULL, "PyTorch pickle"},
    };
    for (size_t i = 0; i < N_OF(cases); i++)
        expect_refused(cases[i].open, cases[i].fault, cases[i].phrase);
}

typedef struct bytes {
    uint8_t *b;
    size_t n;
} bytes;

static bytes load(const char *path)
{
    bytes im = {NULL, 0};
    FILE *fp = fopen(path, "rb");
    if (!fp || fseek(fp, 0, SEEK_END) != 0)
        return im;
    im.n = (size_t)ftell(fp);
    rewind(fp);
    im.b = malloc(im.n ? im.n : 1);
    if (im.b && fread(im.b, 1, im.n, fp) != im.n) {
        free(im.b);
        im.b = NULL;
    }
    fclose(fp);
    return im;
}

static int save(const char *path, const uint8_t *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t put = n ? fwrite(b, 1, n, fp) : 0;
    return (fclose(fp) == 0 && put == n) ? 0 : -1;
}

static uint64_t header_len(const bytes *im)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | im->b[i];
    return n;
}

/* The good file cut short anywhere is refused, with the phrase its cut earns. */
static void test_truncated(void)
{
    bytes im = load(fxp("good/model.safetensors"));
    CHECK(im.b != NULL && im.n > 16);
    if (!im.b)
        return;
    uint64_t h = 8 + header_len(&im);
    size_t cuts[] = {0, 1, 7, 8, 9, (size_t)h / 2, (size_t)h - 1, (size_t)h, (size_t)h + 1,
                     (size_t)(h + im.n) / 2, im.n - 1};
    for (size_t i = 0; i < N_OF(cuts); i++) {
        if (save(fxp("cut.safetensors"), im.b, cuts[i]) != 0) {
            fprintf(stderr, "  cannot write %s\n", fxp("cut.safetensors"));
            CHECK(0);
            continue;
        }
        const char *phrase = cuts[i] == 0 ? "empty file"
                             : cuts[i] < 8 ? "too short"
                             : cuts[i] < h ? "truncated or not a safetensors file"
                                           : "outside the data region";
        expect_refused("cut.safetensors", NULL, phrase);
    }
    free(im.b);
}

/* Every byte of a small file's length field and header set to a handful of
 * values: each result is accepted or refused with one line naming the file,
 * never a crash (the sanitizer build runs this too). */
static void test_header_mutations(void)
{
    bytes im = load(fxp("bad/valid_small.safetensors"));
    CHECK(im.b != NULL && im.n > 16);
    if (!im.b)
        return;
    static const uint8_t vals[] = {0x00, 0xff, ' ', '"', '0', '9', '-', '.', '{', '}', '[', ']', ',', ':', 'e', 0x80};
    const char *path = fxp("mutant.safetensors");
    char prefix[1100];
    snprintf(prefix, sizeof prefix, "%s: ", path);
    size_t end = 8 + (size_t)header_len(&im), accepted = 0, refused = 0, bad_msgs = 0;
    uint8_t *m = malloc(im.n);
    for (size_t pos = 0; m && pos < end; pos++)
        for (size_t v = 0; v < N_OF(vals); v++) {
            if (im.b[pos] == vals[v])
                continue;
            memcpy(m, im.b, im.n);
            m[pos] = vals[v];
            if (save(path, m, im.n) != 0) {
                bad_msgs++;
                continue;
            }
            st_checkpoint *c = NULL;
            kvg_error err = {{0}};
            if (st_open(path, &c, &err) == 0) {
                accepted++;
                /* Whatever was accepted is consistent: data inside the file. */
                for (size_t i = 0; i < st_count(c); i++) {
                    const st_tensor *t = st_at(c, i);
                    if (t->size > im.n)
                        bad_msgs++;
                }
                st_close(c);
            } else {
                refused++;
                if (strncmp(err.msg, prefix, strlen(prefix)) != 0 || strchr(err.msg, '\n')) {
                    if (!bad_msgs)
                        fprintf(stderr, "  byte %zu = 0x%02x: bad message \"%s\"\n", pos, vals[v], err.msg);
                    bad_msgs++;
                }
            }
        }
    free(m);
    free(im.b);
    printf("header mutations: %zu accepted, %zu refused\n", accepted, refused);
    CHECK_INT(0, bad_msgs);
    CHECK(refused > accepted);
}

int main(void)
{
    const char *src = getenv("KVG_SOURCE_DIR");
    if (!src) {
        fprintf(stderr, "test_safetensors: KVG_SOURCE_DIR is not set (run through ctest)\n");
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(fx, sizeof fx, "%s/kvg_st_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx)) {
        perror(fx);
        return 2;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/reference/make_safetensors_fixtures.py' '%s'", src, fx);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_safetensors: the fixture writer failed: %s\n", cmd);
        return 2;
    }

    test_big_is_not_read(); /* first, while the peak RSS is still low */
    test_single(fxp("good/model.safetensors"), fxp("good/model.safetensors"), 1);
    test_single(fxp("single_dir"), fxp("single_dir/model.safetensors"), 0);
    test_single(fxp("single_dir/"), fxp("single_dir/model.safetensors"), 0);
    test_sharded(fxp("sharded"));
    test_sharded(fxp("sharded/model.safetensors.index.json"));
    test_bad_files();
    test_truncated();
    test_header_mutations();

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx);
    if (system(cmd) != 0)
        fprintf(stderr, "test_safetensors: could not remove %s\n", fx);
    return kvg_test_end();
}
