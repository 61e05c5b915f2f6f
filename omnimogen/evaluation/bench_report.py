"""The human side of a benchmark run: ``report.md`` (the model next to the baselines, category by
category, with what each number means) and ``results.png`` (the headline metric and Physical)."""

from __future__ import annotations

from pathlib import Path

from ..fileio import atomic_path

REPORT, CHART = "report.md", "results.png"
METHOD_NOTES = {
    "model": "the model, asked each case's instruction with its motions (a seed per case and repeat)",
    "ground_truth": "the target itself: the ceiling each metric reaches with this evaluator",
    "copy_source": "the source motion returned unchanged (cases that have a source)",
    "retrieval": "the train clip whose caption is nearest to the instruction in the evaluator's text space, "
    "cut to the target's length: what the words alone get",
}
RETRIEVAL_NOTE = (
    "R@1/R@2/R@3 (%) and AvgR (mean rank, 1 is best): in batches of {batch} cases (shuffled per repeat, the same "
    "batches for every method; a smaller category is one batch), each target ranks the produced motions of its batch by the cosine of the "
    "evaluator's motion embeddings; a hit at k when {hit} is among the k nearest."
)
PHYSICAL_NOTE = "Physical: the paper's contact score of the produced motion (1: on the floor, no floating or sliding)."
SUITE_NOTES = {
    "anycontext": [RETRIEVAL_NOTE.format(batch="{batch_size}", hit="its own case's motion"), PHYSICAL_NOTE],
    "edit": [
        RETRIEVAL_NOTE.format(batch="{batch_size}", hit="its own case's edited motion")
        + " Edited-to-target: R@k, AvgR (the target retrieves); edited-to-source: source_R@k, source_AvgR "
        "(the source retrieves). A good edit is near its target and still related to its source.",
        PHYSICAL_NOTE,
    ],
    "tasks": [
        RETRIEVAL_NOTE.format(
            batch="{batch_size}", hit="a motion of a case with the same action and style (knowledge: the same concept)"
        ),
        "KeyframeErr (m): mean joint error over the rows the input fixes (in-betweening: the start and end poses; "
        "inpainting: the rows before and after the gap), poses compared relative to the root and the facing, "
        "because each pose reaches the model in its own frame.",
        "reflection_think: the reflection cases asked again with Think mode (judge, regenerate), with the same "
        "seeds: compare with reflection to see whether thinking helps.",
        PHYSICAL_NOTE,
    ],
    "t2m": [
        "R@1/R@2/R@3 (0-1, HumanML3D's convention): in batches of {batch_size}, each caption ranks the motions of its "
        "batch by the evaluator; a motion of the caption's action and style counts (Bandai captions are "
        "written from the labels, so same-label clips share them). FID against the test clips, MM-Dist, "
        "Diversity (up to {diversity_pairs} pairs) and MultiModality ({mm_texts} texts x {mm_samples} samples, {mm_pairs} pairs) "
        "as Guo et al. compute them, on our evaluator's unit-length embeddings (so MM-Dist lies in [0, 2]); "
        "numbers compare within this benchmark, not with papers that use the HumanML3D evaluator.",
        PHYSICAL_NOTE,
    ],
}
HEADLINE = {"anycontext": "R@1", "edit": "R@1", "tasks": "R@1"}


def _cell(values: dict, name: str, suite: str) -> str:
    """``mean ± half-width``: percentages with 1 decimal, mean ranks with 2, everything else with 3."""
    if name not in values:
        return "–"
    digits = 1 if "R@" in name and suite != "t2m" else 2 if "AvgR" in name else 3
    return f"{values[name]:.{digits}f} ± {values[f'{name}_ci95']:.{digits}f}"


def _tables(suite: str, metrics: dict) -> list[str]:
    """One table per category (``all`` first): methods as rows, metrics as columns."""
    categories = list(dict.fromkeys(c for m in metrics.values() for c in m))
    categories.sort(key=lambda c: c != "all")
    lines = []
    for cat in categories:
        rows = {m: v[cat] for m, v in metrics.items() if cat in v}
        names = list(dict.fromkeys(k for v in rows.values() for k in v if not k.endswith("_ci95")))
        lines += ["", f"### {cat}", "", "| method | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += [f"| {m} | " + " | ".join(_cell(v, n, suite) for n in names) + " |" for m, v in rows.items()]
    return lines


def _targets(suite: str, metrics: dict) -> list[str]:
    """The issue's targets for the shipped model, checked plainly (model next to ground truth and copy source)."""
    model, gt, copy = (metrics.get(k, {}) for k in ("model", "ground_truth", "copy_source"))
    if not model or suite not in ("anycontext", "t2m"):
        return []
    lines, ok = ["", "## Against the targets of issue 6", ""], {True: "met", False: "NOT met"}
    if "all" in model and "all" in gt:
        p, g = model["all"]["Physical"], gt["all"]["Physical"]
        lines.append(f"- Physical {p:.3f} (ground truth {g:.3f}): at least 0.95 and at most 0.02 below the ground "
                     f"truth: {ok[p >= 0.95 and p >= g - 0.02]}.")  # fmt: skip
    if suite == "t2m" and "all" in gt:
        r, g = model["all"]["R@3"], gt["all"]["R@3"]
        lines.append(f"- R@3 {r:.3f}, ground truth {g:.3f}: within 10% of it: {ok[r >= 0.9 * g]}.")
    for cat in (c for c in model if c != "all" and c in gt and c in copy):
        m, g, c = model[cat], gt[cat]["R@1"], copy[cat]
        above = m["R@1"] - m["R@1_ci95"] > c["R@1"] + c["R@1_ci95"]  # "well above": the intervals do not meet
        lines.append(f"- {cat}: R@1 {m['R@1']:.1f} vs copy source {c['R@1']:.1f} (above it, intervals apart: "
                     f"{ok[above]}) and ground truth {g:.1f} (at least 80% of it: {ok[m['R@1'] >= 0.8 * g]}).")  # fmt: skip
    return lines


def _chart(path: Path, suite: str, metrics: dict) -> None:
    """Bars per method with 95% intervals: the headline retrieval metric and Physical, by category."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if suite == "t2m":
        panels = [("R-precision (0-1)", [(f"R@{k}", "all", f"R@{k}") for k in (1, 2, 3)])]
    else:
        cats = list(dict.fromkeys(c for m in metrics.values() for c in m))
        panels = [(f"{HEADLINE[suite]} (%)", [(c, c, HEADLINE[suite]) for c in cats])]
    cats = list(dict.fromkeys(c for m in metrics.values() for c in m))
    panels.append(("Physical", [(c, c, "Physical") for c in cats]))
    fig = Figure(figsize=(11, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    width = 0.8 / len(metrics)
    for p, (title, groups) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), p + 1)
        for k, (method, values) in enumerate(metrics.items()):
            xs = [i + k * width for i, (_, cat, name) in enumerate(groups) if name in values.get(cat, {})]
            got = [values[cat][name] for _, cat, name in groups if name in values.get(cat, {})]
            err = [values[cat][f"{name}_ci95"] for _, cat, name in groups if name in values.get(cat, {})]
            ax.bar(xs, got, width, yerr=err, capsize=2, label=method)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))], [g[0] for g in groups], fontsize=8,
                      rotation=20, ha="right")  # fmt: skip
        ax.set_title(title, fontsize=10)
    fig.axes[0].legend(fontsize=8)
    fig.suptitle(f"omnimogen bench {suite}: mean and 95% interval over repeats", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, metadata={"Software": None})


def write_report(out: Path, results: dict, identity: dict, counts: dict, seconds: float) -> None:
    """``report.md`` and ``results.png`` in ``out`` (both written atomically)."""
    suite, cfg, metrics = results["suite"], identity["config"], results["metrics"]

    def who(d: dict) -> str:
        return f"`{d['name']}` (sha256 `{d['sha256'][:16]}`)" if d.get("sha256") else "none (baselines only)"

    subset = "every case"
    if cfg["per_category"] is not None:
        subset = f"at most {cfg['per_category']} cases per category (a fixed choice, the same for every seed)"
    if identity["quick"]:
        subset = f"--quick: {subset}" + (f"; MultiModality on {cfg['mm_texts']} texts" if suite == "t2m" else "")
    lines = [
        f"# omnimogen bench {suite}",
        "",
        "| | |",
        "|---|---|",
        f"| model | {who(results['model'])} |",
        f"| data | {who(results['data'])} |",
        f"| evaluator | {who(identity['evaluator'])} |",
        f"| seed, repeats | {results['seed']}, {results['repeats']} (mean ± 95% half-width over repeats) |",
        f"| subset | {subset} |",
        f"| cases | {', '.join(f'{c} {n}' for c, n in counts['ground_truth'].items())} |",
        f"| run time | {seconds:.0f} s (versions in results.json) |",
        "",
        *(note.format(**cfg) + "\n" for note in SUITE_NOTES[suite]),
        "Methods:",
        "",
        *(f"- `{m}`: {METHOD_NOTES[m]}" for m in metrics),
        "",
        f"![results]({CHART})",
        "",
        "## Results",
        *_tables(suite, metrics),
        *_targets(suite, metrics),
    ]
    with atomic_path(out / REPORT) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _chart(out / CHART, suite, metrics)


def summary(results) -> list[str]:
    """One line per method and category of the headline numbers (of a ``SuiteResults``), for the terminal."""
    lines = []
    for method, cats in results.metrics.items():
        for cat, values in cats.items():
            shown = [n for n in values if not n.endswith("_ci95") and not n.startswith("source_R@2")][:6]
            lines.append(
                f"{method:13s} {cat:16s} " + "  ".join(f"{n} {_cell(values, n, results.suite)}" for n in shown)
            )
    return lines
