#!/usr/bin/env bash
# test_compare_hand.sh — `kvgram compare` on the hand-made case of
# hand_fixture.sh: every per-token value and every summary value equals the
# hand computation written out below.
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" compare-hand
. "$KVG_SOURCE_DIR/tests/compare/hand_fixture.sh"
write_hand_fixture || { fail "could not make the fixture"; finish; exit; }

if "$KVG_BIN" compare -m "$tmp/tf.kvg" -n "$tmp/n2.kvg" --rules "$tmp/r3.kvg" --json "$tmp/out.jsonl" \
    --html "$tmp/out.html" "$tmp/test.txt" > "$tmp/table.txt" 2> "$tmp/err.txt"; then
    pass
else
    fail "compare failed: $(cat "$tmp/err.txt")"
fi

# The counted bigram distributions (contexts <s>, a, b, c; </s> left out and
# the rest renormalized): from the counts
#   <s>: a 2 b 1 c 1 -> .5 .25 .25      a: a 1 b 2 c 1 -> .25 .5 .25
#   b:   a 1 b 1 c 2 -> .25 .25 .5      c: a 2 b 1 c 1 -> .5 .25 .25
# Every token follows every context in training, so no backoff enters.
# The counted trigram rules (context -> tokens; "-" = only </s> followed):
#   <s>a: a .5 b .5   ab: b .5 c .5   bc: a .5 c .5   aa: b 1   <s>b: c 1
#   cc: a 1   <s>c: b 1   cb: a 1   ba: c 1   ca, bb, ac: -
# Positions of "abca" (after <s>, a, b, c) and "cba" (after <s>, c, b), with
#   KL = sum pT ln(pT / pN), TV = 1/2 sum |pT - pN|:
#   1.0 a | pT .5 .3 .2  pN .5 .25 .25 | KL .3 ln 1.2 + .2 ln .8                 = 0.010067756775, TV .05
#   1.1 b | pT .5 .4 .1  pN .25 .5 .25 | KL .5 ln 2 + .4 ln .8 + .1 ln .4         = 0.165687096567, TV .25
#   1.2 c | pT .35 .4 .25 pN .25 .25 .5| KL .35 ln 1.4 + .4 ln 1.6 + .25 ln .5    = 0.132479939376, TV .25
#   1.3 a | pT .7 .1 .2  pN .5 .25 .25 | KL .7 ln 1.4 + .1 ln .4 + .2 ln .8       = 0.099272782185, TV .2
#   2.0 c | as 1.0;  2.1 b | as 1.3;  2.2 a | as 1.2
# Top-1 (T/N): a/a, a/b, b/c, a/a, a/a, a/a, b/c -> agreement 4/7.
# Best rule (TV to pT over contexts 1, 2; ties to the shorter):
#   1.0: only <s> (TV .05, top a)        1.1: a .25 (top b) vs <s>a .1 (top a)  -> <s>a
#   1.2: b .25 (top c) vs ab .35 (top b) -> b   1.3: c .2 (top a) vs bc .3 -> c
#   2.0: <s> .05 (a)   2.1: c .2 (a) vs <s>c .9 (b) -> c   2.2: b .25 (c) vs cb .65 (a) -> b
# Explained by the best rule: all but 1.2 and 2.2 -> 5/7; by some rule: all but 2.2 -> 6/7.
python3 - "$tmp/out.jsonl" <<'PY' || fail "JSON values differ from the hand computation"
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pos, summ = rows[:-1], rows[-1]
ok = True
def near(what, got, want, tol=2e-6):
    global ok
    if got is None or abs(got - want) > tol:
        print("FAIL: %s = %r, want %r" % (what, got, want)); ok = False
def same(what, got, want):
    global ok
    if got != want:
        print("FAIL: %s = %r, want %r" % (what, got, want)); ok = False
L = math.log
# line, pos, id, pT(id), pN(id), top_t, top_n, KL, TV, rule context, rule TV, rule top, any rule agrees
want = [
    (1, 0, 0, .5, .5, 0, 0, 0.010067756775, .05, 1, .05, 0, True),
    (1, 1, 1, .4, .5, 0, 1, 0.165687096567, .25, 2, .1, 0, True),
    (1, 2, 2, .25, .5, 1, 2, 0.132479939376, .25, 1, .25, 2, True),
    (1, 3, 0, .7, .5, 0, 0, 0.099272782185, .2, 1, .2, 0, True),
    (2, 0, 2, .2, .25, 0, 0, 0.010067756775, .05, 1, .05, 0, True),
    (2, 1, 1, .1, .25, 0, 0, 0.099272782185, .2, 1, .2, 0, True),
    (2, 2, 0, .35, .25, 1, 2, 0.132479939376, .25, 1, .25, 2, False),
]
same("positions", len(pos), len(want))
for r, w in zip(pos, want):
    at = "line %d pos %d" % (w[0], w[1])
    same(at + " line", r["line"], w[0]); same(at + " pos", r["pos"], w[1]); same(at + " id", r["id"], w[2])
    near(at + " logprob_t", r["logprob_t"], L(w[3])); near(at + " logprob_n", r["logprob_n"], L(w[4]))
    same(at + " top_t", r["top_t"], w[5]); same(at + " top_n", r["top_n"], w[6])
    same(at + " agree", r["agree"], w[5] == w[6])
    near(at + " kl", r["kl"], w[7]); near(at + " tv", r["tv"], w[8])
    same(at + " context", r["context"], 1)   # order 2: the one token (or <s>) before
    same(at + " matched", r["matched"], 2)   # every bigram of the text was seen
    same(at + " rule context", r["rule"]["context"], w[9]); near(at + " rule tv", r["rule"]["tv"], w[10])
    same(at + " rule top", r["rule"]["top"], w[11]); same(at + " rule agree", r["rule"]["agree"], w[11] == w[5])
    same(at + " any_rule_agree", r["any_rule_agree"], w[12])
same("summary", summ.get("summary"), True)
same("n", summ["n"], 7); same("lines", summ["lines"], 2)
pt = [.5, .4, .25, .7, .2, .1, .35]; pn = [.5, .5, .5, .5, .25, .25, .25]
# perplexities: exp(-mean ln p); the n-gram's is exp((4 ln 2 + 3 ln 4) / 7) = 2^(10/7)
near("perplexity_transformer", summ["perplexity_transformer"], math.exp(-sum(map(L, pt)) / 7), 1e-5)
near("perplexity_ngram", summ["perplexity_ngram"], 2 ** (10 / 7), 1e-5)
near("agreement", summ["agreement"], 4 / 7)
near("mean_kl", summ["mean_kl"], (2 * 0.010067756775 + 0.165687096567 + 2 * 0.132479939376 + 2 * 0.099272782185) / 7)
near("mean_tv", summ["mean_tv"], 1.25 / 7)
same("by_context", [(c["context"], c["n"]) for c in summ["by_context"]], [(0, 0), (1, 7)])
near("agreement at context 1", summ["by_context"][1]["agreement"], 4 / 7)
ru = summ["rules"]
near("explained", ru["explained"], 5 / 7); near("explained_any", ru["explained_any"], 6 / 7)
same("with_rule", ru["with_rule"], 7); near("rule mean_tv", ru["mean_tv"], 1.1 / 7)
same("best_context", ru["best_context"], [6, 1])
# lambda minimizes f(l) = -sum ln(l pt + (1-l) pn), convex; f'(0) = -sum (pt - pn) / pn
#   = -(0 - .2 - .5 + .4 - .2 - .6 + .4) = 0.7 > 0, so the minimum is at l = 0 and the interpolated
#   perplexity is the n-gram's, 2^(10/7). (test_compare_metrics checks an optimum inside (0, 1).)
near("slope at 0 (hand)", -sum((a - b) / b for a, b in zip(pt, pn)), 0.7, 1e-12)
near("lambda", summ["lambda"], 0, 1e-12)
near("perplexity_interpolated", summ["perplexity_interpolated"], 2 ** (10 / 7), 1e-5)
sys.exit(0 if ok else 1)
PY
[ $? -eq 0 ] && pass

# The table says the same, and the HTML page has one token cell per position.
grep -q "top-1 agreement *0.5714" "$tmp/table.txt" && pass || fail "table: $(cat "$tmp/table.txt")"
grep -q "explained by the best rule *0.7143" "$tmp/table.txt" && pass || fail "table rule share"
# Every position matched the whole bigram context, so context length 0 has no
# positions: its agreement is shown as "-", and no "nan" appears anywhere.
grep -Eq '^ +0 +0 +0\.0000 +-$' "$tmp/table.txt" && pass || fail "empty context-0 row: $(grep -E '^ +0 ' "$tmp/table.txt")"
grep -qi nan "$tmp/table.txt" && fail "nan in the table" || pass
cells=$(grep -o '<span class="t' "$tmp/out.html" | wc -l)
[ "$cells" -eq 7 ] && pass || fail "HTML has $cells token cells, want 7"
grep -Eqi 'https?://|src=' "$tmp/out.html" && fail "HTML refers to the network" || pass

# Without --rules: the same per-token values, rule metrics skipped with a note.
"$KVG_BIN" compare -m "$tmp/tf.kvg" -n "$tmp/n2.kvg" --json - "$tmp/test.txt" > "$tmp/norules.jsonl" 2>&1 &&
    pass || fail "compare without --rules failed"
tail -n 1 "$tmp/norules.jsonl" | grep -q '"rules":null,"rules_note":' && pass || fail "no note without --rules"
grep -q '"rule"' "$tmp/norules.jsonl" && fail "rule fields without --rules" || pass

# Standard input (no FILE, or -) gives the same lines.
"$KVG_BIN" compare -m "$tmp/tf.kvg" -n "$tmp/n2.kvg" --rules "$tmp/r3.kvg" --json - < "$tmp/test.txt" > "$tmp/stdin.jsonl" &&
    cmp -s "$tmp/stdin.jsonl" "$tmp/out.jsonl" && pass || fail "stdin output differs"
head -n 1 "$tmp/test.txt" > "$tmp/first.txt"
tail -n 1 "$tmp/test.txt" | "$KVG_BIN" compare -m "$tmp/tf.kvg" -n "$tmp/n2.kvg" --rules "$tmp/r3.kvg" --json - \
    "$tmp/first.txt" - > "$tmp/mixed.jsonl" && cmp -s "$tmp/mixed.jsonl" "$tmp/out.jsonl" && pass ||
    fail "FILE then - differs from the whole file"

# Thread count does not change the output.
"$KVG_BIN" compare -t 1 -m "$tmp/tf.kvg" -n "$tmp/n2.kvg" --rules "$tmp/r3.kvg" --json "$tmp/t1.jsonl" \
    "$tmp/test.txt" > /dev/null && cmp -s "$tmp/t1.jsonl" "$tmp/out.jsonl" && pass || fail "-t 1 output differs"
finish
