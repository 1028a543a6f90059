/* text_output.h — a text output file written all or nothing: the text goes
 * to a temporary beside the target, renamed over it only when complete
 * (what kvg_writer does for .kvg files). "-" writes to stdout directly. */
#ifndef KVG_TEXT_OUTPUT_H
#define KVG_TEXT_OUTPUT_H

#include <stdio.h>

#include "kvg_error.h"

typedef struct text_output {
    const char *path;
    char *tmp;    /* NULL for stdout */
    FILE *f;
} text_output;

/* Creates the temporary (refusing a directory as the target). */
int text_output_open(text_output *o, const char *path, kvg_error *err);
/* Flushes, syncs and renames into place; on any failure removes the temporary. */
int text_output_commit(text_output *o, kvg_error *err);
/* Removes the temporary (no-op when none is open). */
void text_output_abort(text_output *o);

#endif
