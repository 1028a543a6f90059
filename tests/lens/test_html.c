/* test_html.c — the shared HTML report helpers (tools/html.h): escaping of
 * text and of embedded JSON against hand-written expectations, the page
 * skeleton, and whole-file writing (no partial file on failure). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "html.h"
#include "kvg_test.h"

/* html_text(in) must equal want. */
static void check_text(const char *in, size_t n, const char *want)
{
    strbuf b = {0};
    html_text(&b, in, n);
    sb_putc(&b, '\0');
    if (b.p && strcmp(b.p, want) == 0) {
        kvg_test_passed++;
    } else {
        kvg_test_failed++;
        fprintf(stderr, "html_text: expected \"%s\", got \"%s\"\n", want, b.p ? b.p : "(null)");
    }
    sb_free(&b);
}

static void test_text(void)
{
    check_text("plain", 5, "plain");
    check_text("<a href=\"x\">&'</a>", 18, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    check_text("tab\tnl\n", 7, "tab\tnl\n");
    check_text("nul\0x", 5, "nul\xEF\xBF\xBDx");          /* NUL → U+FFFD */
    check_text("\x1b[0m", 4, "\xEF\xBF\xBD[0m");          /* ESC */
    check_text("caf\xC3\xA9", 5, "caf\xC3\xA9");          /* é passes */
    check_text("\xE2\x96\x81x", 4, "\xE2\x96\x81x");      /* ▁ passes */
    check_text("\xC3", 1, "\xEF\xBF\xBD");                /* truncated */
    check_text("\xC0\xAF", 2, "\xEF\xBF\xBD\xEF\xBF\xBD"); /* overlong '/' */
    check_text("\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); /* surrogate */
    check_text("", 0, "");
}

static void test_json_embed(void)
{
    const char *json = "{\"t\":\"</script><!--&x>\"}";
    strbuf b = {0};
    html_json_embed(&b, "d\"x", json, strlen(json));
    sb_putc(&b, '\0');
    CHECK(b.p != NULL);
    if (b.p) {
        CHECK(strcmp(b.p, "<script type=\"application/json\" id=\"d&quot;x\">"
                          "{\"t\":\"\\u003c/script\\u003e\\u003c!--\\u0026x\\u003e\"}</script>\n") == 0);
        /* the data cannot end the block: exactly one "</script" in the output */
        const char *first = strstr(b.p, "</script");
        CHECK(first && !strstr(first + 1, "</script"));
    }
    sb_free(&b);
}

static void test_page(void)
{
    strbuf b = {0};
    html_page_begin(&b, "a <b> & c", "td{color:red}\n");
    sb_puts(&b, "<p>x</p>\n");
    html_page_end(&b, "var x = 1;\n");
    sb_putc(&b, '\0');
    CHECK(b.p && strncmp(b.p, "<!DOCTYPE html>", 15) == 0);
    CHECK_STR_CONTAINS(b.p, "<meta charset=\"utf-8\">");
    CHECK_STR_CONTAINS(b.p, "<title>a &lt;b&gt; &amp; c</title>");
    CHECK_STR_CONTAINS(b.p, "<style>\ntd{color:red}\n</style>");
    CHECK_STR_CONTAINS(b.p, "<script>\nvar x = 1;\n</script>\n</body>\n</html>\n");
    CHECK_STR_CONTAINS(b.p, "default-src 'none'");
    sb_free(&b);
}

static void test_file_write(void)
{
    char dir[] = "/tmp/kvg-html-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/page.html", dir);
    snprintf(bad, sizeof bad, "%s/missing/page.html", dir);
    kvg_error err;
    CHECK_INT(0, html_file_write(path, "hello\n", 6, &err));
    CHECK_INT(0, html_file_write(path, "again", 5, &err)); /* replaces */
    FILE *f = fopen(path, "rb");
    char got[16] = {0};
    CHECK(f && fread(got, 1, sizeof got - 1, f) == 5);
    if (f)
        fclose(f);
    CHECK(strcmp(got, "again") == 0);
    struct stat st;
    mode_t mask = umask(0);
    umask(mask);
    CHECK(stat(path, &st) == 0);
    CHECK_INT(0666 & ~mask, st.st_mode & 0777); /* an ordinary file, not mkstemp's 0600 */
    CHECK_INT(-1, html_file_write(bad, "x", 1, &err));
    CHECK_STR_CONTAINS(err.msg, "missing/page.html");
    CHECK(access(bad, F_OK) != 0);
    remove(path);
    CHECK(rmdir(dir) == 0); /* nothing else (no temporary) was left in it */
}

int main(void)
{
    test_text();
    test_json_embed();
    test_page();
    test_file_write();
    return kvg_test_end();
}
