"""Training the model on an instruction set: preparation, resumable runs, two processes, the saved model."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from omnimogen.model.pipeline import OmniMoGen
from omnimogen.model.vocab import Message, MotionCodes, TextPart, Vocab
from omnimogen.motion import Motion
from omnimogen.tokenizer import MotionTokenizer
from omnimogen.training.common import ConfigError, resolve_config
from omnimogen.training.lm import LMTrainConfig, model_from_run, train_lm

SMALL = ["model.hidden_size=32", "model.layers=1", "model.heads=2", "model.intermediate_size=64", "text_vocab_size=400"]


def _cfg(**kw) -> LMTrainConfig:
    base = dict(model={"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64}, text_vocab_size=400,
                steps=4, batch_size=4, val_every=2, ckpt_every=2, log_every=2, val_per_task=2)  # fmt: skip
    return LMTrainConfig(**{**base, **kw})


@pytest.mark.parametrize("layout", ["grouped", "flat"])
def test_train_resume_and_load(inputs, tmp_path, layout):
    cfg = _cfg(model={**_cfg().model, "layout": layout})
    run = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_lm(inputs / "x2mo", inputs / "corpus", inputs / "tok", run, cfg, progress=False)
        cfg.steps = 6  # resume and run two more steps
        train_lm(inputs / "x2mo", inputs / "corpus", inputs / "tok", run, cfg, progress=False)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 6
    vals = [r["val"] for r in log if "val" in r]
    assert vals and all(k.startswith("loss") for k in vals[-1])
    assert any(k.startswith("loss/") and k != "loss_mean" for k in vals[-1])  # per task
    model = OmniMoGen.from_pretrained(run / "final")
    assert model.lm.vocab.layout == layout
    # The last checkpoint (saved by accelerate, tied weights stored once) is the final model.
    at_checkpoint = model_from_run(run)
    for (name, a), b in zip(model.lm.state_dict().items(), at_checkpoint.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    with pytest.raises(ConfigError, match="no checkpoint"):
        model_from_run(tmp_path / "empty")
    (run / "prepared" / "vocab-other").mkdir()  # which vocabulary would be ambiguous
    with pytest.raises(ConfigError, match="expected one vocab"):
        model_from_run(run)
    assert len(list((run / "prepared").glob("prepared-*.npz"))) == 1  # prepared once, reused on resume


def test_two_processes_end_with_identical_weights(inputs, tmp_path):
    run = tmp_path / "ddp"
    sets = [a for s in SMALL + ["steps=4", "batch_size=2", "val_every=2", "ckpt_every=2", "val_per_task=1"]
            for a in ("--set", s)]  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "omnimogen.cli", "train", "lm",
           "--data", str(inputs / "x2mo"), "--corpus", str(inputs / "corpus"), "--tokenizer", str(inputs / "tok"),
           "--out", str(run), "--device", "cpu", *sets]  # gloo on the CPU, also on a one-GPU machine  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    checksums = log[-1]["rank_checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1]


def test_training_samples_are_rendered_at_every_frame_shift(inputs, tmp_path):
    import numpy as np

    from omnimogen.instructions.corpus import Corpus
    from omnimogen.instructions.recipes import materialise
    from omnimogen.training.lm import prepare, read_split, shifted_codes

    tok = MotionTokenizer.from_pretrained(inputs / "tok")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, plain = prepare(inputs / "x2mo", inputs / "corpus", tok, _cfg(augment_shifts=1), tmp_path / "a", False)
        _, shifted = prepare(inputs / "x2mo", inputs / "corpus", tok, _cfg(augment_shifts=3), tmp_path / "b", False)
    assert len(shifted["val"]) == len(plain["val"])  # validation is never shifted
    assert 2 * len(plain["train"]) < len(shifted["train"]) <= 3 * len(plain["train"])
    assert [t for t, _ in shifted["train"][:3]] == [plain["train"][0][0]] * 3  # a sample's renderings stay together
    ref = next(read_split(inputs / "x2mo", "train")[0].motions())
    motion = materialise(ref, Corpus(inputs / "corpus"))
    variants = shifted_codes(tok, motion, 3)
    from_frame_2 = tok.encode(Motion.from_features(motion.features[2:]))
    assert len(variants) == 2 and all(v.shape == from_frame_2.shape for v in variants)
    np.testing.assert_array_equal(variants[1], from_frame_2)  # shift 2: the motion from its third frame on
    assert not np.array_equal(variants[0], variants[1])
    assert shifted_codes(tok, Motion.from_features(motion.features[:5]), 3) == []  # too short to shift


def test_the_preparation_cache_holds_no_pickle_and_a_damaged_one_is_rebuilt(inputs, tmp_path):
    """A crafted or half-written cache never runs code and never stops a rerun: it is prepared again."""
    import numpy as np

    from omnimogen.training.lm import prepare

    tok = MotionTokenizer.from_pretrained(inputs / "tok")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, first = prepare(inputs / "x2mo", inputs / "corpus", tok, _cfg(augment_shifts=1), tmp_path, False)
    (cache,) = tmp_path.glob("prepared-*.npz")
    with np.load(cache, allow_pickle=False) as z:  # plain arrays only: loading needs no pickle
        assert {k.split("/")[1] for k in z.files} == {"offsets", "ids", "loss_mask", "codes", "tasks"}
    _, again = prepare(inputs / "x2mo", inputs / "corpus", tok, _cfg(augment_shifts=1), tmp_path, False)
    assert [t for t, _ in again["train"]] == [t for t, _ in first["train"]]
    for (_, a), (_, b) in zip(first["train"] + first["val"], again["train"] + again["val"], strict=True):
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.loss_mask, b.loss_mask)
        np.testing.assert_array_equal(a.codes, b.codes)
    for damage in (b"", b"\x80\x04\x95 not an npz", cache.read_bytes()[:200]):  # killed mid-write, a pickle
        cache.write_bytes(damage)
        with pytest.warns(UserWarning, match="unreadable preparation cache"):
            _, rebuilt = prepare(inputs / "x2mo", inputs / "corpus", tok, _cfg(augment_shifts=1), tmp_path, False)
        assert len(rebuilt["train"]) == len(first["train"]) and cache.stat().st_size > 1000


def test_a_set_that_differs_in_words_only_is_prepared_without_encoding_a_motion_again(inputs, tmp_path, monkeypatch):
    """The codes of every motion reference are kept beside the renderings (``codes-*.npz``, per tokenizer
    and corpus): another instruction set over the same clips (new captions, another mix) encodes none."""
    import shutil

    import numpy as np

    from omnimogen.training import lm

    tok = MotionTokenizer.from_pretrained(inputs / "tok")
    reworded = tmp_path / "x2mo_reworded"
    shutil.copytree(inputs / "x2mo", reworded)
    manifest = json.loads((reworded / "manifest.json").read_text())
    (reworded / "manifest.json").write_text(json.dumps({**manifest, "note": "captions rewritten"}))
    for shard in reworded.glob("train-*.jsonl"):
        shard.write_text(shard.read_text().replace('"text":"', '"text":"Please: '))  # every sentence reworded
    encoded = []
    real = lm._encode_ref
    monkeypatch.setattr(lm, "_encode_ref", lambda corpus, t, ref, shifts: encoded.append(ref) or real(corpus, t, ref, shifts))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, first = lm.prepare(inputs / "x2mo", inputs / "corpus", tok, _cfg(augment_shifts=2), tmp_path / "run", False)
        refs = len(encoded)
        _, second = lm.prepare(reworded, inputs / "corpus", tok, _cfg(augment_shifts=2), tmp_path / "run", False)
    assert refs > 0 and len(encoded) == refs  # new renderings, no motion encoded again
    assert len(list((tmp_path / "run").glob("prepared-*.npz"))) == 2
    for (_, a), (_, b) in zip(first["train"] + first["val"], second["train"] + second["val"], strict=True):
        np.testing.assert_array_equal(a.codes[a.codes >= 0], b.codes[b.codes >= 0])  # the same motions' codes
    assert any(not np.array_equal(a.ids, b.ids) for (_, a), (_, b) in zip(first["train"], second["train"], strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm.prepare(reworded, inputs / "corpus", tok, _cfg(augment_shifts=3), tmp_path / "run", False)
    assert len(encoded) > refs  # other shifts are other codes: the train motions are encoded again
    (store,) = (tmp_path / "run").glob("codes-*.npz")
    store.write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="unreadable code cache"):
        assert lm.load_codes(store) == {}


def test_prepare_only_then_train_where_there_is_no_corpus(inputs, tmp_path):
    """``train lm --prepare-only`` on the machine with the data; the run folder alone trains elsewhere,
    to the same weights as a run that prepared itself."""
    import shutil

    from omnimogen.training.lm import prepare_run

    cfg = _cfg()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = prepare_run(inputs / "x2mo", inputs / "corpus", inputs / "tok", tmp_path / "prep", cfg, progress=False)
    assert done["samples"]["train"] > 0 and done["bytes"] > 0
    assert not (tmp_path / "prep" / "checkpoints").exists()  # nothing trained yet
    for name in ("travelled", "other"):
        shutil.copytree(tmp_path / "prep", tmp_path / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_lm(None, None, inputs / "tok", tmp_path / "travelled", cfg, progress=False)
        train_lm(inputs / "x2mo", inputs / "corpus", inputs / "tok", tmp_path / "direct", cfg, progress=False)
    travelled, direct = (OmniMoGen.from_pretrained(tmp_path / n / "final").lm for n in ("travelled", "direct"))
    assert travelled.known_captions == direct.known_captions
    for (name, a), b in zip(travelled.state_dict().items(), direct.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    with pytest.raises(ConfigError, match="prepared with other settings .*text_vocab_size"):
        train_lm(None, None, inputs / "tok", tmp_path / "other", _cfg(text_vocab_size=500), progress=False)
    with pytest.raises(ConfigError, match="no prepared training set"):
        train_lm(None, None, inputs / "tok", tmp_path / "empty", cfg, progress=False)


def test_fine_tune_from_a_trained_model(inputs, tmp_path):
    """``init_from`` starts from a trained model's weights and keeps its vocabulary and architecture;
    it refuses settings that would change them and a tokenizer whose codes it was not trained on."""
    import shutil

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_lm(inputs / "x2mo", inputs / "corpus", inputs / "tok", tmp_path / "base", _cfg(steps=2), progress=False)
        base = OmniMoGen.from_pretrained(tmp_path / "base" / "final").lm
        tune = dict(init_from=str(tmp_path / "base" / "final"), steps=2, batch_size=4, val_every=2, ckpt_every=2,
                    val_per_task=1)  # fmt: skip
        train_lm(inputs / "x2mo", inputs / "corpus", inputs / "tok", tmp_path / "still", LMTrainConfig(**tune, lr=1e-12),
                 progress=False)  # fmt: skip
        train_lm(inputs / "x2mo", inputs / "corpus", inputs / "tok", tmp_path / "tuned", LMTrainConfig(**tune),
                 progress=False)  # fmt: skip
    still, tuned = (OmniMoGen.from_pretrained(tmp_path / n / "final").lm for n in ("still", "tuned"))
    assert tuned.config == base.config and tuned.vocab.fingerprint() == base.vocab.fingerprint()
    for (name, a), b in zip(base.state_dict().items(), still.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)  # a vanishing learning rate leaves the starting weights
    assert any(not torch.equal(a, b) for a, b in zip(base.state_dict().values(), tuned.state_dict().values(), strict=True))
    with pytest.raises(ConfigError, match="leave 'model' and 'text_vocab_size' unset"):
        train_lm(inputs / "x2mo", inputs / "corpus", inputs / "tok", tmp_path / "x",
                 LMTrainConfig(**tune, model={"layers": 2}), progress=False)  # fmt: skip
    other = tmp_path / "other_tok"
    shutil.copytree(tmp_path / "base" / "final", other)
    doc = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**doc, "tokenizer": "0123456789abcdef"}))
    with pytest.raises(ConfigError, match="trained on tokenizer 0123456789abcdef"):
        train_lm(inputs / "x2mo", inputs / "corpus", inputs / "tok", tmp_path / "y",
                 LMTrainConfig(**{**tune, "init_from": str(other)}), progress=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_lm(inputs / "x2mo", inputs / "corpus", inputs / "tok", tmp_path / "y2",
                 LMTrainConfig(**{**tune, "init_from": str(other)}, init_other_tokenizer=True), progress=False)  # fmt: skip
    assert OmniMoGen.from_pretrained(tmp_path / "y2" / "final").lm.tokenizer_fingerprint != "0123456789abcdef"
    from omnimogen.training.lm import prepare_run

    with warnings.catch_warnings():  # a folder prepared with its own BPE vocabulary, not the model's
        warnings.simplefilter("ignore")
        prepare_run(inputs / "x2mo", inputs / "corpus", inputs / "tok", tmp_path / "prep",
                    LMTrainConfig(steps=2), progress=False)  # fmt: skip
    with pytest.raises(ConfigError, match="prepared with another vocabulary than init_from's model"):
        train_lm(None, None, inputs / "tok", tmp_path / "prep", LMTrainConfig(**tune), progress=False)
    with pytest.raises(ConfigError, match="not a model folder"):
        train_lm(inputs / "x2mo", inputs / "corpus", inputs / "tok", tmp_path / "z",
                 LMTrainConfig(**{**tune, "init_from": str(tmp_path / "nothing")}), progress=False)  # fmt: skip


def test_task_weights_repeat_a_task_or_a_family_and_refuse_what_is_not_there():
    from collections import Counter

    from omnimogen.training.lm import weigh_tasks

    items = [(t, object()) for t in ("describe", "t2m", "edit/speed", "edit/style", "edit/style")]
    count = lambda w: Counter(t for t, _ in weigh_tasks(items, w))  # noqa: E731
    assert count({}) == Counter(t for t, _ in items)
    assert count({"describe": 4, "t2m": 0}) == {"describe": 4, "edit/speed": 1, "edit/style": 2}
    assert count({"edit": 2, "edit/style": 3}) == {"describe": 1, "t2m": 1, "edit/speed": 2, "edit/style": 6}
    repeated = weigh_tasks(items, {"describe": 3})
    assert all(r is items[0][1] for t, r in repeated if t == "describe")  # the same renderings, not new ones
    with pytest.raises(ConfigError, match="no training task 'describ'"):
        weigh_tasks(items, {"describ": 2})
    for bad in (1.5, -1, True, "2"):
        with pytest.raises(ConfigError, match="whole number"):
            weigh_tasks(items, {"describe": bad})
    with pytest.raises(ConfigError, match="no training samples"):
        weigh_tasks(items, {"describe": 0, "t2m": 0, "edit": 0})
    cfg = resolve_config(LMTrainConfig, None, ["task_weights.describe=4"])  # --set task_weights.describe=4
    assert cfg.task_weights == {"describe": 4}


def test_unconditional_copies_keep_the_answer_and_replace_the_words():
    from omnimogen.model.pipeline import UNCONDITIONAL
    from omnimogen.training.lm import with_unconditional

    vocab = Vocab.train_bpe(["a person walks forward", UNCONDITIONAL, "describe <Motion>"] * 20, 300, 3, 16, "grouped")
    rng = np.random.default_rng(0)
    def render(text):  # noqa: E306
        answer = MotionCodes(rng.integers(0, 16, (int(rng.integers(2, 6)), 3)))
        return vocab.render([Message("user", (TextPart(text),)), Message("assistant", (answer,))])
    items = [("t2m", render(f"a person walks forward {k}")) for k in range(10)] + [("describe", render("describe"))]
    out = with_unconditional(items, vocab, 0.3, seed=1)
    assert out[: len(items)] == items and [t for t, _ in out[len(items):]] == ["t2m/unconditional"] * 3
    for _, r in out[len(items):]:
        user, answer = vocab.parse(r.ids, r.codes)
        assert user.parts[-1].text == UNCONDITIONAL
        source = next(s for t, s in items if t == "t2m" and np.array_equal(vocab.parse(s.ids, s.codes)[1].parts[0].codes,
                                                                             answer.parts[0].codes))  # fmt: skip
        assert r.loss_mask.sum() == source.loss_mask.sum()  # the same answer is learned
    assert with_unconditional(items, vocab, 0.0) == items
    for bad in (1.5, -0.1, True, "0.1"):
        with pytest.raises(ConfigError, match="unconditional_share"):
            with_unconditional(items, vocab, bad)
    with pytest.raises(ConfigError, match="needs text-to-motion"):
        with_unconditional(items[-1:], vocab, 0.1)
