"""Instruction data from a captioned corpus: no action or style labels, free-text captions, real clips.

The corpus is imported from the vendored real takes (Bandai, DeepMimic) with captions written for
them, in the HumanML3D layout, as a user's own folder would be.
"""

import json
import shutil
import warnings

import pytest
from conftest import HERE, TAKES

from omnimogen.cli import main
from omnimogen.data.importer import import_folder
from omnimogen.instructions.anycontext import build_anycontext
from omnimogen.instructions.builder import build_x2mo
from omnimogen.instructions.corpus import Corpus
from omnimogen.instructions.recipes import check_ref, materialise
from omnimogen.instructions.schema import ref_from_json
from omnimogen.instructions.tasks import FAR, NEAR, Pool, clause
from omnimogen.instructions.validate import validate_set

TAKES_AND_CAPTIONS = {  # file -> (captions, split)
    "dataset-1_bow_angry_001.bvh.gz": ("a person bows angrily | someone bends forward in an angry bow", "train"),
    "dataset-1_walk-back_normal_001.joints.npy": ("a person walks backwards", "train"),
    "dataset-2_raise-up-right-hand_normal_007.joints.npy": ("a person raises the right hand", "train"),
    "dataset-2_walk-turn-left_normal_004.joints.npy": ("a person walks forward and turns left | walk, turn left", "train"),
    "dataset-1_bow_normal_001.bvh.gz": ("a man bows politely", "val"),
    "humanoid3d_kick.txt": ("a person kicks | someone does a front kick", "val"),
    "dataset-1_walk_normal_001.bvh.gz": ("a person walks forward", "test"),
    "dataset-2_walk-turn-right_normal_005.joints.npy": ("a person walks forward and turns right", "test"),
}
FAMILIES_FROM_CAPTIONS = {"edit/action", "edit/speed", "edit/trajectory", "multiturn/2", "multiturn/3",
                          "reflection/generate",
                          "reflection/judge", "reflection/regenerate", "t2m", "describe", "inbetween", "inpaint",
                          "continue"}  # fmt: skip
NEED_LABELS = {"edit/style", "edit/bodypart", "incontext/action+style", "incontext/trajectory+action",
               "incontext/style+trajectory", "knowledge"}  # fmt: skip


@pytest.fixture(scope="module")
def captioned(tmp_path_factory):
    """The imported folder, its splits set by take as listed above."""
    src = tmp_path_factory.mktemp("takes")
    for name in TAKES_AND_CAPTIONS:
        for folder in (TAKES, HERE / "fixtures", HERE / "fixtures" / "deepmimic"):
            if (folder / name).is_file():
                shutil.copy(folder / name, src / name)
    shutil.copy(HERE / "fixtures" / "deepmimic" / "humanoid3d.txt", src / "humanoid3d.txt")
    lines = ["path,caption"] + [f'{name},"{caps}"' for name, (caps, _) in TAKES_AND_CAPTIONS.items()]
    (src / "captions.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path_factory.mktemp("corpus") / "mine"
    report = import_folder(src, out, workers=1, progress=False)
    assert report.takes_written == len(TAKES_AND_CAPTIONS), report.skipped
    labels = json.loads((out / "labels.json").read_text())
    splits = {s: [] for s in ("train", "val", "test")}
    for name, (_, split) in TAKES_AND_CAPTIONS.items():
        take = next(k for k, v in labels.items() if v["source"] == name and not v["mirror"])
        for clip_id in (take, "M" + take):
            labels[clip_id]["split"] = split
            splits[split].append(clip_id)
    (out / "labels.json").write_text(json.dumps(labels))
    for split, ids in splits.items():
        (out / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return out


def renamed_copy(folder, out, prefix: str):
    """A copy of a dataset folder with every clip id prefixed (a second corpus of other ids)."""
    shutil.copytree(folder, out)
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        for f in (out / sub).iterdir():
            f.rename(f.with_name(prefix + f.name))
    for split in ("train", "val", "test"):
        ids = (out / f"{split}.txt").read_text().split()
        (out / f"{split}.txt").write_text("\n".join(prefix + i for i in ids) + "\n")
    labels = json.loads((out / "labels.json").read_text())
    (out / "labels.json").write_text(json.dumps({prefix + k: v for k, v in labels.items()}))
    return out


def test_captioned_clips_form_one_cell_per_folder_and_pairs_come_from_caption_distance(captioned):
    corpus = Corpus(captioned)
    assert len(corpus.clips) == 16 and {c.cell for c in corpus.clips.values()} == {(-1, "", "")}
    assert all(c.mirror == c.id.startswith("M") for c in corpus.clips.values())
    pool = Pool(corpus, "train")
    by_caption = {corpus.captions(c.id)[0]: c for c in corpus.clips.values() if c.split == "train" and not c.mirror}
    bow, raise_hand = by_caption["a person bows angrily"], by_caption["a person raises the right hand"]
    turn = by_caption["a person walks forward and turns left"]
    far = {c.take for c in pool.partners(bow, far=True)}
    assert bow.take not in far and turn.take in far  # another take of another action; never its own mirror
    near = pool.partners(turn, far=False)
    assert all(c.take != turn.take for c in near)
    assert pool.sided(raise_hand) and pool.sided(turn) and not pool.sided(bow)
    assert FAR < NEAR
    # a caption of part of a clip (HumanML3D's start and end times) does not describe the clip
    text = captioned / "texts" / f"{bow.id}.txt"
    text.write_text(text.read_text() + "a person stands still#a/OTHER#1.0#2.5\n")
    assert "a person stands still" not in Corpus(captioned).captions(bow.id)
    assert clause("A man bows politely.") == "the person bows politely"
    assert clause("walk, turn left") == "the person does this: walk, turn left"


def test_every_task_family_builds_from_captions_or_says_why_not(captioned, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build_x2mo(captioned, tmp_path / "x2mo", samples=600, seed=1, progress=False)
    built = {t for t, splits in result.counts.items() if splits.get("train")}
    assert built == FAMILIES_FROM_CAPTIONS
    skipped_train = {m.split(" in train")[0]: m for m in result.skipped if " in train:" in m}
    assert set(skipped_train) == NEED_LABELS
    for message in skipped_train.values():
        assert "needs action and style labels" in message and "skipped" in message, message
        assert message in {str(w.message) for w in caught}
    corpus = Corpus(captioned)
    assert validate_set(tmp_path / "x2mo", corpus).ok
    samples = [json.loads(line) for f in sorted((tmp_path / "x2mo").glob("train-*.jsonl")) for line in f.open()]
    texts = {s["task"]: [] for s in samples}
    for s in samples:
        texts[s["task"]].append(" ".join(p.get("text", "") for t in s["turns"] for p in t["parts"]))
    # the captions word the instructions: a side swap names the swapped side, an action edit the target's caption
    for s in (s for s in samples if s["task"] == "edit/trajectory"):
        target = s["turns"][1]["parts"][0]["motion"]
        assert target["recipe"] == [{"op": "mirror"}]
        source_caption = " ".join(corpus.captions(target["clip"]))
        prompt = s["turns"][0]["parts"][1]["text"]
        swapped = "right" if "left" in source_caption else "left"  # the clip's own captions say what it shows
        assert swapped in prompt, (prompt, source_caption)
    for s in (s for s in samples if s["task"] == "edit/action"):
        target = s["turns"][1]["parts"][0]["motion"]["clip"]
        prompt = s["turns"][0]["parts"][1]["text"]
        assert any(clause(c)[len("the person "):] in prompt for c in corpus.captions(target)), prompt
    judged = [t for t in texts["reflection/judge"] if "wrong" in t.lower() or "swapped" in t.lower()]
    assert judged, "near misses were judged"
    # every motion materialises, with the rows the validator expects
    for s in samples[:50]:
        for part in (p for t in s["turns"] for p in t["parts"] if "motion" in p):
            ref = ref_from_json(part["motion"])
            assert len(materialise(ref, corpus).features) == check_ref(ref, corpus)


def test_anycontext_and_a_combined_build_from_captioned_folders(captioned, tmp_path):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        result = build_anycontext(captioned, tmp_path / "ac", cases=2, progress=False)  # 4 short test clips
    assert set(result.counts) == {"anycontext/speed", "anycontext/compositional"}
    assert any("style" in m and "needs action and style labels" in m for m in result.skipped)
    # two folders with weights: clip ids must be unique, and each folder gets its share of the draws
    shutil.copytree(captioned, tmp_path / "same")
    with pytest.raises(Exception, match="unique across the dataset folders"):
        Corpus([captioned, tmp_path / "same"])
    second = renamed_copy(captioned, tmp_path / "second", "b_")
    both = Corpus([captioned, second], weights=[1, 3])
    assert {c.cell for c in both.clips.values()} == {(-1, "", ""), (-2, "", "")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tasks that need labels are skipped, as tested above
        build_x2mo(both, tmp_path / "both", samples=400, seed=2, progress=False)
    samples = [json.loads(line) for f in sorted((tmp_path / "both").glob("train-*.jsonl")) for line in f.open()]
    t2m = [s["turns"][1]["parts"][0]["motion"]["clip"] for s in samples if s["task"] == "t2m"]
    share = sum(c.startswith("b_") for c in t2m) / len(t2m)
    assert 0.6 < share < 0.9, share  # 3 : 1
    assert json.loads((tmp_path / "both" / "manifest.json").read_text())["dataset"]["weights"] == [1, 3]
    assert validate_set(tmp_path / "both", both).ok


def test_cli_builds_from_several_folders_with_weights(captioned, tmp_path, capsys):
    second = tmp_path / "copy"
    assert main(["data", "x2mo", "--data", str(captioned), "--out", str(tmp_path / "x"), "--samples", "120"]) == 0
    assert main(["data", "x2mo", "--data", str(captioned), "--data", str(captioned), "--out", str(second),
                 "--samples", "50"]) == 2  # fmt: skip
    assert "unique across the dataset folders" in capsys.readouterr().err
    assert main(["data", "x2mo", "--data", str(captioned), "--data-weights", "1,2", "--out", str(second),
                 "--samples", "50"]) == 2  # fmt: skip
    assert "need as many weights" in capsys.readouterr().err


def test_the_model_and_the_evaluator_train_on_several_folders(captioned, tmp_path):
    import torch

    from omnimogen.motion import Normalizer
    from omnimogen.tokenizer import PRESETS, MotionTokenizer
    from omnimogen.training.evaluator import EvaluatorTrainConfig, train_evaluator
    from omnimogen.training.lm import LMTrainConfig, train_lm

    second = renamed_copy(captioned, tmp_path / "second", "b_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_x2mo([captioned, second], tmp_path / "x2mo", samples=80, seed=0, progress=False)
        torch.manual_seed(0)
        tok = MotionTokenizer(PRESETS["tiny"], Normalizer.load(captioned))
        tok.save_pretrained(tmp_path / "tok")
        cfg = LMTrainConfig(model={"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
                            text_vocab_size=300, steps=2, batch_size=4, val_every=2, ckpt_every=2, log_every=1,
                            val_per_task=1, augment_shifts=1)  # fmt: skip
        train_lm(tmp_path / "x2mo", [captioned, second], tmp_path / "tok", tmp_path / "lm", cfg, progress=False)
        ecfg = EvaluatorTrainConfig(preset="tiny", batch_size=8, steps=2, warmup_steps=1, val_every=2, ckpt_every=2,
                                    log_every=1)  # fmt: skip
        train_evaluator([captioned, second], tmp_path / "ev", ecfg, progress=False)
    assert json.loads((tmp_path / "lm" / "log.jsonl").read_text().splitlines()[-1])["step"] == 2
    from omnimogen.model.pipeline import OmniMoGen

    model = OmniMoGen.from_pretrained(tmp_path / "lm" / "final")  # knows the captions of its captioned clips
    assert "a person walks backwards" in model.lm.known_captions
    assert set(model.lm.known_captions) == set(Corpus([captioned, second]).train_captions())
    assert (tmp_path / "ev" / "final" / "model.safetensors").is_file()
    with pytest.raises(Exception, match="is not in the dataset"):  # the set references the second folder's clips too
        train_lm(tmp_path / "x2mo", [captioned], tmp_path / "tok", tmp_path / "lm_one", cfg, progress=False)


def test_a_request_in_the_words_of_a_trained_caption_is_known():
    from omnimogen.model.understand import interpret, unknown_request_warnings

    request = "the kid turns a cartwheel on the lawn"
    alone = interpret(request)  # the Bandai-only model has never seen a cartwheel
    assert not alone.known and unknown_request_warnings(alone, request)
    trained = interpret(request, ("a person does a cartwheel", "a person walks forward"))
    assert trained.known and trained.action == "" and trained.caption == "A person does a cartwheel."
    assert not unknown_request_warnings(trained, request)
    # Words nearer to a NOT_IN_CORPUS activity ("do a cartwheel", "jump forward") than to the caption
    # are known once a caption names that activity; an activity no caption names stays unknown.
    for words, caption in (("cartwheel", "a person does a cartwheel"), ("a big jump forward", "forward jump")):
        assert not interpret(words).known
        read = interpret(words, (caption, "a person walks forward"))
        assert read.known and read.caption == caption[0].upper() + caption[1:] + ".", (words, read)
    assert not interpret("swim across the pool", ("a person does a cartwheel", "forward jump")).known
    walk = interpret("a tired man strolls", ("a person does a cartwheel",))
    assert walk.action == "walk" and walk.style == "tired"  # the labelled actions keep their reading


def test_a_caption_that_names_a_labelled_action_keeps_the_words_style():
    """Captions without a style ("a person walks", CMU's) must not take a styled request from the labelled
    reading: "a person walks happily" is asked as a happy walk, not as the caption "A person walks."."""
    from omnimogen.model.understand import interpret

    captions = ("a person walks", "a person runs", "a person does a cartwheel", "a person walks like a zombie")
    for request, action, style in (("a person walks happily", "walk", "happy"), ("a happy person runs", "run", "happy")):
        read = interpret(request, captions)
        assert (read.action, read.style) == (action, style), (request, read)
    # Captions of actions the labels lack are still read in their own words.
    assert interpret("a zombie walks", captions).caption == "A person walks like a zombie."
    assert interpret("a person does a cartwheel", captions).caption == "A person does a cartwheel."
