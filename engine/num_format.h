/* num_format.h — numbers printed exactly as KenLM's `query` prints them.
 *
 * KenLM formats with Google double-conversion set up as
 *   DoubleToStringConverter(NO_FLAGS, "inf", "NaN", 'e', -6, 21, ...)
 * and calls ToShortestSingle(float) for per-word log10 probabilities and totals,
 * ToShortest(double) for perplexities. That means:
 *   digits  the fewest decimal digits that read back (correctly rounded) to the
 *           same float / double; among those, the one closest to the exact value.
 *   layout  with the value 0.d1..dn * 10^k and e = k-1: plain decimal notation
 *           when -6 <= e < 21 ("-0.4846522", "100", "0.000001"), otherwise
 *           "d1.d2..dn" + 'e' + exponent without '+' ("1e-7", "-1.5e-7", "1e21").
 *   special "-0" for negative zero, "inf" / "-inf", "NaN" (never signed).
 * No libc formatting: 64/128-bit fixed-point arithmetic with a table of powers
 * of ten, falling back to exact big-integer arithmetic in the rare cases it
 * cannot settle; ~25 ns a float log-prob, ~30-45 ns a double (x86-64, -O2;
 * the big-integer path alone: ~120 ns and ~330-1200 ns). */
#ifndef KVG_NUM_FORMAT_H
#define KVG_NUM_FORMAT_H

/* Bytes a caller's buffer needs; the longest output ("-1.2345678901234567e-308",
 * "-0.0000012345678901234567") is 25 bytes with its NUL. */
#define KVG_NUM_BUF 32

/* Writes the KenLM/double-conversion shortest form of x into buf, which must
 * hold KVG_NUM_BUF bytes (all of which may be written; the text is
 * NUL-terminated); returns its length. */
int kvg_format_float(float x, char *buf);
int kvg_format_double(double x, char *buf);

#ifdef KVG_NUM_FORMAT_TESTING
/* For tests only (define KVG_NUM_FORMAT_TESTING before including this): the
 * two ways to the digits, taken alone. _exact is the big-integer reference;
 * _fast is the fixed-point path, which returns -1 and writes nothing where it
 * cannot decide (there kvg_format_* use the reference). */
int kvg_format_float_exact(float x, char *buf);
int kvg_format_double_exact(double x, char *buf);
int kvg_format_float_fast(float x, char *buf);
int kvg_format_double_fast(double x, char *buf);
#endif

#endif
