"""The message filter on a sample of classroom chat: false positives, misses, and cost.

    .venv/bin/python loadtests/filter_accuracy.py [--json]

Reads tests/data/filter_sample.json (ordinary messages and messages the filter must
catch, in several languages; written by the project), in two parts: the sample the
filter was tuned on, and a held-out one written afterwards (the fairer figures), and checks each with the default
rules (`FilterConfig.default()`: every language's list, every detector on). Prints:
- false positives: ordinary messages any rule matched (each listed, with the rules);
- misses: messages the expected rule did not match (each listed);
- per rule: how many of its positives it caught;
- cost: microseconds per check (median and p99 over the whole sample, repeated),
  on this machine, with whatever else runs on it.
tests/test_filter_accuracy.py asserts the figures stay within bounds.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rooms.filter import RULES, FilterConfig, compiled  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "filter_sample.json"


def measure(rounds: int = 20, part: str = "") -> dict[str, Any]:
    """The figures on the tuning sample (`part=""`) or the held-out one (`"heldout_"`)."""
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data = {"ordinary": data[f"{part}ordinary"], "positives": data[f"{part}positives"]}
    filt = compiled(FilterConfig.default())
    false_pos = []
    for lang, text in data["ordinary"]:
        verdict = filt.check(text)
        if verdict is not None:
            false_pos.append({"lang": lang, "text": text, "rules": list(verdict.rules)})
    misses = []
    caught: dict[str, list[int]] = {r: [0, 0] for r in RULES}
    for lang, rule, text in data["positives"]:
        verdict = filt.check(text)
        caught[rule][1] += 1
        if verdict is not None and rule in verdict.rules:
            caught[rule][0] += 1
        else:
            misses.append({"lang": lang, "rule": rule, "text": text,
                           "got": list(verdict.rules) if verdict else []})
    texts = [t for _, t in data["ordinary"]] + [t for _, _, t in data["positives"]]
    costs = []
    for _ in range(rounds):
        for t in texts:
            start = time.perf_counter()
            filt.check(t)
            costs.append((time.perf_counter() - start) * 1e6)
    costs.sort()
    n_ord, n_pos = len(data["ordinary"]), len(data["positives"])
    return {
        "ordinary": n_ord, "positives": n_pos,
        "false_positives": false_pos, "misses": misses,
        "false_positive_rate": len(false_pos) / n_ord,
        "miss_rate": len(misses) / n_pos,
        "per_rule": {r: {"caught": c, "of": n} for r, (c, n) in caught.items()},
        "languages": sorted({lang for lang, _ in data["ordinary"]}
                            | {lang for lang, _, _ in data["positives"]}),
        "us_p50": statistics.median(costs), "us_p99": costs[int(len(costs) * 0.99)],
    }


def main() -> None:
    for part, title in (("", "tuning sample (the filter was adjusted on it)"),
                        ("heldout_", "held-out sample (written after, not tuned on)")):
        m = measure(part=part)
        if "--json" in sys.argv:
            print(json.dumps(m, ensure_ascii=False, indent=2))
            continue
        print(f"== {title}")
        report(m)


def report(m: dict[str, Any]) -> None:
    print(f"sample: {m['ordinary']} ordinary messages, {m['positives']} to catch, "
          f"{len(m['languages'])} languages ({', '.join(m['languages'])})")
    print(f"false positives: {len(m['false_positives'])}/{m['ordinary']} "
          f"({m['false_positive_rate']:.1%})")
    for f in m["false_positives"]:
        print(f"  [{f['lang']}] {f['rules']}: {f['text']}")
    print(f"misses: {len(m['misses'])}/{m['positives']} ({m['miss_rate']:.1%})")
    for f in m["misses"]:
        print(f"  [{f['lang']}] expected {f['rule']}, got {f['got']}: {f['text']}")
    for rule, c in m["per_rule"].items():
        print(f"  {rule:7} caught {c['caught']}/{c['of']}")
    print(f"cost per check: p50 {m['us_p50']:.1f} us, p99 {m['us_p99']:.1f} us")


if __name__ == "__main__":
    main()
