/* cli.c — helpers shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

void cli_print_error(const kvg_error *err)
{
    fprintf(stderr, "kvgram: %s\n", err->msg[0] ? err->msg : "unknown error");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kvgram %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see `kvgram %s --help`)\n", cmd);
    return 2;
}

int cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

const char *cli_human_bytes(unsigned long long n, char *buf)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, 32, "%llu B", n);
    else
        snprintf(buf, 32, "%.2f %s", v, units[u]);
    return buf;
}

int cli_progress_due(time_t *last, int force)
{
    time_t now = time(NULL);
    if (!force && now == *last)
        return 0;
    *last = now;
    return 1;
}

int cli_flush_stdout(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    fprintf(stderr, "kvgram: <stdout>: write error: %s\n", strerror(errno));
    return -1;
}

int cli_inputs_readable(const char *const *files, int n_files)
{
    for (int i = 0; i < n_files; i++) {
        if (strcmp(files[i], "-") == 0)
            continue;
        FILE *probe = fopen(files[i], "r");
        if (!probe) {
            fprintf(stderr, "kvgram: %s: cannot open: %s\n", files[i], strerror(errno));
            return -1;
        }
        fclose(probe);
    }
    return 0;
}

int cli_each_input(const char *const *files, int n_files, cli_input_fn fn, void *user)
{
    if (n_files == 0)
        return fn(user, stdin, "<stdin>");
    for (int i = 0; i < n_files; i++) {
        FILE *in = strcmp(files[i], "-") ? fopen(files[i], "r") : stdin;
        if (!in) {
            fprintf(stderr, "kvgram: %s: cannot open: %s\n", files[i], strerror(errno));
            return -1;
        }
        int rc = fn(user, in, files[i]);
        if (in != stdin)
            fclose(in);
        if (rc)
            return rc;
    }
    return 0;
}
