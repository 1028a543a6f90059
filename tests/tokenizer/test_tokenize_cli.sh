#!/usr/bin/env bash
# test_tokenize_cli.sh — `kvgram tokenize` the way a user runs it: ids equal to the goldens
# (made by the oracles, see tests/reference/), --bos, --json, --decode round trip, --whole,
# and one-line errors with a non-zero exit for bad input.
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" tokenize
kvgram=${KVG_BIN:?}
src=${KVG_SOURCE_DIR:?}
tok512=${KVG_SHARED_DIR:?}/models/tok512.bin

# The golden cases given as text (not raw bytes) and without a newline inside, one per line,
# and their ids, one line each, in the same order.
golden_lines() { # GOLDEN FIELD
    python3 - "$1" "$2" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding='utf-8'):
    o = json.loads(line)
    if 'text' in o and 'bytes_hex' in o:
        continue  # raw bytes that are not text
    raw = o['text'].encode('utf-8') if 'text' in o else bytes.fromhex(o['bytes_hex'])
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError:
        continue
    if '\n' in text or '\r' in text:
        continue
    print(text if sys.argv[2] == 'text' else ' '.join(map(str, o['ids'])))
PY
}

check_golden() { # NAME SOURCE-OPTIONS...
    local name=$1
    shift
    golden_lines "$src/tests/tokenizer/$name.expected.jsonl" text >"$tmp/$name.txt"
    golden_lines "$src/tests/tokenizer/$name.expected.jsonl" ids >"$tmp/$name.want"
    if "$kvgram" tokenize "$@" "$tmp/$name.txt" >"$tmp/$name.got" 2>"$tmp/err" &&
        cmp -s "$tmp/$name.want" "$tmp/$name.got" && [ "$(wc -l <"$tmp/$name.want")" -gt 20 ]; then
        pass
    else
        fail "$name: ids differ from the golden ($(cat "$tmp/err"))"
        diff "$tmp/$name.want" "$tmp/$name.got" | head -5 >&2
    fi
}
check_golden gpt2 --hf "$src/tests/tokenizer/gpt2"
check_golden spm-llama2 --hf "$src/tests/tokenizer/spm-llama2.tokenizer.json"
check_golden qwen2-nfc --hf "$src/tests/tokenizer/qwen2-nfc.tokenizer.json"
check_golden llama2c-tok512 --llama2c "$tok512" --vocab-size 512

# --bos: llama2.c prepends BOS 1; GPT-2 (no post-processor BOS) does not.
got=$(printf 'Once upon a time\n' | "$kvgram" tokenize --llama2c "$tok512" --vocab-size 512 --bos)
want="1 $(printf 'Once upon a time\n' | "$kvgram" tokenize --llama2c "$tok512" --vocab-size 512)"
[ "$got" = "$want" ] && pass || fail "--bos: got '$got', want '$want'"
got=$(printf 'hello\n' | "$kvgram" tokenize --hf "$src/tests/tokenizer/gpt2" --bos)
[ "$got" = "31373" ] && pass || fail "gpt2 --bos: got '$got', want 31373 (gpt-3-encoder's id of hello)"

# --decode gives the text back (SentencePiece: leading space stripped, BOS dropped)
for opts in "--llama2c $tok512 --vocab-size 512" "--hf $src/tests/tokenizer/spm-llama2.tokenizer.json"; do
    printf 'And God said, Let there be light: and there was light.\ncaf\xc3\xa9 \xe4\xb8\xad 42\n' >"$tmp/in.txt"
    # shellcheck disable=SC2086
    "$kvgram" tokenize $opts --bos "$tmp/in.txt" | "$kvgram" tokenize $opts --decode >"$tmp/back.txt" &&
        cmp -s "$tmp/in.txt" "$tmp/back.txt" && pass || fail "decode(encode(x)) != x with $opts"
done

# --json: ids and each token's text
got=$(printf 'Once upon\n' | "$kvgram" tokenize --llama2c "$tok512" --vocab-size 512 --json)
want='{"line": 1, "ids": [403, 407], "tokens": [" Once", " upon"]}'
[ "$got" = "$want" ] && pass || fail "--json: got '$got', want '$want'"

# --whole: the input is one text, newlines included (byte-level: "\n" is token 198 in GPT-2)
got=$(printf 'a\nb' | "$kvgram" tokenize --hf "$src/tests/tokenizer/gpt2" --whole)
[ "$got" = "64 198 65" ] && pass || fail "--whole: got '$got', want '64 198 65'"

# --save: the tokenizer alone in a .kvg, then -m gives the same ids
"$kvgram" tokenize --hf "$src/tests/tokenizer/spm-llama2.tokenizer.json" --save "$tmp/spm.kvg" &&
    "$kvgram" tokenize -m "$tmp/spm.kvg" "$tmp/spm-llama2.txt" >"$tmp/spm.got" &&
    cmp -s "$tmp/spm-llama2.want" "$tmp/spm.got" && pass || fail "--save then -m: ids differ from the golden"
"$kvgram" verify "$tmp/spm.kvg" >/dev/null && pass || fail "--save wrote a file that does not verify"

# bad input: one line on stderr naming the file, exit status 1 (2 for usage)
expect_error() { # STATUS NEEDLE ARGS...
    local status=$1 needle=$2
    shift 2
    "$kvgram" tokenize "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -eq "$status" ] && grep -qF -- "$needle" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
        pass
    else
        fail "tokenize $*: exit $rc, stderr '$(cat "$tmp/err")', expected $status and '$needle'"
    fi
}
expect_error 2 "give exactly one of" "$tmp/in.txt"
expect_error 1 "/nonexistent.kvg: cannot open" -m /nonexistent.kvg
expect_error 1 "$tmp: no tokenizer" --hf "$tmp"
expect_error 1 "/nonexistent.txt: cannot open" --llama2c "$tok512" --vocab-size 512 /nonexistent.txt
printf '{"model": {"type": "Unigram", "vocab": []}}' >"$tmp/tokenizer.json"
expect_error 1 "$tmp/tokenizer.json: model type \"Unigram\" is not supported" --hf "$tmp"
printf '1 2 x\n' >"$tmp/ids.txt"
expect_error 1 "$tmp/ids.txt: line 1: not a list of token ids" --llama2c "$tok512" --vocab-size 512 --decode "$tmp/ids.txt"
printf '1 999\n' >"$tmp/ids.txt"
expect_error 1 "token id 999 (at position 1) is not in the vocabulary" --llama2c "$tok512" --vocab-size 512 --decode "$tmp/ids.txt"
"$kvgram" convert "$src/tests/fuzz/tiny.arpa" -o "$tmp/ngram.kvg" 2>/dev/null
expect_error 1 "$tmp/ngram.kvg: has no tokenizer" -m "$tmp/ngram.kvg"
expect_error 1 "$tmp/no/such/dir" --llama2c "$tok512" --vocab-size 512 --save "$tmp/no/such/dir/t.kvg"
finish
