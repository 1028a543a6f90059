/* test_hf_convert.c — `kvgram convert HF_DIR` stores what contract A says.
 *
 * tests/reference/make_hf_fixtures.py writes tiny random checkpoints of every
 * family (single-file and sharded; F32, F16 and BF16 sources) and, computed
 * in Python from the transformers modules' definitions, what each must
 * become: every .kvg tensor's shape, dtype and values (after GPT-2's
 * transposes, NeoX's q/k/v split, and rounding to f16 / bf16), and the
 * transformer.* metadata. Each checkpoint is converted with no --type and
 * with each of f32, f16, bf16; the .kvg must hold exactly those tensors (plus
 * tokenizer.*) with bit-identical values, that metadata, and verify clean;
 * its tokenizer (a tokenizer.json, or GPT-2's vocab.json + merges.txt) must
 * encode a text to the ids worked out by hand in the script; and the engine
 * must open it (kvg_transformer_open). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvg_reader.h"
#include "kvg_test.h"
#include "safetensors.h"
#include "tokenizer.h"
#include "transformer.h"

static char fx[256];   /* the fixtures folder */
static char work[300]; /* converted files */

static void check_meta(const kvg_file *f, const char *case_name, const char *key, const json_t *want)
{
    kvg_error err;
    const kvg_meta *m = kvg_meta_find(f, key);
    if (!m) {
        CHECK(!"metadata key present");
        fprintf(stderr, "  %s: no key %s\n", case_name, key);
        return;
    }
    if (json_is_string(want)) {
        const char *s = NULL;
        uint64_t len = 0;
        CHECK_INT(0, kvg_meta_get_str(f, key, &s, &len, &err));
        int same = s && len == strlen(json_string_value(want)) && memcmp(s, json_string_value(want), len) == 0;
        if (!same)
            fprintf(stderr, "  %s: %s is \"%.*s\", expected \"%s\"\n", case_name, key, (int)len, s ? s : "",
                    json_string_value(want));
        CHECK(same);
    } else if (json_is_integer(want)) {
        uint64_t v = 0;
        CHECK_INT(0, kvg_meta_get_u64(f, key, &v, &err));
        if (v != (uint64_t)json_integer_value(want))
            fprintf(stderr, "  %s: %s\n", case_name, key);
        CHECK_INT(json_integer_value(want), v);
    } else {
        double v = 0;
        CHECK_INT(0, kvg_meta_get_f64(f, key, &v, &err));
        if (v != json_real_value(want))
            fprintf(stderr, "  %s: %s\n", case_name, key);
        CHECK_NEAR(json_real_value(want), v, 0.0);
    }
}

/* The stored tensor decodes to exactly the expected F32 values. */
static void check_values(const char *case_name, const char *type, const kvg_tensor *t, const st_tensor *want)
{
    kvg_error err;
    const kvg_dtype_traits *tr = kvg_dtype_get(t->dtype);
    float *got = malloc(t->n_elems * sizeof *got), *exp = malloc(t->n_elems * sizeof *exp);
    CHECK(got && exp);
    if (!got || !exp || !tr || !tr->to_f32 || want->n_elems != t->n_elems) {
        CHECK(!"tensor decodable, with the expected element count");
        free(got);
        free(exp);
        return;
    }
    tr->to_f32(t->data, got, t->n_elems);
    CHECK_INT(0, st_to_f32(want, 0, want->n_elems, exp, &err));
    uint64_t bad = 0, first = 0;
    for (uint64_t i = 0; i < t->n_elems; i++)
        if (memcmp(&got[i], &exp[i], sizeof(float)) != 0 && !bad++)
            first = i;
    if (bad)
        fprintf(stderr, "  %s --type %s: %s: %llu of %llu values differ, first at %llu: %.9g, expected %.9g\n",
                case_name, type, t->name, (unsigned long long)bad, (unsigned long long)t->n_elems,
                (unsigned long long)first, got[first], exp[first]);
    CHECK_INT(0, bad);
    free(got);
    free(exp);
}

/* The stored tokenizer: its size, and the ids of a text worked out by hand. */
static void check_tokenizer(const kvg_file *f, const char *case_name, const json_t *want)
{
    kvg_error err;
    kvg_tokenizer *tok = NULL;
    CHECK_INT(0, kvg_tokenizer_open(f, &tok, &err));
    if (!tok) {
        fprintf(stderr, "  %s: %s\n", case_name, err.msg);
        return;
    }
    CHECK_INT(json_integer_value(json_object_get(want, "n_tokens")), kvg_tokenizer_n_tokens(tok));
    const char *text = json_string_value(json_object_get(want, "text"));
    const json_t *ids = json_object_get(want, "ids");
    uint32_t *got = NULL;
    size_t n = 0;
    CHECK_INT(0, kvg_tokenizer_encode(tok, text, strlen(text), &got, &n, &err));
    CHECK_INT(json_array_size(ids), n);
    for (size_t i = 0; i < n && i < json_array_size(ids); i++)
        CHECK_INT(json_integer_value(json_array_get(ids, i)), got[i]);
    free(got);
    kvg_tokenizer_free(tok);
}

/* Converts one case with --type type (NULL: none) and checks the result. */
static void check_case(const char *name, const json_t *expected, const char *type)
{
    const char *default_type = json_string_value(json_object_get(expected, "default_type"));
    const char *stored = type ? type : default_type;
    char cmd[2048], in[600], out[700], want_path[800];
    snprintf(in, sizeof in, "%s/good/%s", fx, name);
    snprintf(out, sizeof out, "%s/%s-%s.kvg", work, name, type ? type : "default");
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' -o '%s' --quiet%s%s", getenv("KVG_BIN"), in, out,
             type ? " --type " : "", type ? type : "");
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "  %s: convert exited with %d\n", name, rc);
    CHECK_INT(0, rc);
    if (rc != 0)
        return;

    kvg_error err;
    kvg_file *f = NULL;
    st_checkpoint *want = NULL;
    snprintf(want_path, sizeof want_path, "%s/good/%s.expected/%s.safetensors", fx, name, stored);
    CHECK_INT(0, kvg_open(out, &f, &err));
    CHECK_INT(0, st_open(want_path, &want, &err));
    if (!f || !want) {
        fprintf(stderr, "  %s: %s\n", name, err.msg);
        kvg_close(f);
        st_close(want);
        return;
    }
    CHECK_INT(0, kvg_verify_file(f, &err));

    /* Metadata: the family's keys, the weight type, the source. */
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(expected, "meta"), key, v) check_meta(f, name, key, v);
    json_t *s = json_string(stored);
    check_meta(f, name, "transformer.weight_type", s);
    json_decref(s);
    s = json_string(in);
    check_meta(f, name, "general.source", s);
    json_decref(s);

    /* Exactly the expected tensors (besides the tokenizer's). */
    json_t *tensors = json_object_get(expected, "tensors");
    size_t n_model = 0;
    for (size_t i = 0; i < kvg_tensor_count(f); i++) {
        const kvg_tensor *t = kvg_tensor_at(f, i);
        if (strncmp(t->name, "tokenizer.", 10) == 0)
            continue;
        n_model++;
        json_t *e = json_object_get(tensors, t->name);
        if (!e) {
            fprintf(stderr, "  %s: unexpected tensor %s\n", name, t->name);
            CHECK(!"only expected tensors");
            continue;
        }
        /* dtype */
        const char *want_dt = json_string_value(json_object_get(json_object_get(e, "dtype"), stored));
        const kvg_dtype_traits *tr = kvg_dtype_get(t->dtype);
        if (!tr || !want_dt || strcmp(tr->name, want_dt) != 0)
            fprintf(stderr, "  %s --type %s: %s stored as %s, expected %s\n", name, stored, t->name,
                    tr ? tr->name : "?", want_dt ? want_dt : "?");
        CHECK(tr && want_dt && strcmp(tr->name, want_dt) == 0);
        /* shape */
        json_t *shape = json_object_get(e, "shape");
        int same = json_array_size(shape) == t->n_dims;
        for (uint32_t d = 0; same && d < t->n_dims; d++)
            same = (uint64_t)json_integer_value(json_array_get(shape, d)) == t->shape[d];
        if (!same)
            fprintf(stderr, "  %s: %s has the wrong shape\n", name, t->name);
        CHECK(same);
        const st_tensor *w = st_find(want, t->name);
        CHECK(w != NULL);
        if (same && w)
            check_values(name, stored, t, w);
    }
    if (n_model != json_object_size(tensors))
        fprintf(stderr, "  %s: %zu model tensors, expected %zu\n", name, n_model, json_object_size(tensors));
    CHECK_INT(json_object_size(tensors), n_model);
    check_tokenizer(f, name, json_object_get(expected, "tokenizer"));

    /* The engine takes the file as it is (its own checks of keys, shapes, dtypes). */
    kvg_transformer *m = NULL;
    int open_rc = kvg_transformer_open(f, &m, &err);
    if (open_rc)
        fprintf(stderr, "  %s --type %s: the engine refuses it: %s\n", name, stored, err.msg);
    CHECK_INT(0, open_rc);
    kvg_transformer_free(m);
    kvg_close(f);
    st_close(want);
    unlink(out);
}

int main(void)
{
    const char *src = getenv("KVG_SOURCE_DIR");
    if (!src || !getenv("KVG_BIN")) {
        fprintf(stderr, "test_hf_convert: KVG_SOURCE_DIR / KVG_BIN not set (run through ctest)\n");
        return 2;
    }
    snprintf(fx, sizeof fx, "%s/kvg-hfconv-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(fx)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(work, sizeof work, "%s/out", fx);
    mkdir(work, 0700);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/reference/make_hf_fixtures.py' '%s/fx'", src, fx);
    strcat(fx, "/fx");
    if (system(cmd) != 0) {
        fprintf(stderr, "test_hf_convert: the fixture script failed\n");
        return 1;
    }

    char list[600];
    snprintf(list, sizeof list, "%s/good/cases.txt", fx);
    FILE *cases = fopen(list, "r");
    CHECK(cases != NULL);
    char name[128];
    int n_cases = 0;
    while (cases && fscanf(cases, "%127s", name) == 1) {
        char path[800];
        snprintf(path, sizeof path, "%s/good/%s.expected/expected.json", fx, name);
        json_error_t je;
        json_t *expected = json_load_file(path, 0, &je);
        CHECK(expected != NULL);
        if (!expected)
            continue;
        check_case(name, expected, NULL);
        json_t *types = json_object_get(expected, "types");
        for (size_t i = 0; i < json_array_size(types); i++)
            check_case(name, expected, json_string_value(json_array_get(types, i)));
        json_decref(expected);
        n_cases++;
    }
    if (cases)
        fclose(cases);
    CHECK(n_cases >= 10);

    /* Remove the fixtures (fx ends in "/fx"; its parent is ours). */
    fx[strlen(fx) - 3] = '\0';
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx);
    if (system(cmd) != 0)
        fprintf(stderr, "test_hf_convert: could not remove %s\n", fx);
    return kvg_test_end();
}
