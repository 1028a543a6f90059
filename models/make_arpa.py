#!/usr/bin/env python3
"""Estimates an interpolated modified Kneser-Ney n-gram model (Chen & Goodman
1998, as KenLM's lmplz does it; Heafield et al. 2013) from a corpus of one
sentence per line, space-separated tokens, and writes it in ARPA format.
Then reads the written file back and checks that it is a normalized backoff
model: for the empty context and every n-gram of order < N in the file,
sum over the vocabulary of p(w | context), computed with ARPA backoff from
the rounded values as written, is 1 within 1e-4. Exits non-zero otherwise.

    python3 make_arpa.py [-i tinystories.txt] [-o tinystories.o3.arpa] [-n 3]

The estimate, for order n with adjusted counts a (raw counts at the highest
order and for n-grams starting with <s>; otherwise the number of distinct
words seen to the left):
    u(w | c) = (a(c w) - D_n(a(c w))) / sum_x a(c x)
    b(c)     = sum_k D_n(k) * |{x : a(c x) = k}| / sum_x a(c x)     (k = 1, 2, 3+)
    p(w | c) = u(w | c) + b(c) * p(w | c minus its first word)
    p(w)     = u(w) + b() / |V|     (V: every word but <s>, with </s> and <unk>)
with D_n(k) = k - (k+1) Y t_{k+1} / t_k, Y = t_1 / (t_1 + 2 t_2), t_k the
number of n-grams with adjusted count k. <unk> has no count, so its
probability is its share of the uniform term, b() / |V|. In the ARPA file,
an n-gram's backoff is log10 b(that n-gram as a context); <s> has log10
probability -99, as is conventional (it is never predicted).

Python 3 standard library only; no randomness.
"""
import argparse
import math
import sys
from collections import Counter, defaultdict

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


def read_sentences(path):
    with open(path, encoding="utf-8") as f:
        return [line.split() for line in f if line.strip()]


def raw_counts(sentences, order):
    """raw[n][ngram] for n = 1..order over '<s> sentence </s>'; n-grams that
    end in <s> are not counted (<s> is only ever a context)."""
    raw = [Counter() for _ in range(order + 1)]
    for words in sentences:
        toks = [BOS] + words + [EOS]
        for n in range(1, order + 1):
            for i in range(len(toks) - n + 1):
                g = tuple(toks[i:i + n])
                if g[-1] != BOS:
                    raw[n][g] += 1
    return raw


def adjusted_counts(raw, order):
    """Kneser-Ney's counts: at the highest order, and for n-grams that start
    with <s> (nothing can precede them), the raw counts; otherwise the number
    of distinct left extensions."""
    adj = [Counter() for _ in range(order + 1)]
    adj[order] = Counter(raw[order])
    for n in range(1, order):
        for g, c in raw[n].items():
            if g[0] == BOS:
                adj[n][g] = c
        for g in raw[n + 1]:
            adj[n][g[1:]] += 1
        # Every n-gram seen has a left neighbour or starts with <s>.
        assert set(adj[n]) == set(raw[n]), "adjusted counts miss n-grams"
    return adj


def discounts(adj_n, n):
    """D(1), D(2), D(3+) from counts of counts (Chen & Goodman)."""
    t = Counter(min(a, 4) for a in adj_n.values() if a <= 4)
    if any(t[k] == 0 for k in (1, 2, 3, 4)):
        sys.exit(f"make_arpa: order {n}: a count of counts is zero ({dict(t)}); "
                 "the corpus is too small for modified Kneser-Ney")
    y = t[1] / (t[1] + 2 * t[2])
    d = [0.0] + [k - (k + 1) * y * t[k + 1] / t[k] for k in (1, 2, 3)]
    for k in (1, 2, 3):
        if not 0 < d[k] < k:
            sys.exit(f"make_arpa: order {n}: discount D({k}) = {d[k]} is out of (0, {k})")
    return d


def estimate(sentences, order):
    """Returns (vocab, prob, backoff): prob[ngram] and backoff[context] as
    plain probabilities (not logs), for every n-gram seen."""
    raw = raw_counts(sentences, order)
    adj = adjusted_counts(raw, order)
    vocab = sorted({g[0] for g in adj[1]} | {EOS, UNK})  # every predictable word
    prob, backoff = {}, {}
    disc = {}
    for n in range(1, order + 1):
        d = disc[n] = discounts(adj[n], n)
        total = Counter()            # sum_x a(c x), per context c
        kinds = defaultdict(lambda: [0, 0, 0, 0])  # |{x : a(c x) = k}|, k = 1, 2, 3+
        for g, a in adj[n].items():
            total[g[:-1]] += a
            kinds[g[:-1]][min(a, 3)] += 1
        weight = {c: sum(d[k] * kinds[c][k] for k in (1, 2, 3)) / total[c] for c in total}
        for g, a in adj[n].items():
            u = (a - d[min(a, 3)]) / total[g[:-1]]
            lower = 1.0 / len(vocab) if n == 1 else prob[g[1:]]
            prob[g] = u + weight[g[:-1]] * lower
        for c, w in weight.items():
            backoff[c] = w
    prob[(UNK,)] = backoff[()] / len(vocab)
    return vocab, prob, backoff, disc, adj


def fmt(x):
    """7 significant digits, as lmplz writes them."""
    return f"{x:.7g}"


def write_arpa(path, order, vocab, prob, backoff):
    by_order = defaultdict(list)
    for g in prob:
        by_order[len(g)].append(g)
    by_order[1].append((BOS,))
    specials = {UNK: 0, BOS: 1, EOS: 2}
    for n in by_order:
        by_order[n].sort(key=lambda g: [(specials.get(w, 3), w) for w in g])
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\\data\\\n")
        for n in range(1, order + 1):
            f.write(f"ngram {n}={len(by_order[n])}\n")
        for n in range(1, order + 1):
            f.write(f"\n\\{n}-grams:\n")
            for g in by_order[n]:
                lp = "-99" if g == (BOS,) else fmt(math.log10(prob[g]))
                line = f"{lp}\t{' '.join(g)}"
                # A backoff wherever the n-gram is a context of something;
                # elsewhere it is log10 1 = 0 and left out.
                if n < order and g in backoff:
                    line += f"\t{fmt(math.log10(backoff[g]))}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")


def read_arpa(path):
    """Minimal reader for our own output: ({ngram: log10p}, {ngram: log10bo}, order)."""
    logp, logbo = {}, {}
    order = 0
    section = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("ngram "):
                order = max(order, int(line[6:].split("=")[0]))
            elif line.startswith("\\") and line.endswith("-grams:"):
                section = int(line[1:-7])
            elif line == "\\end\\":
                section = 0
            elif section and line:
                fields = line.split("\t")
                g = tuple(fields[1].split(" "))
                assert len(g) == section, line
                logp[g] = float(fields[0])
                if len(fields) > 2:
                    logbo[g] = float(fields[2])
    return logp, logbo, order


def log10_prob(logp, logbo, context, word):
    """ARPA backoff: the longest stored n-gram, plus the backoffs passed."""
    acc = 0.0
    while True:
        g = context + (word,)
        if g in logp:
            return acc + logp[g]
        acc += logbo.get(context, 0.0)
        context = context[1:]


def verify(path, vocab, tol=1e-4):
    logp, logbo, order = read_arpa(path)
    contexts = [()] + [g for g in logp if len(g) < order]
    worst = 0.0
    for c in contexts:
        s = sum(10.0 ** log10_prob(logp, logbo, c, w) for w in vocab)
        worst = max(worst, abs(s - 1.0))
        if abs(s - 1.0) > tol:
            sys.exit(f"make_arpa: {path}: context '{' '.join(c)}' sums to {s:.9f}, not 1")
    return len(contexts), worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-i", "--input", default="tinystories.txt")
    ap.add_argument("-o", "--output", default="tinystories.o3.arpa")
    ap.add_argument("-n", "--order", type=int, default=3)
    args = ap.parse_args()
    sentences = read_sentences(args.input)
    vocab, prob, backoff, disc, adj = estimate(sentences, args.order)
    write_arpa(args.output, args.order, vocab, prob, backoff)
    ncontexts, worst = verify(args.output, vocab)
    print(f"{args.output}: order {args.order}, "
          + ", ".join(f"{len(adj[n])} {n}-grams" for n in range(1, args.order + 1))
          + f" (+ <s>, <unk>); |V| = {len(vocab)} predictable words; discounts "
          + "; ".join(f"D{n} = " + "/".join(f"{x:.3f}" for x in disc[n][1:])
                      for n in range(1, args.order + 1))
          + f"; p(<unk>) = {prob[(UNK,)]:.3g}; {ncontexts} contexts sum to 1 "
          + f"(worst |sum - 1| = {worst:.1e})")


if __name__ == "__main__":
    main()
