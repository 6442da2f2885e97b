// The HTML page of `mdesync report`.
//
// One self-contained HTML5 document: a Content-Security-Policy that forbids every fetch,
// all CSS in one <style>, all JavaScript in one <script> (table sorting and filtering only,
// added by the script itself, so that without JavaScript nothing dead is shown), charts as
// inline SVG drawn here (svg.cpp). No URL of any kind is written (inline SVG needs no
// xmlns). Every string from the data goes through svg::escape.
//
// Markup contract (a browser test relies on it):
//   Sections, in order, each a <section id=...>: header, headline, trend, remediation,
//   ageing, top-vulnerabilities, top-hosts, groups, software, runs; then a <footer>. When
//   header.no_data is set, only header (with the "No sync has run yet" note) and runs are
//   written.
//   Charts: <svg data-chart=NAME role="img" aria-label=...>.
//     trend-open           stacked areas: one <path data-series=SEVERITY data-points=N> per
//                          severity (5, Critical at the bottom), N = trend.open.size(); it
//                          holds no other <path> or <polyline> (leaders are <line>s).
//     trend-flow           one <rect data-bar> per bucket per series (New, Fixed, Reopened):
//                          3 x trend.flow.size(), zero-height ones included.
//     remediation          one <rect data-bar> per severity (5; zero width when unknown).
//     ageing               one <g data-bar> per age bucket (6).
//     groups               one <g data-bar> per group of f.groups.
//     severity-mix         (headline) a thin bar of the open findings' severity shares.
//   Only the bars named above carry data-bar; the segments inside a <g data-bar> are plain
//   rects.
//   Tables: <table data-table=NAME> whose <tbody> holds exactly one <tr> per data row, the
//   first cell a <td> whose text is the row's key: objects, top-vulnerabilities, top-hosts,
//   groups, software, runs, oldest-critical, remediation (5), ageing-deadlines (5),
//   trend-open (one per day), trend-flow (one per bucket), and ageing-buckets (6, the
//   numbers of the ageing chart). Rows keep the figures' order (trend tables oldest
//   first, runs newest first). Totals and "none" messages are in the <tfoot>.
//   Numeric cells carry their raw value in data-v (for sorting).

#include "report/html.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "report/svg.hpp"

namespace mdesync::report {
namespace {

using svg::escape;

constexpr std::string_view k_dash = svg::k_missing;

// Severity colours, tested for deuteranopia and protanopia: they differ in lightness
// (dark magenta, orange, yellow, light blue, grey) as well as in hue along the blue-yellow
// axis that those viewers keep; Unknown is also hatched, and every use names the severity.
constexpr std::array<std::string_view, 5> k_sev_colour = {"#8e0152", "#e66100", "#f0c22b",
                                                          "#5b9bd5", "#a8a8a8"};
constexpr std::array<std::string_view, 5> k_sev_ink = {"#ffffff", "#1f2328", "#1f2328", "#1f2328",
                                                       "#1f2328"};
constexpr std::array<std::string_view, 5> k_sev_class = {"critical", "high", "medium", "low",
                                                         "unknown"};

// New / Fixed / Reopened (Okabe-Ito orange, blue, reddish purple; Reopened hatched).
constexpr std::array<std::string_view, 3> k_flow_names = {"New", "Fixed", "Reopened"};
constexpr std::array<std::string_view, 3> k_flow_colour = {"#e69f00", "#0072b2", "#cc79a7"};

// --- the page's CSS and script -----------------------------------------------------------

constexpr std::string_view k_css = R"CSS(
:root{--bg:#f3f5f8;--card:#fff;--ink:#1f2328;--muted:#57606a;--faint:#8b949e;--line:#d8dee4;
--line-soft:#eaeef2;--head:#f0f3f6;--accent:#0a5cad;--over:#b42318;
--critical:#8e0152;--high:#e66100;--medium:#f0c22b;--low:#5b9bd5;--unknown:#a8a8a8;
--hatch:repeating-linear-gradient(45deg,transparent 0 3px,rgba(0,0,0,.45) 3px 4.5px);}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",
"Liberation Sans",sans-serif;
font-variant-numeric:tabular-nums}
.page{max-width:1200px;margin:0 auto;padding:28px 24px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;
padding:22px 28px 26px;
margin:0 0 18px;box-shadow:0 1px 2px rgba(31,35,40,.05)}
h1{font-size:30px;line-height:1.15;margin:0;letter-spacing:-.015em}
h2{font-size:21px;line-height:1.25;margin:0 0 4px;letter-spacing:-.01em}
h3{font-size:15px;line-height:1.3;margin:26px 0 8px}
.section-body>h3:first-child,.lede+h3{margin-top:14px}
p{margin:0 0 8px}
.lede{color:var(--muted);margin:0 0 14px;max-width:80ch}
.note{background:#eef5fc;border:1px solid #c4dcf3;border-radius:8px;padding:9px 13px;
color:#193b5c}
code,.mono{font-family:ui-monospace,SFMono-Regular,"Cascadia Mono",Menlo,Consolas,
"DejaVu Sans Mono","Liberation Mono",monospace}
code{background:#eef1f4;border:1px solid var(--line);border-radius:5px;padding:1px 6px;
font-size:.92em}
.mono{font-size:12.5px}
a{color:var(--accent)}
/* header */
.masthead{padding-top:24px}
.title-row{display:flex;justify-content:space-between;align-items:flex-start;gap:24px;
flex-wrap:wrap}
.eyebrow{margin:0 0 4px;font-size:12px;font-weight:600;letter-spacing:.06em;
text-transform:uppercase;color:var(--accent)}
.tenant{margin:6px 0 0;font-size:16px;color:var(--muted)}
.asof{display:flex;flex-direction:column;align-items:flex-end;text-align:right;
background:var(--head);
border:1px solid var(--line);border-radius:10px;padding:10px 16px;min-width:220px}
.asof span{font-size:12px;color:var(--muted)}
.asof strong{font-size:17px;line-height:1.35}
.facts{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:12px 28px;margin:20px 0 6px;
padding:16px 0 4px;border-top:1px solid var(--line-soft)}
.facts div{min-width:0}
.facts .span2{grid-column:span 2}
.caption-note{font-weight:400;color:var(--muted);margin-left:8px}
.facts dt{font-size:11.5px;font-weight:600;color:var(--muted);text-transform:uppercase;
letter-spacing:.05em}
.facts dd{margin:2px 0 0;font-weight:500;overflow-wrap:anywhere}
.alert{display:flex;gap:12px;align-items:flex-start;border:1px solid #e9c46a;
border-left:6px solid #b26b00;
background:#fff8e5;color:#3d2a00;border-radius:8px;padding:11px 14px;margin:14px 0 0}
.alert p{margin:0}
.alert.danger{border-color:#eeb0aa;border-left-color:#b42318;background:#fef0ef;color:#55130d}
.alert-icon{flex:none;width:22px;height:22px;border-radius:50%;background:#b26b00;color:#fff;
font-weight:800;
display:inline-flex;align-items:center;justify-content:center;font-size:14px;line-height:1}
.alert.danger .alert-icon{background:#b42318}
.empty-state{margin:16px 0 0;border:2px dashed #b6c2cf;border-radius:12px;padding:20px 24px;
background:#f8fafc}
.empty-state h2{font-size:22px;margin-bottom:8px}
/* navigation */
nav.toc{margin:-4px 0 18px}
nav.toc ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:6px}
nav.toc a{display:inline-block;padding:5px 12px;border-radius:999px;background:var(--card);
border:1px solid var(--line);
color:var(--ink);text-decoration:none;font-size:13px;font-weight:500}
nav.toc a:hover,nav.toc a:focus-visible{border-color:var(--accent);color:var(--accent)}
/* cards */
.cards{display:grid;grid-template-columns:repeat(5,minmax(0,1fr));gap:14px}
.card{border:1px solid var(--line);border-radius:10px;padding:14px 18px 16px;background:#fbfcfd;
min-width:0}
.card.wide{grid-column:span 2;grid-row:span 2}
.card h3{margin:0 0 6px;font-size:12px;font-weight:600;color:var(--muted);
text-transform:uppercase;letter-spacing:.05em}
.big{font-size:32px;font-weight:700;line-height:1.1;margin:0 0 6px;letter-spacing:-.01em}
.card.wide .big{font-size:40px}
.unit{font-size:15px;font-weight:500;color:var(--muted);margin-left:6px}
.sub{color:var(--muted);font-size:13px;margin:0}
.over{color:var(--over);font-weight:600}
.better{color:#1a7f37;font-weight:600}
.big .arrow{font-size:24px;margin-right:4px;vertical-align:3px}
.mini{display:flex;gap:20px;margin:10px 0 0}
.mini dt{font-size:12px;color:var(--muted)}
.mini dd{margin:0;font-weight:700;font-size:16px}
.sev-counts{list-style:none;margin:12px 0 0;padding:0;display:grid;gap:6px}
.sev-counts li{display:grid;grid-template-columns:1fr auto 64px;align-items:center;gap:10px;
padding:4px 0;border-bottom:1px solid var(--line-soft)}
.sev-counts li:last-child{border-bottom:0}
.sev-counts .n{font-weight:700;text-align:right;font-size:15px}
.sev-counts .pct{color:var(--muted);text-align:right;font-size:13px}
svg.share-bar{display:block;width:100%;height:12px;border-radius:3px;margin:8px 0 2px}
/* severity labels: a swatch of the colour (hatched for Unknown) and the name */
.sev{display:inline-flex;align-items:center;gap:7px;white-space:nowrap;font-weight:600}
.sev::before,.sev-cell::before,.swatch{content:"";display:inline-block;width:11px;height:11px;
border-radius:2px;
background:var(--c);box-shadow:inset 0 0 0 1px rgba(0,0,0,.18);flex:none}
.sev-cell{white-space:nowrap;font-weight:600}
.sev-cell::before{margin-right:8px;vertical-align:-1px}
.sev-critical,.sw-critical{--c:var(--critical)}
.sev-high,.sw-high{--c:var(--high)}
.sev-medium,.sw-medium{--c:var(--medium)}
.sev-low,.sw-low{--c:var(--low)}
.sev-unknown,.sw-unknown{--c:var(--unknown)}
.sev-unknown::before,.sw-unknown{background-color:var(--unknown);background-image:var(--hatch)}
.sw-flow-0{--c:#e69f00}
.sw-flow-1{--c:#0072b2}
.sw-flow-2{--c:#cc79a7;background-color:#cc79a7;background-image:var(--hatch)}
.sw-bar{--c:#8b949e}
.swatch-dot{display:inline-block;width:11px;height:11px;border-radius:50%;
border:2px solid var(--ink);background:#fff}
.swatch-dash{display:inline-block;width:16px;height:0;border-top:2px dashed var(--ink)}
/* legends and charts */
.legend{display:flex;flex-wrap:wrap;align-items:center;gap:6px 18px;list-style:none;
margin:2px 0 4px;padding:0;
font-size:13px;color:#3a434c}
.legend li{display:inline-flex;align-items:center;gap:7px}
.legend .legend-note{margin-left:auto;color:var(--muted)}
.chart-box{margin:2px 0 6px}
svg.chart{display:block;width:100%;height:auto}
svg.chart text{font-family:inherit}
svg .tick{font-size:12px;fill:#57606a}
svg .tick.year{font-size:11px;fill:#8b949e}
svg .grid{stroke:#e4e8ec;stroke-width:1}
svg .axis{stroke:#8b949e;stroke-width:1}
svg .area{stroke:#fff;stroke-width:.8;stroke-linejoin:round}
svg .segment{stroke:#fff;stroke-width:1}
svg .hit{fill:transparent}
svg .hit:hover{fill:rgba(31,35,40,.08)}
svg .value{font-size:12px;font-weight:600;fill:#1f2328}
svg .value.small{font-size:10px;font-weight:500;fill:#3a434c}
svg .value.muted{fill:#57606a;font-weight:400;font-style:italic}
svg .seg-value{font-size:11px;font-weight:600}
svg .halo{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg .total{font-size:12px;font-weight:700;fill:#1f2328}
svg .row-label{font-size:12px;fill:#1f2328;font-weight:500}
svg .direct{font-size:12px;fill:#3a434c}
svg .strong{font-weight:700;fill:#1f2328}
svg .leader{stroke:#8b949e;stroke-width:1}
svg .deadline{stroke:#1f2328;stroke-width:1.6;stroke-dasharray:4 3}
svg .deadline-label{font-size:11px;fill:#3a434c}
svg .marker{fill:#fff;stroke:#1f2328;stroke-width:2}
svg .value-col{font-size:12px;fill:#3a434c}
svg .value-col.muted{font-style:italic;fill:#57606a}
svg .over-note{font-size:11px;font-weight:600;fill:#b42318}
svg .empty-note{font-size:15px;fill:#57606a}
details.numbers{margin:4px 0 10px}
details.numbers>summary{cursor:pointer;color:var(--accent);font-size:13px;font-weight:500;
padding:2px 0;width:max-content}
details.numbers[open]>summary{margin-bottom:4px}
/* tables */
.table-wrap{margin:6px 0 4px;border:1px solid var(--line);border-radius:8px}
.table-wrap.scroll{max-height:420px;overflow:auto}
table{width:100%;border-collapse:separate;border-spacing:0;font-size:13px}
caption{caption-side:top;text-align:left;font-weight:600;font-size:13px;padding:8px 12px;
color:#3a434c;
background:#fafbfc;border-bottom:1px solid var(--line);border-radius:8px 8px 0 0}
th,td{padding:7px 12px;text-align:left;vertical-align:top;
border-bottom:1px solid var(--line-soft)}
thead th{position:sticky;top:0;z-index:1;background:var(--head);font-size:12px;font-weight:600;
color:#3a434c;
border-bottom:1px solid var(--line);white-space:nowrap;vertical-align:bottom}
.table-wrap>table>thead>tr>th:first-child{border-top-left-radius:8px}
.table-wrap>table>thead>tr>th:last-child{border-top-right-radius:8px}
.table-wrap>table:has(caption)>thead>tr>th{border-radius:0}
tbody tr:nth-child(even)>td{background:#f8f9fb}
table.js-striped tbody tr:nth-child(even)>td{background:none}
table.js-striped tbody tr.alt>td{background:#f8f9fb}
tbody tr:hover>td{background:#edf4fc}
tbody tr:last-child>td{border-bottom:0}
th.num,td.num{text-align:right;white-space:nowrap}
td.key{font-weight:600}
td.strong{font-weight:700}
td.crit{color:var(--critical);font-weight:700}
td.over{color:var(--over);font-weight:700}
td.up{color:var(--over)}
td.down{color:#1a7f37}
td.no{color:var(--over);font-weight:600}
td.wrap{overflow-wrap:anywhere}
td.small{font-size:12px;color:#3a434c;line-height:1.45}
table.fixed{table-layout:fixed}
table.fixed th{white-space:normal}
th.c-cve{width:10.5%}th.c-name{width:24%}th.c-sev{width:8%}th.c-cvss{width:5%}th.c-epss{width:6%}
th.c-ex{width:9.5%}th.c-patch{width:5.5%}th.c-hosts{width:6.5%}th.c-open{width:6.5%}
th.c-rec{width:18.5%}
.nowrap{white-space:nowrap}
tfoot td{font-weight:700;background:#f6f8fa;border-top:1px solid var(--line);border-bottom:0}
tfoot td.none{font-weight:400;font-style:italic;color:var(--muted);text-align:center;padding:16px;
background:#fff}
tr.failed>td:first-child{box-shadow:inset 4px 0 0 #b42318}
tr.partial>td:first-child{box-shadow:inset 4px 0 0 #b26b00}
tr.stale>td:first-child{box-shadow:inset 4px 0 0 #b26b00}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;
border:1px solid;
white-space:nowrap;line-height:1.6}
.badge.ok{color:#14532d;background:#e7f5ec;border-color:#a9d8b8}
.badge.ok::before{content:"\2713\00a0"}
.badge.warn{color:#6b4000;background:#fff3d6;border-color:#ecc36b}
.badge.warn::before{content:"\26A0\00a0"}
.badge.bad{color:#7a1610;background:#fde8e6;border-color:#f0aaa3}
.badge.bad::before{content:"\2715\00a0"}
.badge.neutral{color:#3a434c;background:#eef1f4;border-color:#d0d7de}
.exploit{font-weight:600;color:#7a1610}
.meter{display:inline-block;width:56px;height:7px;border-radius:4px;background:#e4e8ec;
margin-right:8px;
vertical-align:1px;overflow:hidden}
.meter>span{display:block;height:100%;background:#3f7f5a}
/* interactive bits (added by the script) */
th button.sort{all:unset;cursor:pointer;display:inline-flex;align-items:center;gap:4px;
border-radius:3px}
th button.sort::after{content:"\2195";font-size:11px;opacity:.35}
th[aria-sort=ascending] button.sort::after{content:"\25B2";opacity:.85;font-size:9px}
th[aria-sort=descending] button.sort::after{content:"\25BC";opacity:.85;font-size:9px}
th button.sort:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.table-tools{display:flex;align-items:center;gap:12px;margin:4px 0 6px}
.table-tools input{font:inherit;font-size:13px;padding:6px 10px;border:1px solid var(--line);
border-radius:6px;
width:280px;max-width:100%;background:#fff}
.table-tools input:focus{outline:2px solid var(--accent);outline-offset:0;
border-color:var(--accent)}
.table-tools label{font-size:13px;color:var(--muted);display:inline-flex;align-items:center;
gap:8px}
.filter-count{font-size:12.5px;color:var(--muted)}
.page-footer{color:var(--muted);font-size:12.5px;text-align:center;padding:8px 0 0}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
@media (max-width:1020px){.cards,.facts{grid-template-columns:repeat(3,minmax(0,1fr))}
.table-wrap{overflow-x:auto}}
@media (max-width:560px){.cards,.facts{grid-template-columns:1fr}.card.wide,
.facts .span2{grid-column:auto}section{padding:16px}}
@page{size:A4;margin:12mm}
@media print{
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{background:#fff;font-size:10.5px}
.page{max-width:none;padding:0}
nav.toc,.table-tools,details.numbers>summary{display:none!important}
details.numbers::details-content{content-visibility:visible;display:contents}
section{border:0;box-shadow:none;border-radius:0;padding:0 0 6px;margin:0 0 14px;
break-inside:avoid}
section+section{border-top:1px solid #c9d1d9;padding-top:10px}
h2{font-size:16px}h3{font-size:12px;margin:12px 0 6px}
h2,h3,.legend,caption{break-after:avoid}
.chart-box,.card,tr,.alert,.facts{break-inside:avoid}
.cards{grid-template-columns:repeat(5,minmax(0,1fr));gap:8px}
.card{padding:8px 10px}.big{font-size:22px}.card.wide .big{font-size:26px}
.table-wrap,.table-wrap.scroll{max-height:none;overflow:visible;border-color:#c9d1d9}
thead th{position:static}
table{font-size:9px}th,td{padding:3px 6px}
table .mono,table .sev,table .sev-cell,td.wrap{font-size:9px}
table.fixed{table-layout:auto}
td.wrap{min-width:0;max-width:none}
tbody tr[hidden]{display:table-row}
tbody tr:hover>td{background:none}
th button.sort::after{content:none}
a{color:inherit;text-decoration:none}
}
)CSS";

// Sorting (click a column header) and filtering (type in the box above the table): the
// script adds the buttons and the box, so the page without it shows nothing that does not
// work. Numeric cells sort by their data-v; missing values always sort last.
constexpr std::string_view k_script = R"JS(
(function () {
  'use strict';
  var MISSING = '\u2013';
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };
  function restripe(table) {
    var n = 0;
    each(table.tBodies[0].rows, function (row) {
      row.classList.toggle('alt', !row.hidden && (n++ % 2 === 1));
    });
  }
  function keyOf(cell, numeric) {
    if (!cell) return null;
    var v = cell.getAttribute('data-v');
    if (numeric) {
      if (v === null || v === '') return null;
      var n = Number(v);
      return isFinite(n) ? n : null;
    }
    var t = (v !== null ? v : cell.textContent).trim().toLowerCase();
    return t === '' || t === MISSING ? null : t;
  }
  function sortBy(table, th, index) {
    var body = table.tBodies[0];
    var numeric = th.classList.contains('num') || th.hasAttribute('data-numeric');
    var was = th.getAttribute('aria-sort');
    var dir = was === 'ascending' ? 'descending'
            : was === 'descending' ? 'ascending'
            : (numeric ? 'descending' : 'ascending');
    var rows = Array.prototype.map.call(body.rows, function (row, i) {
      return { row: row, i: i, k: keyOf(row.cells[index], numeric) };
    });
    rows.sort(function (a, b) {
      if (a.k === null || b.k === null) {
        return a.k === b.k ? a.i - b.i : (a.k === null ? 1 : -1);
      }
      var c = numeric ? a.k - b.k : a.k.localeCompare(b.k, undefined, { numeric: true });
      if (dir === 'descending') c = -c;
      return c !== 0 ? c : a.i - b.i;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
    each(th.parentNode.cells, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir);
    restripe(table);
  }
  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length) return;
    var ths = table.tHead.rows[0].cells;
    each(ths, function (th, index) {
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'sort';
      button.title = 'Sort by ' + th.textContent.trim();
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener('click', function () { sortBy(table, th, index); });
    });
  }
  function makeFilterable(table) {
    var wrap = table.parentNode;
    if (!wrap || !wrap.parentNode || !table.tBodies.length) return;
    var tools = document.createElement('div');
    tools.className = 'table-tools';
    var label = document.createElement('label');
    label.appendChild(document.createTextNode('Filter'));
    var input = document.createElement('input');
    input.type = 'search';
    input.placeholder = 'Type to filter rows\u2026';
    input.setAttribute('autocomplete', 'off');
    label.appendChild(input);
    var status = document.createElement('span');
    status.className = 'filter-count';
    status.setAttribute('aria-live', 'polite');
    tools.appendChild(label);
    tools.appendChild(status);
    wrap.parentNode.insertBefore(tools, wrap);
    input.addEventListener('input', function () {
      var q = input.value.trim().toLowerCase();
      var rows = table.tBodies[0].rows;
      var shown = 0;
      each(rows, function (row) {
        var match = q === '' || row.textContent.toLowerCase().indexOf(q) !== -1;
        row.hidden = !match;
        if (match) shown++;
      });
      status.textContent = q === '' ? '' : (shown === 0 ? 'No rows match'
        : 'Showing ' + shown + ' of ' + rows.length + ' rows');
      restripe(table);
    });
  }
  each(document.querySelectorAll('table[data-sortable], table[data-filterable]'), function (t) {
    if (!t.tBodies.length) return;
    t.classList.add('js-striped');
    restripe(t);
    if (t.hasAttribute('data-sortable')) makeSortable(t);
    if (t.hasAttribute('data-filterable')) makeFilterable(t);
  });
  // Printing shows the numbers folded away in <details>.
  var opened = [];
  window.addEventListener('beforeprint', function () {
    each(document.querySelectorAll('details:not([open])'), function (d) {
      d.open = true;
      opened.push(d);
    });
  });
  window.addEventListener('afterprint', function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });
})();
)JS";

svg::Paint severity_paint(std::size_t i) {
  return {std::string(k_sev_colour[i]), i == 4, std::string(k_sev_ink[i])};
}

svg::Paint flow_paint(std::size_t i) {
  return {std::string(k_flow_colour[i]), i == 2};
}

std::string count(std::int64_t n) {
  return svg::count(n);
}

bool finite(const std::optional<double>& v) {
  return v && std::isfinite(*v);
}

std::string days(const std::optional<double>& v) {
  return finite(v) ? svg::number(*v, 1) : std::string(k_dash);
}

std::string percent(const std::optional<double>& share) {
  return finite(share) ? svg::number(*share * 100, 1) + "%" : std::string(k_dash);
}

std::optional<double> share_of(std::int64_t part, std::int64_t whole) {
  if (whole <= 0) return std::nullopt;
  return static_cast<double>(part) / static_cast<double>(whole);
}

std::string when(const std::optional<Timestamp>& t) {
  return t ? svg::time_text(*t) : std::string(k_dash);
}

std::int64_t sum(const BySeverity& v) {
  std::int64_t total = 0;
  for (const std::int64_t x : v) total += x;
  return total;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A severity name as a label: a swatch of its colour (and hatch) and the name.
std::string severity_label(std::string_view severity) {
  const std::size_t i = severity_index(severity);
  const std::string_view text = severity.empty() ? k_severities[4] : severity;
  return fmt::format(R"(<span class="sev sev-{}">{}</span>)", k_sev_class[i], escape(text));
}

// Defender's levels (exposure, risk): labelled like severities when they name one.
std::string level_label(std::string_view level) {
  if (level.empty()) return std::string(k_dash);
  for (std::size_t i = 0; i < 4; ++i) {
    if (lower(level) == lower(k_severities[i])) {
      return fmt::format(R"(<span class="sev sev-{}">{}</span>)", k_sev_class[i], escape(level));
    }
  }
  return escape(level);
}

std::string outcome_badge(std::string_view outcome) {
  const std::string o = lower(outcome);
  std::string_view cls = "neutral";
  if (o == "success" || o == "ok" || o == "succeeded") cls = "ok";
  if (o == "partial" || o == "interrupted") cls = "warn";
  if (o == "failed" || o == "failure" || o == "error") cls = "bad";
  if (o.empty()) return fmt::format(R"(<span class="badge neutral">running</span>)");
  return fmt::format(R"(<span class="badge {}">{}</span>)", cls, escape(outcome));
}

std::string duration(const std::optional<double>& seconds) {
  if (!finite(seconds) || *seconds < 0) return std::string(k_dash);
  const double s = *seconds;
  if (s < 60) return svg::number(s, 1) + " s";
  const auto total = static_cast<std::int64_t>(std::llround(s));
  if (total < 3600) return fmt::format("{} min {:02} s", total / 60, total % 60);
  return fmt::format("{} h {:02} min", total / 3600, (total % 3600) / 60);
}

std::string age(const std::optional<double>& hours) {
  if (!finite(hours)) return std::string(k_dash);
  if (*hours < 48) return svg::number(*hours, 1) + " hours";
  return svg::number(*hours / 24, 1) + " days";
}

// "0-7" -> "0–7 days", ">180" -> "over 180 days".
std::string age_bucket_text(std::string_view bucket) {
  if (!bucket.empty() && bucket.front() == '>') {
    return fmt::format("over {} days", bucket.substr(1));
  }
  std::string out(bucket);
  const std::size_t dash = out.find('-');
  if (dash != std::string::npos) out.replace(dash, 1, "\u2013");
  return out + " days";
}

// --- tables ----------------------------------------------------------------------------

struct Column {
  std::string_view title;
  bool numeric = false;
  std::string_view cls = {};
};

struct TableSpec {
  std::string_view name;
  std::string caption;
  std::vector<Column> columns;
  bool sortable = false;
  bool filterable = false;
  bool scroll = false;        // a long list: scrolls inside a box of limited height
  std::string_view cls = {};  // of the <table>
};

void table_open(std::string& out, const TableSpec& t) {
  out += fmt::format(R"(<div class="table-wrap{}"><table data-table="{}"{}{}{}>)",
                     t.scroll ? " scroll" : "", t.name,
                     t.cls.empty() ? std::string() : fmt::format(R"( class="{}")", t.cls),
                     t.sortable ? " data-sortable" : "", t.filterable ? " data-filterable" : "");
  if (!t.caption.empty()) out += fmt::format("<caption>{}</caption>", t.caption);
  out += "<thead><tr>";
  for (const Column& c : t.columns) {
    std::string cls(c.cls);
    if (c.numeric) cls += cls.empty() ? "num" : " num";
    out += fmt::format(R"(<th scope="col"{}>{}</th>)",
                       cls.empty() ? std::string() : fmt::format(R"( class="{}")", cls), c.title);
  }
  out += "</tr></thead><tbody>";
}

// Closes the body; `foot` (table rows) goes to the <tfoot>, with the `none` message when
// there were no rows.
void table_close(std::string& out, const TableSpec& t, std::size_t rows, std::string_view none,
                 std::string_view foot = {}) {
  out += "</tbody>";
  if (rows == 0 || !foot.empty()) {
    out += "<tfoot>";
    if (rows == 0) {
      out +=
          fmt::format(R"(<tr><td class="none" colspan="{}">{}</td></tr>)", t.columns.size(), none);
    }
    out += foot;
    out += "</tfoot>";
  }
  out += "</table></div>";
}

// Cells. `html` is already escaped.
void td(std::string& out, std::string_view html, std::string_view cls = {}) {
  if (cls.empty()) {
    out += fmt::format("<td>{}</td>", html);
  } else {
    out += fmt::format(R"(<td class="{}">{}</td>)", cls, html);
  }
}
void td_text(std::string& out, std::string_view text, std::string_view cls = {}) {
  td(out, text.empty() ? std::string(k_dash) : escape(text), cls);
}
void td_num(std::string& out, std::string_view html, const std::optional<double>& sort_value,
            std::string_view extra_cls = {}) {
  const std::string cls = extra_cls.empty() ? "num" : fmt::format("num {}", extra_cls);
  if (finite(sort_value)) {
    out += fmt::format(R"(<td class="{}" data-v="{}">{}</td>)", cls, *sort_value, html);
  } else {
    out += fmt::format(R"(<td class="{}">{}</td>)", cls, html);
  }
}
void td_count(std::string& out, std::int64_t n, std::string_view extra_cls = {}) {
  td_num(out, count(n), static_cast<double>(n), extra_cls);
}
void td_days(std::string& out, const std::optional<double>& v) {
  td_num(out, days(v), v);
}
// The first cell of a row: its key as plain text.
void td_key(std::string& out, std::string_view key, std::string_view cls = {}) {
  td(out, escape(key), cls.empty() ? std::string("key") : fmt::format("key {}", cls));
}
void td_severity_key(std::string& out, std::size_t severity) {
  td(out, escape(k_severities[severity]),
     fmt::format("key sev-cell sev-{}", k_sev_class[severity]));
}

// --- pieces ----------------------------------------------------------------------------

std::string severity_legend() {
  std::string out = R"(<ul class="legend">)";
  for (std::size_t i = 0; i < k_severities.size(); ++i) {
    out += fmt::format(R"(<li><span class="swatch sw-{}"></span>{}</li>)", k_sev_class[i],
                       k_severities[i]);
  }
  return out + "</ul>";
}

std::string section_open(std::string_view id, std::string_view title, std::string_view lede) {
  return fmt::format(R"(<section id="{}" aria-labelledby="{}-title"><h2 id="{}-title">{}</h2>)"
                     R"({}<div class="section-body">)",
                     id, id, id, title,
                     lede.empty() ? std::string() : fmt::format(R"(<p class="lede">{}</p>)", lede));
}
constexpr std::string_view k_section_close = "</div></section>";

std::string numbers_details(std::string_view summary, const std::string& table) {
  return fmt::format(R"(<details class="numbers"><summary>{}</summary>{}</details>)", summary,
                     table);
}

std::string deadline_text(const SlaDays& sla) {
  return fmt::format("Critical {} d \u00b7 High {} d \u00b7 Medium {} d \u00b7 Low {} d",
                     sla.critical, sla.high, sla.medium, sla.low);
}

// --- sections --------------------------------------------------------------------------

// Nothing may be fetched: no script, style, font, image, frame or connection from anywhere;
// only the page's own inline <style> and <script> (and data: images, of which it has none).
constexpr std::string_view k_csp =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'";

std::string head(const Figures& f) {
  const std::string title =
      f.header.tenant.empty()
          ? std::string("Defender vulnerability report")
          : fmt::format("Defender vulnerability report \u2013 {}", escape(f.header.tenant));
  return fmt::format(R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<meta name="generator" content="mdesync report">
<meta name="referrer" content="no-referrer">
<title>{}</title>
<link rel="icon" href="data:,">
<style>{}</style>
</head>
)",
                     k_csp, title, k_css);
}

std::string facts(const Header& h) {
  const auto fact = [](std::string_view label, std::string_view html) {
    return fmt::format("<div><dt>{}</dt><dd>{}</dd></div>", label, html);
  };
  std::string window = std::string(k_dash);
  if (h.as_of) {
    window = fmt::format("{} days \u00b7 {} \u2013 {}", h.days, day_text(h.window_start),
                         day_text(h.window_end));
  } else {
    window = fmt::format("{} days", h.days);
  }
  std::string groups = "The whole tenant";
  if (!h.groups.empty()) {
    groups.clear();
    for (std::size_t i = 0; i < h.groups.size(); ++i) {
      if (i > 0) groups += ", ";
      groups += escape(h.groups[i]);
    }
  }
  std::string out = R"(<dl class="facts">)";
  out += fact("Tenant", h.tenant.empty() ? std::string(k_dash) : escape(h.tenant));
  out += fmt::format(R"(<div class="span2"><dt>Store</dt><dd>{}</dd></div>)",
                     h.store.empty()
                         ? std::string(k_dash)
                         : fmt::format(R"(<span class="mono">{}</span>)", escape(h.store)));
  out += fact("Data as of", when(h.as_of));
  out += fact("Generated at", svg::time_text(h.generated_at));
  out += fact("Window", window);
  out += fact("Groups reported on", groups);
  out += fact("Remediation deadlines", deadline_text(h.sla));
  return out + "</dl>";
}

std::string header_section(const Figures& f) {
  const Header& h = f.header;
  std::string out = R"(<section id="header" class="masthead" aria-labelledby="header-title">)";
  out += R"(<div class="title-row"><div>)";
  out +=
      R"(<p class="eyebrow">Microsoft Defender for Endpoint &middot; Vulnerability management</p>)";
  out += R"(<h1 id="header-title">Defender vulnerability report</h1>)";
  if (!h.tenant.empty()) {
    out += fmt::format(R"(<p class="tenant">{}</p>)", escape(h.tenant));
  }
  out += "</div>";
  out += fmt::format(
      R"(<div class="asof"><span>Data as of</span><strong>{}</strong><span>{}</span></div>)",
      when(h.as_of), h.as_of ? fmt::format("{}-day window", h.days) : std::string("no data yet"));
  out += "</div>";

  for (const std::string& w : h.warnings) {
    const bool danger = lower(w).find("fail") != std::string::npos;
    out += fmt::format(
        R"(<div class="alert{}" role="alert"><span class="alert-icon" aria-hidden="true">!</span>)"
        R"(<p><strong>{}</strong> {}</p></div>)",
        danger ? " danger" : "", danger ? "Problem:" : "Warning:", escape(w));
  }

  if (h.no_data) {
    out += R"(<div class="empty-state" role="status"><h2>No sync has run yet</h2>)";
    out += R"(<p>This store holds no vulnerability data: no sync has stored anything yet, so )"
           R"(there are no figures to report.</p>)";
    out += R"(<p>Run <code>mdesync sync</code> to read the tenant's devices, software and )"
           R"(vulnerabilities from Microsoft Defender into the store, then run )"
           R"(<code>mdesync report</code> again.</p>)";
    if (!f.runs.empty()) {
      out += fmt::format(
          R"(<p>{} sync run{} recorded, none of which stored data: see <a href="#runs">)"
          R"(Recent syncs</a>.</p>)",
          count(static_cast<std::int64_t>(f.runs.size())), f.runs.size() == 1 ? " is" : "s are");
    }
    out += "</div>";
  }

  out += facts(h);

  const TableSpec t{
      "objects",
      fmt::format(R"(Last good sync per object <span class="caption-note">)"
                  R"(a sync older than {} hours is stale</span>)",
                  h.stale_after_hours),
      {{"Object"}, {"Mode"}, {"Completed at"}, {"Service snapshot"}, {"Age", true}, {"Status"}},
      false,
      false,
      false};
  table_open(out, t);
  for (const ObjectSync& o : h.objects) {
    out += o.stale ? R"(<tr class="stale">)" : "<tr>";
    td_key(out, o.object);
    td_text(out, o.mode);
    td(out, when(o.completed_at), "nowrap");
    td(out, when(o.snapshot_time), "nowrap");
    td_num(out, age(o.age_hours), o.age_hours);
    td(out, o.stale ? fmt::format(R"(<span class="badge warn">stale (over {} h)</span>)",
                                  h.stale_after_hours)
                    : std::string(o.completed_at ? R"(<span class="badge ok">current</span>)"
                                                 : R"(<span class="badge neutral">never</span>)"));
    out += "</tr>";
  }
  table_close(out, t, h.objects.size(), "No object has completed a sync yet.");
  out += "</section>";
  return out;
}

std::string nav() {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> k_links = {{
      {"headline", "Headline"},
      {"trend", "Trend"},
      {"remediation", "Remediation"},
      {"ageing", "Ageing"},
      {"top-vulnerabilities", "Vulnerabilities"},
      {"top-hosts", "Hosts"},
      {"groups", "Device groups"},
      {"software", "Software"},
      {"runs", "Recent syncs"},
  }};
  std::string out = R"(<nav class="toc" aria-label="Sections"><ul>)";
  for (const auto& [id, text] : k_links) {
    out += fmt::format(R"(<li><a href="#{}">{}</a></li>)", id, text);
  }
  return out + "</ul></nav>";
}

std::string headline_section(const Figures& f) {
  const Headline& h = f.headline;
  std::string out = section_open("headline", "Headline figures",
                                 "Open findings are (device, vulnerability) pairs Defender "
                                 "reports as not yet fixed, as of the data time above.");
  out += R"(<div class="cards">)";

  // Open findings by severity.
  out += R"(<div class="card wide"><h3>Open findings</h3>)";
  out += fmt::format(R"(<p class="big">{}</p>)", count(h.open_total));
  std::vector<svg::Series> parts;
  std::string mix_label = "Open findings by severity:";
  for (std::size_t i = 0; i < k_severities.size(); ++i) {
    parts.push_back(
        {std::string(k_severities[i]), severity_paint(i), {static_cast<double>(h.open[i])}});
    mix_label += fmt::format(" {} {} ({}){}", k_severities[i], count(h.open[i]),
                             percent(share_of(h.open[i], h.open_total)),
                             i + 1 < k_severities.size() ? "," : ".");
  }
  out += svg::share_bar("severity-mix", mix_label, parts);
  out += R"(<ul class="sev-counts">)";
  for (std::size_t i = 0; i < k_severities.size(); ++i) {
    out += fmt::format(R"(<li>{}<span class="n">{}</span><span class="pct">{}</span></li>)",
                       severity_label(k_severities[i]), count(h.open[i]),
                       percent(share_of(h.open[i], h.open_total)));
  }
  out += "</ul></div>";

  // Exploits.
  out += R"(<div class="card"><h3>With a known exploit</h3>)";
  out += fmt::format(R"(<p class="big">{}</p>)", count(h.with_exploit));
  out += fmt::format(R"(<p class="sub">{} of open findings</p>)",
                     percent(share_of(h.with_exploit, h.open_total)));
  out += fmt::format(R"(<dl class="mini"><div><dt>Exploit verified</dt><dd>{}</dd></div><div><dt>)"
                     R"(In an exploit kit</dt><dd>{}</dd></div></dl>)",
                     count(h.exploit_verified), count(h.exploit_in_kit));
  out += "</div>";

  // Hosts.
  out += R"(<div class="card"><h3>Hosts with an open critical</h3>)";
  out += fmt::format(R"(<p class="big">{}</p>)", count(h.hosts_with_open_critical));
  out += fmt::format(R"(<p class="sub">of {} hosts with open findings ({})</p>)",
                     count(h.hosts_with_open),
                     percent(share_of(h.hosts_with_open_critical, h.hosts_with_open)));
  out += "</div>";

  // Age.
  out += R"(<div class="card"><h3>Median age of open findings</h3>)";
  out += fmt::format(R"(<p class="big">{}{}</p>)", days(h.median_age_days),
                     finite(h.median_age_days) ? R"(<span class="unit">days</span>)" : "");
  out += R"(<p class="sub">since the finding was first found or last reopened</p></div>)";

  // Deadlines.
  out += R"(<div class="card"><h3>Within remediation deadline</h3>)";
  out += fmt::format(R"(<p class="big">{}</p>)", percent(h.within_deadline_share));
  out += fmt::format(
      R"(<p class="sub">{} within &middot; <span class="{}">{} past deadline</span></p>)",
      count(h.within_deadline), h.past_deadline > 0 ? "over" : "", count(h.past_deadline));
  out += "</div>";

  // The backlog's change over the trend.
  out += R"(<div class="card"><h3>Change in open findings</h3>)";
  if (f.trend.open.size() >= 2) {
    const std::int64_t first = sum(f.trend.open.front().open);
    const std::int64_t last = sum(f.trend.open.back().open);
    const std::int64_t delta = last - first;
    const std::string_view arrow = delta < 0 ? "\u25BC" : (delta > 0 ? "\u25B2" : "");
    out += fmt::format(
        R"(<p class="big"><span class="{}">{}{}</span></p>)",
        delta < 0 ? "better" : (delta > 0 ? "over" : ""),
        arrow.empty() ? std::string()
                      : fmt::format(R"(<span class="arrow" aria-hidden="true">{}</span>)", arrow),
        (delta > 0 ? "+" : "") + count(delta));
    out += fmt::format(
        R"(<p class="sub">{} since {} (from {} to {}){}</p>)",
        delta < 0 ? "down" : (delta > 0 ? "up" : "unchanged"), escape(f.trend.open.front().date),
        count(first), count(last),
        first > 0 ? fmt::format(", {}{}", delta > 0 ? "+" : "", percent(share_of(delta, first)))
                  : std::string());
  } else {
    out += fmt::format(R"(<p class="big">{}</p><p class="sub">not enough daily figures yet</p>)",
                       k_dash);
  }
  out += "</div>";

  // Fixed.
  const Remediation& r = f.remediation;
  out += R"(<div class="card"><h3>Fixed in the window</h3>)";
  out += fmt::format(R"(<p class="big">{}</p>)", count(r.fixed_total));
  out += fmt::format(R"(<p class="sub">median {} days to remediate (mean {})</p>)",
                     days(r.median_days_total), days(r.mean_days_total));
  out += "</div>";

  out += "</div>";
  out += k_section_close;
  return out;
}

std::string trend_section(const Figures& f) {
  const Header& h = f.header;
  const Trend& t = f.trend;
  std::string out = section_open("trend", "Trend",
                                 "How the backlog of open findings moved over the window, and "
                                 "what came in and went out.");
  const bool short_history =
      (h.as_of && h.history_start && h.history_start > h.window_start) ||
      (!t.open.empty() && t.open.size() < static_cast<std::size_t>(std::max(h.days, 0)));
  if (short_history) {
    const std::string start =
        h.history_start ? day_text(*h.history_start) : (t.open.empty() ? "" : t.open.front().date);
    out += fmt::format(
        R"(<p class="note"><strong>The trend's history starts {}.</strong> The store holds no )"
        R"(complete full read of findings before that day, so the trend covers less than the )"
        R"({}-day window.</p>)",
        escape(start), h.days);
  }

  // (a) Open findings per day.
  svg::AreaChart area;
  area.name = "trend-open";
  area.empty_text = "No daily figures in the window yet";
  for (const DayOpen& d : t.open) area.dates.push_back(d.date);
  for (std::size_t s = 0; s < k_severities.size(); ++s) {
    svg::Series series{std::string(k_severities[s]), severity_paint(s), {}};
    for (const DayOpen& d : t.open) series.values.push_back(static_cast<double>(d.open[s]));
    area.series.push_back(std::move(series));
  }
  if (t.open.empty()) {
    area.label = "Open findings per day by severity: no daily figures yet.";
  } else {
    const DayOpen& last = t.open.back();
    area.label = fmt::format("Open findings per day by severity, stacked, {} to {}. On {}:",
                             t.open.front().date, last.date, last.date);
    for (std::size_t s = 0; s < k_severities.size(); ++s) {
      area.label += fmt::format(" {} {},", k_severities[s], count(last.open[s]));
    }
    area.label += fmt::format(" total {}.", count(sum(last.open)));
  }
  out += R"(<h3>Open findings per day, by severity</h3>)";
  out += severity_legend();
  out += R"(<div class="chart-box">)" + svg::stacked_area(area) + "</div>";

  {
    std::string table;
    const TableSpec spec{"trend-open",
                         "Open findings at the end of each day",
                         {{"Date"},
                          {"Critical", true},
                          {"High", true},
                          {"Medium", true},
                          {"Low", true},
                          {"Unknown", true},
                          {"Total", true}},
                         true,
                         false,
                         true};
    table_open(table, spec);
    for (const DayOpen& d : t.open) {
      table += "<tr>";
      td_key(table, d.date, "nowrap");
      for (const std::int64_t v : d.open) td_count(table, v);
      td_count(table, sum(d.open), "strong");
      table += "</tr>";
    }
    table_close(table, spec, t.open.size(), "No daily figures in the window yet.");
    out += numbers_details(
        fmt::format("Numbers per day ({} days)", count(static_cast<std::int64_t>(t.open.size()))),
        table);
  }

  // (b) Flow per bucket.
  const bool weekly = h.flow_bucket == "week";
  const std::string_view bucket_word = weekly ? "week" : (h.flow_bucket.empty() ? "period" : "day");
  svg::BarChart flow;
  flow.name = "trend-flow";
  flow.date_categories = true;
  flow.empty_text = "No changes in the window yet";
  std::int64_t total_new = 0, total_fixed = 0, total_reopened = 0;
  for (const FlowBucket& b : t.flow) {
    flow.categories.push_back(b.start);
    flow.titles.push_back(weekly ? fmt::format("Week of {}", b.start) : b.start);
    total_new += b.opened;
    total_fixed += b.fixed;
    total_reopened += b.reopened;
  }
  for (std::size_t s = 0; s < 3; ++s) {
    svg::Series series{std::string(k_flow_names[s]), flow_paint(s), {}};
    for (const FlowBucket& b : t.flow) {
      const std::int64_t v = s == 0 ? b.opened : (s == 1 ? b.fixed : b.reopened);
      series.values.push_back(static_cast<double>(v));
    }
    flow.series.push_back(std::move(series));
  }
  flow.label = fmt::format(
      "New, fixed and reopened findings per {}, {} {}s. Totals: new {}, fixed {}, reopened {}.",
      bucket_word, count(static_cast<std::int64_t>(t.flow.size())), bucket_word, count(total_new),
      count(total_fixed), count(total_reopened));
  out += fmt::format(R"(<h3>New, fixed and reopened findings per {}</h3>)", bucket_word);
  out += R"(<ul class="legend">)";
  for (std::size_t s = 0; s < 3; ++s) {
    out += fmt::format(R"(<li><span class="swatch sw-flow-{}"></span>{}</li>)", s, k_flow_names[s]);
  }
  out += fmt::format(
      R"(<li class="legend-note">In the window: <strong>{}</strong> new &middot; <strong>)"
      R"({}</strong> fixed &middot; <strong>{}</strong> reopened</li></ul>)",
      count(total_new), count(total_fixed), count(total_reopened));
  out += R"(<div class="chart-box">)" + svg::grouped_columns(flow) + "</div>";
  {
    std::string table;
    const TableSpec spec{"trend-flow",
                         weekly ? "Findings per week (from the day shown)" : "Findings per day",
                         {{weekly ? "Week of" : "Date"},
                          {"New", true},
                          {"Fixed", true},
                          {"Reopened", true},
                          {"Net change", true}},
                         true,
                         false,
                         true};
    table_open(table, spec);
    for (const FlowBucket& b : t.flow) {
      table += "<tr>";
      td_key(table, b.start, "nowrap");
      td_count(table, b.opened);
      td_count(table, b.fixed);
      td_count(table, b.reopened);
      const std::int64_t net = b.opened + b.reopened - b.fixed;
      td_num(table, (net > 0 ? "+" : "") + count(net), static_cast<double>(net),
             net > 0 ? "up" : (net < 0 ? "down" : ""));
      table += "</tr>";
    }
    std::string foot;
    if (!t.flow.empty()) {
      const std::int64_t net = total_new + total_reopened - total_fixed;
      foot = fmt::format(
          R"(<tr><td>Window</td><td class="num">{}</td><td class="num">{}</td><td class="num">)"
          R"({}</td><td class="num">{}{}</td></tr>)",
          count(total_new), count(total_fixed), count(total_reopened), net > 0 ? "+" : "",
          count(net));
    }
    table_close(table, spec, t.flow.size(), "No changes in the window yet.", foot);
    out += numbers_details(fmt::format("Numbers per {}", bucket_word), table);
  }
  out += k_section_close;
  return out;
}

std::string remediation_section(const Figures& f) {
  const Remediation& r = f.remediation;
  const SlaDays& sla = f.header.sla;
  std::string out = section_open(
      "remediation", "Remediation speed",
      fmt::format("Findings fixed in the last {} days and how long they stayed open (from first "
                  "found, or from the reopening the fix ended), against the deadline per "
                  "severity.",
                  f.header.days));

  svg::DeadlineChart chart;
  chart.name = "remediation";
  chart.label = "Median days to remediate per severity, with the mean and the deadline:";
  for (std::size_t i = 0; i < k_severities.size(); ++i) {
    chart.rows.push_back({std::string(k_severities[i]), severity_paint(i), r.median_days[i],
                          r.mean_days[i], sla.of(i),
                          r.fixed[i] > 0 ? "median \u2013" : "no fixes in the window"});
    chart.label += fmt::format(" {} median {} days, mean {} days, deadline {};", k_severities[i],
                               days(r.median_days[i]), days(r.mean_days[i]),
                               sla.of(i) ? fmt::format("{} days", *sla.of(i)) : "none");
  }
  out += R"(<ul class="legend"><li><span class="swatch sw-bar"></span>)"
         R"(Bar: median days to remediate</li>)"
         R"(<li><span class="swatch-dot"></span>Dot: mean</li>)"
         R"(<li><span class="swatch-dash"></span>Dashed line: deadline</li></ul>)";
  out += R"(<div class="chart-box">)" + svg::deadline_bars(chart) + "</div>";

  const TableSpec t{"remediation",
                    fmt::format("Fixed in the last {} days", f.header.days),
                    {{"Severity"},
                     {"Deadline (days)", true},
                     {"Fixed", true},
                     {"Mean days", true},
                     {"Median days", true}},
                    false,
                    false,
                    false};
  table_open(out, t);
  for (std::size_t i = 0; i < k_severities.size(); ++i) {
    out += "<tr>";
    td_severity_key(out, i);
    const std::optional<int> deadline = sla.of(i);
    td_num(out, deadline ? count(*deadline) : std::string(k_dash),
           deadline ? std::optional<double>(*deadline) : std::nullopt);
    td_count(out, r.fixed[i]);
    td_days(out, r.mean_days[i]);
    const bool over = finite(r.median_days[i]) && deadline && *r.median_days[i] > *deadline;
    td_num(out, days(r.median_days[i]), r.median_days[i], over ? "over" : "");
    out += "</tr>";
  }
  const std::string foot =
      fmt::format(R"(<tr><td>All severities</td><td class="num">{}</td><td class="num">{}</td>)"
                  R"(<td class="num">{}</td><td class="num">{}</td></tr>)",
                  k_dash, count(r.fixed_total), days(r.mean_days_total), days(r.median_days_total));
  table_close(out, t, k_severities.size(), "", foot);
  out += k_section_close;
  return out;
}

std::string ageing_section(const Figures& f) {
  const Ageing& a = f.ageing;
  const SlaDays& sla = f.header.sla;
  std::string out = section_open("ageing", "Ageing",
                                 "Open findings by how long they have been open, and how many "
                                 "are past their remediation deadline.");

  svg::BarChart chart;
  chart.name = "ageing";
  chart.label = "Open findings per age bucket, stacked by severity:";
  for (std::size_t b = 0; b < k_age_buckets.size(); ++b) {
    chart.categories.push_back(std::string(k_age_buckets[b]));
    chart.labels.push_back(age_bucket_text(k_age_buckets[b]));
    chart.titles.push_back(fmt::format("Open {}", age_bucket_text(k_age_buckets[b])));
    chart.label +=
        fmt::format(" {} {};", age_bucket_text(k_age_buckets[b]), count(sum(a.buckets[b])));
  }
  for (std::size_t s = 0; s < k_severities.size(); ++s) {
    svg::Series series{std::string(k_severities[s]), severity_paint(s), {}};
    for (const BySeverity& bucket : a.buckets) {
      series.values.push_back(static_cast<double>(bucket[s]));
    }
    chart.series.push_back(std::move(series));
  }
  std::string svg_text = svg::stacked_columns(chart);
  out += R"(<h3>Open findings by age (days open)</h3>)";
  out += severity_legend();
  out += R"(<div class="chart-box">)" + svg_text + "</div>";
  {
    std::string table;
    const TableSpec spec{"ageing-buckets",
                         "Open findings per age bucket",
                         {{"Age"},
                          {"Critical", true},
                          {"High", true},
                          {"Medium", true},
                          {"Low", true},
                          {"Unknown", true},
                          {"Total", true}},
                         false,
                         false,
                         false};
    table_open(table, spec);
    for (std::size_t b = 0; b < k_age_buckets.size(); ++b) {
      table += "<tr>";
      td_key(table, k_age_buckets[b], "nowrap");
      for (const std::int64_t v : a.buckets[b]) td_count(table, v);
      td_count(table, sum(a.buckets[b]), "strong");
      table += "</tr>";
    }
    table_close(table, spec, k_age_buckets.size(), "");
    out += numbers_details("Numbers per age bucket (days)", table);
  }

  out += R"(<h3>Against the remediation deadline</h3>)";
  const TableSpec t{"ageing-deadlines",
                    "",
                    {{"Severity"},
                     {"Deadline (days)", true},
                     {"Within deadline", true},
                     {"Past deadline", true},
                     {"Share within", true, "share-col"}},
                    false,
                    false,
                    false};
  table_open(out, t);
  std::int64_t within_total = 0, past_total = 0;
  for (std::size_t i = 0; i < k_severities.size(); ++i) {
    const std::optional<int> deadline = sla.of(i);
    within_total += a.within[i];
    past_total += a.past[i];
    out += "<tr>";
    td_severity_key(out, i);
    td_num(out, deadline ? count(*deadline) : std::string(k_dash),
           deadline ? std::optional<double>(*deadline) : std::nullopt);
    if (deadline) {
      td_count(out, a.within[i]);
      td_count(out, a.past[i], a.past[i] > 0 ? "over" : "");
    } else {
      td_num(out, std::string(k_dash), std::nullopt);
      td_num(out, std::string(k_dash), std::nullopt);
    }
    const std::optional<double> share =
        deadline ? share_of(a.within[i], a.within[i] + a.past[i]) : std::nullopt;
    std::string meter = percent(share);
    if (finite(share)) {
      meter = fmt::format(
          R"(<span class="meter" aria-hidden="true"><span style="width:{:.1f}%"></span></span>{})",
          *share * 100, meter);
    }
    td_num(out, meter, finite(share) ? std::optional<double>(*share * 100) : std::nullopt);
    out += "</tr>";
  }
  const std::string foot = fmt::format(
      R"(<tr><td>All with a deadline</td><td class="num">{}</td><td class="num">{}</td>)"
      R"(<td class="num">{}</td><td class="num">{}</td></tr>)",
      k_dash, count(within_total), count(past_total),
      percent(share_of(within_total, within_total + past_total)));
  table_close(out, t, k_severities.size(), "", foot);

  out += R"(<h3>Oldest open critical findings</h3>)";
  const TableSpec o{
      "oldest-critical",
      "",
      {{"CVE"}, {"Host"}, {"Device group"}, {"Software"}, {"Open since"}, {"Age (days)", true}},
      true,
      false,
      false};
  table_open(out, o);
  for (const Ageing::Finding& x : a.oldest_critical) {
    out += "<tr>";
    td_key(out, x.cve, "mono nowrap");
    if (x.host_id.empty()) {
      td_text(out, x.host.empty() ? x.host_id : x.host);
    } else {
      out += fmt::format(R"(<td title="Device id {}">{}</td>)", escape(x.host_id),
                         escape(x.host.empty() ? x.host_id : x.host));
    }
    td_text(out, x.group);
    td_text(out, x.software, "wrap");
    td(out, escape(day_text(x.opened)), "nowrap");
    const bool over = sla.critical > 0 && x.age_days > sla.critical;
    td_num(out, svg::number(x.age_days, 1), x.age_days, over ? "over" : "");
    out += "</tr>";
  }
  table_close(out, o, a.oldest_critical.size(), "No open critical findings.");
  out += k_section_close;
  return out;
}

std::string top_vulnerabilities_section(const Figures& f) {
  std::string out = section_open(
      "top-vulnerabilities", "Top vulnerabilities",
      "The vulnerabilities open on the most devices, then with the most open findings. "
      "Click a column header to sort; type to filter.");
  const TableSpec t{"top-vulnerabilities",
                    "",
                    {{"CVE", false, "c-cve"},
                     {"Name", false, "c-name"},
                     {"Severity", false, "c-sev"},
                     {"CVSS", true, "c-cvss"},
                     {"EPSS", true, "c-epss"},
                     {"Exploitability", false, "c-ex"},
                     {"Patch", false, "c-patch"},
                     {"Hosts", true, "c-hosts"},
                     {"Open", true, "c-open"},
                     {"Recommendation", false, "c-rec"}},
                    true,
                    true,
                    false,
                    "fixed"};
  table_open(out, t);
  for (const TopVulnerability& v : f.top_vulnerabilities) {
    out += "<tr>";
    td_key(out, v.cve, "mono nowrap");
    td_text(out, v.name, "wrap small");
    out += fmt::format(R"(<td data-v="{}">{}</td>)", severity_index(v.severity),
                       severity_label(v.severity));
    td_num(out, finite(v.cvss) ? svg::number(*v.cvss, 1) : std::string(k_dash), v.cvss);
    std::string epss = std::string(k_dash);
    if (finite(v.epss)) {
      epss = (*v.epss > 0 && *v.epss < 0.0005) ? std::string("&lt;0.1%") : percent(v.epss);
    }
    td_num(out, epss, finite(v.epss) ? std::optional<double>(*v.epss * 100) : std::nullopt);
    const std::string ex = lower(v.exploitability);
    const bool hot =
        ex.find("kit") != std::string::npos || ex.find("verified") != std::string::npos;
    td(out,
       v.exploitability.empty()
           ? std::string(k_dash)
           : (hot ? fmt::format(R"(<span class="exploit">{}</span>)", escape(v.exploitability))
                  : escape(v.exploitability)),
       "small");
    td(out, v.patch_available ? (*v.patch_available ? "Yes" : "No") : std::string(k_dash),
       v.patch_available && !*v.patch_available ? "nowrap no" : "nowrap");
    td_count(out, v.hosts);
    td_count(out, v.open, "strong");
    td_text(out, v.recommendation, "wrap small");
    out += "</tr>";
  }
  table_close(out, t, f.top_vulnerabilities.size(), "No open vulnerabilities.");
  out += k_section_close;
  return out;
}

std::string top_hosts_section(const Figures& f) {
  std::string out = section_open("top-hosts", "Top hosts",
                                 "The devices with the most critical and high open findings.");
  const TableSpec t{"top-hosts",
                    "",
                    {{"Host"},
                     {"Device group"},
                     {"OS"},
                     {"Exposure"},
                     {"Risk"},
                     {"Critical", true},
                     {"High", true},
                     {"Open findings", true}},
                    true,
                    true,
                    false};
  table_open(out, t);
  for (const TopHost& h : f.top_hosts) {
    out += "<tr>";
    const std::string& key = h.name.empty() ? h.id : h.name;
    if (h.id.empty()) {
      td_key(out, key);
    } else {
      out +=
          fmt::format(R"(<td class="key" title="Device id {}">{}</td>)", escape(h.id), escape(key));
    }
    td_text(out, h.group);
    td_text(out, h.os);
    td(out, level_label(h.exposure_level));
    td(out, level_label(h.risk));
    td_count(out, h.critical, h.critical > 0 ? "crit" : "");
    td_count(out, h.high);
    td_count(out, h.open, "strong");
    out += "</tr>";
  }
  table_close(out, t, f.top_hosts.size(), "No hosts with open findings.");
  out += k_section_close;
  return out;
}

std::string groups_section(const Figures& f) {
  std::string out = section_open("groups", "Device groups",
                                 "Open findings, deadlines and remediation per device group.");
  svg::BarChart chart;
  chart.name = "groups";
  chart.label = "Open findings per device group, stacked by severity:";
  chart.empty_text = "No device groups";
  for (const GroupFigures& g : f.groups) {
    chart.categories.push_back(g.name);
    chart.titles.push_back(g.name);
    chart.label += fmt::format(" {} {};", g.name, count(sum(g.open)));
  }
  for (std::size_t s = 0; s < k_severities.size(); ++s) {
    svg::Series series{std::string(k_severities[s]), severity_paint(s), {}};
    for (const GroupFigures& g : f.groups) series.values.push_back(static_cast<double>(g.open[s]));
    chart.series.push_back(std::move(series));
  }
  out += severity_legend();
  out += R"(<div class="chart-box">)" + svg::stacked_rows(chart) + "</div>";

  const TableSpec t{"groups",
                    "",
                    {{"Device group"},
                     {"Hosts", true},
                     {"Critical", true},
                     {"High", true},
                     {"Medium", true},
                     {"Low", true},
                     {"Unknown", true},
                     {"Open", true},
                     {"Past deadline", true},
                     {"Fixed", true},
                     {"Mean days to fix", true}},
                    true,
                    true,
                    false};
  table_open(out, t);
  for (const GroupFigures& g : f.groups) {
    out += "<tr>";
    td_key(out, g.name);
    td_count(out, g.hosts);
    for (std::size_t s = 0; s < g.open.size(); ++s) {
      td_count(out, g.open[s], s == 0 && g.open[s] > 0 ? "crit" : "");
    }
    td_count(out, sum(g.open), "strong");
    td_count(out, g.past_deadline, g.past_deadline > 0 ? "over" : "");
    td_count(out, g.fixed);
    td_days(out, g.mean_days_to_remediate);
    out += "</tr>";
  }
  table_close(out, t, f.groups.size(), "No device groups.");
  out += k_section_close;
  return out;
}

std::string software_section(const Figures& f) {
  std::string out = section_open("software", "Software",
                                 "The software with the most open findings, and the update "
                                 "that fixes most of them.");
  const TableSpec t{"software",
                    "",
                    {{"Software"},
                     {"Vendor"},
                     {"Open findings", true},
                     {"Critical", true},
                     {"High", true},
                     {"Hosts", true},
                     {"Recommendation"}},
                    true,
                    true,
                    false};
  table_open(out, t);
  for (const SoftwareFigures& s : f.software) {
    out += "<tr>";
    td_key(out, s.name);
    td_text(out, s.vendor);
    td_count(out, s.open, "strong");
    td_count(out, s.critical, s.critical > 0 ? "crit" : "");
    td_count(out, s.high);
    td_count(out, s.hosts);
    td_text(out, s.recommendation, "wrap");
    out += "</tr>";
  }
  table_close(out, t, f.software.size(), "No software with open findings.");
  out += k_section_close;
  return out;
}

std::string runs_section(const Figures& f) {
  std::string out = section_open("runs", "Recent syncs", "The latest sync runs, newest first.");
  const TableSpec t{"runs",
                    "",
                    {{"Run"},
                     {"Mode"},
                     {"Outcome"},
                     {"Started at"},
                     {"Duration", true},
                     {"API calls", true},
                     {"Rows written", true},
                     {"Closed", true}},
                    true,
                    false,
                    false};
  table_open(out, t);
  for (const RunFigures& r : f.runs) {
    const std::string o = lower(r.outcome);
    out += o == "failed"
               ? R"(<tr class="failed">)"
               : (o == "partial" || o == "interrupted" ? R"(<tr class="partial">)" : "<tr>");
    td_key(out, fmt::format("{}", r.id));
    td_text(out, r.mode);
    td(out, outcome_badge(r.outcome));
    td(out, escape(svg::time_text(r.started_at)), "nowrap");
    td_num(out, duration(r.seconds), r.seconds);
    td_count(out, r.calls);
    td_count(out, r.written);
    td_count(out, r.closed);
    out += "</tr>";
  }
  table_close(out, t, f.runs.size(), "No sync runs recorded.");
  out += k_section_close;
  return out;
}

std::string footer(const Figures& f) {
  return fmt::format(
      R"(<footer class="page-footer"><p>)"
      R"(Generated by mdesync report &middot; data as of {} &middot; generated at {}</p></footer>)",
      when(f.header.as_of), svg::time_text(f.header.generated_at));
}

}  // namespace

std::string render_html(const Figures& f) {
  std::string out;
  out.reserve(256 * 1024);
  out += head(f);
  out += "<body>\n<div class=\"page\">\n";
  out += header_section(f);
  if (!f.header.no_data) out += nav();
  out += "<main>\n";
  if (!f.header.no_data) {
    out += headline_section(f);
    out += trend_section(f);
    out += remediation_section(f);
    out += ageing_section(f);
    out += top_vulnerabilities_section(f);
    out += top_hosts_section(f);
    out += groups_section(f);
    out += software_section(f);
  }
  out += runs_section(f);
  out += "</main>\n";
  out += footer(f);
  out += "\n</div>\n<script>";
  out += k_script;
  out += "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace mdesync::report
