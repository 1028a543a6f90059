/* compare_report.c — folding records into the summary; JSON lines and the table (see compare_report.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare_report.h"

void cmp_summary_add(cmp_summary *s, const cmp_position *p)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        double *a = realloc(s->p_t, cap * sizeof *a);
        if (a)
            s->p_t = a;
        double *b = realloc(s->p_n, cap * sizeof *b);
        if (b)
            s->p_n = b;
        if (!a || !b) {
            s->failed = 1;
            return;
        }
        s->cap = cap;
    }
    s->p_t[s->n] = exp(p->lp_t);
    s->p_n[s->n] = exp(p->lp_n);
    s->n++;
    s->sum_lp_t += p->lp_t;
    s->sum_lp_n += p->lp_n;
    if (isfinite(p->kl))
        s->sum_kl += p->kl;
    else
        s->kl_infinite++;
    s->sum_tv += p->tv;
    int agree = p->top_t == p->top_n;
    s->agree += agree;
    if (p->ctx_len < KVG_NGRAM_MAX_ORDER) {
        s->ctx_n[p->ctx_len]++;
        s->ctx_agree[p->ctx_len] += agree;
    }
    if (p->rule.ctx) {
        s->with_rule++;
        s->rule_agree += p->rule.top == p->top_t;
        s->sum_rule_tv += p->rule.tv;
        if (p->rule.ctx < KVG_NGRAM_MAX_ORDER)
            s->rule_ctx_n[p->rule.ctx]++;
    }
    s->any_rule_agree += p->any_rule_agree;
}

void cmp_summary_finish(cmp_summary *s)
{
    s->lambda = cmp_best_lambda(s->p_t, s->p_n, s->n, &s->mix_nll);
}

void cmp_summary_free(cmp_summary *s)
{
    free(s->p_t);
    free(s->p_n);
    s->p_t = s->p_n = NULL;
}

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : NAN; }
static double ppl(double sum_lp, uint64_t n) { return n ? exp(-sum_lp / (double)n) : NAN; }
static double mean_kl(const cmp_summary *s) { return s->kl_infinite ? INFINITY : s->n ? s->sum_kl / (double)s->n : NAN; }

void cmp_summary_table(const cmp_summary *s, FILE *out)
{
    fprintf(out, "# compare summary: %llu lines, %llu predicted tokens\n", (unsigned long long)s->lines,
            (unsigned long long)s->n);
    fprintf(out, "perplexity, transformer            %.4f\n", ppl(s->sum_lp_t, s->n));
    fprintf(out, "perplexity, n-gram (order %u)       %.4f\n", s->order, ppl(s->sum_lp_n, s->n));
    fprintf(out, "perplexity, interpolated           %.4f   (best lambda %.4f on the transformer)\n",
            s->n ? exp(s->mix_nll) : NAN, s->lambda);
    fprintf(out, "top-1 agreement                    %.4f   (%llu of %llu)\n", ratio(s->agree, s->n),
            (unsigned long long)s->agree, (unsigned long long)s->n);
    fprintf(out, "mean KL(transformer || n-gram)     %.4f nats", mean_kl(s));
    if (s->kl_infinite)
        fprintf(out, "   (infinite at %llu positions; finite mean %.4f)", (unsigned long long)s->kl_infinite,
                s->n > s->kl_infinite ? s->sum_kl / (double)(s->n - s->kl_infinite) : NAN);
    fprintf(out, "\nmean total variation               %.4f\n", s->n ? s->sum_tv / (double)s->n : NAN);
    fprintf(out, "top-1 agreement by n-gram context length (tokens the n-gram model matched before the position):\n");
    fprintf(out, "  context  positions  share   agreement\n");
    for (uint32_t k = 0; k < s->order && k < KVG_NGRAM_MAX_ORDER; k++) {
        fprintf(out, "  %7u  %9llu  %.4f  ", k, (unsigned long long)s->ctx_n[k], ratio(s->ctx_n[k], s->n));
        /* no position matched this context length: there is no agreement to show, not a number */
        if (s->ctx_n[k])
            fprintf(out, "%.4f\n", ratio(s->ctx_agree[k], s->ctx_n[k]));
        else
            fprintf(out, "     -\n");
    }
    if (!s->rules_order) {
        fprintf(out, "suffix rules: skipped (no --rules model; build one with `kvgram ngram build --smoothing mle`)\n");
        return;
    }
    fprintf(out, "suffix rules (order-%u counted model, contexts 1..%u):\n", s->rules_order, s->rules_order - 1);
    fprintf(out, "  transformer top-1 explained by the best rule   %.4f   (%llu of %llu positions)\n",
            ratio(s->rule_agree, s->n), (unsigned long long)s->rule_agree, (unsigned long long)s->n);
    fprintf(out, "  ... among positions with some rule             %.4f   (%llu positions)\n",
            ratio(s->rule_agree, s->with_rule), (unsigned long long)s->with_rule);
    fprintf(out, "  explained by some rule (any context length)    %.4f\n", ratio(s->any_rule_agree, s->n));
    fprintf(out, "  mean total variation of the best rule          %.4f\n",
            s->with_rule ? s->sum_rule_tv / (double)s->with_rule : NAN);
    fprintf(out, "  best rule's context length: ");
    for (uint32_t k = 1; k < s->rules_order && k < KVG_NGRAM_MAX_ORDER; k++)
        fprintf(out, "%s%u: %.4f", k > 1 ? ", " : "", k, ratio(s->rule_ctx_n[k], s->with_rule));
    fputc('\n', out);
}

static void key_num(strbuf *b, const char *key, double v)
{
    sb_puts(b, ",\"");
    sb_puts(b, key);
    sb_puts(b, "\":");
    sb_json_num(b, v);
}

static void key_u64(strbuf *b, const char *key, uint64_t v)
{
    sb_puts(b, ",\"");
    sb_puts(b, key);
    sb_puts(b, "\":");
    sb_u64(b, v);
}

void cmp_summary_json(const cmp_summary *s, strbuf *b)
{
    sb_puts(b, "{\"summary\":true");
    key_u64(b, "lines", s->lines);
    key_u64(b, "n", s->n);
    key_u64(b, "order", s->order);
    key_num(b, "perplexity_transformer", ppl(s->sum_lp_t, s->n));
    key_num(b, "perplexity_ngram", ppl(s->sum_lp_n, s->n));
    key_num(b, "lambda", s->lambda);
    key_num(b, "perplexity_interpolated", s->n ? exp(s->mix_nll) : NAN);
    key_num(b, "agreement", ratio(s->agree, s->n));
    key_num(b, "mean_kl", mean_kl(s));
    key_u64(b, "kl_infinite", s->kl_infinite);
    key_num(b, "mean_kl_finite", s->n > s->kl_infinite ? s->sum_kl / (double)(s->n - s->kl_infinite) : NAN);
    key_num(b, "mean_tv", s->n ? s->sum_tv / (double)s->n : NAN);
    sb_puts(b, ",\"by_context\":[");
    for (uint32_t k = 0; k < s->order && k < KVG_NGRAM_MAX_ORDER; k++) {
        sb_puts(b, k ? ",{\"context\":" : "{\"context\":");
        sb_u64(b, k);
        key_u64(b, "n", s->ctx_n[k]);
        key_num(b, "agreement", ratio(s->ctx_agree[k], s->ctx_n[k]));
        sb_putc(b, '}');
    }
    sb_putc(b, ']');
    if (s->rules_order) {
        sb_puts(b, ",\"rules\":{\"order\":");
        sb_u64(b, s->rules_order);
        key_u64(b, "with_rule", s->with_rule);
        key_num(b, "explained", ratio(s->rule_agree, s->n));
        key_num(b, "explained_with_rule", ratio(s->rule_agree, s->with_rule));
        key_num(b, "explained_any", ratio(s->any_rule_agree, s->n));
        key_num(b, "mean_tv", s->with_rule ? s->sum_rule_tv / (double)s->with_rule : NAN);
        sb_puts(b, ",\"best_context\":[");
        for (uint32_t k = 1; k < s->rules_order && k < KVG_NGRAM_MAX_ORDER; k++) {
            if (k > 1)
                sb_putc(b, ',');
            sb_u64(b, s->rule_ctx_n[k]);
        }
        sb_puts(b, "]}");
    } else {
        sb_puts(b, ",\"rules\":null,\"rules_note\":\"no --rules model given: suffix-rule metrics skipped\"");
    }
    sb_puts(b, "}\n");
}

static void key_token(strbuf *b, const kvg_tokenizer *tok, const char *key, uint32_t id)
{
    size_t len;
    const char *p = kvg_tokenizer_piece(tok, id, &len);
    sb_puts(b, ",\"");
    sb_puts(b, key);
    sb_puts(b, "\":");
    sb_json_str(b, p ? p : "", p ? len : 0);
}

void cmp_position_json(strbuf *b, const kvg_tokenizer *tok, uint64_t line, uint64_t j, const cmp_position *p,
                       int have_rules)
{
    sb_puts(b, "{\"line\":");
    sb_u64(b, line);
    key_u64(b, "pos", j);
    key_u64(b, "id", p->target);
    key_token(b, tok, "token", p->target);
    key_num(b, "logprob_t", p->lp_t);
    key_num(b, "logprob_n", p->lp_n);
    key_u64(b, "top_t", p->top_t);
    key_token(b, tok, "top_t_token", p->top_t);
    key_u64(b, "top_n", p->top_n);
    key_token(b, tok, "top_n_token", p->top_n);
    sb_puts(b, p->top_t == p->top_n ? ",\"agree\":true" : ",\"agree\":false");
    key_num(b, "kl", p->kl);
    key_num(b, "tv", p->tv);
    key_u64(b, "context", p->ctx_len);
    key_u64(b, "matched", p->matched);
    if (have_rules) {
        if (p->rule.ctx) {
            sb_puts(b, ",\"rule\":{\"context\":");
            sb_u64(b, p->rule.ctx);
            key_num(b, "tv", p->rule.tv);
            key_u64(b, "top", p->rule.top);
            key_token(b, tok, "top_token", p->rule.top);
            sb_puts(b, p->rule.top == p->top_t ? ",\"agree\":true}" : ",\"agree\":false}");
        } else {
            sb_puts(b, ",\"rule\":null");
        }
        sb_puts(b, p->any_rule_agree ? ",\"any_rule_agree\":true" : ",\"any_rule_agree\":false");
    }
    sb_puts(b, "}\n");
}
