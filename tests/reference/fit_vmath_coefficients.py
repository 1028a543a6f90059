#!/usr/bin/python3
"""Fits the polynomial coefficients of the SIMD kernels' exp and erfc
(engine/kernels/vmath_simd.h) and prints them with their approximation error.

Run with Debian's python3-mpmath: /usr/bin/python3 tests/reference/fit_vmath_coefficients.py
Chebyshev fits (near-minimax) in 40-digit arithmetic; the error printed is the
fit's alone, before float rounding (tests/kernels/test_vmath.c measures the
whole function against libm).

exp(x) = 2^n * P(r), x = n ln2 + r, |r| <= ln2/2; P of degree 6.
erfc(z) = t * exp(G(t) - z^2), t = 1 / (1 + z/2), z in [0, 10]; G of degree 10
in u = t - 7/12 (centred, so float Horner sums terms of size <= 1.2 and keeps
its rounding near 1e-7).
"""
import mpmath as mp

mp.mp.dps = 40


def show(name, coeffs, err):
    print(f"{name}: max |error| {mp.nstr(err, 3)}; coefficients, highest degree first:")
    print("    " + ", ".join(mp.nstr(c, 11) + "f" for c in coeffs))


ln2 = mp.log(2)
c, err = mp.chebyfit(mp.exp, [-ln2 / 2, ln2 / 2], 7, error=True)
show("exp P(r)", c, err)


def g_of_t(t):
    z = (1 / t - 1) * 2
    return mp.log(mp.erfc(z) / t) + z * z


tmin = 1 / (1 + mp.mpf(10) / 2)
mid = mp.mpf(7) / 12  # (tmin + 1) / 2
c, err = mp.chebyfit(lambda u: g_of_t(u + mid), [tmin - mid, 1 - mid], 11, error=True)
show("erfc G(u), u = t - 7/12", c, err)
