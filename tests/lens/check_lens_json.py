#!/usr/bin/env python3
"""check_lens_json.py LENS.jsonl SCORE.jsonl N_LAYERS N_HEADS K

Checks `kvgram lens --json` output against the issue 7 schema and against
`kvgram score --json --per-token` on the same texts (an independent path:
the scorer's batched forward pass and log-softmax):
  - one object per text; one position per token (BOS included), the same ids
    the scorer used; every position has N_LAYERS layers in order, each with
    a best-first `top` of K {id, token, prob}, `kl_to_final` >= 0 (exactly 0
    for the last layer), N_HEADS heads each with a `top`, `nearest` cosines
    in [-1, 1];
  - `target_rank` / `target_prob` at every position but the last, absent at
    the last; the last layer's target_prob is the scorer's exp(logprob)
    (within 1e-6 relative); a target that appears in `top` has the rank of
    its place and the probability listed there.
Prints what differs and exits 1 on any difference."""
import json
import math
import sys

lens = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
score = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
score = [s for s in score if not s.get("summary")]
n_layers, n_heads, k = (int(a) for a in sys.argv[3:6])
bad = []


def expect(cond, what):
    if not cond:
        bad.append(what)


expect(len(lens) == len(score), "lens has %d objects, score %d" % (len(lens), len(score)))
for li, (obj, sc) in enumerate(zip(lens, score)):
    pos = obj["positions"]
    expect([p["id"] for p in pos] == sc["ids"], "line %d: ids %s vs score's %s" % (li, [p["id"] for p in pos], sc["ids"]))
    expect(obj["n_layers"] == n_layers and obj["n_heads"] == n_heads, "line %d: n_layers/n_heads" % li)
    for i, p in enumerate(pos):
        last = i == len(pos) - 1
        expect(("next" in p) != last, "line %d pos %d: next present at the last position or absent before" % (li, i))
        expect(len(p["layers"]) == n_layers, "line %d pos %d: %d layers" % (li, i, len(p["layers"])))
        for L, layer in enumerate(p["layers"]):
            where = "line %d pos %d layer %d" % (li, i, L)
            expect(layer["layer"] == L, where + ": out of order")
            top = layer["top"]
            probs = [t["prob"] for t in top]
            expect(len(top) == k, where + ": %d entries in top" % len(top))
            expect(probs == sorted(probs, reverse=True), where + ": top not best first")
            expect(all(0 <= q <= 1 for q in probs) and sum(probs) <= 1 + 1e-5, where + ": probabilities")
            expect(layer["kl_to_final"] >= -1e-9, where + ": negative KL")
            if L == n_layers - 1:
                expect(layer["kl_to_final"] == 0, where + ": last layer's KL is not 0")
            expect(len(layer.get("heads", [])) == n_heads, where + ": heads")
            for h in layer.get("heads", []):
                expect(len(h["top"]) == k, where + ": head top")
            expect(all(-1.0001 <= t["cos"] <= 1.0001 for t in layer["nearest"]), where + ": cosine out of range")
            if last:
                expect("target_rank" not in layer and "target_prob" not in layer, where + ": target at the last position")
                continue
            rank, tp = layer["target_rank"], layer["target_prob"]
            ids = [t["id"] for t in top]
            nxt = p["next"]["id"]
            if nxt in ids:
                expect(rank == ids.index(nxt) + 1 or probs[rank - 1] == tp, where + ": rank %d vs place %d" % (rank, ids.index(nxt) + 1))
                expect(top[ids.index(nxt)]["prob"] == tp, where + ": target_prob differs from its top entry")
            else:
                expect(rank > k and tp <= probs[-1], where + ": target not in top but rank %d, p %g" % (rank, tp))
            if L == n_layers - 1:
                want = math.exp(sc["logprob"][i])
                expect(abs(tp - want) <= 1e-6 * max(want, 1e-3), where + ": last layer p %.9g, score's %.9g" % (tp, want))
for b in bad[:20]:
    print("FAIL:", b, file=sys.stderr)
print("%d problems" % len(bad))
sys.exit(1 if bad else 0)
