"""Pastes the walk-through's code and output into docs/walkthrough.md, or checks that they are.

    python3 tools/docs/walkthrough.py DOC SOURCE OUTPUT [--check]

DOC marks each block it owns with a comment on the line before the fence:

    <!-- code: NAME -->      the lines of SOURCE between `// ANCHOR: NAME` and `// ANCHOR_END: NAME`
    <!-- output: NAME -->    the lines of OUTPUT after `=== NAME ===`, up to the next such line

Without --check DOC is rewritten. With --check nothing is written: the exit status is 1 and a
diff is printed when DOC differs from what it would become, ignoring only timings (a number
before " s", "tokens/s" or "×"), which change from run to run.
"""

import difflib
import re
import sys
import textwrap

MARK = re.compile(r"^<!-- (code|output): ([\w-]+) -->\n```(\w*)\n(.*?)^```$", re.M | re.S)
TIMING = re.compile(r"\d+(\.\d+)?(?= s\b| tokens/s|×)")


def anchors(source):
    found, name, lines = {}, None, []
    for line in source.splitlines():
        start = re.match(r"\s*// ANCHOR: ([\w-]+)$", line)
        end = re.match(r"\s*// ANCHOR_END: ([\w-]+)$", line)
        if start:
            name, lines = start.group(1), []
        elif end:
            if end.group(1) != name:
                sys.exit(f"ANCHOR_END: {end.group(1)} closes {name}")
            found[name] = textwrap.dedent("\n".join(lines)).strip("\n")
            name = None
        elif name:
            lines.append(line)
    return found


def sections(output):
    found, name = {}, None
    for line in output.splitlines():
        head = re.match(r"^=== ([\w-]+) ===$", line)
        if head:
            name = head.group(1)
            found[name] = []
        elif name:
            found[name].append(line)
    return {k: "\n".join(v).strip("\n") for k, v in found.items()}


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    check = "--check" in sys.argv[1:]
    doc_path, source_path, output_path = args
    doc = open(doc_path, encoding="utf-8").read()
    code = anchors(open(source_path, encoding="utf-8").read())
    out = sections(open(output_path, encoding="utf-8").read())
    used = set()

    def fill(m):
        kind, name, lang = m.group(1), m.group(2), m.group(3)
        table = code if kind == "code" else out
        if name not in table:
            sys.exit(f"{doc_path}: <!-- {kind}: {name} --> has no {'anchor' if kind == 'code' else 'section'} {name}")
        used.add((kind, name))
        return f"<!-- {kind}: {name} -->\n```{lang}\n{table[name]}\n```"

    new = MARK.sub(fill, doc)
    missing = [n for n in out if ("output", n) not in used]
    if missing:
        sys.exit(f"{doc_path}: no <!-- output: ... --> block for sections {missing}")
    if not check:
        open(doc_path, "w", encoding="utf-8").write(new)
        print(f"{doc_path}: {len(used)} blocks written")
        return
    masked = lambda text: TIMING.sub("#", text).splitlines(keepends=True)
    diff = list(difflib.unified_diff(masked(doc), masked(new), doc_path, "from the code and its run"))
    if diff:
        sys.stdout.writelines(diff)
        sys.exit(f"{doc_path} is out of date: run ./tools/docs.sh")
    print(f"{doc_path}: {len(used)} blocks equal the code and its run (timings aside)")


main()
