/* lens_html.c — the lens as one self-contained page: a layers × positions
 * heatmap per input, each cell coloured by the probability that layer gives
 * the actual next token and labelled with its top token; hovering a cell
 * shows its top-k, the nearest embeddings and every head's top token. The
 * data is the lens JSON, embedded; the script builds the tables from it
 * (text only through textContent, so nothing in the data becomes markup). */
#include <stdio.h>
#include <string.h>

#include "html.h"
#include "lens_output.h"

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
    "h1{font-size:1.3em}h2{font-size:1.05em;margin-top:2em}\n"
    ".wrap{overflow-x:auto}\n"
    "table.lens{border-collapse:collapse;font:12px ui-monospace,monospace}\n"
    "table.lens th{font-weight:normal;padding:2px 4px;white-space:pre;color:#444}\n"
    "table.lens th.layer{text-align:right}\n"
    "table.lens thead th{border-bottom:1px solid #999}\n"
    "td.cell{border:1px solid #eee;padding:2px 4px;max-width:7em;overflow:hidden;text-overflow:ellipsis;"
    "white-space:pre;cursor:default}\n"
    "td.cell.last{background:repeating-linear-gradient(45deg,#f4f4f4,#f4f4f4 4px,#e8e8e8 4px,#e8e8e8 8px)}\n"
    "td.cell.dark{color:#fff}\n"
    "td.cell:hover{outline:2px solid #d40}\n"
    "#info{position:sticky;top:0;background:#fffbe8;border:1px solid #e0d8b0;padding:.5em 1em;"
    "font:12px ui-monospace,monospace;white-space:pre-wrap;min-height:3em;z-index:1}\n"
    ".legend span{display:inline-block;width:2.5em;text-align:center;font-size:11px}\n";

static const char js[] =
    "(function () {\n"
    "  'use strict';\n"
    "  var data = JSON.parse(document.getElementById('lens-data').textContent);\n"
    "  var root = document.getElementById('lens'), info = document.getElementById('info');\n"
    "  function shown(s) { return s.replace(/ /g, '\\u2423').replace(/\\n/g, '\\u23ce').replace(/\\t/g, '\\u21e5'); }\n"
    "  function el(tag, cls, text) {\n"
    "    var e = document.createElement(tag);\n"
    "    if (cls) e.className = cls;\n"
    "    if (text !== undefined) e.textContent = text;\n"
    "    return e;\n"
    "  }\n"
    "  function pct(p) { return p === null || p === undefined ? '-' : (100 * p).toFixed(p < 0.001 ? 3 : 1) + '%'; }\n"
    "  function colour(p) { return 'hsl(220,75%,' + (97 - 62 * p).toFixed(1) + '%)'; }\n"
    "  function entries(list, key, fmt) {\n"
    "    return list.map(function (t) { return '  ' + shown(t.token) + ' (' + t.id + ') ' + fmt(t[key]); }).join('\\n');\n"
    "  }\n"
    "  function describe(line, pos, L) {\n"
    "    var c = line.positions[pos].layers[L], P = line.positions[pos];\n"
    "    var s = 'position ' + pos + ' ' + shown(P.token) + '   layer ' + L + '\\n';\n"
    "    s += P.next ? 'next token ' + shown(P.next.token) + ': rank ' + c.target_rank + ', p ' + pct(c.target_prob)\n"
    "                : 'last position: no next token';\n"
    "    s += '   KL(final \\u2016 layer) ' + c.kl_to_final.toFixed(4) + ' nats\\n';\n"
    "    s += 'logit lens top-' + c.top.length + ':\\n' + entries(c.top, 'prob', pct);\n"
    "    if (c.nearest) s += '\\nnearest input embeddings (cosine):\\n' + entries(c.nearest, 'cos', function (x) { return x.toFixed(3); });\n"
    "    if (c.heads) s += '\\nheads (top token, direct logit term):\\n' + c.heads.map(function (h) {\n"
    "      return '  h' + h.head + ': ' + shown(h.top[0].token) + ' ' + pct(h.top[0].prob);\n"
    "    }).join('\\n');\n"
    "    return s;\n"
    "  }\n"
    "  data.forEach(function (line) {\n"
    "    root.appendChild(el('h2', null, 'line ' + line.line + ': ' + line.text));\n"
    "    var wrap = el('div', 'wrap'), table = el('table', 'lens'), head = el('thead'), body = el('tbody');\n"
    "    var hr = el('tr'), nr = el('tr');\n"
    "    hr.appendChild(el('th', 'layer', 'input'));\n"
    "    nr.appendChild(el('th', 'layer', 'next'));\n"
    "    line.positions.forEach(function (P) {\n"
    "      hr.appendChild(el('th', null, shown(P.token)));\n"
    "      nr.appendChild(el('th', null, P.next ? shown(P.next.token) : ''));\n"
    "    });\n"
    "    head.appendChild(hr);\n"
    "    head.appendChild(nr);\n"
    "    for (var L = line.n_layers - 1; L >= 0; L--) {\n"
    "      var tr = el('tr');\n"
    "      tr.appendChild(el('th', 'layer', 'layer ' + L));\n"
    "      line.positions.forEach(function (P, pos) {\n"
    "        var c = P.layers[L], td = el('td', 'cell', shown(c.top[0].token));\n"
    "        if (P.next) {\n"
    "          td.style.background = colour(c.target_prob);\n"
    "          if (c.target_prob > 0.55) td.className += ' dark';\n"
    "        } else {\n"
    "          td.className += ' last';\n"
    "        }\n"
    "        td.title = c.top.map(function (t) { return shown(t.token) + ' ' + pct(t.prob); }).join('\\n');\n"
    "        td.addEventListener('mouseover', function (layer) {\n"
    "          return function () { info.textContent = describe(line, pos, layer); };\n"
    "        }(L));\n"
    "        tr.appendChild(td);\n"
    "      });\n"
    "      body.appendChild(tr);\n"
    "    }\n"
    "    table.appendChild(head);\n"
    "    table.appendChild(body);\n"
    "    wrap.appendChild(table);\n"
    "    root.appendChild(wrap);\n"
    "  });\n"
    "  document.body.setAttribute('data-cells', String(document.querySelectorAll('td.cell').length));\n"
    "})();\n";

void lens_html(strbuf *b, const char *title, const char *json, size_t n)
{
    html_page_begin(b, title, css);
    sb_puts(b, "<h1>");
    html_text(b, title, strlen(title));
    sb_puts(b, "</h1>\n<p>Logit lens: each row is the residual stream after one block, passed through the final "
               "norm and the unembedding; each column is a position of the input. A cell shows that layer's most "
               "probable next token; its colour is the probability it gives the token that actually comes next "
               "(white 0, dark blue 1; hatched: last position). Hover a cell for its top tokens, the nearest "
               "input embeddings and each head's top token.</p>\n<p class=\"legend\">");
    for (int i = 0; i <= 10; i += 2) {
        char cell[128];
        snprintf(cell, sizeof cell, "<span style=\"background:hsl(220,75%%,%.1f%%)%s\">%d%%</span>", 97 - 6.2 * i,
                 i > 5 ? ";color:#fff" : "", i * 10);
        sb_puts(b, cell);
    }
    sb_puts(b, "</p>\n<div id=\"info\">hover a cell</div>\n<div id=\"lens\"></div>\n");
    html_json_embed(b, "lens-data", json, n);
    html_page_end(b, js);
}
