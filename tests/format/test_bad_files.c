/* test_bad_files.c — a damaged or hostile .kvg file is refused with one line
 * that names the file and the problem; nothing crashes, nothing hangs.
 *
 * Every case starts from a valid file made by the writer (kvg_sample.h) and
 * changes it. Structural cases also re-seal the head checksum (XXH3-64 of
 * header[0,120) ‖ metadata ‖ directory, as kvg_open computes it), so the
 * reader gets past the checksum and the one check under test is what must
 * fire: each case expects a phrase only that check prints, so removing the
 * check changes the outcome or the message and fails the test. Unsealed
 * changes must be caught by the checksums themselves: the sweeps change every
 * byte of whole sample files and cut them at every length. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "kvg_reader.h"
#include "kvg_sample.h"
#include "kvg_test.h"

static char tmpdir[256];
static char bad_path[320]; /* every damaged copy is written here */

/* ---- files as bytes ---------------------------------------------------- */

typedef struct image {
    uint8_t *b;
    size_t n;
} image;

static void die(const char *what, const char *path)
{
    perror(path);
    fprintf(stderr, "test_bad_files: cannot %s\n", what);
    exit(2);
}

static image load(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        die("read a sample", path);
    fseek(fp, 0, SEEK_END);
    image im = {NULL, (size_t)ftell(fp)};
    fseek(fp, 0, SEEK_SET);
    im.b = malloc(im.n + 1);
    if (!im.b || fread(im.b, 1, im.n, fp) != im.n)
        die("read a sample", path);
    fclose(fp);
    return im;
}

/* Rewrites path in place. Not O_TRUNC: ext4 flushes a file truncated to zero
 * and rewritten when it is closed, which for the sweeps' tens of thousands of
 * rewrites costs minutes instead of seconds. */
static void save(const char *path, const uint8_t *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0 || (n && pwrite(fd, b, n, 0) != (ssize_t)n) || ftruncate(fd, (off_t)n) != 0 || close(fd) != 0)
        die("write a damaged copy", path);
}

/* A copy with room for `extra` more bytes at the end (zeroed). */
static image clone_grow(const image *im, size_t extra)
{
    image c = {malloc(im->n + extra + 1), im->n + extra};
    if (!c.b)
        die("allocate", "clone");
    memcpy(c.b, im->b, im->n);
    memset(c.b + im->n, 0, extra);
    return c;
}

static image clone(const image *im) { return clone_grow(im, 0); }

static image make_sample(const char *variant, uint32_t alignment)
{
    char path[320];
    snprintf(path, sizeof path, "%s/%s-%u.kvg", tmpdir, variant, alignment);
    kvg_error err;
    if (kvg_sample_write(path, variant, alignment, &err)) {
        fprintf(stderr, "test_bad_files: %s\n", err.msg);
        exit(2);
    }
    return load(path);
}

static uint64_t get64(const image *im, uint64_t off) { return kvg_rd64(im->b + off); }
static uint32_t get32(const image *im, uint64_t off) { return kvg_rd32(im->b + off); }
static void set64(image *im, uint64_t off, uint64_t v) { kvg_wr64(im->b + off, v); }
static void set32(image *im, uint64_t off, uint32_t v) { kvg_wr32(im->b + off, v); }
static void set16(image *im, uint64_t off, uint16_t v) { kvg_wr16(im->b + off, v); }

static int in_image(const image *im, uint64_t off, uint64_t len)
{
    return off <= im->n && len <= im->n - off;
}

/* Recomputes the head checksum from the image's own header fields, as the
 * reader does, and stores it at offset 120. Sections that lie outside the
 * image are left out: the reader refuses those before it looks at the sum. */
static void reseal(image *im)
{
    uint64_t mo = get64(im, KVG_H_META_OFFSET), ms = get64(im, KVG_H_META_SIZE);
    uint64_t dof = get64(im, KVG_H_DIR_OFFSET), ds = get64(im, KVG_H_DIR_SIZE);
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, im->b, KVG_H_HEAD_CHECKSUM);
    if (in_image(im, mo, ms))
        XXH3_64bits_update(st, im->b + mo, (size_t)ms);
    if (in_image(im, dof, ds))
        XXH3_64bits_update(st, im->b + dof, (size_t)ds);
    set64(im, KVG_H_HEAD_CHECKSUM, XXH3_64bits_digest(st));
    XXH3_freeState(st);
}

/* ---- where things are in a sample ---------------------------------------- */

static uint64_t align8(uint64_t v) { return (v + 7) & ~(uint64_t)7; }

/* Absolute offset of tensor i's directory entry. */
static uint64_t dir_entry(const image *im, size_t i)
{
    return get64(im, KVG_H_DIR_OFFSET) + (uint64_t)i * KVG_DIR_ENTRY_SIZE;
}

/* Absolute offset of tensor i's name bytes. */
static uint64_t dir_name(const image *im, size_t i)
{
    return get64(im, KVG_H_DIR_OFFSET) + get64(im, dir_entry(im, i) + KVG_D_NAME_OFFSET);
}

/* Bytes taken by a metadata value of `type` starting at absolute offset v. */
static uint64_t meta_value_span(const image *im, uint64_t v, uint32_t type)
{
    if (type == KVG_META_STR)
        return 8 + align8(get64(im, v));
    if (type != KVG_META_ARR)
        return 8;
    uint32_t elem = get32(im, v);
    uint64_t count = get64(im, v + 8), q = v + 16;
    for (uint64_t k = 0; k < count; k++)
        q += elem == KVG_META_STR ? 8 + align8(get64(im, q)) : 8;
    return q - v;
}

/* Absolute offset of the metadata entry for key (its key-length field). */
static uint64_t meta_entry(const image *im, const char *key)
{
    uint64_t p = get64(im, KVG_H_META_OFFSET), end = p + get64(im, KVG_H_META_SIZE);
    while (p < end) {
        uint32_t klen = get32(im, p), type = get32(im, p + 4);
        uint64_t v = p + 8 + align8(klen);
        if (klen == strlen(key) && memcmp(im->b + p + 8, key, klen) == 0)
            return p;
        p = v + meta_value_span(im, v, type);
    }
    fprintf(stderr, "test_bad_files: sample has no key %s\n", key);
    exit(2);
}

/* Absolute offset of the value of the metadata entry at e. */
static uint64_t meta_value(const image *im, uint64_t e) { return e + 8 + align8(get32(im, e)); }

/* ---- judging a file ------------------------------------------------------ */

enum stage { OPEN_FAILED, VERIFY_FAILED, ACCEPTED };
static const char *const stage_names[] = {"refused by kvg_open", "refused by kvg_verify_file", "accepted"};

/* Writes the bytes to bad_path, opens them and, if that works, verifies every
 * byte. Returns the stage that refused the file; err holds its message. */
static enum stage judge_bytes(const uint8_t *b, size_t n, kvg_error *err)
{
    save(bad_path, b, n);
    kvg_file *f;
    err->msg[0] = '\0';
    if (kvg_open(bad_path, &f, err)) {
        if (f != NULL)
            fprintf(stderr, "kvg_open failed but left *out set\n");
        return OPEN_FAILED;
    }
    int rc = kvg_verify_file(f, err);
    kvg_close(f);
    return rc ? VERIFY_FAILED : ACCEPTED;
}

/* A good error message: one line, "PATH: problem", with phrase in it. */
static int message_ok(const char *msg, const char *path, const char *phrase)
{
    size_t pl = strlen(path);
    return strncmp(msg, path, pl) == 0 && msg[pl] == ':' && msg[pl + 1] == ' ' && strstr(msg + pl, phrase) &&
           !strchr(msg, '\n') && !strchr(msg, '\r');
}

/* Checks that path is refused at `want` with phrase in a one-line message.
 * Returns 1 if so; otherwise prints what happened (unless quiet) and returns 0. */
static int refused_as(enum stage got, const kvg_error *err, const char *path, enum stage want, const char *phrase,
                      const char *what, int quiet)
{
    if (got == want && (want == ACCEPTED || message_ok(err->msg, path, phrase)))
        return 1;
    if (!quiet)
        fprintf(stderr, "FAIL %s: expected %s with \"%s\", got %s: %s\n", what, stage_names[want], phrase,
                stage_names[got], got == ACCEPTED ? "(no error)" : err->msg);
    return 0;
}

static void expect(const image *im, enum stage want, const char *phrase, const char *what)
{
    kvg_error err;
    enum stage got = judge_bytes(im->b, im->n, &err);
    if (refused_as(got, &err, bad_path, want, phrase, what, 0))
        kvg_test_passed++;
    else
        kvg_test_failed++;
}

/* Re-seals im, expects kvg_open to refuse it with phrase, and frees it. */
static void expect_sealed(image *im, const char *phrase, const char *what)
{
    reseal(im);
    expect(im, OPEN_FAILED, phrase, what);
    free(im->b);
}

/* As expect_sealed, without re-sealing. */
static void expect_raw(image *im, const char *phrase, const char *what)
{
    expect(im, OPEN_FAILED, phrase, what);
    free(im->b);
}

/* ---- the header ---------------------------------------------------------- */

static void test_header(const image *full)
{
    char phrase[160], what[160];
    image im;

    /* The samples themselves pass, and re-sealing an intact file changes nothing. */
    expect(full, ACCEPTED, "", "the intact sample");
    im = clone(full);
    reseal(&im);
    CHECK(memcmp(im.b, full->b, full->n) == 0);
    free(im.b);

    im = clone(full);
    im.b[1] ^= 0x20; /* "kVG" */
    expect_raw(&im, "not a .kvg file (bad magic)", "wrong magic");
    im = clone(full);
    memset(im.b, 0, KVG_HEADER_SIZE); /* the writer writes the header last: an unfinished file */
    expect_raw(&im, "not a .kvg file (bad magic)", "zeroed header");
    im = clone(full);
    memcpy(im.b, "GGUF\x03\0\0\0", 8);
    expect_raw(&im, "this is a GGUF file, not .kvg: convert it with `kvgram convert`", "GGUF magic");

    im = clone(full);
    set16(&im, KVG_H_VERSION_MAJOR, 2);
    expect_sealed(&im, "written in .kvg format 2.0 by a newer kvgram", "major version 2");
    im = clone(full);
    set16(&im, KVG_H_VERSION_MAJOR, 0xFFFF);
    set16(&im, KVG_H_VERSION_MINOR, 3);
    expect_sealed(&im, "format 65535.3 by a newer kvgram; this build reads format 1.x (upgrade kvgram)",
                  "major version 65535");
    im = clone(full);
    set16(&im, KVG_H_VERSION_MAJOR, 0);
    expect_sealed(&im, "invalid format version 0.0", "major version 0");
    im = clone(full); /* a newer minor version is still readable */
    set16(&im, KVG_H_VERSION_MINOR, 7);
    reseal(&im);
    expect(&im, ACCEPTED, "", "minor version 1.7");
    free(im.b);

    im = clone(full);
    set32(&im, KVG_H_FLAGS, 1);
    expect_sealed(&im, "unknown header flags 0x00000001", "flags 1");
    im = clone(full);
    set32(&im, KVG_H_FLAGS, 0x80000000u);
    expect_sealed(&im, "unknown header flags 0x80000000", "flags top bit");

    uint64_t n = full->n;
    im = clone(full);
    set64(&im, KVG_H_FILE_SIZE, n + 1);
    snprintf(phrase, sizeof phrase, "truncated: header says %llu bytes, file has %llu", (unsigned long long)n + 1,
             (unsigned long long)n);
    expect_sealed(&im, phrase, "file size field too large");
    im = clone(full);
    set64(&im, KVG_H_FILE_SIZE, UINT64_MAX);
    expect_sealed(&im, "truncated: header says 18446744073709551615 bytes", "file size field UINT64_MAX");
    im = clone(full);
    set64(&im, KVG_H_FILE_SIZE, n - 1);
    expect_sealed(&im, "1 unexpected bytes after the end declared in the header", "file size field too small");
    im = clone_grow(full, 16); /* bytes appended to an intact file */
    snprintf(phrase, sizeof phrase, "16 unexpected bytes after the end declared in the header (%llu)",
             (unsigned long long)n);
    expect_raw(&im, phrase, "trailing bytes");

    static const uint32_t bad_alignments[] = {0, 1, 32, 96, 1u << 21, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad_alignments / sizeof *bad_alignments; i++) {
        im = clone(full);
        set32(&im, KVG_H_ALIGNMENT, bad_alignments[i]);
        snprintf(phrase, sizeof phrase, "invalid alignment %u (a power of two from 64 to 1048576)",
                 bad_alignments[i]);
        snprintf(what, sizeof what, "alignment %u", bad_alignments[i]);
        expect_sealed(&im, phrase, what);
    }

    im = clone(full);
    set32(&im, KVG_H_RESERVED0, 1);
    expect_sealed(&im, "reserved header field at offset 28 is not zero", "reserved u32");
    for (int k = 0; k < 32; k++) {
        im = clone(full);
        im.b[KVG_H_RESERVED1 + k] = 0x40;
        snprintf(phrase, sizeof phrase, "reserved header byte at offset %d is not zero", KVG_H_RESERVED1 + k);
        snprintf(what, sizeof what, "reserved byte %d", KVG_H_RESERVED1 + k);
        expect_sealed(&im, phrase, what);
    }

    static const uint64_t bad_data_offsets[] = {0, 64, 192, 256, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad_data_offsets / sizeof *bad_data_offsets; i++) {
        im = clone(full);
        set64(&im, KVG_H_DATA_OFFSET, bad_data_offsets[i]);
        snprintf(phrase, sizeof phrase, "data offset %llu is not the header size rounded up to the alignment",
                 (unsigned long long)bad_data_offsets[i]);
        expect_sealed(&im, phrase, "data offset");
    }
}

/* Offsets, sizes and counts of the sections in the header. */
static void test_sections(const image *full)
{
    char phrase[200], what[160];
    image im;
    uint64_t n = full->n;
    uint64_t mo = get64(full, KVG_H_META_OFFSET), ms = get64(full, KVG_H_META_SIZE);
    uint64_t dof = get64(full, KVG_H_DIR_OFFSET), ds = get64(full, KVG_H_DIR_SIZE);
    uint64_t mc = get64(full, KVG_H_META_COUNT), tc = get64(full, KVG_H_TENSOR_COUNT);

    /* The metadata section: misaligned, before the data, past the end, wrapping around. */
    const struct { uint64_t off, size; const char *what; } bad_meta[] = {
        {mo + 4, ms, "metadata offset misaligned"},
        {mo + 1, ms, "metadata offset odd"},
        {64, ms, "metadata offset inside the header"},
        {0, ms, "metadata offset 0"},
        {n, ms, "metadata offset at the end"},
        {n + 8, 0, "metadata offset past the end, empty"},
        {UINT64_MAX - 7, 16, "metadata offset wrapping around"},
        {mo, n, "metadata size past the end"},
        {mo, UINT64_MAX, "metadata size UINT64_MAX"},
        {mo, UINT64_MAX - mo + 1, "metadata end wrapping to 0"},
    };
    for (size_t i = 0; i < sizeof bad_meta / sizeof *bad_meta; i++) {
        im = clone(full);
        set64(&im, KVG_H_META_OFFSET, bad_meta[i].off);
        set64(&im, KVG_H_META_SIZE, bad_meta[i].size);
        snprintf(phrase, sizeof phrase, "metadata section [%llu, +%llu) lies outside the file or is misaligned",
                 (unsigned long long)bad_meta[i].off, (unsigned long long)bad_meta[i].size);
        expect_sealed(&im, phrase, bad_meta[i].what);
    }

    /* The directory: misaligned, overlapping the metadata, past the end, not ending at the end. */
    const struct { uint64_t off, size; const char *what; } bad_dir[] = {
        {dof + 4, ds, "directory offset misaligned"},
        {mo, ds, "directory overlapping the metadata"},
        {dof - 8, ds + 16, "directory ending past the end"},
        {dof + 8, ds, "directory shifted past the end"},
        {UINT64_MAX - 7, 8, "directory offset wrapping around"},
        {dof, UINT64_MAX, "directory size UINT64_MAX"},
        {64, ds, "directory inside the header"},
    };
    for (size_t i = 0; i < sizeof bad_dir / sizeof *bad_dir; i++) {
        im = clone(full);
        set64(&im, KVG_H_DIR_OFFSET, bad_dir[i].off);
        set64(&im, KVG_H_DIR_SIZE, bad_dir[i].size);
        snprintf(phrase, sizeof phrase, "tensor directory [%llu, +%llu) lies outside the file or is misaligned",
                 (unsigned long long)bad_dir[i].off, (unsigned long long)bad_dir[i].size);
        expect_sealed(&im, phrase, bad_dir[i].what);
    }
    im = clone(full);
    set64(&im, KVG_H_DIR_SIZE, ds - 8);
    expect_sealed(&im, "tensor directory does not end at the end of the file", "directory size too small");
    im = clone_grow(full, 4); /* a 4-byte gap before the directory: everything fits, but it is misaligned */
    memmove(im.b + dof + 4, im.b + dof, (size_t)ds);
    memset(im.b + dof, 0, 4);
    set64(&im, KVG_H_DIR_OFFSET, dof + 4);
    set64(&im, KVG_H_FILE_SIZE, im.n);
    snprintf(phrase, sizeof phrase, "tensor directory [%llu, +%llu) lies outside the file or is misaligned",
             (unsigned long long)dof + 4, (unsigned long long)ds);
    expect_sealed(&im, phrase, "directory misaligned, inside the file");

    /* Counts larger than the bytes that hold them. */
    const uint64_t bad_tc[] = {ds / KVG_DIR_ENTRY_SIZE + 1, 1ull << 60, UINT64_MAX / KVG_DIR_ENTRY_SIZE + 1,
                               UINT64_MAX};
    for (size_t i = 0; i < sizeof bad_tc / sizeof *bad_tc; i++) {
        im = clone(full);
        set64(&im, KVG_H_TENSOR_COUNT, bad_tc[i]);
        snprintf(phrase, sizeof phrase, "tensor count %llu does not fit in the %llu-byte directory",
                 (unsigned long long)bad_tc[i], (unsigned long long)ds);
        snprintf(what, sizeof what, "tensor count %llu", (unsigned long long)bad_tc[i]);
        expect_sealed(&im, phrase, what);
    }
    const uint64_t bad_mc[] = {ms / 16 + 1, 1ull << 62, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad_mc / sizeof *bad_mc; i++) {
        im = clone(full);
        set64(&im, KVG_H_META_COUNT, bad_mc[i]);
        snprintf(phrase, sizeof phrase, "metadata count %llu does not fit in the %llu-byte metadata section",
                 (unsigned long long)bad_mc[i], (unsigned long long)ms);
        snprintf(what, sizeof what, "metadata count %llu", (unsigned long long)bad_mc[i]);
        expect_sealed(&im, phrase, what);
    }
    /* Counts that fit but disagree with the entries. */
    im = clone(full);
    set64(&im, KVG_H_META_COUNT, mc + 1);
    snprintf(phrase, sizeof phrase, "metadata entry %llu runs past the metadata section", (unsigned long long)mc);
    expect_sealed(&im, phrase, "metadata count one too many");
    im = clone(full);
    set64(&im, KVG_H_META_COUNT, mc - 1);
    expect_sealed(&im, "stray bytes after the last metadata entry", "metadata count one too few");
    im = clone(full);
    set64(&im, KVG_H_META_COUNT, 0);
    snprintf(phrase, sizeof phrase, "%llu stray bytes after the last metadata entry", (unsigned long long)ms);
    expect_sealed(&im, phrase, "metadata count 0");
    /* One tensor fewer: its entry reads as part of the names area and opens,
     * but its data is now unaccounted for and caught as padding. */
    im = clone(full);
    set64(&im, KVG_H_TENSOR_COUNT, tc - 1);
    reseal(&im);
    expect(&im, VERIFY_FAILED, "non-zero padding byte", "tensor count one too few");
    free(im.b);

    /* Every shorter metadata size is refused, whatever entry it cuts. */
    int accepted = 0;
    for (uint64_t cut = 0; cut < ms; cut += 8) {
        im = clone(full);
        set64(&im, KVG_H_META_SIZE, cut);
        reseal(&im);
        kvg_error err;
        enum stage got = judge_bytes(im.b, im.n, &err);
        snprintf(what, sizeof what, "metadata size cut to %llu", (unsigned long long)cut);
        accepted += !refused_as(got, &err, bad_path, OPEN_FAILED, "metadata", what, accepted > 5);
        free(im.b);
    }
    CHECK_INT(0, accepted);
}

/* ---- the tensor directory ------------------------------------------------ */

static void test_directory(const image *full)
{
    char phrase[200], what[160];
    image im;
    uint64_t e0 = dir_entry(full, 0), e1 = dir_entry(full, 1), e5 = dir_entry(full, 5), e6 = dir_entry(full, 6);
    uint64_t ds = get64(full, KVG_H_DIR_SIZE), tc = get64(full, KVG_H_TENSOR_COUNT);
    uint64_t names_start = tc * KVG_DIR_ENTRY_SIZE;
    const char *const *nm = kvg_sample_tensor_names;

    /* Names: length out of range, outside the names area, forbidden bytes, duplicates. */
    const uint32_t bad_len[] = {0, KVG_MAX_NAME_LEN + 1, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad_len / sizeof *bad_len; i++) {
        im = clone(full);
        set32(&im, e1 + KVG_D_NAME_LEN, bad_len[i]);
        snprintf(phrase, sizeof phrase, "tensor 1: name length %u is not in 1..255", bad_len[i]);
        expect_sealed(&im, phrase, "name length");
    }
    im = clone(full);
    set32(&im, e6 + KVG_D_NAME_LEN, KVG_MAX_NAME_LEN); /* allowed, but runs off the names area */
    expect_sealed(&im, "tensor 6: name lies outside the directory's names area", "255-byte name past the end");
    const uint64_t bad_name_off[] = {0, names_start - 1, ds, ds - 1, UINT64_MAX, UINT64_MAX - 2};
    for (size_t i = 0; i < sizeof bad_name_off / sizeof *bad_name_off; i++) {
        im = clone(full);
        set64(&im, e1 + KVG_D_NAME_OFFSET, bad_name_off[i]);
        snprintf(what, sizeof what, "name offset %llu", (unsigned long long)bad_name_off[i]);
        expect_sealed(&im, "tensor 1: name lies outside the directory's names area", what);
    }
    const uint8_t bad_bytes[] = {0x00, 0x01, 0x0A, 0x0D, 0x1B, 0x1F, 0x7F};
    for (size_t i = 0; i < sizeof bad_bytes / sizeof *bad_bytes; i++) {
        im = clone(full);
        im.b[dir_name(full, 2) + 3] = bad_bytes[i];
        snprintf(what, sizeof what, "name byte 0x%02x", bad_bytes[i]);
        expect_sealed(&im, "tensor 2: name contains a NUL or control byte", what);
    }
    im = clone(full); /* UTF-8 is fine */
    memcpy(im.b + dir_name(full, 2), "\xc3\xa4", 2);
    reseal(&im);
    expect(&im, ACCEPTED, "", "UTF-8 name");
    free(im.b);
    im = clone(full);
    memcpy(im.b + dir_name(full, 1), nm[0], strlen(nm[0]));
    snprintf(phrase, sizeof phrase, "duplicate tensor name \"%s\"", nm[0]);
    expect_sealed(&im, phrase, "duplicate tensor names");

    /* dtype, dimensions, the reserved field. */
    const uint32_t bad_dtype[] = {KVG_DTYPE_COUNT, 99, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad_dtype / sizeof *bad_dtype; i++) {
        im = clone(full);
        set32(&im, e1 + KVG_D_DTYPE, bad_dtype[i]);
        snprintf(phrase, sizeof phrase, "tensor \"%s\": unknown dtype %u", nm[1], bad_dtype[i]);
        expect_sealed(&im, phrase, "unknown dtype");
    }
    const uint32_t bad_dims[] = {0, KVG_MAX_DIMS + 1, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad_dims / sizeof *bad_dims; i++) {
        im = clone(full);
        set32(&im, e1 + KVG_D_N_DIMS, bad_dims[i]);
        snprintf(phrase, sizeof phrase, "tensor \"%s\": %u dimensions (1..4 allowed)", nm[1], bad_dims[i]);
        expect_sealed(&im, phrase, "dimension count");
    }
    im = clone(full);
    set32(&im, e1 + KVG_D_RESERVED, 1);
    snprintf(phrase, sizeof phrase, "tensor \"%s\": reserved field is not zero", nm[1]);
    expect_sealed(&im, phrase, "reserved entry field");
    for (uint32_t d = 1; d < KVG_MAX_DIMS; d++) { /* out_norm.weight has one dimension */
        im = clone(full);
        set64(&im, e1 + KVG_D_SHAPE + 8 * d, 1);
        snprintf(phrase, sizeof phrase, "tensor \"%s\": unused dimension %u is not zero", nm[1], d);
        expect_sealed(&im, phrase, "unused dimension");
    }

    /* Shapes whose element count or byte size overflows 64 bits. */
    im = clone(full); /* ids: i32 [2^32, 2^32, 2] */
    set64(&im, e5 + KVG_D_SHAPE, 1ull << 32);
    set64(&im, e5 + KVG_D_SHAPE + 8, 1ull << 32);
    snprintf(phrase, sizeof phrase, "tensor \"%s\": element count overflows 64 bits", nm[5]);
    expect_sealed(&im, phrase, "element count overflow");
    im = clone(full); /* ids: i32 [UINT64_MAX, 2, 2]: overflows on the second multiply */
    set64(&im, e5 + KVG_D_SHAPE, UINT64_MAX);
    expect_sealed(&im, phrase, "element count overflow, huge first dim");
    im = clone(full); /* out_norm.weight: f32 [2^62]: 2^64 bytes */
    set64(&im, e1 + KVG_D_SHAPE, 1ull << 62);
    snprintf(phrase, sizeof phrase, "tensor \"%s\": byte size overflows 64 bits", nm[1]);
    expect_sealed(&im, phrase, "f32 byte size overflow");
    im = clone(full); /* tok_embd.weight: q8_0 [31, 2^59]: 31 * 2^54 blocks of 34 bytes, 1.03 * 2^64 */
    set64(&im, e0 + KVG_D_SHAPE, 31);
    set64(&im, e0 + KVG_D_SHAPE + 8, 1ull << 59);
    snprintf(phrase, sizeof phrase, "tensor \"%s\": byte size overflows 64 bits", nm[0]);
    expect_sealed(&im, phrase, "q8_0 byte size overflow");

    /* Shape, dtype and size that disagree. */
    im = clone(full);
    set64(&im, e0 + KVG_D_SHAPE + 8, 48);
    snprintf(phrase, sizeof phrase, "tensor \"%s\": last dimension 48 is not a multiple of q8_0's block of 32",
             nm[0]);
    expect_sealed(&im, phrase, "q8_0 last dimension");
    uint64_t size0 = get64(full, e0 + KVG_D_SIZE);
    im = clone(full);
    set64(&im, e0 + KVG_D_SIZE, size0 + 1);
    snprintf(phrase, sizeof phrase, "tensor \"%s\": size %llu bytes, but its shape and dtype need %llu", nm[0],
             (unsigned long long)size0 + 1, (unsigned long long)size0);
    expect_sealed(&im, phrase, "size one too large");
    im = clone(full);
    set64(&im, e0 + KVG_D_SHAPE, 8);
    snprintf(phrase, sizeof phrase, "tensor \"%s\": size %llu bytes, but its shape and dtype need %llu", nm[0],
             (unsigned long long)size0, (unsigned long long)size0 * 2);
    expect_sealed(&im, phrase, "shape doubled");
    im = clone(full);
    set32(&im, e1 + KVG_D_DTYPE, KVG_DTYPE_F16);
    snprintf(phrase, sizeof phrase, "tensor \"%s\": size 20 bytes, but its shape and dtype need 10", nm[1]);
    expect_sealed(&im, phrase, "dtype changed");
    im = clone(full);
    set64(&im, e1 + KVG_D_SHAPE, 0);
    snprintf(phrase, sizeof phrase, "tensor \"%s\": size 20 bytes, but its shape and dtype need 0", nm[1]);
    expect_sealed(&im, phrase, "zero dimension");

    /* Offsets: misaligned, overlapping, out of order, past the data region. */
    uint64_t off0 = get64(full, e0 + KVG_D_OFFSET), off1 = get64(full, e1 + KVG_D_OFFSET);
    uint64_t off6 = get64(full, e6 + KVG_D_OFFSET), mo = get64(full, KVG_H_META_OFFSET);
    const uint64_t misaligned[] = {off1 + 8, off1 + 1, off1 + 32};
    for (size_t i = 0; i < sizeof misaligned / sizeof *misaligned; i++) {
        im = clone(full);
        set64(&im, e1 + KVG_D_OFFSET, misaligned[i]);
        snprintf(phrase, sizeof phrase, "tensor \"%s\": offset %llu is not a multiple of the alignment 64", nm[1],
                 (unsigned long long)misaligned[i]);
        expect_sealed(&im, phrase, "misaligned tensor");
    }
    const struct { uint64_t entry, off; const char *what; } overlapping[] = {
        {e1, off0, "tensor 1 at tensor 0's offset"},
        {e1, off0 + 256, "tensor 1 inside tensor 0"},
        {e0, 64, "tensor 0 overlapping the header"},
        {e0, 0, "tensor 0 at offset 0"},
        {e6, get64(full, dir_entry(full, 4) + KVG_D_OFFSET), "last tensor before its predecessor"},
    };
    for (size_t i = 0; i < sizeof overlapping / sizeof *overlapping; i++) {
        im = clone(full);
        set64(&im, overlapping[i].entry + KVG_D_OFFSET, overlapping[i].off);
        snprintf(phrase, sizeof phrase, "offset %llu overlaps the previous tensor or the header",
                 (unsigned long long)overlapping[i].off);
        expect_sealed(&im, phrase, overlapping[i].what);
    }
    const uint64_t past_end[] = {off6 + 64, kvg_align_up(mo, 64), kvg_align_up(full->n, 64),
                                 UINT64_MAX & ~(uint64_t)63};
    for (size_t i = 0; i < sizeof past_end / sizeof *past_end; i++) {
        im = clone(full);
        set64(&im, e6 + KVG_D_OFFSET, past_end[i]);
        snprintf(phrase, sizeof phrase, "tensor \"%s\": data [%llu, +7) runs past the data region (ends at %llu)",
                 nm[6], (unsigned long long)past_end[i], (unsigned long long)mo);
        snprintf(what, sizeof what, "last tensor at %llu", (unsigned long long)past_end[i]);
        expect_sealed(&im, phrase, what);
    }
    im = clone(full); /* bytes: u8 [2^40], sized to match, far past the end */
    set64(&im, e6 + KVG_D_SHAPE, 1ull << 40);
    set64(&im, e6 + KVG_D_SIZE, 1ull << 40);
    expect_sealed(&im, "runs past the data region", "tensor larger than the file");
    im = clone(full); /* the q8_0 tensor grown over the next one */
    set64(&im, e0 + KVG_D_SHAPE, 8);
    set64(&im, e0 + KVG_D_SIZE, 2 * size0);
    snprintf(phrase, sizeof phrase, "tensor \"%s\": offset %llu overlaps the previous tensor", nm[1],
             (unsigned long long)off1);
    expect_sealed(&im, phrase, "tensor grown over the next");
}

/* ---- metadata ------------------------------------------------------------ */

static void test_metadata(const image *full)
{
    char phrase[200], what[160];
    image im;
    uint64_t mo = get64(full, KVG_H_META_OFFSET);
    uint64_t e_arch = meta_entry(full, "general.arch"), e_name = meta_entry(full, "general.name");
    uint64_t e_bias = meta_entry(full, "bias"), e_tokens = meta_entry(full, "tokens");
    uint64_t e_idsu = meta_entry(full, "ids.u"), e_empty = meta_entry(full, "empty.arr");
    uint64_t e_ctx = meta_entry(full, "n.ctx");
    uint64_t v_arch = meta_value(full, e_arch), v_tokens = meta_value(full, e_tokens);
    uint64_t v_idsu = meta_value(full, e_idsu);

    /* Keys: length, bytes, duplicates. */
    const uint32_t bad_key_len[] = {0, KVG_MAX_KEY_LEN + 1, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad_key_len / sizeof *bad_key_len; i++) {
        im = clone(full);
        set32(&im, e_arch, bad_key_len[i]);
        snprintf(phrase, sizeof phrase, "metadata entry 0: key length %u is not in 1..255", bad_key_len[i]);
        expect_sealed(&im, phrase, "key length");
    }
    im = clone(full); /* the last key claims 255 bytes, more than are left */
    set32(&im, e_ctx, KVG_MAX_KEY_LEN);
    expect_sealed(&im, "metadata entry 10 runs past the metadata section", "key past the section");
    const uint8_t bad_key_bytes[] = {' ', '/', 0x00, '\n', 0xC3, 0x7F};
    for (size_t i = 0; i < sizeof bad_key_bytes / sizeof *bad_key_bytes; i++) {
        im = clone(full);
        im.b[e_bias + 8 + 1] = bad_key_bytes[i];
        snprintf(what, sizeof what, "key byte 0x%02x", bad_key_bytes[i]);
        expect_sealed(&im, "metadata entry 3: key has bytes outside [A-Za-z0-9_.-]", what);
    }
    im = clone(full);
    memcpy(im.b + e_name + 8, "general.arch", 12);
    expect_sealed(&im, "duplicate metadata key \"general.arch\"", "duplicate keys");

    /* Padding inside the section must be zero too ("general.arch" is 12
     * bytes, padded to 16; its value "llama" is 5 bytes, padded to 8). */
    im = clone(full);
    im.b[e_arch + 8 + 12] = 0x01;
    expect_sealed(&im, "metadata entry 0: key padding is not zero", "key padding");
    im = clone(full);
    im.b[v_arch + 8 + 5] = 0x20;
    expect_sealed(&im, "metadata \"general.arch\": string runs past the section or its padding is not zero",
                  "string padding");

    /* Value types. */
    const uint32_t bad_type[] = {0, KVG_META_ARR + 1, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad_type / sizeof *bad_type; i++) {
        im = clone(full);
        set32(&im, e_bias + 4, bad_type[i]);
        snprintf(phrase, sizeof phrase, "metadata \"bias\": unknown value type %u", bad_type[i]);
        expect_sealed(&im, phrase, "value type");
    }
    const uint32_t bad_elem[] = {0, KVG_META_ARR, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad_elem / sizeof *bad_elem; i++) {
        im = clone(full);
        set32(&im, v_tokens, bad_elem[i]);
        snprintf(phrase, sizeof phrase, "metadata \"tokens\": unknown array element type %u", bad_elem[i]);
        expect_sealed(&im, phrase, "array element type");
    }
    im = clone(full);
    set32(&im, v_tokens + 4, 1);
    expect_sealed(&im, "metadata \"tokens\": reserved array field is not zero", "array reserved field");

    /* Lengths and counts that run past the section. */
    const uint64_t bad_str_len[] = {get64(full, KVG_H_META_SIZE), 1ull << 40, UINT64_MAX, UINT64_MAX - 3};
    for (size_t i = 0; i < sizeof bad_str_len / sizeof *bad_str_len; i++) {
        im = clone(full);
        set64(&im, v_arch, bad_str_len[i]);
        snprintf(what, sizeof what, "string length %llu", (unsigned long long)bad_str_len[i]);
        expect_sealed(&im, "metadata \"general.arch\": string runs past the section", what);
    }
    const uint64_t bad_u_count[] = {1ull << 40, UINT64_MAX, UINT64_MAX / 8 + 1};
    for (size_t i = 0; i < sizeof bad_u_count / sizeof *bad_u_count; i++) {
        im = clone(full);
        set64(&im, v_idsu + 8, bad_u_count[i]);
        snprintf(phrase, sizeof phrase, "metadata \"ids.u\": array of %llu runs past the section",
                 (unsigned long long)bad_u_count[i]);
        expect_sealed(&im, phrase, "u64 array count");
    }
    const uint64_t bad_s_count[] = {1ull << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad_s_count / sizeof *bad_s_count; i++) {
        im = clone(full);
        set64(&im, v_tokens + 8, bad_s_count[i]);
        snprintf(phrase, sizeof phrase, "metadata \"tokens\": %llu strings cannot fit in the section",
                 (unsigned long long)bad_s_count[i]);
        expect_sealed(&im, phrase, "string array count");
    }
    im = clone(full); /* one string more than written: the fifth is read from the next entry */
    set64(&im, v_tokens + 8, 5);
    expect_sealed(&im, "metadata \"tokens\": string 4 runs past the section", "string array count + 1");
    im = clone(full); /* tokens[1] ("hello") claims to be huge */
    set64(&im, v_tokens + 16 + 8 + 8, UINT64_MAX);
    expect_sealed(&im, "metadata \"tokens\": string 1 runs past the section", "string in array too long");

    /* The section ending inside a value: a scalar, an array header, a string. */
    im = clone(full);
    set64(&im, KVG_H_META_SIZE, meta_value(full, e_ctx) - mo);
    expect_sealed(&im, "metadata \"n.ctx\": value runs past the section", "section ends before a u64");
    im = clone(full);
    set64(&im, KVG_H_META_COUNT, 10);
    set64(&im, KVG_H_META_SIZE, meta_value(full, e_empty) + 8 - mo);
    expect_sealed(&im, "metadata \"empty.arr\": array header runs past the section",
                  "section ends inside an array header");
    im = clone(full);
    set64(&im, KVG_H_META_COUNT, 1);
    set64(&im, KVG_H_META_SIZE, v_arch + 8 - mo);
    expect_sealed(&im, "metadata \"general.arch\": string runs past the section", "section ends inside a string");
}

/* ---- padding ------------------------------------------------------------- */

static void test_padding(const image *full, const image *tiny256)
{
    image im;
    /* Between two tensors, and before the metadata (the last tensor is 7 bytes). */
    uint64_t end0 = get64(full, dir_entry(full, 0) + KVG_D_OFFSET) + get64(full, dir_entry(full, 0) + KVG_D_SIZE);
    uint64_t end6 = get64(full, dir_entry(full, 6) + KVG_D_OFFSET) + get64(full, dir_entry(full, 6) + KVG_D_SIZE);
    im = clone(full);
    im.b[end0] = 1;
    expect(&im, VERIFY_FAILED, "non-zero padding byte 0x01 at offset", "padding after tensor 0");
    free(im.b);
    im = clone(full);
    im.b[end6] = 0x80;
    expect(&im, VERIFY_FAILED, "(before the metadata)", "padding before the metadata");
    free(im.b);
    /* Between the header and the first tensor, with alignment 256. */
    im = clone(tiny256);
    im.b[KVG_HEADER_SIZE + 5] = 0xFF;
    expect(&im, VERIFY_FAILED, "non-zero padding byte 0xff at offset 133 (before a tensor)", "padding after the header");
    free(im.b);

    /* The writer leaves no gap before the directory; a file with one is valid
     * (opens and verifies) until a byte of the gap is not zero. */
    uint64_t dof = get64(full, KVG_H_DIR_OFFSET), ds = get64(full, KVG_H_DIR_SIZE);
    im = clone_grow(full, 8);
    memmove(im.b + dof + 8, im.b + dof, (size_t)ds);
    memset(im.b + dof, 0, 8);
    set64(&im, KVG_H_DIR_OFFSET, dof + 8);
    set64(&im, KVG_H_FILE_SIZE, im.n);
    reseal(&im);
    expect(&im, ACCEPTED, "", "zero gap before the directory");
    im.b[dof + 3] = 7;
    expect(&im, VERIFY_FAILED, "(before the directory)", "padding before the directory");
    free(im.b);

    /* kvg_verify_padding on its own names the padding, not a tensor. */
    im = clone(full);
    im.b[end0 + 1] = 2;
    save(bad_path, im.b, im.n);
    kvg_file *f;
    kvg_error err;
    CHECK_INT(0, kvg_open(bad_path, &f, &err));
    if (f) {
        CHECK_INT(-1, kvg_verify_padding(f, &err));
        char phrase[100];
        snprintf(phrase, sizeof phrase, "non-zero padding byte 0x02 at offset %llu (before a tensor)",
                 (unsigned long long)end0 + 1);
        CHECK(message_ok(err.msg, bad_path, phrase));
        for (size_t i = 0; i < kvg_tensor_count(f); i++)
            CHECK_INT(0, kvg_verify_tensor(f, kvg_tensor_at(f, i), &err));
        kvg_close(f);
    }
    free(im.b);
}

/* ---- sweeps: every byte, every length ------------------------------------ */

/* Changes every byte of a sample in turn (each of its 8 bits, then all of
 * them) and expects each change to be caught where it belongs: in the header,
 * metadata or directory by kvg_open (the magic and the head checksum by name),
 * in a tensor by kvg_verify_file naming that tensor, in padding by
 * kvg_verify_file as padding. */
static void sweep_flips(const image *base, const char *label)
{
    uint64_t mo = get64(base, KVG_H_META_OFFSET), dof = get64(base, KVG_H_DIR_OFFSET);
    size_t tc = (size_t)get64(base, KVG_H_TENSOR_COUNT);
    image im = clone(base);
    int bad = 0, checked = 0;
    for (size_t off = 0; off < base->n; off++) {
        enum stage want = OPEN_FAILED;
        char phrase[300] = "", what[200];
        if (off < KVG_MAGIC_LEN)
            snprintf(phrase, sizeof phrase, "bad magic");
        else if (off >= KVG_H_HEAD_CHECKSUM && off < KVG_HEADER_SIZE)
            snprintf(phrase, sizeof phrase, "header/directory checksum mismatch");
        else if (off >= mo) /* metadata, any gap, directory */
            snprintf(phrase, sizeof phrase, off >= dof || off < mo + get64(base, KVG_H_META_SIZE)
                                                ? "header/directory checksum mismatch"
                                                : "non-zero padding byte");
        else if (off >= KVG_HEADER_SIZE) {
            want = VERIFY_FAILED;
            snprintf(phrase, sizeof phrase, "non-zero padding byte");
            for (size_t i = 0; i < tc; i++) {
                uint64_t e = dir_entry(base, i), t_off = get64(base, e + KVG_D_OFFSET);
                if (off >= t_off && off < t_off + get64(base, e + KVG_D_SIZE)) {
                    snprintf(phrase, sizeof phrase, "tensor \"%.*s\": checksum mismatch",
                             (int)get32(base, e + KVG_D_NAME_LEN), (const char *)base->b + dir_name(base, i));
                    break;
                }
            }
        }
        for (int bit = 0; bit <= 8; bit++) {
            uint8_t mask = bit < 8 ? (uint8_t)(1u << bit) : 0xFF;
            im.b[off] ^= mask;
            kvg_error err;
            enum stage got = judge_bytes(im.b, im.n, &err);
            im.b[off] ^= mask;
            snprintf(what, sizeof what, "%s: byte %zu ^ 0x%02x", label, off, mask);
            int ok = refused_as(got, &err, bad_path, want, phrase, what, bad >= 5);
            bad += !ok;
            checked++;
        }
    }
    free(im.b);
    kvg_test_passed += checked - bad;
    if (bad) {
        kvg_test_failed++;
        fprintf(stderr, "FAIL %s: %d of %d single-byte changes not caught as expected\n", label, bad, checked);
    }
}

/* Cuts a sample at every length from 0 to its size - 1: each is refused by
 * kvg_open as empty, as too small to be .kvg, or as truncated. */
static void sweep_truncations(const image *base, const char *label)
{
    int bad = 0;
    for (size_t len = 0; len < base->n; len++) {
        const char *phrase = len == 0 ? "empty file, not a .kvg file"
                             : len < KVG_MAGIC_LEN ? "not a .kvg file (" : "truncated: ";
        kvg_error err;
        enum stage got = judge_bytes(base->b, len, &err);
        char what[160];
        snprintf(what, sizeof what, "%s cut to %zu bytes", label, len);
        bad += !refused_as(got, &err, bad_path, OPEN_FAILED, phrase, what, bad >= 5);
    }
    kvg_test_passed += (int)base->n - bad;
    if (bad) {
        kvg_test_failed++;
        fprintf(stderr, "FAIL %s: %d of %zu truncations not refused as expected\n", label, bad, base->n);
    }
}

/* ---- things that are not files ------------------------------------------- */

static void expect_path_refused(const char *path, const char *phrase, const char *what)
{
    kvg_file *f = (kvg_file *)1;
    kvg_error err;
    int rc = kvg_open(path, &f, &err);
    CHECK(f == NULL);
    if (rc == 0)
        kvg_close(f);
    if (refused_as(rc ? OPEN_FAILED : ACCEPTED, &err, path, OPEN_FAILED, phrase, what, 0))
        kvg_test_passed++;
    else
        kvg_test_failed++;
}

/* kvg_open on a FIFO with no writer must refuse it, not wait for a writer:
 * run it in a child with a deadline. */
static void test_fifo(void)
{
    char fifo[320];
    snprintf(fifo, sizeof fifo, "%s/pipe.kvg", tmpdir);
    if (mkfifo(fifo, 0600) != 0) {
        perror("mkfifo (FIFO case skipped)");
        return;
    }
    int pfd[2];
    if (pipe(pfd) != 0)
        die("create a pipe", "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        alarm(5);
        kvg_file *f;
        kvg_error err;
        if (kvg_open(fifo, &f, &err) == 0)
            snprintf(err.msg, sizeof err.msg, "(accepted)");
        ssize_t w = write(pfd[1], err.msg, strlen(err.msg) + 1);
        _exit(w > 0 ? 0 : 1);
    }
    close(pfd[1]);
    char msg[KVG_ERROR_MAX + 1] = "";
    ssize_t got = read(pfd[0], msg, KVG_ERROR_MAX);
    close(pfd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        kvg_test_failed++;
        fprintf(stderr, "FAIL FIFO: kvg_open %s (signal %d); open the file with O_NONBLOCK\n",
                WTERMSIG(status) == SIGALRM ? "blocked for 5 s waiting for a writer" : "died", WTERMSIG(status));
    } else {
        CHECK(got > 0);
        CHECK(message_ok(msg, fifo, "not a regular file"));
        if (!message_ok(msg, fifo, "not a regular file"))
            fprintf(stderr, "FIFO message: %s\n", msg);
    }
    unlink(fifo);
}

static void test_not_files(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/missing.kvg", tmpdir);
    expect_path_refused(path, "cannot open: No such file or directory", "missing file");
    snprintf(path, sizeof path, "%s/no-such-dir/model.kvg", tmpdir);
    expect_path_refused(path, "cannot open: No such file or directory", "missing directory");
    expect_path_refused(tmpdir, "is a directory, not a .kvg file", "a directory");
    expect_path_refused("/dev/null", "not a regular file", "a character device");
    snprintf(path, sizeof path, "%s/empty.kvg", tmpdir);
    save(path, NULL, 0);
    expect_path_refused(path, "empty file, not a .kvg file", "empty file");
    save(path, (const uint8_t *)"hello\n", 6);
    expect_path_refused(path, "not a .kvg file (6 bytes, too small for a header)", "short text file");
    uint8_t text[512];
    memset(text, 'x', sizeof text);
    save(path, text, sizeof text);
    expect_path_refused(path, "not a .kvg file (bad magic)", "text file");
    if (geteuid() != 0) { /* root reads anything */
        save(path, text, sizeof text);
        chmod(path, 0);
        expect_path_refused(path, "cannot open: Permission denied", "unreadable file");
    }
    unlink(path);
    test_fifo();

    /* A newline in the path does not break the message's one line. */
    snprintf(path, sizeof path, "%s/two\nlines.kvg", tmpdir);
    save(path, NULL, 0);
    kvg_file *f;
    kvg_error err;
    CHECK_INT(-1, kvg_open(path, &f, &err));
    CHECK(strchr(err.msg, '\n') == NULL);
    CHECK_STR_CONTAINS(err.msg, "two lines.kvg: empty file");
    unlink(path);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/kvg-bad-files-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        die("create a temporary directory", tmpdir);
    snprintf(bad_path, sizeof bad_path, "%s/bad.kvg", tmpdir);

    image full = make_sample("full", 0), tiny = make_sample("tiny", 0), empty = make_sample("empty", 0);
    image tiny256 = make_sample("tiny", 256);

    test_header(&full);
    test_sections(&full);
    test_directory(&full);
    test_metadata(&full);
    test_padding(&full, &tiny256);
    sweep_flips(&full, "full sample");
    sweep_flips(&tiny256, "tiny sample, alignment 256");
    sweep_flips(&empty, "empty sample");
    sweep_truncations(&full, "full sample");
    sweep_truncations(&tiny, "tiny sample");
    sweep_truncations(&empty, "empty sample");
    test_not_files();

    free(full.b);
    free(tiny.b);
    free(empty.b);
    free(tiny256.b);
    static const char *const made[] = {"full-0", "tiny-0", "empty-0", "tiny-256", "bad"};
    for (size_t i = 0; i < sizeof made / sizeof *made; i++) {
        char path[320];
        snprintf(path, sizeof path, "%s/%s.kvg", tmpdir, made[i]);
        unlink(path);
    }
    if (rmdir(tmpdir) != 0)
        perror(tmpdir);
    return kvg_test_end();
}
