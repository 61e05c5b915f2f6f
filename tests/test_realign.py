"""Moving a model onto another tokenizer's codes (``train realign``): for a tokenizer whose codebooks
are the old ones renumbered, the realigned model must read and score the new numbers exactly as the
model read and scored the old ones."""

import copy
import json

import numpy as np
import pytest
import torch
from conftest import FIXTURES

from omnimogen.cli import main
from omnimogen.model.transformer import ModelConfig, OmniMoGenLM, load_lm, save_lm
from omnimogen.model.vocab import Vocab
from omnimogen.motion import Normalizer
from omnimogen.tokenizer import PRESETS, MotionTokenizer
from omnimogen.training.common import ConfigError
from omnimogen.training.realign import paired_codes, realign

TEXTS = ["a person walks forward happily", "describe <SourceMotion>", "make it tired"] * 30


@pytest.fixture(scope="module")
def tokenizers(hml_features, turning_features):
    """A tiny tokenizer whose codebooks were set from real features, and a copy with every level's
    codes renumbered (``perms[l][old] = new``)."""
    torch.manual_seed(0)
    old = MotionTokenizer(PRESETS["tiny"], Normalizer.load(FIXTURES))
    old.train()
    x = torch.from_numpy(old.normalizer.normalize(np.concatenate([hml_features, turning_features])[:192])).float()
    old(x.view(2, 96, -1))  # k-means initialisation of each level on real steps
    old.eval()
    for layer in old.quantizer.layers:  # k-means on few steps leaves equal codes: ties would pick other numbers
        layer._codebook.embed.add_(torch.randn_like(layer._codebook.embed) * 1e-2)
    new, perms = copy.deepcopy(old), []
    for layer in new.quantizer.layers:
        perm = torch.randperm(old.config.codebook_size)
        inverse = torch.argsort(perm)
        book = layer._codebook
        for name in ("embed", "embed_avg", "cluster_size"):
            getattr(book, name).copy_(getattr(book, name)[:, inverse])  # old code i now sits at perm[i]
        perms.append(perm)
    return old, new, perms


def _model(levels: int, k: int) -> OmniMoGenLM:
    torch.manual_seed(1)
    vocab = Vocab.train_bpe(TEXTS, 300, levels, k, "grouped")
    return OmniMoGenLM(ModelConfig(hidden_size=32, layers=1, heads=2, intermediate_size=64), vocab).eval()


def test_renumbered_codes_are_read_and_scored_as_before(tokenizers, hml_features, turning_features):
    old, new, perms = tokenizers
    features = [hml_features, turning_features]
    o, n = paired_codes(old, new, features)
    for lvl, perm in enumerate(perms):
        assert torch.equal(n[:, lvl], perm[o[:, lvl]])  # the fixture renumbers, nothing else
    cfg = old.config
    model = _model(cfg.num_levels, cfg.codebook_size)
    before = copy.deepcopy(model)
    report = realign(model, old, new, features, ridge=1e-6)
    assert report.steps == len(o) and report.clips == 2
    assert max(report.same_codes) < 0.5 and report.input_error_by_number > 0.5
    assert report.input_error_fitted < 1e-3

    ids = torch.zeros(1, len(o), dtype=torch.long)
    with torch.no_grad():
        torch.testing.assert_close(model.embed(ids, n[None]), before.embed(ids, o[None]), atol=1e-3, rtol=1e-3)
        hidden = torch.randn(len(o), 32)
        got, want = model.code_logits(hidden, n), before.code_logits(hidden, o)
    for lvl, perm in enumerate(perms):
        seen = torch.unique(o[:, lvl])  # rows of codes never seen keep their old numbers' rows
        torch.testing.assert_close(got[:, lvl, perm[seen]], want[:, lvl, seen], atol=1e-3, rtol=1e-3)
    with pytest.raises(ConfigError, match="levels of"):  # a model of other codebooks
        realign(_model(cfg.num_levels, 2 * cfg.codebook_size), old, new, features)
    flat = OmniMoGenLM(ModelConfig(layout="flat", hidden_size=32, layers=1, heads=2, intermediate_size=64),
                       Vocab.train_bpe(TEXTS, 300, cfg.num_levels, cfg.codebook_size, "flat"))  # fmt: skip
    with pytest.raises(ConfigError, match="grouped layout"):
        realign(flat, old, new, features)
    # By number, the same model would read other motions.
    assert not torch.allclose(before.embed(ids, n[None]), before.embed(ids, o[None]), atol=1e-2)


def test_cli_writes_a_model_folder_that_reads_the_new_tokenizer(tokenizers, tmp_path, capsys):
    old, new, _ = tokenizers
    base = tmp_path / "base"
    model = _model(old.config.num_levels, old.config.codebook_size)
    save_lm(model, base, old.fingerprint())
    old.save_pretrained(base / "tokenizer")
    new.save_pretrained(tmp_path / "newtok")
    corpus = tmp_path / "corpus"  # a HumanML3D-layout folder: the fixture clip as the one training clip
    (corpus / "new_joint_vecs").mkdir(parents=True)
    np.save(corpus / "new_joint_vecs" / "000001.npy", np.load(FIXTURES / "new_joint_vecs" / "012314.npy"))
    for split in ("train", "val", "test"):
        (corpus / f"{split}.txt").write_text("000001\n" if split == "train" else "")
    (corpus / "texts").mkdir()
    (corpus / "texts" / "000001.txt").write_text("a person walks forward.#a/DET person/NOUN#0.0#0.0\n")
    for name in ("Mean.npy", "Std.npy"):
        (corpus / name).write_bytes((FIXTURES / name).read_bytes())
    out = tmp_path / "realigned"
    assert main(["train", "realign", "--model", str(base), "--tokenizer", str(tmp_path / "newtok"),
                 "--corpus", str(corpus), "--out", str(out)]) == 0  # fmt: skip
    assert "init_from=" in capsys.readouterr().out
    assert load_lm(out).tokenizer_fingerprint == new.fingerprint()
    assert json.loads((out / "realign.json").read_text())["clips"] == 1
    from omnimogen.model.pipeline import OmniMoGen

    OmniMoGen.from_pretrained(out)  # model and tokenizer agree
    with pytest.raises(ConfigError, match="nothing to realign"):
        from omnimogen.training.realign import realign_model

        realign_model(out, tmp_path / "newtok", corpus, tmp_path / "again")
    assert main(["train", "realign", "--model", str(tmp_path / "none"), "--tokenizer", str(tmp_path / "newtok"),
                 "--corpus", str(corpus), "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "not a model folder" in capsys.readouterr().err
