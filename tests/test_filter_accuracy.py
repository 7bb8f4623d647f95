"""The filter's false positives and misses on the sample of classroom chat
(tests/data/filter_sample.json; loadtests/filter_accuracy.py prints the figures)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def accuracy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("filter_accuracy",
                                                  ROOT / "loadtests" / "filter_accuracy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_figures_on_the_tuning_sample_stay_within_bounds() -> None:
    m = accuracy().measure(rounds=1)
    assert m["ordinary"] >= 90 and m["positives"] >= 60 and len(m["languages"]) >= 15
    assert m["false_positive_rate"] <= 0.02, m["false_positives"]
    assert m["miss_rate"] <= 0.06, m["misses"]
    for rule in ("phone", "email", "handle", "link"):
        assert m["per_rule"][rule]["caught"] == m["per_rule"][rule]["of"], rule


def test_figures_on_the_held_out_sample_stay_within_bounds() -> None:
    m = accuracy().measure(rounds=1, part="heldout_")
    assert m["ordinary"] >= 40 and m["positives"] >= 20
    assert m["false_positive_rate"] <= 0.05, m["false_positives"]
    assert m["miss_rate"] <= 0.10, m["misses"]
