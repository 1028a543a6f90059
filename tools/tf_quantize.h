/* tf_quantize.h — `kvgram quantize IN.kvg OUT.kvg --type T`: re-encodes the
 * matrices of a transformer .kvg in new dtypes and copies everything else.
 *
 * The input is opened as a transformer (so an n-gram model or a broken file
 * is refused before anything is written) and every tensor's checksum is
 * verified as it is read. Matrices (tf_types.h: every rank-2 "*.weight" but
 * pos_embd) get the dtype tf_matrix_type gives; a matrix already in that
 * dtype is copied byte for byte, any other is decoded to f32 and encoded
 * again, a block of rows at a time — so q8_0 -> q4_0 goes through f32 (the
 * q8_0 values, not the original weights, are what gets quantized). Other
 * tensors and all metadata are copied unchanged, except
 * transformer.weight_type, which becomes T. Output through kvg_writer
 * (temporary + rename): on any error nothing is left at OUT. */
#ifndef KVG_TF_QUANTIZE_H
#define KVG_TF_QUANTIZE_H

#include "kvg_error.h"
#include "tf_types.h"

typedef struct tf_quantize_options {
    tf_types types; /* types.type is required (>= 0) */
    int progress;   /* report progress on stderr */
    int notes;      /* say on stderr which matrices fell back to f16 */
} tf_quantize_options;

/* 0 on success, else -1 with err naming the file and the problem. Refuses
 * out_path naming the input file itself. */
int tf_quantize(const char *in_path, const char *out_path, const tf_quantize_options *opt, kvg_error *err);

#endif
