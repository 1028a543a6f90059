/* test_roundtrip.c — what the writer writes, the reader reads back exactly:
 * tensors (bytes, shapes, dtypes, alignment), metadata of every type, and the
 * atomic-write guarantees (no temporary left, target untouched on failure). */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include "kvg_reader.h"
#include "kvg_test.h"
#include "kvg_writer.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/kvg-roundtrip-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

/* Number of directory entries in tmpdir besides "." and "..". */
static int count_files(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void test_tensors_and_metadata(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/a.kvg", tmpdir);
    kvg_error err;
    kvg_writer *w;
    CHECK_INT(0, kvg_writer_open(path, 0, &w, &err));

    /* f32 [3, 5]: values i*0.5 */
    float a[15];
    for (int i = 0; i < 15; i++)
        a[i] = (float)i * 0.5f;
    uint64_t shape_a[] = {3, 5};
    CHECK_INT(0, kvg_writer_tensor(w, "a.weight", KVG_DTYPE_F32, 2, shape_a, a, &err));

    /* u8 [7], streamed in three pieces, so the next tensor needs padding */
    uint8_t b[7] = {1, 2, 3, 4, 5, 6, 7};
    uint64_t shape_b[] = {7};
    CHECK_INT(0, kvg_writer_tensor_begin(w, "b", KVG_DTYPE_U8, 1, shape_b, &err));
    CHECK_INT(0, kvg_writer_tensor_write(w, b, 2, &err));
    CHECK_INT(0, kvg_writer_tensor_write(w, b + 2, 0, &err));
    CHECK_INT(0, kvg_writer_tensor_write(w, b + 2, 5, &err));
    CHECK_INT(0, kvg_writer_tensor_end(w, &err));

    /* q8_0 [2, 64]: raw blocks, 4 of 34 bytes; 2 MiB random u32 to cross the write buffer */
    uint8_t q[4 * 34];
    for (size_t i = 0; i < sizeof q; i++)
        q[i] = (uint8_t)next_rand();
    uint64_t shape_q[] = {2, 64};
    CHECK_INT(0, kvg_writer_tensor(w, "blk.0.q", KVG_DTYPE_Q8_0, 2, shape_q, q, &err));
    size_t big_n = (2u << 20) / 4 + 3;
    uint32_t *big = malloc(big_n * 4);
    for (size_t i = 0; i < big_n; i++)
        big[i] = (uint32_t)next_rand();
    uint64_t shape_big[] = {big_n};
    CHECK_INT(0, kvg_writer_tensor(w, "big", KVG_DTYPE_U32, 1, shape_big, big, &err));
    uint64_t shape_4d[] = {1, 2, 3, 4};
    int16_t t4[24];
    for (int i = 0; i < 24; i++)
        t4[i] = (int16_t)(i - 12);
    CHECK_INT(0, kvg_writer_tensor(w, "four.d", KVG_DTYPE_I16, 4, shape_4d, t4, &err));

    CHECK_INT(0, kvg_writer_meta_str(w, "general.name", "tiny \"test\"", 11, &err));
    CHECK_INT(0, kvg_writer_meta_u64(w, "n.u", UINT64_MAX, &err));
    CHECK_INT(0, kvg_writer_meta_i64(w, "n.i", -5, &err));
    CHECK_INT(0, kvg_writer_meta_f64(w, "n.f", 0.1, &err));
    uint64_t ua[] = {1, 2, 3};
    int64_t ia[] = {-1, 0, INT64_MIN};
    double fa[] = {1.5, -2.25};
    CHECK_INT(0, kvg_writer_meta_u64_array(w, "arr.u", ua, 3, &err));
    CHECK_INT(0, kvg_writer_meta_i64_array(w, "arr.i", ia, 3, &err));
    CHECK_INT(0, kvg_writer_meta_f64_array(w, "arr.f", fa, 2, &err));
    const char *strs[] = {"", "x", "eight ch", "with\0nul"};
    size_t lens[] = {0, 1, 8, 8};
    CHECK_INT(0, kvg_writer_meta_str_array(w, "arr.s", strs, lens, 4, &err));
    CHECK_INT(0, kvg_writer_meta_u64_array(w, "arr.empty", NULL, 0, &err));
    CHECK_INT(0, kvg_writer_finish(w, &err));
    CHECK_INT(1, count_files()); /* the target only: no temporary left */

    kvg_file *f;
    int rc = kvg_open(path, &f, &err);
    CHECK_INT(0, rc);
    if (rc) {
        fprintf(stderr, "open: %s\n", err.msg);
        free(big);
        return;
    }
    CHECK_INT(5, kvg_tensor_count(f));
    CHECK_INT(1, kvg_version_major(f));
    CHECK_INT(64, kvg_alignment(f));
    const kvg_tensor *t = kvg_tensor_find(f, "a.weight");
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(KVG_DTYPE_F32, t->dtype);
        CHECK_INT(2, t->n_dims);
        CHECK_INT(3, t->shape[0]);
        CHECK_INT(5, t->shape[1]);
        CHECK_INT(15, t->n_elems);
        CHECK_INT(60, t->size);
        CHECK_INT(0, memcmp(t->data, a, 60));
        CHECK_INT(0, t->offset % 64);
        CHECK_INT(0, (uintptr_t)t->data % 64); /* the mapping is page aligned */
    }
    t = kvg_tensor_find(f, "b");
    CHECK(t && t->size == 7 && memcmp(t->data, b, 7) == 0);
    t = kvg_tensor_find(f, "blk.0.q");
    CHECK(t && t->size == sizeof q && memcmp(t->data, q, sizeof q) == 0 && t->offset % 64 == 0);
    t = kvg_tensor_find(f, "big");
    CHECK(t && t->size == big_n * 4 && memcmp(t->data, big, big_n * 4) == 0);
    t = kvg_tensor_find(f, "four.d");
    CHECK(t && t->n_dims == 4 && t->shape[3] == 4 && memcmp(t->data, t4, sizeof t4) == 0);
    CHECK(kvg_tensor_find(f, "missing") == NULL);
    /* tensors are listed in file order, as written */
    CHECK(strcmp(kvg_tensor_at(f, 0)->name, "a.weight") == 0);
    CHECK(strcmp(kvg_tensor_at(f, 4)->name, "four.d") == 0);

    const char *s;
    uint64_t len;
    CHECK_INT(0, kvg_meta_get_str(f, "general.name", &s, &len, &err));
    CHECK(len == 11 && memcmp(s, "tiny \"test\"", 11) == 0);
    uint64_t u;
    int64_t i64;
    double d;
    CHECK_INT(0, kvg_meta_get_u64(f, "n.u", &u, &err));
    CHECK(u == UINT64_MAX);
    CHECK_INT(-1, kvg_meta_get_i64(f, "n.u", &i64, &err)); /* does not fit */
    CHECK_INT(0, kvg_meta_get_i64(f, "n.i", &i64, &err));
    CHECK_INT(-5, i64);
    CHECK_INT(-1, kvg_meta_get_u64(f, "n.i", &u, &err)); /* negative */
    CHECK_INT(0, kvg_meta_get_f64(f, "n.f", &d, &err));
    CHECK(d == 0.1);
    CHECK_INT(-1, kvg_meta_get_f64(f, "nope", &d, &err));
    CHECK_STR_CONTAINS(err.msg, "\"nope\" is missing");
    CHECK_INT(-1, kvg_meta_get_str(f, "n.f", &s, &len, &err));
    CHECK_STR_CONTAINS(err.msg, "holds a f64");

    const kvg_meta *m = kvg_meta_find(f, "arr.u");
    CHECK(m && m->type == KVG_META_ARR && m->elem_type == KVG_META_U64 && m->count == 3);
    if (m)
        CHECK_INT(3, kvg_meta_arr_u64(m, 2));
    m = kvg_meta_find(f, "arr.i");
    CHECK(m && m->count == 3 && kvg_meta_arr_i64(m, 2) == INT64_MIN && kvg_meta_arr_i64(m, 0) == -1);
    m = kvg_meta_find(f, "arr.f");
    CHECK(m && m->count == 2 && kvg_meta_arr_f64(m, 1) == -2.25);
    m = kvg_meta_find(f, "arr.s");
    CHECK(m && m->count == 4);
    if (m) {
        kvg_meta_str_iter it = kvg_meta_str_begin(m);
        int k = 0;
        while (kvg_meta_str_next(&it, &s, &len)) {
            CHECK(len == lens[k] && memcmp(s, strs[k], len) == 0);
            k++;
        }
        CHECK_INT(4, k);
    }
    m = kvg_meta_find(f, "arr.empty");
    CHECK(m && m->count == 0);

    CHECK_INT(0, kvg_verify_file(f, &err));
    for (size_t k = 0; k < kvg_tensor_count(f); k++)
        CHECK_INT(0, kvg_verify_tensor(f, kvg_tensor_at(f, k), &err));
    kvg_close(f);
    free(big);
    unlink(path);
}

static void test_alignment_option(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/aligned.kvg", tmpdir);
    kvg_error err;
    kvg_writer *w;
    CHECK_INT(-1, kvg_writer_open(path, 100, &w, &err)); /* not a power of two */
    CHECK_INT(-1, kvg_writer_open(path, 32, &w, &err));  /* below 64 */
    CHECK_INT(0, kvg_writer_open(path, 4096, &w, &err));
    uint8_t one = 1;
    uint64_t shape[] = {1};
    CHECK_INT(0, kvg_writer_tensor(w, "x", KVG_DTYPE_U8, 1, shape, &one, &err));
    CHECK_INT(0, kvg_writer_tensor(w, "y", KVG_DTYPE_U8, 1, shape, &one, &err));
    CHECK_INT(0, kvg_writer_finish(w, &err));
    kvg_file *f;
    CHECK_INT(0, kvg_open(path, &f, &err));
    if (f) {
        CHECK_INT(4096, kvg_alignment(f));
        CHECK_INT(4096, kvg_tensor_at(f, 0)->offset);
        CHECK_INT(8192, kvg_tensor_at(f, 1)->offset);
        CHECK_INT(0, kvg_verify_file(f, &err));
        kvg_close(f);
    }
    unlink(path);
}

static void test_empty_model(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/empty.kvg", tmpdir);
    kvg_error err;
    kvg_writer *w;
    CHECK_INT(0, kvg_writer_open(path, 0, &w, &err));
    CHECK_INT(0, kvg_writer_finish(w, &err));
    kvg_file *f;
    CHECK_INT(0, kvg_open(path, &f, &err));
    if (f) {
        CHECK_INT(0, kvg_tensor_count(f));
        CHECK_INT(0, kvg_meta_count(f));
        CHECK_INT(0, kvg_verify_file(f, &err));
        kvg_close(f);
    }
    unlink(path);
}

/* Every misuse of the writer is refused, and a refused writer leaves neither
 * the target nor a temporary behind; an existing target is untouched. */
static void test_writer_refusals(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/refused.kvg", tmpdir);
    FILE *old = fopen(path, "w");
    fputs("previous contents", old);
    fclose(old);

    kvg_error err;
    kvg_writer *w;
    uint64_t shape[] = {32};
    uint64_t bad_shape[] = {31};
    float data[32] = {0};
    struct {
        const char *what;
        int step; /* which misuse */
    } cases[] = {{"dup tensor", 0}, {"dup key", 1},        {"bad name", 2},   {"ragged q8", 3},
                 {"short write", 4}, {"long write", 5},   {"bad key", 6},    {"nested begin", 7},
                 {"long name", 8},   {"overflow shape", 9}, {"unknown dtype", 10}, {"finish mid", 11}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        CHECK_INT(0, kvg_writer_open(path, 0, &w, &err));
        int rc = 0;
        char long_name[300];
        memset(long_name, 'n', 299);
        long_name[299] = '\0';
        uint64_t huge[] = {UINT64_MAX / 2, 4};
        switch (cases[c].step) {
        case 0:
            rc = kvg_writer_tensor(w, "t", KVG_DTYPE_F32, 1, shape, data, &err) ||
                 kvg_writer_tensor(w, "t", KVG_DTYPE_F32, 1, shape, data, &err);
            CHECK_STR_CONTAINS(err.msg, "duplicate tensor name");
            break;
        case 1:
            rc = kvg_writer_meta_u64(w, "k", 1, &err) || kvg_writer_meta_i64(w, "k", 1, &err);
            CHECK_STR_CONTAINS(err.msg, "duplicate metadata key");
            break;
        case 2:
            rc = kvg_writer_tensor(w, "tab\there", KVG_DTYPE_F32, 1, shape, data, &err);
            CHECK_STR_CONTAINS(err.msg, "invalid tensor name");
            break;
        case 3:
            rc = kvg_writer_tensor_begin(w, "q", KVG_DTYPE_Q8_0, 1, bad_shape, &err);
            CHECK_STR_CONTAINS(err.msg, "multiple of the dtype's block");
            break;
        case 4:
            rc = kvg_writer_tensor_begin(w, "t", KVG_DTYPE_F32, 1, shape, &err) ||
                 kvg_writer_tensor_write(w, data, 8, &err) || kvg_writer_tensor_end(w, &err);
            CHECK_STR_CONTAINS(err.msg, "8 bytes written, its shape needs 128");
            break;
        case 5:
            rc = kvg_writer_tensor_begin(w, "t", KVG_DTYPE_F32, 1, shape, &err) ||
                 kvg_writer_tensor_write(w, data, 128, &err) || kvg_writer_tensor_write(w, data, 1, &err);
            CHECK_STR_CONTAINS(err.msg, "more bytes written");
            break;
        case 6:
            rc = kvg_writer_meta_u64(w, "has space", 1, &err);
            CHECK_STR_CONTAINS(err.msg, "invalid metadata key");
            break;
        case 7:
            rc = kvg_writer_tensor_begin(w, "a", KVG_DTYPE_F32, 1, shape, &err) ||
                 kvg_writer_tensor_begin(w, "b", KVG_DTYPE_F32, 1, shape, &err);
            CHECK_STR_CONTAINS(err.msg, "before the previous one ended");
            break;
        case 8:
            rc = kvg_writer_tensor_begin(w, long_name, KVG_DTYPE_F32, 1, shape, &err);
            CHECK_STR_CONTAINS(err.msg, "invalid tensor name");
            break;
        case 9:
            rc = kvg_writer_tensor_begin(w, "h", KVG_DTYPE_F32, 2, huge, &err);
            CHECK_STR_CONTAINS(err.msg, "overflows");
            break;
        case 10:
            rc = kvg_writer_tensor_begin(w, "u", (kvg_dtype)99, 1, shape, &err);
            CHECK_STR_CONTAINS(err.msg, "unknown dtype");
            break;
        case 11:
            rc = kvg_writer_tensor_begin(w, "t", KVG_DTYPE_F32, 1, shape, &err);
            CHECK_INT(0, rc);
            break;
        }
        if (cases[c].step != 11)
            CHECK(rc != 0); /* refused (|| makes it 1, not -1) */
        /* A failed writer refuses to finish, removes its temporary, and
         * leaves the previous target alone. */
        CHECK_INT(-1, kvg_writer_finish(w, &err));
        CHECK_STR_CONTAINS(err.msg, path);
        CHECK_INT(1, count_files());
        FILE *check = fopen(path, "r");
        char buf[64] = {0};
        CHECK(check && fgets(buf, sizeof buf, check));
        CHECK(strcmp(buf, "previous contents") == 0);
        if (check)
            fclose(check);
    }
    /* abort also cleans up */
    CHECK_INT(0, kvg_writer_open(path, 0, &w, &err));
    CHECK_INT(2, count_files());
    kvg_writer_abort(w);
    CHECK_INT(1, count_files());
    unlink(path);
}

/* Output into a directory path or a missing directory is refused up front. */
static void test_bad_output_paths(void)
{
    kvg_error err;
    kvg_writer *w;
    CHECK_INT(-1, kvg_writer_open(tmpdir, 0, &w, &err));
    CHECK_STR_CONTAINS(err.msg, "is a directory");
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/x.kvg", tmpdir);
    CHECK_INT(-1, kvg_writer_open(path, 0, &w, &err));
    CHECK_STR_CONTAINS(err.msg, "cannot create a temporary file");
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_INT(0, count_files());
}

/* A write that fails half way (here: the file size limit, standing in for a
 * full disk) gives an error naming the file and leaves nothing behind. */
static void test_disk_full(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/full.kvg", tmpdir);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 1 << 20;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    kvg_error err;
    kvg_writer *w;
    CHECK_INT(0, kvg_writer_open(path, 0, &w, &err));
    size_t n = 3 << 20;
    uint8_t *big = calloc(n, 1);
    uint64_t shape[] = {n};
    int rc = kvg_writer_tensor(w, "big", KVG_DTYPE_U8, 1, shape, big, &err);
    if (rc == 0)
        rc = kvg_writer_finish(w, &err);
    else
        kvg_writer_abort(w);
    CHECK_INT(-1, rc);
    CHECK_STR_CONTAINS(err.msg, "write failed");
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_INT(0, count_files());
    setrlimit(RLIMIT_FSIZE, &old);
    free(big);
}

int main(void)
{
    make_tmpdir();
    test_tensors_and_metadata();
    test_alignment_option();
    test_empty_model();
    test_writer_refusals();
    test_bad_output_paths();
    test_disk_full();
    rmdir(tmpdir);
    return kvg_test_end();
}
