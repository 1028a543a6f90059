/* compare_html.c — `kvgram compare --html`: one self-contained page built
 * on the shared report helpers (html.h: inline CSS, no network): the
 * summary table, then every kept text as a row of tokens. A token's
 * background says whether the two models' top-1 agree there (green) or not
 * (red), its lightness the total variation between them (pale = close); a
 * token whose transformer top-1 the best suffix rule explains is
 * underlined. Hovering shows the numbers (the title attribute). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "compare_report.h"
#include "html.h"

static void put_fmt(strbuf *b, const char *fmt, ...) KVG_PRINTF(2, 3);
static void put_fmt(strbuf *b, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_put(b, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A token's text, visible: an empty piece as a middle dot. */
static void put_piece(strbuf *b, const kvg_tokenizer *tok, uint32_t id)
{
    size_t len;
    const char *p = kvg_tokenizer_piece(tok, id, &len);
    if (!p || !len)
        sb_puts(b, "&#183;");
    else
        html_text(b, p, len);
}

static void row(strbuf *b, const char *name, double v, const char *note)
{
    sb_puts(b, "<tr><th>");
    html_text(b, name, strlen(name));
    put_fmt(b, "</th><td>%.4f</td><td>", v);
    html_text(b, note, strlen(note));
    sb_puts(b, "</td></tr>\n");
}

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : NAN; }

static void summary(strbuf *b, const cmp_summary *s)
{
    char note[128];
    sb_puts(b, "<table class=\"sum\">\n");
    snprintf(note, sizeof note, "%llu lines, %llu predicted tokens", (unsigned long long)s->lines,
             (unsigned long long)s->n);
    row(b, "perplexity, transformer", exp(-s->sum_lp_t / (double)s->n), note);
    snprintf(note, sizeof note, "order %u, renormalized over the tokens", s->order);
    row(b, "perplexity, n-gram", exp(-s->sum_lp_n / (double)s->n), note);
    snprintf(note, sizeof note, "best lambda = %.4f on the transformer", s->lambda);
    row(b, "perplexity, interpolated", exp(s->mix_nll), note);
    row(b, "top-1 agreement", ratio(s->agree, s->n), "");
    row(b, "mean KL(T || N), nats", s->kl_infinite ? INFINITY : s->sum_kl / (double)s->n, "");
    row(b, "mean total variation", s->sum_tv / (double)s->n, "");
    for (uint32_t k = 0; k < s->order && k < KVG_NGRAM_MAX_ORDER; k++) {
        char name[64];
        snprintf(name, sizeof name, "agreement, context %u", k);
        snprintf(note, sizeof note, "%llu positions", (unsigned long long)s->ctx_n[k]);
        row(b, name, ratio(s->ctx_agree[k], s->ctx_n[k]), note);
    }
    if (s->rules_order) {
        snprintf(note, sizeof note, "order-%u counted model; %llu positions have a rule", s->rules_order,
                 (unsigned long long)s->with_rule);
        row(b, "top-1 explained by the best rule", ratio(s->rule_agree, s->n), note);
        row(b, "explained by some rule", ratio(s->any_rule_agree, s->n), "");
        row(b, "mean TV of the best rule", s->with_rule ? s->sum_rule_tv / (double)s->with_rule : NAN, "");
    } else {
        sb_puts(b, "<tr><th>suffix rules</th><td>&ndash;</td><td>skipped: no --rules model</td></tr>\n");
    }
    sb_puts(b, "</table>\n");
}

static void token(strbuf *b, const kvg_tokenizer *tok, uint32_t id, const cmp_position *p, int have_rules)
{
    int agree = p->top_t == p->top_n;
    double light = 92 - 30 * (p->tv > 1 ? 1 : p->tv); /* 92% (tv 0) to 62% (tv 1) */
    put_fmt(b, "<span class=\"t%s\" style=\"background:hsl(%d,70%%,%.0f%%)\" title=\"",
            have_rules && p->rule.ctx && p->rule.top == p->top_t ? " r" : "", agree ? 120 : 0, light);
    put_piece(b, tok, id);
    put_fmt(b, " (id %u)&#10;ln p: transformer %.4f, n-gram %.4f&#10;top-1: transformer ", id, p->lp_t, p->lp_n);
    put_piece(b, tok, p->top_t);
    sb_puts(b, ", n-gram ");
    put_piece(b, tok, p->top_n);
    put_fmt(b, "&#10;KL %.4f, TV %.4f&#10;n-gram context %u, matched order %u", p->kl, p->tv, p->ctx_len,
            p->matched);
    if (have_rules && p->rule.ctx) {
        put_fmt(b, "&#10;best rule: context %u, TV %.4f, top-1 ", p->rule.ctx, p->rule.tv);
        put_piece(b, tok, p->rule.top);
    } else if (have_rules) {
        sb_puts(b, "&#10;no rule (context unseen)");
    }
    sb_puts(b, "\">");
    put_piece(b, tok, id);
    sb_puts(b, "</span>");
}

static const char css[] = "body{font-family:sans-serif;margin:1.5em;max-width:70em}\n"
                          "table.sum{border-collapse:collapse;margin-bottom:1.5em}\n"
                          "table.sum th,table.sum td{border:1px solid #ccc;padding:.2em .6em;text-align:left}\n"
                          "table.sum td:nth-child(2){font-family:monospace;text-align:right}\n"
                          "p.line{font-family:monospace;white-space:pre-wrap;line-height:1.9;margin:.3em 0}\n"
                          "span.t{padding:.1em 0;border-right:1px solid #fff}\n"
                          "span.t.r{text-decoration:underline 2px #003}\n"
                          ".n{color:#888;font-size:80%}\n";

static void code(strbuf *b, const char *label, const char *path)
{
    sb_puts(b, label);
    sb_puts(b, " <code>");
    html_text(b, path, strlen(path));
    sb_puts(b, "</code>");
}

int cmp_html_write(const char *path, const cmp_summary *s, const kvg_tokenizer *tok, const cmp_html_text *texts,
                   size_t n_texts, uint64_t omitted, const char *tf_path, const char *ngram_path,
                   const char *rules_path, kvg_error *err)
{
    strbuf b = {0};
    html_page_begin(&b, "kvgram compare", css);
    sb_puts(&b, "<h1>kvgram compare</h1>\n<p>");
    code(&b, "transformer", tf_path);
    code(&b, ", n-gram", ngram_path);
    if (rules_path)
        code(&b, ", suffix rules", rules_path);
    sb_puts(&b, "</p>\n");
    summary(&b, s);
    sb_puts(&b, "<h2>Tokens</h2>\n<p>Each token is coloured by the prediction made <em>for</em> it: green where the "
                "transformer's and the n-gram model's top-1 agree, red where they differ; paler where their "
                "distributions are closer (total variation). Underlined: the best suffix rule's top-1 is the "
                "transformer's. Hover for the numbers.</p>\n");
    for (size_t i = 0; i < n_texts; i++) {
        const cmp_html_text *t = &texts[i];
        put_fmt(&b, "<p class=\"line\"><span class=\"n\">%llu </span>", (unsigned long long)t->line);
        for (size_t j = 0; j + 1 < t->n_ids; j++)
            token(&b, tok, t->ids[j + 1], &t->pos[j], s->rules_order != 0);
        sb_puts(&b, "</p>\n");
    }
    if (omitted)
        put_fmt(&b, "<p class=\"n\">%llu more tokens are in the JSON output only.</p>\n", (unsigned long long)omitted);
    html_page_end(&b, NULL);
    int rc = b.failed ? kvg_errorf(err, path, "out of memory") : html_file_write(path, b.p, b.len, err);
    sb_free(&b);
    return rc;
}
