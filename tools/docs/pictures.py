#!/usr/bin/env python3
"""Draw the documentation's pictures as hand-built SVG files (standard library only).

    python3 tools/docs/pictures.py --masks MASKS.json --decode DECODE.json \\
        --metadata META.json --benchmarks docs/benchmarks.md --out docs/img

Every input is optional: the pictures of an input that is not given are skipped.
What each picture is drawn from:

mask-<name>.svg, masks.svg
    MASKS.json, {"len": N, "masks": [{"name": ..., "title": ..., "grid": [[0/1] * N] * N}]}:
    grid[q][k] is 1 when query q sees key k. One picture per mask, and all in one row.
decode-loop.svg
    DECODE.json, {"prompt": str, "prompt_tokens": [str], "steps": [{"id": int, "text": str}]}:
    a greedy run, the prompt's tokens after the chat template, then each new token.
crates.svg
    META.json, the output of `cargo metadata --format-version 1 --no-deps`: the workspace
    members, their normal (non-dev) dependencies on each other as arrows, layered by the
    longest path from the top crate, and their first external normal dependencies.
bench-tokens-per-s.svg
    docs/benchmarks.md, section "## Side by side, latest...", the table
    weights | test | phi3 (tok/s) | transformers (tok/s) | ratio | llama.cpp (tok/s) | ratio.
attention-variants.svg
    docs/benchmarks.md, section "## Attention variants at Phi-3-mini's shape...", the table
    benchmark | layout | mask | naive (ms) | tiled128 (ms) | fused (ms), causal-mask rows.

Output is deterministic: the same inputs give byte-identical files.
"""

import argparse
import json
import math
import os
import re
import sys
import textwrap
from xml.sax.saxutils import escape

SANS = "Helvetica, Arial, 'DejaVu Sans', sans-serif"
MONO = "Menlo, Consolas, 'DejaVu Sans Mono', monospace"
INK, MUTED, RULE = "#222222", "#666666", "#d0d4da"
LIGHT, BOX, DARK = "#e8ecf1", "#f5f7fa", "#2f5d8a"
ACCENT, ACCENT_LIGHT = "#d9822b", "#f6dcc0"
SERIES = ["#2f5d8a", "#d9822b", "#5b9a68", "#8e6bb0"]
DASHES = ["", "7 4", "2 3", "9 3 2 3"]


def fail(message):
    sys.exit(f"pictures.py: {message}")


def num(x):
    """Fixed formatting for coordinates: at most two decimals, no trailing zeros."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def text_width(s, size, mono=False):
    return len(s) * size * (0.6 if mono else 0.56)


class Svg:
    """An SVG document built from strings, in drawing order."""

    def __init__(self, width, height):
        self.width, self.height = int(math.ceil(width)), int(math.ceil(height))
        self.body, self.markers = [], set()

    def rect(self, x, y, w, h, fill, stroke="none", rx=0, sw=1):
        self.body.append(f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" '
                         f'rx="{num(rx)}" fill="{fill}" stroke="{stroke}" stroke-width="{num(sw)}"/>')

    def path(self, d, stroke=INK, sw=1.2, dash="", arrow=False):
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        if arrow:
            self.markers.add(stroke)
            extra += f' marker-end="url(#arrow-{stroke[1:]})"'
        self.body.append(f'<path d="{d}" fill="none" stroke="{stroke}" stroke-width="{num(sw)}"{extra}/>')

    def line(self, x1, y1, x2, y2, **kw):
        self.path(f"M{num(x1)} {num(y1)} L{num(x2)} {num(y2)}", **kw)

    def circle(self, cx, cy, r, fill):
        self.body.append(f'<circle cx="{num(cx)}" cy="{num(cy)}" r="{num(r)}" fill="{fill}"/>')

    def text(self, x, y, s, size=12, fill=INK, anchor="start", bold=False, mono=False, rotate=False):
        attrs = f' font-family="{MONO}"' if mono else ""
        attrs += ' font-weight="bold"' if bold else ""
        attrs += f' transform="rotate(-90 {num(x)} {num(y)})"' if rotate else ""
        self.body.append(f'<text x="{num(x)}" y="{num(y)}" font-size="{num(size)}" fill="{fill}" '
                         f'text-anchor="{anchor}"{attrs}>{escape(s)}</text>')

    def footnote(self, note, y, size=10):
        for i, line in enumerate(textwrap.wrap(note, int((self.width - 40) / (size * 0.52)))):
            self.text(20, y + i * (size + 4), line, size=size, fill=MUTED)

    def save(self, directory, name):
        defs = "".join(
            f'<marker id="arrow-{c[1:]}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto"><path d="M0 0 L10 5 L0 10 z" fill="{c}"/></marker>'
            for c in sorted(self.markers))
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                    f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
                    f'viewBox="0 0 {self.width} {self.height}" font-family="{SANS}">\n'
                    f'<defs>{defs}</defs>\n'
                    f'<rect width="100%" height="100%" fill="#ffffff"/>\n')
            f.write("\n".join(self.body) + "\n</svg>\n")
        return path


def labelled_box(svg, x, y, w, h, title, sub="", fill=BOX, stroke=DARK):
    svg.rect(x, y, w, h, fill, stroke=stroke, rx=6)
    svg.text(x + w / 2, y + (18 if sub else h / 2 + 4), title, size=12, bold=True, anchor="middle")
    if sub:
        svg.text(x + w / 2, y + 33, sub, size=9.5, fill=MUTED, anchor="middle")


def legend_swatch(svg, x, y, colour, label, dash=None):
    """A filled square (dash None) or a line sample; returns the x after the label."""
    if dash is None:
        svg.rect(x, y - 9, 11, 11, colour, rx=2)
    else:
        svg.line(x, y - 4, x + 24, y - 4, stroke=colour, sw=2, dash=dash)
        x += 13
    svg.text(x + 16, y, label, size=11)
    return x + 16 + text_width(label, 11) + 18


# ---------------------------------------------------------------- masks

def mask_panel(svg, x, y, mask, n, cell, title_size):
    """One mask: title above, grid with (x, y) its top-left corner, axes, count below."""
    size = n * cell
    svg.text(x + size / 2, y - 10, mask["title"], size=title_size, bold=True, anchor="middle")
    for q, row in enumerate(mask["grid"]):
        for k, seen in enumerate(row):
            svg.rect(x + k * cell, y + q * cell, cell, cell, DARK if seen else LIGHT, stroke="#ffffff")
    step = max(1, n // 4)
    ticks = list(range(0, n, step)) + ([n - 1] if (n - 1) % step >= step / 2 else [])
    for t in ticks:
        c = (t + 0.5) * cell
        svg.text(x + c, y + size + 13, str(t), size=9, fill=MUTED, anchor="middle")
        svg.text(x - 5, y + c + 3, str(t), size=9, fill=MUTED, anchor="end")
    svg.text(x + size / 2, y + size + 28, "key position", size=11, anchor="middle")
    svg.text(x - 22, y + size / 2, "query position", size=11, anchor="middle", rotate=True)
    visible = sum(sum(1 for v in row if v) for row in mask["grid"])
    svg.text(x + size / 2, y + size + 43, f"{visible} of {n * n} pairs visible", size=9.5,
             fill=MUTED, anchor="middle")


def mask_legend(svg, x, y):
    x = legend_swatch(svg, x, y, DARK, "query sees key")
    legend_swatch(svg, x, y, LIGHT, "hidden")


def draw_masks(data, out):
    n, masks = data.get("len"), data.get("masks")
    if not isinstance(n, int) or not masks:
        fail('masks JSON: expected {"len": N, "masks": [...]}')
    for m in masks:
        if not all(key in m for key in ("name", "title", "grid")):
            fail("masks JSON: every mask needs name, title and grid")
        if len(m["grid"]) != n or any(len(row) != n for row in m["grid"]):
            fail(f"masks JSON: mask {m['name']!r}: grid is not {n} x {n}")
    written = []
    cell = max(3, 256 // n)
    for m in masks:
        svg = Svg(70 + n * cell + 30, 60 + n * cell + 90)
        mask_panel(svg, 70, 56, m, n, cell, title_size=15)
        mask_legend(svg, 70, 56 + n * cell + 74)
        written.append(svg.save(out, f"mask-{m['name']}.svg"))
    cell = max(2, 176 // n)
    pitch = n * cell + 70
    svg = Svg(len(masks) * pitch + 40, 80 + n * cell + 90)
    svg.text(svg.width / 2, 26, f"Attention masks over {n} positions", size=16, bold=True, anchor="middle")
    for i, m in enumerate(masks):
        mask_panel(svg, 70 + i * pitch, 74, m, n, cell, title_size=13)
    mask_legend(svg, 70, 74 + n * cell + 74)
    written.append(svg.save(out, "masks.svg"))
    return written


# ---------------------------------------------------------------- decode loop

def visible(s, spaces=True, limit=18):
    """A token as drawn: spaces as ␣, newlines as ↵, other control characters as \\xNN."""
    s = s.replace("\n", "↵").replace("\t", "⇥")
    s = "".join(c if ord(c) >= 0x20 else f"\\x{ord(c):02x}" for c in s)
    if spaces:
        s = s.replace(" ", "␣")
    if len(s) > limit:
        s = s[:limit - 1] + "…"
    return s or "∅"


def tw(label):
    """Width of a token box."""
    return text_width(label, 12, mono=True) + 12


def token_box(svg, x, cy, label, fill):
    w = tw(label)
    svg.rect(x, cy - 12, w, 24, fill, stroke=RULE, rx=4)
    svg.text(x + w / 2, cy + 4, label, size=12, mono=True, anchor="middle")
    return x + w


def draw_decode(data, out):
    try:
        tokens, steps, prompt = data["prompt_tokens"], data["steps"], data["prompt"]
        ids, gen = [s["id"] for s in steps], [visible(s["text"]) for s in steps]
        answer = "".join(s["text"] for s in steps)
    except (KeyError, TypeError) as e:
        fail(f"decode JSON: missing or malformed {e}")
    if not tokens or not steps:
        fail("decode JSON: prompt_tokens and steps must not be empty")
    p = len(tokens)
    # Columns of one row: input, model, logits, argmax, new token, then the sequence so far.
    widest = max(tw(g) for g in gen)
    cols, x = {}, 24
    for key, w in (("in", max(110, widest)), ("model", 190), ("logits", 80), ("argmax", 84),
                   ("out", max(104, widest))):
        cols[key], x = (x, w), x + w + 34
    seq_x = x + 6
    seq_w = sum(tw(g) + 4 for g in gen) + 40
    width = max(seq_x + seq_w + 24, 960)
    # The prompt's tokens, wrapped to the picture's width.
    placed, x, y = [], 24, 84
    for t in tokens:
        label = visible(t)
        w = tw(label)
        if x + w > width - 24 and x > 24:
            x, y = 24, y + 30
        placed.append((x, y, label))
        x += w + 4
    right = max(x + tw(lab) for x, _, lab in placed)
    row0, pitch, bh = y + 76, 84, 44
    svg = Svg(width, row0 + len(steps) * pitch + 36)
    svg.text(width / 2, 26, "The decode loop: prefill the prompt once, then one token per step",
             size=16, bold=True, anchor="middle")
    svg.text(width / 2, 46, f"greedy run: “{visible(prompt, False, 60)}” → “{visible(answer, False, 60)}”",
             size=12, fill=MUTED, anchor="middle")
    svg.text(24, 66, f"prompt tokens ({p})", size=11, fill=MUTED)
    for x, y, label in placed:
        token_box(svg, x, y, label, LIGHT)
    by = y + 20
    in_cx = cols["in"][0] + cols["in"][1] / 2
    svg.path(f"M24 {num(by - 4)} V{num(by)} H{num(right)} V{num(by - 4)}", stroke=MUTED, sw=1)
    svg.path(f"M{num((24 + right) / 2)} {num(by)} V{num(by + 14)} H{num(in_cx)} V{num(row0 - 2)}", arrow=True)
    for key, head in (("model", "model"), ("out", "new token")):
        svg.text(cols[key][0] + cols[key][1] / 2, row0 - 8, head, size=10, fill=MUTED, anchor="middle")
    svg.text(seq_x, row0 - 8, "sequence so far (… = the prompt)", size=10, fill=MUTED)
    for k in range(len(steps)):
        top = row0 + k * pitch
        mid = top + bh / 2
        def box(key, title, sub):
            labelled_box(svg, cols[key][0], top, cols[key][1], bh, title, sub)

        if k == 0:
            box("in", "prompt", f"{p} tokens")
            box("model", "model (prefill)", f"positions 0–{p - 1} → KV cache")
        else:
            x, w = cols["in"]  # the previous step's token, right-aligned against the arrow
            token_box(svg, x + w - tw(gen[k - 1]), mid, gen[k - 1], ACCENT_LIGHT)
            pos = p + k - 1
            box("model", "model + KV cache", f"position {pos}; cache 0–{pos - 1}")
        box("logits", "logits", "one per id")
        box("argmax", "argmax", f"id {ids[k]}")
        x = cols["out"][0]  # the new token, left-aligned against the arrow
        out_end = token_box(svg, x, mid, gen[k], ACCENT)
        order = ["in", "model", "logits", "argmax", "out"]
        for a, b in zip(order, order[1:]):
            svg.line(cols[a][0] + cols[a][1] + 3, mid, cols[b][0] - 3, mid, arrow=True)
        svg.line(out_end + 3, mid, seq_x - 6, mid, stroke=MUTED, sw=1, dash="3 3", arrow=True)
        sx = token_box(svg, seq_x, mid, "…", LIGHT) + 4
        for j in range(k + 1):
            sx = token_box(svg, sx, mid, gen[j], ACCENT if j == k else ACCENT_LIGHT) + 4
        if k + 1 < len(steps):
            gy = top + bh + (pitch - bh) / 2
            ox, ix = x + tw(gen[k]) / 2, cols["in"][0] + cols["in"][1] - tw(gen[k]) / 2
            svg.path(f"M{num(ox)} {num(top + bh + 12)} V{num(gy)} H{num(ix)} V{num(top + pitch + 8)}",
                     stroke=ACCENT, sw=1.5, arrow=True)
            if k == 0:
                svg.text((ox + ix) / 2, gy - 5, "append, feed back", size=11, fill=ACCENT,
                         anchor="middle", bold=True)
    svg.text(24, svg.height - 14, "KV cache holds keys/values of all earlier positions: each step after "
             "the prefill runs the model on the one new position only.", size=11, fill=INK)
    return [svg.save(out, "decode-loop.svg")]


# ---------------------------------------------------------------- crate graph

NOTABLE = ["burn", "tokenizers", "minijinja", "gemm", "rand", "memmap2", "safetensors", "serde", "half", "rayon"]


def draw_crates(meta, out):
    members = set(meta.get("workspace_members", []))
    pkgs = sorted((p for p in meta.get("packages", []) if p["id"] in members), key=lambda p: p["name"])
    if not pkgs:
        fail("metadata JSON: no workspace members (is it `cargo metadata --format-version 1`?)")
    names = {p["name"] for p in pkgs}
    deps, ext = {}, {}
    for p in pkgs:
        normal = {d["name"] for d in p["dependencies"] if d.get("kind") is None}
        deps[p["name"]] = sorted(normal & names - {p["name"]})
        ext[p["name"]] = sorted(normal - names, key=lambda d: (NOTABLE.index(d) if d in NOTABLE else 99, d))
    parents = {n: sorted(a for a in names if n in deps[a]) for n in names}
    layer = {}

    def depth(n, seen=()):  # longest path from a crate nothing depends on
        if n in seen:
            fail(f"metadata JSON: dependency cycle through {n}")
        if n not in layer:
            layer[n] = max((depth(a, seen + (n,)) + 1 for a in parents[n]), default=0)
        return layer[n]

    for n in sorted(names):
        depth(n)
    # Edges that skip layers pass through dummy nodes, one per skipped layer.
    chains = {}
    for a in sorted(names):
        for b in deps[a]:
            chains[(a, b)] = [a] + [("~", a, b, i) for i in range(layer[a] + 1, layer[b])] + [b]
            for i, d in enumerate(chains[(a, b)][1:-1]):
                layer[d] = layer[a] + 1 + i
    below = {n for chain in chains.values() for n in chain[:-1]}
    label = {n: ", ".join(ext[n][:4]) + (f" +{len(ext[n]) - 4}" if len(ext[n]) > 4 else "") for n in names}
    width_of = {n: 20 if isinstance(n, tuple) else
                max(text_width(n, 13) + 28, text_width(label[n], 9.5) + 20) for n in layer}
    up = {n: [] for n in layer}
    for chain in chains.values():
        for a, b in zip(chain, chain[1:]):
            up[b].append(a)
    xc, levels = {}, max(layer.values()) + 1
    rows = [[n for n in layer if layer[n] == lv] for lv in range(levels)]
    total = max(sum(width_of[n] + 36 for n in row) for row in rows) + 60
    for row in rows:
        row.sort(key=lambda n: (sum(xc[a] for a in up[n]) / len(up[n]) if up[n] else 0, str(n)))
        mid = [n for n in row if n in below]  # crates with arrows going down stay central
        ends = [n for n in row if n not in below]
        row[:] = ends[0::2][::-1] + mid + ends[1::2] if mid else row
        x = (total - sum(width_of[n] + 36 for n in row)) / 2 + 18
        for n in row:
            xc[n], x = x + width_of[n] / 2, x + width_of[n] + 36
    bh, pitch, top = 48, 104, 56
    yt = {n: top + layer[n] * pitch for n in layer}
    svg = Svg(total, top + (levels - 1) * pitch + bh + 44)
    svg.text(total / 2, 28, "Workspace crates and their dependencies", size=16, bold=True, anchor="middle")
    for (a, b), chain in sorted(chains.items(), key=lambda e: (xc[e[1][1]], e[0])):
        d = f"M{num(xc[a])} {num(yt[a] + bh)}"
        for u, v in zip(chain, chain[1:]):
            y0 = yt[u] + (bh if u == a or isinstance(u, tuple) else 0)
            y1 = yt[v] - 3 if v == b else yt[v]
            ym = (y0 + y1) / 2
            d += f" C{num(xc[u])} {num(ym)} {num(xc[v])} {num(ym)} {num(xc[v])} {num(y1)}"
            if isinstance(v, tuple):
                d += f" V{num(yt[v] + bh)}"
        svg.path(d, stroke=DARK, sw=1.4, arrow=True)
    for n in sorted(names):
        w = width_of[n]
        svg.rect(xc[n] - w / 2, yt[n], w, bh, BOX, stroke=DARK, rx=6)
        svg.text(xc[n], yt[n] + 20, n, size=13, bold=True, anchor="middle")
        svg.text(xc[n], yt[n] + 37, label[n] or "(no external dependencies)", size=9.5, fill=MUTED, anchor="middle")
    svg.text(20, svg.height - 12, "A → B: A depends on B (normal dependency). Second line of a box: its "
             "external normal dependencies, notable first.", size=10.5, fill=MUTED)
    return [svg.save(out, "crates.svg")]


# ---------------------------------------------------------------- benchmarks.md

def section(md, prefix, source):
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
            return line[3:].strip(), lines[i + 1:end]
    fail(f"{source}: no section whose heading starts with {prefix!r} (renamed?)")


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table(lines, columns, source, prefix):
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and cells(line) == columns and set(lines[i + 1].strip()) <= set("|-: "):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                if len(cells(row)) != len(columns):
                    fail(f"{source}: under {prefix!r}: row has {len(cells(row))} cells, not {len(columns)}: {row}")
                rows.append(cells(row))
            if rows:
                return rows
    fail(f"{source}: under the heading starting with {prefix!r}: no table with columns {' | '.join(columns)}")


def value(cell, source):
    cell = cell.replace(",", "").replace("×", "").strip()
    if cell in ("", "—", "-", "–", "n/a"):
        return None
    try:
        return float(cell)
    except ValueError:
        fail(f"{source}: not a number: {cell!r}")


def command_note(lines, heading):
    """'From docs § heading. Command: cmd — first sentence', long parentheticals dropped."""
    para = []
    for line in lines:
        if line.startswith("Command:") or para:
            if not line.strip():
                break
            para.append(line.strip())
    text = " ".join(para)
    cmd = re.search(r"`([^`]*)`", text)
    rest = text.split("—", 1)[1].strip() if "—" in text else ""
    depth, end = 0, len(rest)
    for i, c in enumerate(rest):
        depth += (c == "(") - (c == ")")
        if c == "." and depth == 0 and rest[i + 1:i + 3].strip()[:1].isupper():
            end = i + 1
            break
    rest = re.sub(r"\s*\(([^()]*)\)", lambda m: "" if len(m.group(1)) > 60 else m.group(0), rest[:end])
    note = f"From docs/benchmarks.md, “{heading}”."
    if cmd:
        note += f" Command: {cmd.group(1)}" + (f" — {rest.replace('`', '')}" if rest else "")
    return note


def nice_ticks(vmax, count=5):
    raw = max(vmax, 1e-9) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return [round(i * step, 10) for i in range(int(math.ceil(vmax / step - 1e-9)) + 1)]


def log_ticks(lo, hi):
    ladder = [round(m * 10.0 ** e, 12) for e in range(math.floor(math.log10(lo)) - 1,
                                                        math.ceil(math.log10(hi)) + 1) for m in (1, 2, 5)]
    a = max(t for t in ladder if t <= lo)
    b = min(t for t in ladder if t >= hi)
    return [t for t in ladder if a <= t <= b]


def short_weights(w):
    """'16-bit (phi3 f16, ...)' -> '16-bit'; 'Q4_1 as stored (...)' -> 'Q4_1'."""
    return re.split(r" \(", w)[0].replace(" as stored", "")


def weights_detail(w):
    """What short_weights leaves out, without its enclosing parentheses."""
    rest = w[len(short_weights(w)):].strip()
    return rest[1:-1] if rest.startswith("(") and rest.endswith(")") else rest


def draw_tokens_per_s(md, source, out):
    prefix = "## Side by side, latest"
    columns = ["weights", "test", "phi3 (tok/s)", "transformers (tok/s)", "ratio", "llama.cpp (tok/s)", "ratio"]
    heading, lines = section(md, prefix, source)
    rows = table(lines, columns, source, prefix)
    peers = [(2, "phi3"), (3, "transformers"), (5, "llama.cpp")]
    weights = list(dict.fromkeys(r[0] for r in rows))
    tests = list(dict.fromkeys(r[1] for r in rows))
    data = {(r[0], r[1]): [(value(r[i], source), r[i]) for i, _ in peers] for r in rows}
    pw, ph, top, left = 330, 240, 100, 62
    gw = (pw - 20) / len(weights)
    bw = min(16, (gw - 14) / len(peers))
    notes = [f"{short_weights(w)}: {weights_detail(w)}" for w in weights if short_weights(w) != w]
    foot = command_note(lines, heading) + (" Weights — " + "; ".join(notes) + "." if notes else "")
    svg = Svg(len(tests) * (pw + left) + 40, top + ph + 60 + 14 * len(textwrap.wrap(foot, 150)) + 20)
    svg.text(svg.width / 2, 26, f"Tokens per second — {heading.split(': ', 1)[-1]}", size=16, bold=True,
             anchor="middle")
    x = svg.width / 2 - 150
    svg.text(x - 12, 52, "higher is better:", size=11, fill=MUTED, anchor="end")
    for i, (_, name) in enumerate(peers):
        x = legend_swatch(svg, x, 52, SERIES[i], name)
    svg.text(x, 52, "— no figure", size=11, fill=MUTED)
    for t_i, test in enumerate(tests):
        px = 20 + left + t_i * (pw + left)
        vals = [v for w in weights for v, _ in data.get((w, test), []) if v is not None]
        ticks = nice_ticks(max(vals, default=1))
        scale = ph / ticks[-1]
        m = re.match(r"(pp|tg)(\d+)$", test)
        what = {"pp": f"prefill, {m.group(2)}-token prompt", "tg": f"decode, {m.group(2)} new tokens"}[m.group(1)] \
            if m else test
        svg.text(px + pw / 2, top - 14, f"{test}: {what}", size=13, bold=True, anchor="middle")
        for t in ticks:
            y = top + ph - t * scale
            svg.line(px, y, px + pw, y, stroke=RULE if t else INK, sw=1)
            svg.text(px - 6, y + 4, f"{t:g}", size=10, fill=MUTED, anchor="end")
        svg.text(px - 44, top + ph / 2, "tokens/s", size=11, anchor="middle", rotate=True)
        for g, w in enumerate(weights):
            gx = px + 10 + g * gw + (gw - bw * len(peers)) / 2
            svg.text(px + 10 + (g + 0.5) * gw, top + ph + 16, short_weights(w), size=11, anchor="middle")
            for s, (v, raw) in enumerate(data.get((w, test), [(None, "")] * len(peers))):
                bx = gx + s * bw
                if v is None:
                    svg.text(bx + bw / 2, top + ph - 4, "—", size=9, fill=MUTED, anchor="middle")
                    continue
                svg.rect(bx + 1, top + ph - v * scale, bw - 2, v * scale, SERIES[s])
                svg.text(bx + bw / 2 + 3, top + ph - v * scale - 4, raw, size=8.5, fill=MUTED, rotate=True)
        svg.text(px + pw / 2, top + ph + 34, "weights", size=11, fill=MUTED, anchor="middle")
    svg.footnote(foot, top + ph + 60)
    return [svg.save(out, "bench-tokens-per-s.svg")]


def draw_attention(md, source, out):
    prefix = "## Attention variants at Phi-3-mini's shape"
    heading, lines = section(md, prefix, source)
    columns = ["benchmark", "layout", "mask", "naive (ms)", "tiled128 (ms)", "fused (ms)"]
    rows = table(lines, columns, source, prefix)
    kernels = [c[:-len(" (ms)")] for c in columns[3:]]
    masks = sorted({r[2] for r in rows}, key=lambda m: (m != "causal", -sum(r[2] == m for r in rows), m))
    mask = masks[0]
    known = ["MHA", "GQA-8", "MQA"]
    layouts = sorted({r[1] for r in rows}, key=lambda l: (known.index(l) if l in known else 9, l))
    series = {}  # (phase, kernel, layout) -> {length: ms}
    for r in rows:
        m = re.match(r"(pp|tg@)(\d+)$", r[0])
        if not m or r[2] != mask:
            continue
        for k, cell in zip(kernels, r[3:]):
            v = value(cell, source)
            if v is not None:
                series.setdefault((m.group(1), k, r[1]), {})[int(m.group(2))] = v
    pw, ph, top, left = 330, 260, 84, 70
    foot = command_note(lines, heading)
    svg = Svg(2 * (pw + left) + 210, top + ph + 64 + 14 * len(textwrap.wrap(foot, 150)) + 10)
    svg.text(svg.width / 2, 26, f"{heading}, {mask} mask", size=16, bold=True, anchor="middle")
    svg.text(svg.width / 2, 46, "scaled dot-product only, time per call (lower is better)", size=12,
             fill=MUTED, anchor="middle")
    panels = [("pp", "Prefill: ppN = N-token prompt", "prompt length N"),
              ("tg@", "Decode: tg@N = 1 token, KV cache of N", "cached tokens N")]
    for p_i, (phase, title, xlabel) in enumerate(panels):
        px = 20 + left + p_i * (pw + left)
        mine = {key: pts for key, pts in series.items() if key[0] == phase}
        if not mine:
            fail(f"{source}: under {prefix!r}: no {phase}N rows with the {mask} mask")
        lengths = sorted({n for pts in mine.values() for n in pts})
        vals = [v for pts in mine.values() for v in pts.values()]
        ticks = log_ticks(min(vals), max(vals))
        lo, hi = math.log10(ticks[0]), math.log10(ticks[-1])

        def xy(n, v):
            i = lengths.index(n)
            x = px + (pw / 2 if len(lengths) == 1 else 40 + i * (pw - 80) / (len(lengths) - 1))
            return x, top + ph - (math.log10(v) - lo) / (hi - lo) * ph

        svg.text(px + pw / 2, top - 12, title, size=13, bold=True, anchor="middle")
        svg.rect(px, top, pw, ph, "none", stroke=INK, sw=1)
        for t in ticks:
            y = xy(lengths[0], t)[1]
            svg.line(px, y, px + pw, y, stroke=RULE if 0 < y - top < ph else INK, sw=1)
            svg.text(px - 6, y + 4, f"{t:g}", size=10, fill=MUTED, anchor="end")
        for n in lengths:
            x = xy(n, ticks[0])[0]
            svg.line(x, top + ph, x, top + ph + 4, sw=1)
            svg.text(x, top + ph + 17, str(n), size=10, fill=MUTED, anchor="middle")
        svg.text(px + pw / 2, top + ph + 34, xlabel, size=11, anchor="middle")
        svg.text(px - 48, top + ph / 2, "ms per call (log scale)", size=11, anchor="middle", rotate=True)
        for k_i, k in enumerate(kernels):
            for l_i, layout in enumerate(layouts):
                pts = [xy(n, v) for n, v in sorted(mine.get((phase, k, layout), {}).items())]
                if pts:
                    svg.path("M" + " L".join(f"{num(x)} {num(y)}" for x, y in pts),
                             stroke=SERIES[k_i % 4], sw=2, dash=DASHES[l_i % 4])
                for x, y in pts:
                    svg.circle(x, y, 3, SERIES[k_i % 4])
    lx, ly = 20 + 2 * (pw + left) + 10, top + 10
    svg.text(lx, ly, "kernel", size=11, bold=True)
    for k_i, k in enumerate(kernels):
        legend_swatch(svg, lx, ly + 20 + 18 * k_i, SERIES[k_i % 4], k)
    ly += 40 + 18 * len(kernels)
    svg.text(lx, ly, "KV layout", size=11, bold=True)
    for l_i, layout in enumerate(layouts):
        legend_swatch(svg, lx, ly + 20 + 18 * l_i, MUTED, layout, dash=DASHES[l_i % 4] or "none")
    svg.footnote(foot, top + ph + 64)
    return [svg.save(out, "attention-variants.svg")]


# ---------------------------------------------------------------- main

def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--masks", help="MASKS.json")
    ap.add_argument("--decode", help="DECODE.json")
    ap.add_argument("--metadata", help="output of cargo metadata --format-version 1 --no-deps")
    ap.add_argument("--benchmarks", help="docs/benchmarks.md")
    ap.add_argument("--out", default="docs/img", help="output directory (default docs/img)")
    args = ap.parse_args()
    if not (args.masks or args.decode or args.metadata or args.benchmarks):
        ap.error("nothing to draw: give at least one of --masks, --decode, --metadata, --benchmarks")
    os.makedirs(args.out, exist_ok=True)
    written = []
    if args.masks:
        written += draw_masks(load_json(args.masks), args.out)
    if args.decode:
        written += draw_decode(load_json(args.decode), args.out)
    if args.metadata:
        written += draw_crates(load_json(args.metadata), args.out)
    if args.benchmarks:
        try:
            with open(args.benchmarks, encoding="utf-8") as f:
                md = f.read()
        except OSError as e:
            fail(f"{args.benchmarks}: {e}")
        written += draw_tokens_per_s(md, args.benchmarks, args.out)
        written += draw_attention(md, args.benchmarks, args.out)
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
