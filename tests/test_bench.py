"""The benchmark suites (``omnimogen bench``): results schema, baseline ceilings, determinism, refusal of
another run, resume after an interruption, how the model is asked, and the command line's errors.

Everything runs on a 40-take Bandai build with a tiny random evaluator and a tiny random model."""

import json
import shutil
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import FIXTURES, bandai

from omnimogen.cli import main
from omnimogen.data.bandai import build_bandai
from omnimogen.evaluation import bench
from omnimogen.evaluation import evaluator as ev
from omnimogen.evaluation.bench import BenchConfig, BenchError, run_bench
from omnimogen.instructions.anycontext import build_anycontext
from omnimogen.instructions.builder import build_x2mo
from omnimogen.instructions.corpus import Corpus
from omnimogen.instructions.schema import MotionRef, Sample, Turn, motion, read_samples, text, write_samples
from omnimogen.model.pipeline import OmniMoGen, Result
from omnimogen.model.transformer import ModelConfig, OmniMoGenLM
from omnimogen.model.vocab import Vocab
from omnimogen.motion import Motion, Normalizer
from omnimogen.tokenizer import PRESETS, MotionTokenizer

CFG = BenchConfig(repeats=2, batch_size=8, per_category=8, mm_texts=2, mm_samples=3, mm_pairs=2, chunk=4)
TOP = {"suite", "model", "data", "seed", "repeats", "versions", "metrics"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    out = tmp_path_factory.mktemp("bench") / "bandai"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_bandai(bandai(), out, limit=40, workers=1, progress=False)
        return Corpus(out)


@pytest.fixture(scope="module")
def anycontext(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "anycontext"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the small test split has no trajectory cases
        build_anycontext(corpus.root, out, cases=8, progress=False)
    return out


@pytest.fixture(scope="module")
def x2mo(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "x2mo"
    mix = {t: 1 for t in ("edit/style", "edit/speed", "inbetween", "inpaint", "continue", "reflection/generate")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_x2mo(corpus.root, out, samples=300, seed=3, mix=mix | {"knowledge": 1}, progress=False)
    return out


@pytest.fixture(scope="module")
def evaluator_dir(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("bench") / "evaluator"
    ev.TextMotionEvaluator(ev.PRESETS["tiny"], Normalizer.load(FIXTURES)).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    tok = MotionTokenizer(PRESETS["tiny"], Normalizer.load(FIXTURES))
    tok.train()
    for _ in range(3):  # initialise the EMA codebooks
        tok(torch.randn(4, 32, 263))
    texts = ["Make <SourceMotion> look like <RefMotion>.", "a person walks forward"] * 10
    vocab = Vocab.train_bpe(texts, 300, tok.config.num_levels, tok.config.codebook_size, "grouped")
    lm = OmniMoGenLM(ModelConfig(hidden_size=32, layers=1, heads=2, intermediate_size=64), vocab)
    out = tmp_path_factory.mktemp("bench") / "model"
    OmniMoGen(lm, tok.eval()).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def ac_run(corpus, anycontext, model_dir, evaluator_dir, tmp_path_factory):
    """One uninterrupted anycontext run with the model: the reference for determinism and resume."""
    out = tmp_path_factory.mktemp("bench") / "ac"
    kw = {"data": corpus.root, "cases": anycontext, "model": model_dir, "evaluator": evaluator_dir}
    return out, kw, run_bench("anycontext", out, config=CFG, progress=False, **kw)


def test_results_schema_and_the_ground_truth_ceiling(ac_run, anycontext):
    out, kw, results = ac_run
    assert set(results.to_json()) == TOP and results.to_json() == json.loads((out / "results.json").read_text())
    assert results.suite == "anycontext" and results.repeats == 2 and results.seed == 0
    assert len(results.model["sha256"]) == len(results.data["sha256"]) == 64
    assert results.model["sha256"] == bench.model_sha256(kw["model"]) != bench.dir_sha256(kw["evaluator"])
    assert {"torch", "numpy", "evaluator"} <= set(results.versions)
    assert set(results.metrics) == {"model", "ground_truth", "copy_source", "retrieval"}
    for method in results.metrics.values():
        assert set(method) == {"style", "speed", "compositional", "all"}
        for values in method.values():
            names = ["R@1", "R@2", "R@3", "AvgR", "Physical"]
            assert list(values) == [k for n in names for k in (n, f"{n}_ci95")]
            assert all(np.isfinite(v) for v in values.values()) and values["AvgR_ci95"] >= 0
            assert 0 <= values["R@1"] <= values["R@2"] <= values["R@3"] <= 100 and 1 <= values["AvgR"] <= 8
    gt = results.metrics["ground_truth"]
    for values in gt.values():
        assert values["R@1"] == 100 and values["R@1_ci95"] == 0  # its own target: never beaten, at most tied
        assert 0.9 < values["Physical"] <= 1  # real motion stands on the floor
    for f in anycontext.glob("*.jsonl"):  # one batch of 8 per category: AvgR counts half a rank per tie
        targets = [json.dumps(s.turns[1].parts[0].motion.to_json()) for s in read_samples(f)]
        ties = sum(targets.count(t) - 1 for t in targets)
        assert gt[f.name.split("-")[0]]["AvgR"] == pytest.approx(1 + ties / 2 / len(targets))
    # Eight random-weight answers are not the targets: the model is below the ceiling somewhere.
    assert min(v["R@1"] for v in results.metrics["model"].values()) < 100
    report = (out / "report.md").read_text()
    assert "| model |" in report and "### style" in report and "results.png" in report
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG" and not (out / "partial").exists()


def test_same_seed_same_numbers_other_seed_other_samples(ac_run, tmp_path):
    _, kw, results = ac_run
    again = run_bench("anycontext", tmp_path / "again", config=CFG, progress=False, **kw)
    assert again.metrics == results.metrics
    other = run_bench("anycontext", tmp_path / "other", seed=1, config=CFG, progress=False, **kw)
    assert other.metrics["model"] != results.metrics["model"]
    assert other.metrics["ground_truth"]["all"]["R@1"] == 100  # other batches, same ceiling


def test_an_interrupted_run_resumes_to_the_same_numbers(ac_run, tmp_path, monkeypatch):
    _, kw, results = ac_run
    real, calls = bench.compute_chunk, []

    def dies_after_three(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "compute_chunk", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        run_bench("anycontext", tmp_path / "run", config=CFG, progress=False, **kw)
    assert not (tmp_path / "run" / "results.json").exists() and len(list((tmp_path / "run" / "partial").iterdir())) == 3
    # Another configuration never mixes with the interrupted one.
    with pytest.raises(BenchError, match="holds another run"):
        run_bench("anycontext", tmp_path / "run", config=replace(CFG, repeats=3), progress=False, **kw)
    calls.clear()
    monkeypatch.setattr(bench, "compute_chunk", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    resumed = run_bench("anycontext", tmp_path / "run", config=CFG, progress=False, **kw)
    assert resumed.metrics == results.metrics
    chunks = 3 * 6 + 6 * 2  # 24 cases in chunks of 4: each baseline once, the model per repeat
    assert len(calls) == chunks - 3  # the finished chunks were read, not recomputed
    calls.clear()
    assert run_bench("anycontext", tmp_path / "run", config=CFG, progress=False, **kw) == results  # complete: kept
    assert calls == []


def test_a_folder_holding_another_run_is_refused_unless_overwrite(ac_run, tmp_path):
    out, kw, results = ac_run
    with pytest.raises(BenchError, match="holds another run.*--overwrite"):
        run_bench("anycontext", out, seed=5, config=CFG, progress=False, **kw)
    assert json.loads((out / "results.json").read_text()) == results.to_json()  # untouched
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BenchError, match="holds no benchmark run"):
        run_bench("anycontext", tmp_path, config=CFG, overwrite=True, progress=False, **kw)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in out.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    again = run_bench("anycontext", copy, seed=5, baselines_only=True, config=CFG, overwrite=True, progress=False, **kw)
    assert again.seed == 5 and again.model == {"name": None, "sha256": None} and "model" not in again.metrics


def _edit_set(corpus: Corpus, folder, same: bool) -> None:
    """Edit cases whose target is the source itself (``same``) or the source's neighbour clip."""
    clips = sorted((c for cells in corpus.cells("test").values() for c in cells), key=lambda c: c.id)
    samples = []
    for i, clip in enumerate(clips[:10]):
        src = MotionRef(clip.id, 0, min(clip.rows, 60))
        other = clips[(i + 1) % 10]
        tgt = src if same else MotionRef(other.id, 0, min(other.rows, 60))
        turns = (Turn("user", (motion(src, "SourceMotion"), text("Make <SourceMotion> look happy."))),
                 Turn("assistant", (motion(tgt),)))  # fmt: skip
        samples.append(Sample(f"case-{i}", "edit/style", "test", turns))
    folder.mkdir()
    write_samples(folder / "test-00000.jsonl", samples)
    manifest = {"format": "omnimogen.x2mo", "dataset": {"source_sha256": corpus.source_sha256}}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_copy_source_is_perfect_when_the_edit_changes_nothing(corpus, evaluator_dir, tmp_path):
    _edit_set(corpus, tmp_path / "same", same=True)
    _edit_set(corpus, tmp_path / "moved", same=False)
    kw = {"data": corpus.root, "evaluator": evaluator_dir, "baselines_only": True, "config": CFG, "progress": False}
    same = run_bench("edit", tmp_path / "a", cases=tmp_path / "same", **kw).metrics
    for method in ("copy_source", "ground_truth"):
        for key in ("R@1", "source_R@1"):
            assert same[method]["style"][key] == 100 and same[method]["all"][key] == 100
    assert same["copy_source"] == same["ground_truth"]
    moved = run_bench("edit", tmp_path / "b", cases=tmp_path / "moved", **kw).metrics
    assert moved["copy_source"]["style"]["source_R@1"] == 100  # the source is itself
    assert moved["copy_source"]["style"]["R@1"] < 100  # but another clip's target is not the source
    assert moved["ground_truth"]["style"]["R@1"] == 100


class Oracle:
    """A stand-in model that records how it is asked and answers with a test clip of the asked length."""

    def __init__(self, corpus: Corpus):
        clip = max((c for cells in corpus.cells("test").values() for c in cells), key=lambda c: c.rows)
        self.features, self.calls = corpus.features(clip.id), []

    def __call__(self, instruction, motions, *, seed, frames, think, rounds, motion_only, temperature):
        self.calls.append({"text": instruction, "seed": seed, "frames": frames, "think": think,
                           "motion_only": motion_only, "motions": sorted(motions), "temperature": temperature})  # fmt: skip
        rows = (frames or 41) - 1
        return Result("<Motion>", [Motion.from_features(self.features[:rows])])


def test_tasks_ask_the_model_as_each_task_says(corpus, x2mo, model_dir, evaluator_dir, tmp_path, monkeypatch):
    oracle = Oracle(corpus)
    monkeypatch.setattr(bench, "load_model", lambda path, device=None: oracle)
    kw = {"data": corpus.root, "cases": x2mo, "model": model_dir, "evaluator": evaluator_dir, "progress": False}
    metrics = run_bench("tasks", tmp_path / "t", config=replace(CFG, repeats=1), temperature=0.5, **kw).metrics
    assert {c["temperature"] for c in oracle.calls} == {0.5}  # --temperature reaches every question
    with pytest.raises(ValueError, match="temperature"):  # refused before anything is read or written
        run_bench("tasks", tmp_path / "bad", temperature=float("nan"), **kw)
    assert not (tmp_path / "bad").exists()
    present = set(metrics["ground_truth"]) - {"all"}
    assert {"inbetween", "inpaint", "continue", "reflection"} <= present
    assert set(metrics["model"]) == present | {"reflection_think", "all"}
    assert set(metrics["copy_source"]) == {"continue"}  # the only task with a source; no "all" of one task
    for cat in ("inbetween", "inpaint"):
        assert metrics["ground_truth"][cat]["KeyframeErr"] == 0  # the target keeps its own fixed rows
        assert metrics["model"][cat]["KeyframeErr"] > 0.01
    assert "KeyframeErr" not in metrics["model"]["continue"]
    by_kind = {}
    for call in oracle.calls:
        by_kind.setdefault(tuple(call["motions"]), []).append(call)
    assert all(c["frames"] is not None and not c["think"] for c in by_kind[("EndPose", "StartPose")])
    assert all(c["frames"] is not None for c in by_kind[("After", "Before")] + by_kind[("Motion",)])
    plain = [c for c in by_kind[()] if c["motion_only"] and not c["think"]]  # reflection without Think mode
    thought = [c for c in by_kind[()] if c["think"]]
    reflection = [s for f in x2mo.glob("test-*.jsonl") for s in read_samples(f) if s.task == "reflection/generate"]
    assert len(thought) == min(len(reflection), CFG.per_category) > 0  # each reflection case once more, thinking
    assert {c["seed"] for c in thought} <= {c["seed"] for c in plain}  # paired: the same seeds with Think mode
    if "knowledge" in present:
        assert any(not c["motion_only"] for c in by_kind[()])  # the plan in words may come first
    own = tmp_path / "own"  # a model that carries its own sampling temperature: used, and recorded, when none is given
    shutil.copytree(model_dir, own)
    config = json.loads((own / "config.json").read_text())
    (own / "config.json").write_text(json.dumps({**config, "sampling": {"temperature": 0.3}}))
    oracle.calls.clear()
    quick = replace(CFG, repeats=1, per_category=1)
    run_bench("tasks", tmp_path / "own_t", config=quick, **{**kw, "model": own})
    recorded = json.loads((tmp_path / "own_t" / bench.RUN_FILE).read_text())["config"]["temperature"]
    assert {c["temperature"] for c in oracle.calls} == {0.3} and recorded == 0.3


def test_t2m_ceiling_and_model(corpus, model_dir, evaluator_dir, tmp_path):
    kw = {"data": corpus.root, "model": model_dir, "evaluator": evaluator_dir, "progress": False}
    metrics = run_bench("t2m", tmp_path / "t2m", config=CFG, **kw).metrics
    assert set(metrics) == {"model", "ground_truth", "retrieval"}  # text to motion has no source
    gt, model = metrics["ground_truth"]["all"], metrics["model"]["all"]
    assert abs(gt["FID"]) < 1e-6 and gt["FID_ci95"] == 0  # the test clips against themselves
    assert model["FID"] > 0.01 and model["MultiModality"] > 0
    assert set(model) - set(gt) == {"MultiModality", "MultiModality_ci95"}
    assert 0 <= gt["R@1"] <= gt["R@3"] <= 1 and 0 < gt["MM-Dist"] <= 2 and gt["Diversity"] > 0


def test_cli_runs_and_names_bad_input(corpus, anycontext, model_dir, evaluator_dir, tmp_path, capsys, monkeypatch):
    base = ["--data", str(corpus.root), "--evaluator", str(evaluator_dir), "--out", str(tmp_path / "o")]
    args = ["bench", "anycontext", "--cases", str(anycontext), "--baselines-only", "--quick", "--repeats", "1"]
    assert main(args + base) == 0
    assert "ground_truth" in capsys.readouterr().out and (tmp_path / "o" / "report.md").is_file()
    assert main(args + base + ["--seed", "2"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    bad = [
        (["bench", "nope", *base], "unknown suite 'nope'"),
        (["bench", "t2m", *base[2:], "--data", str(tmp_path / "none")], "dataset directory does not exist"),
        (["bench", "t2m", *base, "--model", str(tmp_path / "none")], "model directory does not exist"),
        (["bench", "edit", *base, "--baselines-only", "--cases", str(tmp_path / "none")], "does not exist"),
        (["bench", "edit", *base, "--baselines-only", "--cases", str(anycontext)], "not an X2Mo set"),
        (["bench", "t2m", *base, "--cases", str(anycontext)], "takes no --cases"),
        (["bench", "t2m", *base, "--repeats", "0"], "repeats must be a whole number at least 1"),
        (["bench", "t2m", *base[:2], "--out", str(tmp_path / "p"), "--baselines-only"], "--evaluator PATH"),
        (["bench", "t2m", *base], "ships no default model"),
    ]
    monkeypatch.setattr(ev, "DEFAULT_DIR", tmp_path / "no-evaluator")
    monkeypatch.setattr(bench.pipeline, "DEFAULT_DIR", tmp_path / "no-model")
    for argv, message in bad:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)


def test_follow_asks_like_a_user_and_scores_every_method(corpus, model_dir, evaluator_dir, tmp_path, capsys):
    from omnimogen.evaluation.follow import run_follow

    action = sorted({c.action for cells in corpus.cells("test").values() for c in cells})[0]
    cases = [
        {"id": "t2m-001", "family": "t2m", "split": "dev", "turns": [{"instruction": "someone does the usual thing",
                                                                      "expect": {"action": action}}]},
        {"id": "edit-001", "family": "edit/style", "split": "dev", "motions": {"SourceMotion": {"action": action}},
         "turns": [{"instruction": "give <SourceMotion> a gloomy mood", "expect": {"style": "sad", "keep_length": True}}]},
        {"id": "multi-001", "family": "multiturn", "split": "dev", "turns": [
            {"instruction": "a person walks forward", "expect": {"action": "walk"}},
            {"instruction": "now do it slower", "expect": {"speed": "slower"}}]},
        {"id": "unknown-001", "family": "unknown", "split": "test", "turns": [
            {"instruction": "juggle three flaming torches", "expect": {"unknown": True}}]},
    ]  # fmt: skip
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"version": 1, "cases": cases}))
    kw = {"data": corpus.root, "evaluator": evaluator_dir, "prompts": prompts, "progress": False}
    r = run_follow(tmp_path / "f", model=model_dir, split="all", repeats=1, **kw)
    model, truth = r["metrics"]["model"]["all"], r["metrics"]["ground_truth"]["all"]
    assert r["cases"] == 4 and r["turns"] == 5
    assert model["answered"]["pass_pct"] == 100 and model["answered"]["n"] == 5  # every turn gets a motion
    assert model["keep_length"]["pass_pct"] == 100  # the edit keeps its source's length
    assert model["warned"]["n"] == 1 and "warned" not in truth
    assert r["metrics"]["copy_source"]["all"]["keep_length"]["pass_pct"] == 100
    assert {p.name for p in (tmp_path / "f").iterdir()} == {"results.json", "report.md", "results.png", "answers.jsonl"}
    base = ["bench", "follow", "--data", str(corpus.root), "--evaluator", str(evaluator_dir), "--prompts", str(prompts)]
    assert main([*base, "--out", str(tmp_path / "g"), "--baselines-only", "--split", "dev"]) == 0
    out = capsys.readouterr().out
    assert "baselines only" in out and "ground_truth" in out
    assert main([*base, "--out", str(tmp_path / "h"), "--cases", str(prompts)]) == 2
    assert "--prompts" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "i"), "--model", str(model_dir), "--temperature", "-1"]) == 2
    assert "temperature" in capsys.readouterr().err and not (tmp_path / "i" / "results.json").exists()
    cold = run_follow(tmp_path / "j", model=model_dir, split="all", repeats=1, temperature=0.0, **kw)
    assert cold["temperature"] == 0.0 and r["temperature"] == 1.0  # recorded as used: asked, else the model's own


def test_t2m_and_anycontext_ask_in_the_held_out_words(corpus, anycontext, evaluator_dir, tmp_path):
    """--paraphrase: the same AnyContext cases (motions, targets) in held-out frames; t2m asks the
    paraphrase set's prompts for the test clips of the labels they name."""
    from omnimogen.evaluation.follow import load_prompts
    from omnimogen.evaluation.paraphrase import frames, reword_anycontext, t2m_cases

    samples = [s for f in sorted(anycontext.glob("*.jsonl")) for s in read_samples(f)]
    reworded = reword_anycontext(samples, "test")
    assert reworded == reword_anycontext(samples, "test")  # fixed per case id
    held = frames("test")
    for old, new in zip(samples, reworded, strict=True):
        assert [p.motion for t in old.turns for p in t.parts] == [p.motion for t in new.turns for p in t.parts]
        prompt = new.turns[0].parts[-1].text
        assert prompt != old.turns[0].parts[-1].text
        category = new.task.partition("/")[2]
        if category == "compositional":
            frame = next(f for f in held["compositional"] if f.split("{")[0] in prompt)
            assert "{" not in prompt and frame.split("}")[-1] in prompt
        else:
            assert prompt in held[category]
    kw = {"data": corpus.root, "evaluator": evaluator_dir, "baselines_only": True, "progress": False, "config": CFG}
    results = run_bench("anycontext", tmp_path / "ac", cases=anycontext, paraphrase="test", **kw)
    assert results.data["name"].endswith("paraphrase test")
    plain = run_bench("anycontext", tmp_path / "ac0", cases=anycontext, **kw)
    assert plain.data["sha256"] != results.data["sha256"]  # the words are part of the data's identity

    cases, name = t2m_cases(corpus, "all")
    prompts = {t.instruction for c in load_prompts(split="all") if c.family == "t2m" for t in c.turns}
    clips = {c.id: c for cells in corpus.cells("test").values() for c in cells}
    for case in cases:
        assert set(case.texts) <= prompts and case.label == f"{clips[case.id].action}/{clips[case.id].style}"
    assert name.startswith(f"paraphrase all: {len(cases)} clips")
    t2m = run_bench("t2m", tmp_path / "t2m", paraphrase="all", **kw)
    assert t2m.metrics["ground_truth"]["all"]["R@3"] > 0
    with pytest.raises(BenchError, match="paraphrase"):
        run_bench("edit", tmp_path / "e", paraphrase="test", **kw)
