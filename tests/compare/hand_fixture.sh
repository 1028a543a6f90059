# hand_fixture.sh — the hand-made case of the compare tests (sourced; needs $tmp, $KVG_BIN, $KVG_MAKE_BIGRAM).
#
# Tokenizer: BPE without merges over the characters a b c (ids 0 1 2) and a
# BOS "<s>" (id 3) that scoring prepends. The transformer (see
# make_bigram_transformer.c) predicts from the current token only:
#   after <s>: a .5  b .3  c .2      after a: a .5  b .4  c .1
#   after b:   a .35 b .4  c .25     after c: a .7  b .1  c .2     (BOS token: 0)
# Training text for the counted (maximum-likelihood) n-gram models, one
# sentence per line (each wrapped in <s> ... </s>):
#   abca / aabb / bcca / cbac
write_hand_fixture() {
    mkdir -p "$tmp/tok"
    cat > "$tmp/tok/tokenizer.json" <<'JSON'
{"version":"1.0","truncation":null,"padding":null,
 "added_tokens":[{"id":3,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
 "normalizer":null,"pre_tokenizer":null,
 "post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
   "pair":[],"special_tokens":{"<s>":{"id":"<s>","ids":[3],"tokens":["<s>"]}}},
 "decoder":null,
 "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,
   "fuse_unk":false,"byte_fallback":false,"vocab":{"a":0,"b":1,"c":2,"<s>":3},"merges":[]}}
JSON
    "$KVG_MAKE_BIGRAM" "$tmp/tok" "$tmp/tf.kvg" \
        .5 .4 .1 0 \
        .35 .4 .25 0 \
        .7 .1 .2 0 \
        .5 .3 .2 0 || return 1
    printf 'abca\naabb\nbcca\ncbac\n' > "$tmp/train.txt"
    "$KVG_BIN" ngram build --quiet --order 2 --smoothing mle --tokenizer "$tmp/tf.kvg" "$tmp/train.txt" \
        -o "$tmp/n2.kvg" || return 1
    "$KVG_BIN" ngram build --quiet --order 3 --smoothing mle --tokenizer "$tmp/tf.kvg" "$tmp/train.txt" \
        -o "$tmp/r3.kvg" || return 1
    printf 'abca\ncba\n' > "$tmp/test.txt"
}
