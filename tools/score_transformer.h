/* score_transformer.h — the transformer path of `kvgram score`: the same
 * command and output formats as n-gram scoring (cmd_score.c dispatches here
 * by the model's general.kind). */
#ifndef KVG_SCORE_TRANSFORMER_H
#define KVG_SCORE_TRANSFORMER_H

#include <stdint.h>

#include "kvg_reader.h"

typedef struct tf_score_options {
    int bos;          /* prepend the model's BOS token (when it has one) */
    int per_token, summary, json, threads;
    int document;     /* each FILE is one text, not one text per line */
    uint32_t window, stride, batch_tokens; /* 0: defaults (context length, window / 2, max(window, 512)) */
} tf_score_options;

/* Scores the files (stdin when n_files is 0, "-" too) with the transformer in
 * f; prints results on stdout and errors (one line) on stderr. Returns the
 * exit status. */
int score_transformer(const tf_score_options *o, const kvg_file *f, const char *const *files, int n_files);

#endif
