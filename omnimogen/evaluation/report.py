"""The one core of every evaluation: measure once per repeat, then report each metric's mean and 95%
half-width over the repeats, as typed results.

Each repeat measures ``{method: {category: {metric: value}}}`` (the HumanML3D protocol has one
category, ``all``); :func:`over_repeats` runs the repeats and aggregates them. ``run_bench`` returns a
:class:`SuiteResults`, ``run_protocol`` a :class:`ProtocolResults`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from .metrics import aggregate

Measured = Mapping[str, Mapping[str, Mapping[str, float]]]  # method -> category -> metric -> value


@dataclass(frozen=True)
class Scores:
    summary: dict[str, dict[str, dict[str, float]]]  # method -> category -> {metric: mean, metric_ci95: half}
    per_repeat: dict[str, dict[str, dict[str, list[float]]]]  # method -> category -> metric -> one value per repeat


def over_repeats(repeats: int, measure: Callable[[int], Measured], names: tuple[str, ...] | None = None) -> Scores:
    """Run ``measure(r)`` for every repeat r and aggregate; ``names`` orders (and limits) the metrics."""
    runs = [measure(r) for r in range(repeats)]
    per_repeat: dict[str, dict[str, dict[str, list[float]]]] = {}
    for run in runs:
        for method, cats in run.items():
            for cat, values in cats.items():
                slot = per_repeat.setdefault(method, {}).setdefault(cat, {})
                for name, v in values.items():
                    slot.setdefault(name, []).append(float(v))
    summary = {
        method: {cat: aggregate([run[method][cat] for run in runs], names) for cat in cats}
        for method, cats in runs[0].items()
    }
    return Scores(summary, per_repeat)


@dataclass(frozen=True)
class SuiteResults:
    """What ``omnimogen bench`` measured (``results.json``): who was scored on what, and the metrics."""

    suite: str
    model: dict | None  # {"name", "sha256"}; None: baselines only
    data: dict  # {"name", "sha256"}
    seed: int
    repeats: int
    versions: dict
    metrics: dict[str, dict[str, dict[str, float]]]  # method -> category -> {metric, metric_ci95}

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> SuiteResults:
        return cls(**{k: doc[k] for k in ("suite", "model", "data", "seed", "repeats", "versions", "metrics")})


@dataclass(frozen=True)
class ProtocolResults:
    """What the HumanML3D protocol measured: per method the metrics' means and half-widths, the values of
    every repeat, and the size of the test set."""

    metrics: dict[str, dict[str, float]]  # "ground_truth" / "model" -> {metric, metric_ci95}
    per_repeat: dict[str, dict[str, list[float]]]  # method -> metric -> one value per repeat
    entries: int
    texts_per_repeat: int
