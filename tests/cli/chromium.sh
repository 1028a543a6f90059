# chromium.sh — headless Chromium for the HTML page tests. Source it after
# testlib.sh (it uses $tmp); it skips the test (exit 77) when Chromium is not
# installed (CI installs it, .ci/install-deps).
#   dump PAGE   Chromium's DOM after the page's scripts ran → $tmp/dom, its log → $tmp/log
#   console     the console lines of that log (errors, CSP violations); status 0 if any
browser=$(command -v chromium || command -v chromium-browser) || { echo "chromium not installed: skipped"; exit 77; }

dump() {
    timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --user-data-dir="$tmp/profile" --enable-logging=stderr --v=0 --dump-dom "file://$1" \
        >"$tmp/dom" 2>"$tmp/log" </dev/null
}
console() { grep -E ':CONSOLE[:(]' "$tmp/log"; }
