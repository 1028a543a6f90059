/* compare_html.c — `kvgram compare --html`: one self-contained page (inline
 * CSS, no script, no network): the summary table, then every kept text as
 * a row of tokens. A token's background says whether the two models' top-1
 * agree there (green) or not (red), its lightness the total variation
 * between them (pale = close); a token the best suffix rule explains is
 * underlined. Hovering shows the numbers. */
#include <math.h>
#include <string.h>

#include "compare_report.h"

/* Text for HTML element content and attribute values: & < > " escaped,
 * control bytes shown as a middle dot; newline-free. */
static void put_escaped(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                fputs("&#183;", out);
            else
                fputc(ch, out);
        }
    }
}

/* A token's text, visible: an empty or all-space piece as a middle dot. */
static void put_piece(FILE *out, const kvg_tokenizer *tok, uint32_t id)
{
    size_t len;
    const char *p = kvg_tokenizer_piece(tok, id, &len);
    if (!p || !len) {
        fputs("&#183;", out);
        return;
    }
    put_escaped(out, p, len);
}

static void row(FILE *out, const char *name, double v, const char *note)
{
    fprintf(out, "<tr><th>%s</th><td>%.4f</td><td>%s</td></tr>\n", name, v, note);
}

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : NAN; }

static void summary(FILE *out, const cmp_summary *s)
{
    char note[128];
    fputs("<table class=\"sum\">\n", out);
    snprintf(note, sizeof note, "%llu lines, %llu predicted tokens", (unsigned long long)s->lines,
             (unsigned long long)s->n);
    row(out, "perplexity, transformer", exp(-s->sum_lp_t / (double)s->n), note);
    snprintf(note, sizeof note, "order %u, renormalized over the tokens", s->order);
    row(out, "perplexity, n-gram", exp(-s->sum_lp_n / (double)s->n), note);
    snprintf(note, sizeof note, "best &lambda; = %.4f on the transformer", s->lambda);
    row(out, "perplexity, interpolated", exp(s->mix_nll), note);
    row(out, "top-1 agreement", ratio(s->agree, s->n), "");
    row(out, "mean KL(T || N), nats", s->kl_infinite ? INFINITY : s->sum_kl / (double)s->n, "");
    row(out, "mean total variation", s->sum_tv / (double)s->n, "");
    for (uint32_t k = 0; k < s->order && k < KVG_NGRAM_MAX_ORDER; k++) {
        char name[64];
        snprintf(name, sizeof name, "agreement, context %u", k);
        snprintf(note, sizeof note, "%llu positions", (unsigned long long)s->ctx_n[k]);
        row(out, name, ratio(s->ctx_agree[k], s->ctx_n[k]), note);
    }
    if (s->rules_order) {
        snprintf(note, sizeof note, "order-%u counted model; %llu positions have a rule", s->rules_order,
                 (unsigned long long)s->with_rule);
        row(out, "top-1 explained by the best rule", ratio(s->rule_agree, s->n), note);
        row(out, "explained by some rule", ratio(s->any_rule_agree, s->n), "");
        row(out, "mean TV of the best rule", s->with_rule ? s->sum_rule_tv / (double)s->with_rule : NAN, "");
    } else {
        fputs("<tr><th>suffix rules</th><td>&ndash;</td><td>skipped: no --rules model</td></tr>\n", out);
    }
    fputs("</table>\n", out);
}

static void token(FILE *out, const kvg_tokenizer *tok, uint32_t id, const cmp_position *p, int have_rules)
{
    int agree = p->top_t == p->top_n;
    /* lightness from 92% (tv 0) to 62% (tv 1) */
    double light = 92 - 30 * (p->tv > 1 ? 1 : p->tv);
    fprintf(out, "<span class=\"t%s\" style=\"background:hsl(%d,70%%,%.0f%%)\" title=\"",
            have_rules && p->rule.ctx && p->rule.top == p->top_t ? " r" : "", agree ? 120 : 0, light);
    put_piece(out, tok, id);
    fprintf(out, " (id %u)&#10;ln p: transformer %.4f, n-gram %.4f&#10;top-1: transformer ", id, p->lp_t, p->lp_n);
    put_piece(out, tok, p->top_t);
    fputs(", n-gram ", out);
    put_piece(out, tok, p->top_n);
    fprintf(out, "&#10;KL %.4f, TV %.4f&#10;n-gram context %u, matched order %u", p->kl, p->tv, p->ctx_len,
            p->matched);
    if (have_rules && p->rule.ctx) {
        fprintf(out, "&#10;best rule: context %u, TV %.4f, top-1 ", p->rule.ctx, p->rule.tv);
        put_piece(out, tok, p->rule.top);
    } else if (have_rules) {
        fputs("&#10;no rule (context unseen)", out);
    }
    fputs("\">", out);
    put_piece(out, tok, id);
    fputs("</span>", out);
}

void cmp_html_write(FILE *out, const cmp_summary *s, const kvg_tokenizer *tok, const cmp_html_text *texts,
                    size_t n_texts, uint64_t omitted, const char *tf_path, const char *ngram_path,
                    const char *rules_path)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>kvgram compare</title>\n<style>\n"
          "body{font-family:sans-serif;margin:1.5em;max-width:70em}\n"
          "table.sum{border-collapse:collapse;margin-bottom:1.5em}\n"
          "table.sum th,table.sum td{border:1px solid #ccc;padding:.2em .6em;text-align:left}\n"
          "table.sum td:nth-child(2){font-family:monospace;text-align:right}\n"
          "p.line{font-family:monospace;white-space:pre-wrap;line-height:1.9;margin:.3em 0}\n"
          "span.t{padding:.1em 0;border-right:1px solid #fff}\n"
          "span.t.r{text-decoration:underline 2px #003}\n"
          ".n{color:#888;font-size:80%}\n"
          "</style></head><body>\n<h1>kvgram compare</h1>\n<p>transformer <code>", out);
    put_escaped(out, tf_path, strlen(tf_path));
    fputs("</code>, n-gram <code>", out);
    put_escaped(out, ngram_path, strlen(ngram_path));
    fputs("</code>", out);
    if (rules_path) {
        fputs(", suffix rules <code>", out);
        put_escaped(out, rules_path, strlen(rules_path));
        fputs("</code>", out);
    }
    fputs("</p>\n", out);
    summary(out, s);
    fputs("<h2>Tokens</h2>\n<p>Each token is coloured by the prediction made <em>for</em> it: green where the "
          "transformer's and the n-gram model's top-1 agree, red where they differ; paler where their "
          "distributions are closer (total variation). Underlined: the best suffix rule's top-1 is the "
          "transformer's. Hover for the numbers.</p>\n",
          out);
    for (size_t i = 0; i < n_texts; i++) {
        const cmp_html_text *t = &texts[i];
        fprintf(out, "<p class=\"line\"><span class=\"n\">%llu </span>", (unsigned long long)t->line);
        for (size_t j = 0; j + 1 < t->n_ids; j++)
            token(out, tok, t->ids[j + 1], &t->pos[j], s->rules_order != 0);
        fputs("</p>\n", out);
    }
    if (omitted)
        fprintf(out, "<p class=\"n\">%llu more tokens are in the JSON output only.</p>\n",
                (unsigned long long)omitted);
    fputs("</body></html>\n", out);
}
