"""Rewrite the README's "## Performance" section from benchmarks/results/latest.md.

The generated part sits between two marker comments inside that section:

    <!-- bench:begin -->
    ... generated: table, machine, chart ...
    <!-- bench:end -->

Everything between them is replaced; the rest of the section (an introduction above, notes
below) is kept. If the markers are missing, the whole body of "## Performance" is replaced
by the markers and the generated part (and the section is appended when there is none).

    python benchmarks/update_readme.py [--results benchmarks/results/latest.md] [--readme README.md]
                                       [--allow-quick] [--check]

A quick smoke run (run.py --quick) is refused unless --allow-quick: its numbers are noise.
--check exits 1 if the README is not up to date and changes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SECTION = "## Performance"
README_END = "<!-- end of the README part -->"  # report.README_END: where latest.md's summary stops


def generated_block(results_md: Path, readme: Path) -> str:
    text = results_md.read_text()
    if README_END in text:
        text = text.split(README_END, 1)[0]
    lines = text.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    body = "\n".join(lines).strip()
    # links relative to latest.md become relative to the README
    rel = os.path.relpath(results_md.parent.resolve(), readme.parent.resolve())

    def fix(m):
        target = m.group(2)
        if re.match(r"^[a-z]+:|^/|^#", target):
            return m.group(0)
        return f"{m.group(1)}({rel}/{target})"

    body = re.sub(r"(!?\[[^\]]*\])\(([^)]+)\)", fix, body)
    md_link = os.path.relpath(results_md.resolve(), readme.parent.resolve())
    body += (f"\n\nEvery sample and every client and broker setting: [{md_link}]({md_link}). "
             "Reproduce with `make bench`.")
    return f"{BEGIN}\n{body}\n{END}"


def rewrite(readme_text: str, block: str) -> str:
    if BEGIN in readme_text and END in readme_text:
        head, rest = readme_text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        return head + block + tail
    m = re.search(rf"^{re.escape(SECTION)}[ \t]*\n", readme_text, flags=re.MULTILINE)
    if not m:
        return readme_text.rstrip("\n") + f"\n\n{SECTION}\n\n{block}\n"
    nxt = re.search(r"^#{1,2} ", readme_text[m.end():], flags=re.MULTILINE)
    end = m.end() + nxt.start() if nxt else len(readme_text)
    tail = readme_text[end:]
    return readme_text[:m.end()] + f"\n{block}\n" + ("\n" + tail if tail else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(BENCH / "results" / "latest.md"))
    ap.add_argument("--readme", default=str(BENCH.parent / "README.md"))
    ap.add_argument("--allow-quick", action="store_true", help="accept a --quick smoke run")
    ap.add_argument("--check", action="store_true", help="exit 1 if the README is out of date")
    a = ap.parse_args(argv)
    results_md, readme = Path(a.results), Path(a.readme)
    if not results_md.exists():
        print(f"{results_md} does not exist: run `make bench` first", file=sys.stderr)
        return 2
    meta_json = results_md.with_suffix(".json")
    if meta_json.exists() and json.loads(meta_json.read_text()).get("plan", {}).get("quick") and not a.allow_quick:
        print(f"{results_md} is a --quick smoke run; refusing to put it in the README (--allow-quick)",
              file=sys.stderr)
        return 2
    old = readme.read_text()
    new = rewrite(old, generated_block(results_md, readme))
    if a.check:
        if new != old:
            print(f"{readme} is out of date with {results_md}", file=sys.stderr)
            return 1
        return 0
    if new == old:
        print(f"{readme}: already up to date")
    else:
        readme.write_text(new)
        print(f"{readme}: {SECTION} rewritten from {results_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
