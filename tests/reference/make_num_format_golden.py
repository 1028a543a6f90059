#!/usr/bin/python3
"""Writes tests/engine/num_format_golden.txt: KenLM's number formatting, from an
independent reference.

How it was run (from the repository root, Debian's python3 with python3-numpy,
installed by `apt-get install python3-numpy`, numpy 1.24.2):
    /usr/bin/python3 tests/reference/make_num_format_golden.py > tests/engine/num_format_golden.txt

KenLM prints with Google double-conversion: DoubleToStringConverter(NO_FLAGS,
"inf", "NaN", 'e', decimal_in_shortest_low=-6, decimal_in_shortest_high=21),
ToShortestSingle for floats and ToShortest for doubles. The digits here come
from elsewhere:
  float32  numpy's np.format_float_scientific(np.float32(x), unique=True)
           (Dragon4: shortest digits that round-trip, the closest of them)
  float64  Python's repr(float) (David Gay's correctly rounded shortest), checked
           against numpy's format_float_scientific(np.float64(x), unique=True)
and this script only lays them out: with the value 0.d1..dn * 10^k and e = k-1,
plain decimal notation when -6 <= e < 21, otherwise d1.d2..dn 'e' exponent
(no '+'); "-0" for negative zero, "inf"/"-inf", and "NaN" unsigned.

Output: one line per number, "f HEX8 TEXT" (float32 bits) or "d HEX16 TEXT"
(float64 bits); lines starting with '#' are comments. Fixed seed, so reruns
give the same file.
"""
import math
import random
import re
import struct
import sys
from decimal import Decimal

import numpy as np

SEED = 20240607


def f32_from_bits(b):
    return struct.unpack('<f', struct.pack('<I', b))[0]


def f32_bits(x):
    return struct.unpack('<I', struct.pack('<f', x))[0]


def f64_from_bits(b):
    return struct.unpack('<d', struct.pack('<Q', b))[0]


def f64_bits(x):
    return struct.unpack('<Q', struct.pack('<d', x))[0]


def layout(neg, digits, point):
    """digits d1..dn (no trailing zeros) with value 0.d1..dn * 10^point."""
    sign = '-' if neg else ''
    n = len(digits)
    exponent = point - 1
    if -6 <= exponent < 21:
        if point <= 0:
            return sign + '0.' + '0' * (-point) + digits
        if point >= n:
            return sign + digits + '0' * (point - n)
        return sign + digits[:point] + '.' + digits[point:]
    mant = digits[0] + ('.' + digits[1:] if n > 1 else '')
    return sign + mant + 'e' + str(exponent)


def special(x):
    if math.isnan(x):
        return 'NaN'
    if math.isinf(x):
        return '-inf' if x < 0 else 'inf'
    return None


SCI = re.compile(r'^(-?)(\d)\.(\d*)e([+-]\d+)$')


def from_numpy_sci(text):
    """'-1.2345e+22' -> (neg, '12345', point)."""
    m = SCI.match(text)
    if not m:
        raise ValueError('unexpected numpy output %r' % text)
    digits = (m.group(2) + m.group(3)).rstrip('0') or '0'
    return m.group(1) == '-', digits, int(m.group(4)) + 1


def format_f32(bits):
    x = f32_from_bits(bits)
    s = special(x)
    if s:
        return s
    neg, digits, point = from_numpy_sci(np.format_float_scientific(np.float32(x), unique=True))
    return layout(neg, digits, point)


def format_f64(bits):
    x = f64_from_bits(bits)
    s = special(x)
    if s:
        return s
    t = Decimal(repr(x)).as_tuple()
    digits = ''.join(map(str, t.digits))
    point = len(digits) + t.exponent
    stripped = digits.lstrip('0')
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip('0') or '0'
    if digits == '0':
        point = 1
    neg = bool(t.sign)
    # numpy's Dragon4 must agree with Gay's dtoa on digits and point.
    if (neg, digits, point) != from_numpy_sci(np.format_float_scientific(np.float64(x), unique=True)):
        raise SystemExit('repr and numpy disagree on %r' % x)
    return layout(neg, digits, point)


def nearest_f32_bits(x):
    return f32_bits(float(np.float32(x)))


def main():
    rng = random.Random(SEED)
    out = sys.stdout
    out.write('# num_format golden: written by tests/reference/make_num_format_golden.py (seed %d)\n' % SEED)
    out.write('# numpy %s, Python %s\n' % (np.__version__, sys.version.split()[0]))

    f32 = []  # bit patterns, in a fixed order, duplicates dropped below
    # Specials and extremes: zeros, infinities, NaNs, FLT_TRUE_MIN, largest
    # subnormal, FLT_MIN, FLT_MAX, 1.
    f32 += [0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
            0x7f800001, 0x7fffffff, 0x00000001, 0x80000001, 0x007fffff, 0x00800000,
            0x7f7fffff, 0xff7fffff, 0x3f800000, 0xbf800000]
    # Every power of two (the asymmetric rounding intervals) and its neighbours.
    for b in range(0, 255):
        p = b << 23 if b else 0x00000001
        for q in (p - 1, p, p + 1):
            if 0 < q < 0x7f800000:
                f32 += [q, q | 0x80000000]
    # Subnormal powers of two, the smallest subnormals, random subnormals.
    f32 += [1 << i for i in range(23)] + list(range(1, 65))
    f32 += [rng.randrange(1, 1 << 23) for _ in range(500)]
    # Powers of ten (the decimal-notation boundaries among them) and neighbours.
    for p in range(-45, 39):
        c = nearest_f32_bits(10.0 ** p if p > -45 else 1e-45)
        f32 += [q for q in range(c - 3, c + 4) if 0 < q < 0x7f800000]
    for x in (1e-7, 1e-6, 9.999999e-7, 9.9999995e-7, 1e21, 9.999999e20, 1e20, 1e22, 1.2345e22,
              1.5e-7, 3e10, 266294.7, 0.4846522):
        c = nearest_f32_bits(x)
        f32 += [c - 1, c, c + 1, (c - 1) | 0x80000000, c | 0x80000000, (c + 1) | 0x80000000]
    # Values like KenLM's log10 probabilities and totals.
    for _ in range(3000):
        f32.append(nearest_f32_bits(-rng.uniform(0, 10) * 10.0 ** rng.randint(-8, 3)))
    # Uniformly random bit patterns.
    f32 += [rng.getrandbits(32) for _ in range(20000)]

    seen = set()
    n32 = 0
    for b in f32:
        if b in seen:
            continue
        seen.add(b)
        out.write('f %08x %s\n' % (b, format_f32(b)))
        n32 += 1

    f64 = [0x0000000000000000, 0x8000000000000000, 0x7ff0000000000000, 0xfff0000000000000,
           0x7ff8000000000000, 0xfff8000000000000, 0x7ff0000000000001, 0x0000000000000001,
           0x000fffffffffffff, 0x0010000000000000, 0x7fefffffffffffff, 0x3ff0000000000000]
    # Every power of two; neighbours of every eighth.
    for b in range(0, 2047):
        p = b << 52 if b else 1
        f64.append(p)
        if b % 8 == 0:
            f64 += [p - 1, p + 1] if p > 1 else []
    f64 += [1 << i for i in range(52)]
    for p in range(-323, 309, 3):
        c = f64_bits(float('1e%d' % p))
        f64 += [c - 1, c, c + 1]
    for x in (1e-7, 1e-6, 1e21, 1e22, 9.999999999999999e20, 266294.70636568527,
              11714167941334770000.0, 3033285749728846.0, 35.70552605519932):
        c = f64_bits(x)
        f64 += [c - 1, c, c + 1]
    # Values like perplexities, then uniformly random bit patterns.
    for _ in range(2000):
        f64.append(f64_bits(10.0 ** rng.uniform(0, 20)))
    f64 += [rng.getrandbits(64) for _ in range(8000)]

    seen = set()
    n64 = 0
    for b in f64:
        if b in seen:
            continue
        seen.add(b)
        out.write('d %016x %s\n' % (b, format_f64(b)))
        n64 += 1
    out.write('# %d floats, %d doubles\n' % (n32, n64))


if __name__ == '__main__':
    main()
