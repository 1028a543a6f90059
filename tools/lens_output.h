/* lens_output.h — `kvgram lens` results as JSON and as an HTML page. */
#ifndef KVG_LENS_OUTPUT_H
#define KVG_LENS_OUTPUT_H

#include <stdint.h>

#include "lens.h"
#include "strbuf.h"
#include "tokenizer.h"

/* One input text and its tokens (BOS included when the model wants it). */
typedef struct lens_input {
    uint64_t line;   /* 1-based line of the input file (1 for a TEXT argument) */
    const char *text;
    size_t len;
    uint32_t *ids;
    size_t n_ids;
} lens_input;

/* Appends the input's lens as one JSON object (no newline; schema in lens_json.c). */
void lens_json(strbuf *b, const lens_result *r, const kvg_tokenizer *tok, const lens_input *in);

/* Appends the whole self-contained page: json[0..n) is a JSON array of
 * lens_json objects; the page's script draws one layers × positions heatmap
 * per object (one <td class="cell"> per layer and position). */
void lens_html(strbuf *b, const char *title, const char *json, size_t n);

#endif
