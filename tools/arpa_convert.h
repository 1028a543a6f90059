/* arpa_convert.h — `kvgram convert MODEL.arpa[.gz] -o MODEL.kvg`. */
#ifndef KVG_ARPA_CONVERT_H
#define KVG_ARPA_CONVERT_H

#include "kvg_error.h"

typedef struct arpa_convert_options {
    int quantize; /* 0: exact f32; 8: 8-bit probabilities and backoffs */
    int progress; /* report progress on stderr */
} arpa_convert_options;

/* Converts in_path to out_path (written atomically). 0 on success. */
int arpa_convert(const char *in_path, const char *out_path, const arpa_convert_options *opt, kvg_error *err);

#endif
