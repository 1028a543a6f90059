/* transformer_internal.h — shared between the transformer's files, not public. */
#ifndef KVG_TRANSFORMER_INTERNAL_H
#define KVG_TRANSFORMER_INTERNAL_H

#include "transformer.h"

/* Reads and range-checks the transformer.* metadata (transformer_config.c). */
int kvg_tf_config_read(const kvg_file *f, kvg_tf_config *c, kvg_error *err);

#endif
