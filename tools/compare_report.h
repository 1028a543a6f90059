/* compare_report.h — `kvgram compare`'s records and outputs: one record per
 * predicted token, folded in input order into the summary; the per-token
 * JSON lines, the summary table and JSON object, the HTML page. */
#ifndef KVG_COMPARE_REPORT_H
#define KVG_COMPARE_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "compare_metrics.h"
#include "ngram.h"
#include "strbuf.h"
#include "tokenizer.h"

/* One predicted token. Log-probs are natural logs. */
typedef struct cmp_position {
    uint32_t target;       /* the token that came */
    uint32_t top_t, top_n; /* each model's most probable token */
    double lp_t;           /* ln p_T(target): the full softmax, exactly what `kvgram score` sums */
    double lp_n;           /* ln p_N(target), renormalized over the tokens (see tok_ngram.h) */
    double kl, tv;         /* KL(T || N) and total variation, over the shared token ids */
    uint32_t ctx_len;      /* longest context (tokens, <s> counted) the n-gram model holds: 0 .. order-1 */
    uint32_t matched;      /* order of the n-gram that scored target (KenLM's "ngram length") */
    cmp_rule rule;         /* best suffix rule (rule.ctx = 0: none) */
    int any_rule_agree;    /* some rule's top token is the transformer's */
} cmp_position;

typedef struct cmp_summary {
    uint32_t order, rules_order; /* rules_order 0: no --rules model */
    uint64_t lines, n;
    double sum_lp_t, sum_lp_n, sum_kl, sum_tv;
    uint64_t kl_infinite;  /* positions where the n-gram gives the transformer's support no mass */
    uint64_t agree;
    uint64_t ctx_n[KVG_NGRAM_MAX_ORDER], ctx_agree[KVG_NGRAM_MAX_ORDER];
    uint64_t with_rule, rule_agree, any_rule_agree;
    double sum_rule_tv;
    uint64_t rule_ctx_n[KVG_NGRAM_MAX_ORDER];
    double *p_t, *p_n;     /* each position's p(target), for the interpolation weight */
    size_t cap;
    double lambda, mix_nll;
    int failed;            /* out of memory */
} cmp_summary;

void cmp_summary_add(cmp_summary *s, const cmp_position *p);
/* Computes the interpolation weight; call once after the last add. */
void cmp_summary_finish(cmp_summary *s);
void cmp_summary_free(cmp_summary *s);

/* The summary as a table for people (stdout). */
void cmp_summary_table(const cmp_summary *s, FILE *out);
/* The summary as one JSON object line ({"summary":true,...}). */
void cmp_summary_json(const cmp_summary *s, strbuf *b);
/* One JSON line for the position predicting token j+1 of text `line`. */
void cmp_position_json(strbuf *b, const kvg_tokenizer *tok, uint64_t line, uint64_t j, const cmp_position *p,
                       int have_rules);

/* Writes the HTML report to path whole (temporary, then rename): texts
 * (ids with the BOS, if any, first) and their records, the summary.
 * Self-contained: inline CSS, no script, no network. */
typedef struct cmp_html_text {
    uint64_t line;
    uint32_t *ids;      /* [n_ids] */
    size_t n_ids;
    cmp_position *pos;  /* [n_ids - 1]: pos[j] predicts ids[j + 1] */
} cmp_html_text;
int cmp_html_write(const char *path, const cmp_summary *s, const kvg_tokenizer *tok, const cmp_html_text *texts,
                   size_t n_texts, uint64_t omitted, const char *tf_path, const char *ngram_path,
                   const char *rules_path, kvg_error *err);

#endif
