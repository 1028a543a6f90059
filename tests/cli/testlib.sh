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

# The shape every refusal must have, checked after a run that left its exit
# status in $status and its stderr in $tmp/err (and $err):
#   expect_refusal WHAT WANT STDOUT_FILE [PREFIX]
# exit status WANT ("fail": any failure that is neither a signal nor a
# timeout), exactly one line on stderr (starting with PREFIX when given),
# nothing on STDOUT_FILE. The caller checks what the line says.
expect_refusal() {
    local what=$1 want=$2 stdout_file=$3 prefix=${4:-}
    if [ "$want" = fail ]; then
        if [ "$status" -ne 0 ] && [ "$status" -lt 124 ]; then pass; else fail "$what: exit status $status, expected a failure ($err)"; fi
    elif [ "$status" -eq "$want" ]; then
        pass
    else
        fail "$what: exit status $status, expected $want ($err)"
    fi
    local lines
    lines=$(wc -l <"$tmp/err")
    if [ "$lines" -eq 1 ]; then pass; else fail "$what: $lines lines on stderr, expected 1: $err"; fi
    if [ -n "$prefix" ]; then
        case "$err" in "$prefix"*) pass ;; *) fail "$what: stderr does not start with \"$prefix\": $err" ;; esac
    fi
    if [ ! -s "$stdout_file" ]; then pass; else fail "$what: unexpected stdout: $(head -c 300 "$stdout_file")"; fi
}

# expect_err_says WHAT PHRASE: the literal PHRASE is in $err.
expect_err_says() {
    case "$err" in *"$2"*) pass ;; *) fail "$1: no \"$2\" in: $err" ;; esac
}

# expect_err_matches WHAT ERE: stderr ($tmp/err) matches the extended regex, ignoring case.
expect_err_matches() {
    if grep -Eqi -- "$2" "$tmp/err"; then pass; else fail "$1: stderr does not match /$2/: $err"; fi
}
