"""Instructions: the schema, exact derivation recipes, phrasings, the X2Mo builder, the validator, AnyContext."""

import json
import random
import shutil
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import bandai

from omnimogen.cli import main
from omnimogen.data.bandai import build_bandai
from omnimogen.errors import FormatError
from omnimogen.instructions.anycontext import build_anycontext
from omnimogen.instructions.builder import apportion, build_x2mo, normalise_mix
from omnimogen.instructions.corpus import Corpus
from omnimogen.instructions.phrasings import HERE, SPEC, PhrasingError, Phrasings, default_phrasings, load_concepts
from omnimogen.instructions.recipes import RecipeError, check_ref, materialise
from omnimogen.instructions.schema import (
    MotionRef,
    Part,
    Sample,
    SampleError,
    Step,
    Turn,
    motion,
    read_samples,
    sample_from_json,
    text,
)
from omnimogen.instructions.tasks import TASKS, Pool, TaskConfig, Unsatisfiable
from omnimogen.instructions.validate import check_sample, validate_set
from omnimogen.motion import features_to_joints
from omnimogen.motion.features import facing_rotations, rotations_to_joints
from omnimogen.motion.rotations import qrot


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    out = tmp_path_factory.mktemp("corpus") / "bandai"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_bandai(bandai(), out, limit=40, progress=False)
        return Corpus(out)


@pytest.fixture(scope="module")
def x2mo(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("x2mo") / "set"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build_x2mo(corpus.root, out, samples=400, seed=7, progress=False)
    return out, result, [str(w.message) for w in caught]


def clip_of(corpus: Corpus, action: str, split: str = "train") -> str:
    return next(
        c.id for c in sorted(corpus.clips.values(), key=lambda c: c.id) if c.action == action and c.split == split
    )


def path_length(joints: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(joints[:, 0, [0, 2]], axis=0), axis=1).sum())


# ---- schema and corpus ---------------------------------------------------------------------------------


def test_sample_round_trips_through_json_and_errors_name_line_and_field(tmp_path):
    donor = {"clip": "b", "start": 0, "end": 40}
    ref = MotionRef("a", 5, 45, (Step("speed", {"factor": 2.0}), Step("bodypart", {"parts": ["legs"], "from": donor})))
    sample = Sample("s1", "edit/speed", "train", (
        Turn("user", (motion(ref, "SourceMotion"), text("Make <SourceMotion> faster."))),
        Turn("assistant", (motion(MotionRef("c", 0, 20)),)),
    ), {"note": "x"})  # fmt: skip
    line = sample.to_line()
    assert sample_from_json(json.loads(line)) == sample
    assert sample_from_json(json.loads(line)).to_line() == line
    doc = json.loads(line)
    doc["turns"][0]["parts"][0]["motion"]["end"] = 2
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n" + json.dumps(doc) + "\n")
    with pytest.raises(SampleError, match=r"bad.jsonl, line 2 \(s1\)\.turns\[0\]\.parts\[0\]\.motion: frame range"):
        list(read_samples(path))
    with pytest.raises(SampleError, match="field 'split' must be one of"):
        sample_from_json({**json.loads(line), "split": "dev"})


def test_corpus_leaves_out_clips_without_motion_or_label_and_says_so(corpus, tmp_path):
    root = tmp_path / "damaged"
    shutil.copytree(corpus.root, root)
    victim = sorted(corpus.clips)[0]
    (root / "new_joint_vecs" / f"{victim}.npy").unlink()
    labels = json.loads((root / "labels.json").read_text())
    labels["ghost"] = {"action": "walk", "style": "normal", "dataset": 2, "split": "train"}
    (root / "labels.json").write_text(json.dumps(labels))
    with pytest.warns(UserWarning) as caught:
        damaged = Corpus(root)
    messages = " ".join(str(w.message) for w in caught)
    assert "1 clip(s) without a feature file" in messages and "belong to no split file (first: ghost)" in messages
    assert victim not in damaged.clips and len(damaged.clips) == len(corpus.clips) - 1
    (root / "labels.json").unlink()  # without labels the clips are captioned clips of one cell
    captioned = Corpus(root)
    assert set(captioned.clips) == set(damaged.clips) - {"ghost"}
    assert {c.cell for c in captioned.clips.values()} == {(-1, "", "")}
    for clip_id in captioned.clips:
        (root / "texts" / f"{clip_id}.txt").unlink()
    with pytest.raises(FormatError, match="no usable clips"):
        Corpus(root)


# ---- recipes ------------------------------------------------------------------------------------------


def test_forward_kinematics_inverts_the_features(hml_features, corpus):
    np.testing.assert_allclose(rotations_to_joints(hml_features), features_to_joints(hml_features), atol=1e-5)
    turn = corpus.features(clip_of(corpus, "walk-turn-left"))
    np.testing.assert_allclose(rotations_to_joints(turn), features_to_joints(turn), atol=1e-5)


def test_speed_resamples_time_and_keeps_the_path(corpus):
    clip = clip_of(corpus, "walk-turn-left")
    base = materialise(MotionRef(clip, 0, 60), corpus)
    fast = materialise(MotionRef(clip, 0, 60, (Step("speed", {"factor": 2.0}),)), corpus)
    slow = materialise(MotionRef(clip, 0, 60, (Step("speed", {"factor": 0.5}),)), corpus)
    assert (len(base.features), len(fast.features), len(slow.features)) == (60, 30, 120)
    np.testing.assert_allclose(fast.joints[-1], base.joints[-1], atol=1e-6)  # same end point, half the time
    assert path_length(fast.joints) == pytest.approx(path_length(base.joints), rel=0.01)
    assert path_length(slow.joints) == pytest.approx(path_length(base.joints), rel=1e-5)
    # Contacts are recomputed: a slower walk moves less per frame, so more frames count as contact.
    assert slow.features[:, -4:].mean() > base.features[:, -4:].mean() > fast.features[:, -4:].mean()
    assert check_ref(MotionRef(clip, 0, 60, (Step("speed", {"factor": 2.0}),)), corpus) == 30


def test_heading_rotates_exactly_and_mirror_is_an_involution(corpus):
    clip = clip_of(corpus, "walk-turn-left")
    base = materialise(MotionRef(clip, 0, 60), corpus)
    turned = materialise(MotionRef(clip, 0, 60, (Step("heading", {"degrees": 90}),)), corpus)
    rel = base.joints - base.joints[0, 0] * np.array([1, 0, 1])
    expected = np.stack([rel[..., 2], rel[..., 1], -rel[..., 0]], -1) + base.joints[0, 0] * np.array([1, 0, 1])
    np.testing.assert_allclose(turned.joints, expected, atol=1e-5)  # +90 degrees: +Z (forward) -> +X (left)
    # HumanML3D features start every motion facing +Z: a heading rotation alone leaves them unchanged.
    np.testing.assert_allclose(turned.features, type(base).from_joints(base.joints).features, atol=1e-3)
    twice = materialise(MotionRef(clip, 0, 60, (Step("mirror"), Step("mirror"))), corpus)
    np.testing.assert_array_equal(twice.joints, base.joints)
    once = materialise(MotionRef(clip, 0, 60, (Step("mirror"),)), corpus)
    assert np.sign(once.joints[-1, 0, 0]) == -np.sign(base.joints[-1, 0, 0])  # a left turn becomes a right turn


def test_bodypart_splice_keeps_legs_of_a_and_arms_of_b_even_while_turning(corpus):
    a_id = clip_of(corpus, "walk-turn-left")
    b_id = max((c for c in corpus.clips.values() if c.action == "wave-both-hands"), key=lambda c: c.rows).id
    n = min(corpus.clips[a_id].rows, corpus.clips[b_id].rows)
    a, b = materialise(MotionRef(a_id, 0, n), corpus), materialise(MotionRef(b_id, 0, n), corpus)
    step = Step("bodypart", {"parts": ["left_arm", "right_arm"], "from": {"clip": b_id, "start": 0, "end": n}})
    out = materialise(MotionRef(a_id, 0, n, (step,)), corpus)
    assert len(out.features) == n - 1 == check_ref(MotionRef(a_id, 0, n, (step,)), corpus)
    legs = [0, 1, 2, 4, 5, 7, 8, 10, 11]
    np.testing.assert_allclose(out.joints[:, legs], a.joints[:n, legs], atol=1e-4)

    def arm_bones(joints, features):  # arm bones seen from the body's facing frame
        r_rot = torch.from_numpy(facing_rotations(features)[0].astype(np.float64))[:, None]
        bones = joints[:n, [16, 18, 20, 17, 19, 21]] - joints[:n, [13, 16, 18, 14, 17, 19]]
        return qrot(r_rot, torch.from_numpy(bones.astype(np.float64))).numpy()

    consistent = [type(m).from_joints(m.joints).features for m in (a, b)]
    np.testing.assert_allclose(arm_bones(out.joints, consistent[0]), arm_bones(b.joints, consistent[1]), atol=1e-4)
    w, _, y, _ = facing_rotations(consistent[0])[0][-1]
    assert abs(np.degrees(2 * np.arctan2(y, w))) > 45  # it turns, so a splice of raw 6-D values would misplace the arms


@pytest.mark.parametrize(
    "step, message",
    [
        (Step("spin"), "unknown op 'spin'"),
        (Step("speed", {"factor": 9}), "between 0.25 and 4"),
        (Step("speed", {"rate": 2}), "unknown field"),
        (Step("heading", {"degrees": "left"}), "needs a number 'degrees'"),
        (Step("bodypart", {"parts": ["tail"], "from": {"clip": "x"}}), "unknown body part 'tail'"),
    ],
)
def test_bad_recipe_steps_are_named(corpus, step, message):
    clip = clip_of(corpus, "walk-turn-left")
    with pytest.raises(RecipeError, match=message):
        check_ref(MotionRef(clip, 0, 20, (step,)), corpus, "here")


def test_bad_references_are_named(corpus):
    clip = clip_of(corpus, "walk-turn-left")
    rows = corpus.clips[clip].rows
    with pytest.raises(RecipeError, match="outside clip"):
        check_ref(MotionRef(clip, 0, rows + 1), corpus)
    with pytest.raises(RecipeError, match="not in the dataset"):
        check_ref(MotionRef("nope"), corpus)
    with pytest.raises(RecipeError, match="belongs to the train split, not test"):
        check_ref(MotionRef(clip), corpus, split="test")
    short = {"clip": clip, "start": 0, "end": 5}
    with pytest.raises(RecipeError, match="donor has 5 rows"):
        check_ref(MotionRef(clip, 0, 20, (Step("bodypart", {"parts": ["legs"], "from": short}),)), corpus)


# ---- phrasings ----------------------------------------------------------------------------------------


def test_default_phrasings_cover_every_key():
    say = default_phrasings()
    for key, spec in SPEC.items():
        assert len(say.templates[key]) >= spec.minimum
    for key in [k for k in SPEC if k.startswith(("edit/", "incontext/", "reflection/", "anycontext/"))]:
        assert len(say.templates[key]) >= 20, key
    assert say.action(random.Random(0), "walk-turn-left") in {
        "walk forward and turn left", "walk and make a left turn", "turn to the left while walking",
        "walk and turn to the left", "walk, then take a left turn"}  # fmt: skip
    concepts = load_concepts(HERE / "concepts.json")
    assert len(concepts) >= 30 and any(c.heldout for c in concepts) and all(c.ask and c.plan for c in concepts)


@pytest.mark.parametrize(
    "template, message",
    [
        ("Make <SourceMotion> look {style_adj.", "broken {slot} placeholder"),
        ("Make <SourceMotion> look {mood}.", r"unknown slot \{mood\}"),
        ("Make it look {style_adj}.", "must mention <SourceMotion>"),
        ("Make <SourceMotion look {style_adj}.", "must mention <SourceMotion>"),
        ("Make <SourceMotion> look <happy.", "broken motion placeholder"),
        ("Make <SourceMotion> look nice.", "needs the slot"),
    ],
)
def test_a_broken_phrasing_is_refused_with_its_key(template, message):
    doc = json.loads((HERE / "phrasings.json").read_text())
    doc["templates"]["edit/style"][3] = template
    with pytest.raises(PhrasingError, match=r"templates\['edit/style'\]\[3\]") as err:
        Phrasings(doc, "phrasings.json")
    assert err.match(message)


# ---- the X2Mo builder ---------------------------------------------------------------------------------


def test_mix_and_apportioning():
    shares = normalise_mix(None)
    assert abs(sum(shares.values()) - 1) < 1e-9 and set(shares) == set(TASKS)
    assert shares["edit/action"] / shares["edit/style"] == pytest.approx(13.1 / 2.9)
    counts = apportion(1000, shares)
    assert sum(counts.values()) == 1000
    with pytest.raises(Exception, match="evaluation-only"):
        normalise_mix({"compositional": 1})


def test_build_is_deterministic_per_seed(corpus, x2mo, tmp_path):
    out, result, _ = x2mo
    again = tmp_path / "again"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_x2mo(corpus.root, again, samples=400, seed=7, progress=False)
        build_x2mo(corpus.root, tmp_path / "other", samples=400, seed=8, progress=False)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in again.iterdir()) and "mix.png" in names and "manifest.json" in names
    for name in names:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    assert (out / "train-00000.jsonl").read_bytes() != (tmp_path / "other" / "train-00000.jsonl").read_bytes()


def test_samples_use_clips_of_their_own_split_only(corpus, x2mo):
    out, result, _ = x2mo
    splits = {s: 0 for s in ("train", "val", "test")}

    def clips(ref):
        yield ref.clip
        for step in ref.recipe:
            if step.op == "bodypart":
                yield step.args["from"]["clip"]

    heldout = {c.id for c in load_concepts(HERE / "concepts.json") if c.heldout}
    for path in sorted(out.glob("*.jsonl")):
        for sample in read_samples(path):
            assert path.name.startswith(sample.split)
            splits[sample.split] += 1
            if sample.task == "knowledge":  # held-out concepts are for val and test only
                assert (sample.meta["concept"] in heldout) == (sample.split != "train")
            for ref in sample.motions():
                assert all(corpus.clips[c].split == sample.split for c in clips(ref)), sample.id
            assert sample.task in TASKS  # compositional editing never reaches the training set
    assert splits["train"] > 300 and splits["test"] > 0


def test_unbuildable_tasks_are_skipped_with_a_message(x2mo):
    out, result, caught = x2mo
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["skipped"] == result.skipped and result.skipped
    assert any("in val: skipped" in m and "no" in m for m in result.skipped)  # val holds one cell of the small corpus
    assert any("skipped" in m for m in caught)
    assert manifest["counts"]["edit/speed"]["val"] > 0  # what can be built, is


def test_validator_catches_broken_references_and_unbound_placeholders(corpus, x2mo, tmp_path):
    out, _, _ = x2mo
    report = validate_set(out, corpus)
    assert report.ok and report.samples == sum(json.loads((out / "manifest.json").read_text())["totals"].values())
    sample = next(s for s in read_samples(out / "train-00000.jsonl") if s.task == "edit/style")
    cfg = TaskConfig()
    assert check_sample(sample, corpus, cfg, TASKS)[0] == []
    user, answer = sample.turns
    test_clip = next(c.id for c in corpus.clips.values() if c.split == "test")
    cases = {
        "belongs to the test split": replace(sample, turns=(user, Turn("assistant", (motion(MotionRef(test_clip)),)))),
        "outside clip": replace(
            sample, turns=(user, Turn("assistant", (motion(MotionRef(answer.parts[0].motion.clip, 0, 10**6)),)))
        ),
        "mentions <RefMotion>": replace(
            sample, turns=(Turn("user", user.parts + (text("Like <RefMotion>."),)), answer)
        ),
        "never mentioned": replace(sample, turns=(Turn("user", (user.parts[0], text("Make it sad."))), answer)),
        "empty text": replace(sample, turns=(Turn("user", user.parts + (Part(text=" "),)), answer)),
        "end with the assistant": replace(sample, turns=(user,)),
        "does not belong": replace(sample, task="compositional"),
    }
    for message, broken in cases.items():
        problems = check_sample(broken, corpus, cfg, TASKS)[0]
        assert any(message in p for p in problems), (message, problems)
    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    with open(tampered / "train-00000.jsonl", "a") as f:
        f.write("\n")  # harmless to the reader, but no longer the file the manifest describes
    report = validate_set(tampered, corpus)
    assert not report.ok and any("hash differs" in e for e in report.errors)


def test_a_split_without_material_raises_unsatisfiable(corpus):
    pool = Pool(corpus, "val")  # one (action, style) cell in the small corpus
    with pytest.raises(Unsatisfiable, match="two styles"):
        TASKS["edit/style"](random.Random(0), pool, TaskConfig())


def test_every_task_draws_valid_samples(corpus):
    pool, cfg = Pool(corpus, "train"), TaskConfig()
    for task, fn in TASKS.items():
        made = [s for k in range(20) if (s := fn(random.Random(f"{task}/{k}"), pool, cfg)) is not None]
        assert made, task
        for s in made:
            assert check_sample(replace(s, id=f"{task}-x"), corpus, cfg, TASKS)[0] == [], task


# ---- AnyContext and the command line -------------------------------------------------------------------


def test_anycontext_uses_test_clips_only_and_records_recipes(corpus, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = build_anycontext(corpus.root, tmp_path / "ac", cases=2, progress=False)
    manifest = json.loads((tmp_path / "ac" / "manifest.json").read_text())
    assert {"anycontext/style", "anycontext/speed", "anycontext/compositional"} <= set(result.counts)
    assert len(manifest["hash"]) == 64 and manifest["version"] == "anycontext-1"
    for path in (tmp_path / "ac").glob("*.jsonl"):
        for case in read_samples(path):
            assert case.split == "test" and case.meta["target_kind"] in ("real", "derived") and case.meta["relation"]
            assert all(corpus.clips[r.clip].split == "test" for r in case.motions())
            if case.task == "anycontext/speed":
                assert case.turns[1].parts[0].motion.recipe[0].op == "speed"
            if case.task == "anycontext/style":
                target = case.meta["target"]
                assert (target["action"], target["style"]) == (
                    case.meta["source"]["action"],
                    case.meta["reference"]["style"],
                )
    assert validate_set(tmp_path / "ac", corpus).ok


def test_cli_builds_refuses_to_overwrite_and_reports_bad_input(corpus, tmp_path, capsys):
    out = tmp_path / "cli"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["data", "x2mo", "--data", str(corpus.root), "--out", str(out), "--samples", "60"]) == 0
        assert "wrote the instruction set" in capsys.readouterr().out
        assert main(["data", "x2mo", "--data", str(corpus.root), "--out", str(out), "--samples", "60"]) == 2
        assert "--overwrite" in capsys.readouterr().err
        assert main(["data", "validate", str(out), "--data", str(corpus.root)]) == 0
    assert main(["data", "x2mo", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
