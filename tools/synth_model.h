/* synth_model.h — random-weight transformers of real architectures' shapes
 * (`kvgram synth`), so speed can be measured at real sizes without real
 * weights: speed does not depend on the weight values. */
#ifndef KVG_SYNTH_MODEL_H
#define KVG_SYNTH_MODEL_H

#include <stdint.h>

#include "tf_types.h"
#include "transformer.h"

/* The config of a named shape ("gpt2-124m", "smollm-135m", "tinyllama-1.1b",
 * and the test sizes "tiny-gpt2", "tiny-llama"), weight_type unset; NULL for
 * an unknown name. */
const kvg_tf_config *synth_shape(const char *name);

/* The names, ", "-separated, for messages. */
const char *synth_shape_names(void);

typedef struct synth_options {
    tf_types types;      /* per-matrix dtypes, the converters' rule (tf_types.h); types.type >= 0 */
    uint64_t seed;
    int progress;        /* a line on stderr per tensor group, at most once a second */
} synth_options;

/* One tensor of the model, in file order. rows = 0: a vector [cols]. */
typedef enum { SYNTH_NORMAL, SYNTH_ONES, SYNTH_ZEROS } synth_fill;
typedef struct synth_tensor {
    char name[48];
    kvg_dtype dtype;
    uint64_t rows, cols;
    synth_fill fill;
} synth_tensor;

/* The tensors a model of shape c gets (malloc'd array, *n entries), with
 * the dtypes tf_matrix_type gives for o->types (so q4_0 keeps the output
 * matrix at q8_0 by default, as convert and quantize do). Refuses rows that
 * are not whole 32-element blocks for a quantized type (the real shapes have
 * none). */
int synth_plan(const kvg_tf_config *c, const synth_options *o, synth_tensor **out, size_t *n, kvg_error *err);

/* Writes a model of shape c to path: matrices and learned positions drawn
 * from N(0, 0.02^2), norm weights 1, biases 0, plus a synthetic tokenizer
 * of c->vocab_size ids (kvg_tokenizer_synthetic). Streams row blocks through
 * the writer (memory stays a few MiB whatever the model's size); the values
 * depend only on the seed, not on the thread count. Quantized types need
 * every matrix's rows to be whole 32-element blocks. */
int synth_write(const char *path, const kvg_tf_config *c, const synth_options *o, kvg_error *err);

#endif
