/* lens_json.c — one input's lens as one JSON object (the schema of issue 7):
 *   {"line", "text", "n_layers", "n_heads", "positions": [{"pos", "id", "token",
 *     "next": {"id", "token"} (absent at the last position),
 *     "layers": [{"layer", "top": [{"id", "token", "prob"}], "target_rank",
 *       "target_prob" (both absent at the last position), "kl_to_final",
 *       "nearest": [{"id", "token", "cos"}], "heads": [{"head", "top": [...]}]}]}]} */
#include <math.h>
#include <string.h>

#include "lens_output.h"

static void num(strbuf *b, float x)
{
    if (isfinite(x))
        sb_float(b, x);
    else
        sb_puts(b, "null");
}

static void token(strbuf *b, const kvg_tokenizer *tok, uint32_t id)
{
    size_t len = 0;
    const char *p = kvg_tokenizer_piece(tok, id, &len);
    sb_puts(b, "\"id\":");
    sb_u64(b, id);
    sb_puts(b, ",\"token\":");
    sb_json_str(b, p ? p : "", p ? len : 0);
}

static void list(strbuf *b, const kvg_tokenizer *tok, const lens_entry *l, uint32_t k, const char *value_name)
{
    sb_putc(b, '[');
    for (uint32_t j = 0; j < k; j++) {
        sb_puts(b, j ? ",{" : "{");
        token(b, tok, l[j].id);
        sb_puts(b, ",\"");
        sb_puts(b, value_name);
        sb_puts(b, "\":");
        num(b, l[j].value);
        sb_putc(b, '}');
    }
    sb_putc(b, ']');
}

void lens_json(strbuf *b, const lens_result *r, const kvg_tokenizer *tok, const lens_input *in)
{
    const size_t n = r->n_pos, k = r->k;
    sb_puts(b, "{\"line\":");
    sb_u64(b, in->line);
    sb_puts(b, ",\"text\":");
    sb_json_str(b, in->text, in->len);
    sb_puts(b, ",\"n_layers\":");
    sb_u64(b, r->n_layers);
    sb_puts(b, ",\"n_heads\":");
    sb_u64(b, r->n_heads);
    sb_puts(b, ",\"positions\":[");
    for (size_t i = 0; i < n; i++) {
        sb_puts(b, i ? ",{\"pos\":" : "{\"pos\":");
        sb_u64(b, i);
        sb_putc(b, ',');
        token(b, tok, in->ids[i]);
        if (i + 1 < n) {
            sb_puts(b, ",\"next\":{");
            token(b, tok, in->ids[i + 1]);
            sb_putc(b, '}');
        }
        sb_puts(b, ",\"layers\":[");
        for (uint32_t L = 0; L < r->n_layers; L++) {
            size_t cell = (size_t)L * n + i;
            sb_puts(b, L ? ",{\"layer\":" : "{\"layer\":");
            sb_u64(b, L);
            sb_puts(b, ",\"top\":");
            list(b, tok, r->top + cell * k, r->k, "prob");
            if (i + 1 < n) {
                sb_puts(b, ",\"target_rank\":");
                sb_u64(b, r->target_rank[cell]);
                sb_puts(b, ",\"target_prob\":");
                num(b, r->target_prob[cell]);
            }
            sb_puts(b, ",\"kl_to_final\":");
            sb_json_num(b, r->kl_to_final[cell]);
            if (r->nearest) {
                sb_puts(b, ",\"nearest\":");
                list(b, tok, r->nearest + cell * k, r->k, "cos");
            }
            if (r->heads) {
                sb_puts(b, ",\"heads\":[");
                for (uint32_t h = 0; h < r->n_heads; h++) {
                    sb_puts(b, h ? ",{\"head\":" : "{\"head\":");
                    sb_u64(b, h);
                    sb_puts(b, ",\"top\":");
                    list(b, tok, r->heads + (cell * r->n_heads + h) * k, r->k, "prob");
                    sb_putc(b, '}');
                }
                sb_putc(b, ']');
            }
            sb_putc(b, '}');
        }
        sb_puts(b, "]}");
    }
    sb_puts(b, "]}");
}
