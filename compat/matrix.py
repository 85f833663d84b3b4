"""The compatibility matrix: compat/results/*.json rendered into
docs/compatibility.md (between the compat markers), and the allowlist check.

compat/allowlist.txt   `<pass> <test>`: what FluxMQ must pass; only ever add lines.
compat/gaps.txt        `<test> <why>`: tests Apache Kafka passes here and FluxMQ does
                       not yet, each with the open issue whose feature it needs.
compat/ci_tier.txt     test numbers of the quick CI tier (`bash .ci/run`).
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "compatibility.md"
BEGIN, END = "<!-- compat:begin -->", "<!-- compat:end -->"
MARK = {"PASSED": "pass", "FAILED": "**fail**", "SKIPPED": "skip", None: ""}


def _lines(name: str) -> list[list[str]]:
    out = []
    for line in (HERE / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line.split(None, 1))
    return out


def load_allowlist() -> set[tuple[str, str]]:
    return {(p, t.strip()) for p, t in _lines("allowlist.txt")}


def load_gaps() -> dict[str, str]:
    return {t: why.strip() for t, why in _lines("gaps.txt")}


def load_ci_tier() -> list[str]:
    return [parts[0] for parts in _lines("ci_tier.txt")]


def _selected(test: str, tests: list[str] | None) -> bool:
    """Whether a TESTS= filter picks this test: the runner looks for each test's
    4-digit number in the filter, so a name picks every test of its number."""
    return tests is None or test[:4] in {t[:4] for t in tests}


def allowlist_failures(passes: dict[str, dict], allow: set[tuple[str, str]], tests: list[str] | None) -> list[str]:
    """'pass test: reason' for each allowlisted test this run should have passed and did not."""
    out = []
    for p, t in sorted(allow):
        if p not in passes or not _selected(t, tests):
            continue
        r = passes[p].get(t)
        if r is None or r.state != "PASSED":
            why = "not run" if r is None else r.state if r.state != "FAILED" else r.reason or "failed"
            out.append(f"{p} {t}: {why}")
    return out


def summary(passes: dict[str, dict], wall: float) -> str:
    parts = []
    for name, results in passes.items():
        ran = [r for r in results.values() if r.state != "SKIPPED"]
        parts.append(f"{name} {sum(r.state == 'PASSED' for r in ran)}/{len(ran)}")
    return f"compat: FluxMQ passed {', '.join(parts)} in {wall / 60:.1f} min (docs/compatibility.md has the matrix)"


# --------------------------------------------------------------- the document
def _load(broker: str) -> dict | None:
    path = HERE / "results" / f"{broker}.json"
    return json.loads(path.read_text()) if path.exists() else None


def render() -> str:
    flux, kafka = _load("fluxmq"), _load("kafka")
    if flux is None:
        return "No run recorded yet: `make compat`.\n"
    kafka = kafka or {"passes": {}, "date": "never", "librdkafka": "?"}
    allow, gaps = load_allowlist(), load_gaps()
    passes = list(flux["passes"])
    lines = [
        f"librdkafka {flux['librdkafka']}'s test-runner (`make compat`, compat/run.py): FluxMQ run "
        f"{flux['date']}, Apache Kafka {flux['kafka_version']} run {kafka['date']}, the same machine "
        "(2 cores), one broker each, the suite's profile: "
        + ", ".join(f"`{k}={v}`" for k, v in sorted(flux["broker_settings"].items())) + ".",
        "",
    ]
    extra = {k: v for k, v in kafka.get("broker_settings", {}).items() if k not in flux["broker_settings"]}
    if extra:
        lines += ["Kafka also runs with " + ", ".join(f"`{k}={v}`" for k, v in sorted(extra.items()))
                  + ", so that the ACL tests can set their ACLs.", ""]
    totals = []
    for p in passes:
        f_res, k_res = flux["passes"][p], kafka["passes"].get(p, {})
        k_pass = {t for t, r in k_res.items() if r["state"] == "PASSED"}
        f_pass = {t for t, r in f_res.items() if r["state"] == "PASSED"}
        both_fail = {t for t in f_res if f_res[t]["state"] == "FAILED" and k_res.get(t, {}).get("state") == "FAILED"}
        totals.append(f"- **{p}**: FluxMQ passes {len(f_pass & k_pass)} of the {len(k_pass)} tests Kafka passes"
                      f" ({len(f_pass - k_pass)} more that Kafka does not); {len(both_fail)} fail on both.")
    lines += totals + [""]
    if flux.get("full_run_wall_s"):
        lines += [f"The last full `make compat` (both brokers, every pass) took {flux['full_run_wall_s'] / 60:.0f} min.", ""]
    header = "| test | " + " | ".join(f"{p}: FluxMQ | {p}: Kafka" for p in passes) + " | allowlisted | note |"
    lines += [header, "|" + "---|" * (2 + 2 * len(passes) + 1)]
    names = sorted({t for p in passes for t, r in flux["passes"][p].items() if r["state"] != "SKIPPED"}
                   | {t for p in passes for t, r in kafka["passes"].get(p, {}).items() if r["state"] != "SKIPPED"})
    for t in names:
        cells = []
        for p in passes:
            for res in (flux["passes"][p], kafka["passes"].get(p, {})):
                r = res.get(t)
                mark = MARK[r["state"] if r else None]
                if r and r.get("retried"):
                    mark += " (2nd try)"
                cells.append(mark)
        listed = ", ".join(p for p in passes if (p, t) in allow)
        note = gaps.get(t, "")
        if not note and any(flux["passes"][p].get(t, {}).get("state") == "FAILED"
                            and kafka["passes"].get(p, {}).get(t, {}).get("state") == "FAILED" for p in passes):
            note = "fails on Kafka too: " + next(
                kafka["passes"][p][t].get("reason", "") for p in passes
                if kafka["passes"].get(p, {}).get(t, {}).get("state") == "FAILED")[:140]
        lines.append(f"| {t} | " + " | ".join(cells) + f" | {listed} | {note.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def update_docs() -> None:
    text = DOC.read_text()
    if BEGIN not in text:
        raise SystemExit(f"compat: {DOC} has no {BEGIN} marker")
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{render()}{END}{tail}")


if __name__ == "__main__":
    update_docs()
