/* make_sample_kvg.c — writes a small valid .kvg file (see kvg_sample.h), for
 * the shell tests and the fuzz seed corpus, which cannot write one themselves.
 *
 * usage: make_sample_kvg OUT.kvg [full|tiny|empty] [ALIGNMENT] */
#include <stdio.h>
#include <stdlib.h>

#include "kvg_sample.h"

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: make_sample_kvg OUT.kvg [full|tiny|empty] [ALIGNMENT]\n");
        return 2;
    }
    const char *variant = argc > 2 ? argv[2] : "full";
    uint32_t alignment = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 0;
    kvg_error err;
    if (kvg_sample_write(argv[1], variant, alignment, &err)) {
        fprintf(stderr, "make_sample_kvg: %s\n", err.msg);
        return 1;
    }
    return 0;
}
