# testlib.sh — what every shell test here shares: a work folder ($tmp)
# removed on exit, pass/fail counters, and the closing line.
#   . "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" NAME
#   ... pass / fail "what went wrong" ...
#   finish          # prints "N passed, M failed"; exit status 1 on any failure
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvg-$1-XXXXXX") || exit 2
cleanup() { rm -rf -- "$tmp"; }
trap cleanup EXIT

pass() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAIL: $*" >&2
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
