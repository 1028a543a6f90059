/* text_output.c — text files written to a temporary and renamed (see text_output.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text_output.h"

int text_output_open(text_output *o, const char *path, kvg_error *err)
{
    *o = (text_output){path, NULL, NULL};
    if (!strcmp(path, "-")) {
        o->f = stdout;
        return 0;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return kvg_errorf(err, path, "is a directory; give a file name");
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    size_t cap = strlen(path) + 48;
    if (!(o->tmp = malloc(cap)))
        return kvg_errorf(err, path, "out of memory");
    snprintf(o->tmp, cap, "%.*s.%s.%ld.tmp", dir_len, path, slash ? slash + 1 : path, (long)getpid());
    int fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 || !(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(o->tmp);
        }
        free(o->tmp);
        o->tmp = NULL;
        return kvg_errorf(err, path, "cannot create a temporary file in its directory: %s", strerror(e));
    }
    setvbuf(o->f, NULL, _IOFBF, 1 << 20);
    return 0;
}

int text_output_commit(text_output *o, kvg_error *err)
{
    if (!o->tmp) {
        if (o->f && (fflush(o->f) != 0 || ferror(o->f)))
            return kvg_errorf(err, "<stdout>", "write error: %s", strerror(errno));
        return 0;
    }
    int bad = ferror(o->f) || fflush(o->f) != 0 || fsync(fileno(o->f)) != 0;
    int e = errno;
    bad |= fclose(o->f) != 0;
    o->f = NULL;
    if (!bad && rename(o->tmp, o->path) == 0) {
        free(o->tmp);
        o->tmp = NULL;
        return 0;
    }
    if (!e)
        e = errno;
    text_output_abort(o);
    return kvg_errorf(err, o->path, "cannot write: %s", strerror(e ? e : EIO));
}

void text_output_abort(text_output *o)
{
    if (!o->tmp)
        return;
    if (o->f)
        fclose(o->f);
    o->f = NULL;
    unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
}
