/* tf_types.c — the per-matrix dtype rule of tf_types.h. */
#include "tf_types.h"

#include <stdio.h>
#include <string.h>

int tf_types_is_option(const char *opt)
{
    return !strcmp(opt, "--type") || !strcmp(opt, "--output-type") || !strcmp(opt, "--embd-type");
}

static int is_matrix_dtype(int dt)
{
    return dt == KVG_DTYPE_F32 || dt == KVG_DTYPE_F16 || dt == KVG_DTYPE_BF16 || dt == KVG_DTYPE_Q8_0 ||
           dt == KVG_DTYPE_Q4_0;
}

int tf_types_ok(const tf_types *t)
{
    const int v[3] = {t->type, t->output_type, t->embd_type};
    for (int i = 0; i < 3; i++)
        if (v[i] != -1 && !is_matrix_dtype(v[i]))
            return 0;
    return 1;
}

int tf_types_set(tf_types *t, const char *opt, const char *name)
{
    kvg_dtype dt;
    if (!name || kvg_dtype_from_name(name, &dt) || !is_matrix_dtype((int)dt))
        return -1;
    int *field = !strcmp(opt, "--output-type") ? &t->output_type
                 : !strcmp(opt, "--embd-type") ? &t->embd_type
                                               : &t->type;
    *field = (int)dt;
    return 0;
}

int tf_is_matrix(const char *name, uint32_t n_dims)
{
    size_t n = strlen(name);
    return n_dims == 2 && n > 7 && !strcmp(name + n - 7, ".weight") && strcmp(name, "pos_embd.weight") != 0;
}

kvg_dtype tf_matrix_type(const tf_types *t, const char *name, int tied, uint64_t cols, int *fell_back_from)
{
    const kvg_dtype type = (kvg_dtype)t->type;
    const kvg_dtype out_default = type == KVG_DTYPE_Q4_0 ? KVG_DTYPE_Q8_0 : type;
    const int is_output = !strcmp(name, "output.weight") || (tied && !strcmp(name, "tok_embd.weight"));
    kvg_dtype dt = type;
    if (is_output)
        dt = t->output_type >= 0 ? (kvg_dtype)t->output_type
             : tied && t->embd_type >= 0 ? (kvg_dtype)t->embd_type
                                         : out_default;
    else if (!strcmp(name, "tok_embd.weight") && t->embd_type >= 0)
        dt = (kvg_dtype)t->embd_type;
    *fell_back_from = -1;
    if (cols % kvg_dtype_get(dt)->block_elems) {
        *fell_back_from = (int)dt;
        dt = KVG_DTYPE_F16;
    }
    return dt;
}

void tf_note_fallback(const char *cmd, const char *path, const char *name, uint64_t cols, kvg_dtype wanted)
{
    fprintf(stderr,
            "kvgram %s: note: %s: %s has rows of %llu elements, not whole %u-element blocks: "
            "stored as f16 instead of %s\n",
            cmd, path, name, (unsigned long long)cols, kvg_dtype_get(wanted)->block_elems,
            kvg_dtype_get(wanted)->name);
}
