#!/usr/bin/python3
"""Writes the table of powers of ten for engine/num_format.c's fast path, and
checks the integer logarithm formulas that index it.

How it is run (from the repository root, any python3):
    python3 tests/reference/make_num_format_pow10.py > /tmp/pow10.inc
and the output is the body of `pow10_scaled` in engine/num_format.c: all of
the lines between its opening "= {" and the closing "};".

Table: for k in [POW10_MIN_K, POW10_MAX_K] = [-324, 292] (every decimal
exponent a double's floor(log10(2^e)) or floor(log10(3/4 * 2^e)) can reach,
e in [-1074, 971]), the entry is
    M_k = ceil(10^-k * 2^(127 - g_k)),   g_k = floor(log2(10^-k)),
so 2^127 <= M_k < 2^128, stored as {high 64 bits, low 64 bits}. M_k is exact
(no rounding) for -55 <= k <= 0; its high word rounded up (the float path's
64-bit multiplier) is exact for -27 <= k <= 0 and never overflows.

Formulas checked exhaustively over their domains (integer arithmetic only,
with Python's floor-dividing >> on negative numbers, as num_format.c gets by
adding an offset before shifting):
    floor(log10(2^e))         = (e * 315653) >> 20            e in [-1074, 971]
    floor(log10(3/4 * 2^e))   = (e * 315653 - 131008) >> 20   e in [-1074, 971]
    floor(log2(10^n))         = (n * 1741647) >> 19           n in [-292, 324]
and that h = e + floor(log2(10^-k)) lies in 0..3 for every e and both k.
Exits non-zero, printing the failing case, if any check fails.
"""
import sys
from fractions import Fraction

POW10_MIN_K = -324
POW10_MAX_K = 292
E_MIN, E_MAX = -1074, 971


def floor_log(base, x):
    """floor(log_base(x)) for a positive Fraction x, exactly."""
    k = 0
    while Fraction(base) ** k > x:
        k -= 1
    while Fraction(base) ** (k + 1) <= x:
        k += 1
    return k


def check(name, got, want, arg):
    if got != want:
        sys.exit(f"{name}({arg}): formula gives {got}, exact value is {want}")


def main():
    for e in range(E_MIN, E_MAX + 1):
        p = Fraction(2) ** e
        check("floor_log10_pow2", (e * 315653) >> 20, floor_log(10, p), e)
        check("floor_log10_three_quarters_pow2", (e * 315653 - 131008) >> 20,
              floor_log(10, p * Fraction(3, 4)), e)
    for n in range(-POW10_MAX_K, -POW10_MIN_K + 1):
        check("floor_log2_pow10", (n * 1741647) >> 19, floor_log(2, Fraction(10) ** n), n)
    # The shift that lines the products up, h = e + floor(log2(10^-k)), stays
    # in 0..3 for both choices of k.
    for e in range(E_MIN, E_MAX + 1):
        for k in ((e * 315653) >> 20, (e * 315653 - 131008) >> 20):
            h = e + ((-k * 1741647) >> 19)
            if not 0 <= h <= 3:
                sys.exit(f"h = {h} out of 0..3 for e = {e}, k = {k}")

    print(f"/* k = {POW10_MIN_K} .. {POW10_MAX_K}: ceil(10^-k * 2^(127 - floor(log2(10^-k)))) */")
    for k in range(POW10_MIN_K, POW10_MAX_K + 1):
        x = Fraction(10) ** -k
        g = floor_log(2, x)
        scaled = x * Fraction(2) ** (127 - g)
        m = -((-scaled.numerator) // scaled.denominator)  # ceil
        assert 2 ** 127 <= m < 2 ** 128, k
        exact = scaled.denominator == 1
        assert exact == (-55 <= k <= 0), k
        hi, lo = m >> 64, m & (2 ** 64 - 1)
        assert hi != 2 ** 64 - 1, k  # the float path's hi + (lo != 0) cannot wrap
        assert (exact and lo == 0) == (-27 <= k <= 0), k
        print(f"    {{0x{hi:016x}u, 0x{lo:016x}u}}, /* {k} */")


if __name__ == "__main__":
    main()
