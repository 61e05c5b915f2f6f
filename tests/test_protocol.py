"""The HumanML3D evaluation protocol runner (Guo et al.) with a randomly initialised evaluator in the official
checkpoint layout, fake GloVe files and a tiny HumanML3D-layout test set cut from the shared fixtures."""

import dataclasses
import importlib.util
import json
import math
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import FIXTURES

from omnimogen.errors import FormatError, MotionError
from omnimogen.evaluation import GuoEvaluator, mean_ci95
from omnimogen.evaluation import protocol as P
from omnimogen.evaluation.guo import PARTS

ROOT = Path(__file__).resolve().parents[1]

# Small protocol settings: 32 test entries, 32 texts per repeat in batches of 16: as with HumanML3D's
# 4,384 test motions, both passes of a repeat (ground truth and FID reference) see (almost) every motion.
SMALL = {"batch_size": 16, "diversity_pairs": 20, "mm_num": 4, "mm_samples": 6, "mm_pairs": 3, "repeats": 2}

CAPTIONS = [
    ("a person walks forward slowly.", "a/DET person/NOUN walk/VERB forward/ADV slowly/ADV"),
    ("the man jumps up high", "the/DET man/NOUN jump/VERB up/ADP high/ADV"),
    ("someone waves the left hand", "someone/PRON wave/VERB the/DET left/ADJ hand/NOUN"),
    ("a person kicks with the right leg", "a/DET person/NOUN kick/VERB with/ADP the/DET right/ADJ leg/NOUN"),
    ("a figure turns around and sits down", "a/DET figure/NOUN turn/VERB around/ADV and/CCONJ sit/VERB down/ADV"),
    ("a human runs in a circle", "a/DET human/NOUN run/VERB in/ADP a/DET circle/NOUN"),
    ("he raises both arms", "he/PRON raise/VERB both/DET arm/NOUN"),
]
VOCAB = sorted({t.split("/")[0] for _, toks in CAPTIONS for t in toks.split()} | {"sos", "eos", "unk"})


def write_official_files(root: Path, seed: int = 0) -> Path:
    """root/t2m/text_mot_match/model/finest.tar, root/t2m/Comp_v6_KLD01/meta/{mean,std}.npy, root/glove/our_vab_*."""
    torch.manual_seed(seed)
    model = GuoEvaluator()
    ckpt_dir = root / "t2m" / "text_mot_match" / "model"
    ckpt_dir.mkdir(parents=True)
    torch.save({name: getattr(model, name).state_dict() for name in PARTS} | {"epoch": 7},
               ckpt_dir / "finest.tar")  # fmt: skip
    meta = root / "t2m" / "Comp_v6_KLD01" / "meta"
    meta.mkdir(parents=True)
    np.save(meta / "mean.npy", np.load(FIXTURES / "Mean.npy"))
    np.save(meta / "std.npy", np.load(FIXTURES / "Std.npy"))
    glove = root / "glove"
    glove.mkdir()
    rng = np.random.default_rng(seed)
    np.save(glove / "our_vab_data.npy", rng.normal(size=(len(VOCAB), 300)).astype(np.float32))
    with open(glove / "our_vab_words.pkl", "wb") as f:
        pickle.dump(list(VOCAB), f)
    with open(glove / "our_vab_idx.pkl", "wb") as f:
        pickle.dump({w: i for i, w in enumerate(VOCAB)}, f)
    return ckpt_dir


def write_dataset(root: Path) -> Path:
    """31 clips of 40-199 rows cut from two fixture motions, one with an extra captioned segment, plus three
    clips the official loader leaves out (too short, no text file, no feature file)."""
    a = np.load(FIXTURES / "new_joint_vecs" / "012314.npy").astype(np.float32)  # (170, 263)
    b = np.load(FIXTURES / "momask_example_000612.npy").astype(np.float32)  # (199, 263)
    for sub in ("new_joint_vecs", "texts"):
        (root / sub).mkdir(parents=True)
    ids = []
    for k in range(31):
        src = b if k % 2 else a
        length = 199 if k == 1 else min(40 + (k * 37) % 160, len(src))
        start = (k * 13) % (len(src) - length + 1)
        cid = f"{k:06d}"
        np.save(root / "new_joint_vecs" / f"{cid}.npy", src[start : start + length])
        lines = [CAPTIONS[(k + j) % len(CAPTIONS)] for j in range(1 + k % 3)]
        text = "".join(f"{c}#{t}#0.0#0.0\n" for c, t in lines)
        if k == 1:  # a 199-row clip: one segment caption long enough (2.5 s = 50 rows), one too short (1 s)
            text += f"{CAPTIONS[5][0]}#{CAPTIONS[5][1]}#0.0#2.5\n{CAPTIONS[6][0]}#{CAPTIONS[6][1]}#1.0#2.0\n"
        (root / "texts" / f"{cid}.txt").write_text(text, encoding="utf-8")
        ids.append(cid)
    np.save(root / "new_joint_vecs" / "short.npy", a[:30])
    (root / "texts" / "short.txt").write_text(f"{CAPTIONS[0][0]}#{CAPTIONS[0][1]}#0.0#0.0\n")
    np.save(root / "new_joint_vecs" / "notext.npy", a[:80])
    (root / "test.txt").write_text("\n".join([*ids, "short", "notext", "nofeatures"]) + "\n")
    return root


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocol")
    ckpt_dir = write_official_files(root / "checkpoints")
    return ckpt_dir, root / "checkpoints" / "glove", write_dataset(root / "HumanML3D")


@pytest.fixture(scope="module")
def evaluator(files):
    ckpt_dir, glove, _ = files
    return P.load_humanml3d_evaluator(ckpt_dir, glove)  # meta found at t2m/Comp_v6_KLD01/meta


def ground_truth_generator(data_dir, **settings):
    """A generator that returns, for each request, exactly the ground-truth crop the protocol drew for it
    (found through the request's seed): model and ground truth must then score the same."""
    items = P.load_test_set(data_dir).items
    used = len(items) // settings["batch_size"] * settings["batch_size"]
    crops = {}
    for r in range(settings["repeats"]):
        d = P._draw(items, used, settings.get("seed", 0), r, settings["mm_num"], settings["mm_samples"])
        crops |= {int(s): c for s, c in zip(d.seeds, d.crops, strict=True)}
        crops |= {int(s): d.crops[row] for row, ss in zip(d.mm_rows, d.mm_seeds, strict=True) for s in ss}

    def generate(texts, lengths, seeds):
        out = [crops[s] for s in seeds]
        assert [len(c) for c in out] == lengths
        return out

    return generate


def noise_generator(texts, lengths, seeds):
    return [np.random.default_rng(s).normal(size=(n + 3, 263)) for n, s in zip(lengths, seeds, strict=True)]


@pytest.fixture(scope="module")
def gt_run(files, evaluator):
    data = files[2]
    with pytest.warns(UserWarning, match="left out 1 clip"):
        return P.run_protocol(ground_truth_generator(data, **SMALL), data, evaluator, progress=False, **SMALL)


def test_official_layout_and_text_side(files, evaluator):
    ckpt = torch.load(files[0] / "finest.tar", weights_only=True)
    assert ckpt["movement_encoder"]["main.0.weight"].shape == (512, 259, 4)  # 263 - 4 contact channels
    assert ckpt["motion_encoder"]["gru.weight_hh_l0"].shape == (3072, 1024)
    assert ckpt["text_encoder"]["pos_emb.weight"].shape == (300, 15)
    np.testing.assert_array_equal(evaluator.mean, np.load(FIXTURES / "Mean.npy"))
    v = evaluator.vectorizer
    vec, pos = v["walk/NOUN"]  # a VIP action word: its class overrides the tagger's
    np.testing.assert_array_equal(vec, v.word2vec["walk"])
    assert pos.argmax() == P.POS_ENUMERATOR["Act_VIP"] and pos.sum() == 1
    assert v["left/ADJ"][1].argmax() == P.POS_ENUMERATOR["Loc_VIP"]
    assert v["person/NOUN"][1].argmax() == P.POS_ENUMERATOR["NOUN"]
    vec, pos = v["zebra/NOUN"]  # unknown word: unk vector, OTHER
    np.testing.assert_array_equal(vec, v.word2vec["unk"])
    assert pos.argmax() == P.POS_ENUMERATOR["OTHER"]
    words, onehots, n = v.encode(["a/DET", "person/NOUN", "walk/VERB"])
    assert words.shape == (22, 300) and onehots.shape == (22, 15) and n == 5  # sos + 3 + eos, padded with unk
    np.testing.assert_array_equal(words[0], v.word2vec["sos"])
    np.testing.assert_array_equal(words[4], v.word2vec["eos"])
    np.testing.assert_array_equal(words[5:], np.broadcast_to(v.word2vec["unk"], (17, 300)))
    assert v.encode(["a/DET"] * 30)[2] == 22  # cut to 20 tokens, then sos/eos
    # Motions: normalised with the evaluator's statistics and zero-padded to 196 rows.
    m = np.load(FIXTURES / "new_joint_vecs" / "012314.npy")[:100]
    padded = np.zeros((1, 196, 263), np.float32)
    padded[0, :100] = (m - evaluator.mean) / evaluator.std
    direct = evaluator.model.embed_motions(torch.from_numpy(padded), torch.tensor([100])).numpy()
    np.testing.assert_allclose(evaluator.embed_motions([m], [100]), direct, atol=1e-5)


def test_test_set_follows_the_official_loader(files):
    with pytest.warns(UserWarning, match="left out 1 clip.s. with no feature file, 1 clip.s. with no text file, 1"):
        data = P.load_test_set(files[2])
    names = [e.name for e in data.items]
    assert len(names) == 32 and "000001#2" in names and "000001#3" not in names  # 50-row segment kept, 20-row not
    seg = next(e for e in data.items if e.name == "000001#2")
    whole = next(e for e in data.items if e.name == "000001")
    np.testing.assert_array_equal(seg.motion, whole.motion[:50])
    assert seg.captions == ((CAPTIONS[5][0], tuple(CAPTIONS[5][1].split())),)
    assert len(whole.captions) == 2  # the segment captions are not the whole motion's
    assert [len(e.motion) for e in data.items] == sorted(len(e.motion) for e in data.items)


def test_official_crop():
    rng = np.random.default_rng(0)
    motions = [np.arange(n)[:, None] * np.ones((1, 2)) for n in rng.integers(40, 200, 3000)]
    lengths, crops = P._crop(rng, motions)
    full = np.array([len(m) // 4 * 4 for m in motions])
    assert (lengths % 4 == 0).all() and lengths.max() <= 196 and set(full - lengths) == {0, 4}
    assert abs((lengths < full).mean() - 1 / 3) < 0.03  # np.random.choice(['single', 'single', 'double'])
    for m, n, c in zip(motions, lengths, crops, strict=True):
        assert len(c) == n and (np.diff(c[:, 0]) == 1).all() and 0 <= c[0, 0] <= len(m) - n  # a contiguous window


def test_ground_truth_as_generator_matches_the_ground_truth(gt_run):
    gt, model = gt_run.metrics["ground_truth"], gt_run.metrics["model"]
    assert gt_run.texts_per_repeat == 32 and gt_run.entries == 32
    assert model["FID"] == pytest.approx(0, abs=1e-3)  # against the real motions of the same pass
    for k in ("R@1", "R@2", "R@3", "MM-Dist", "Diversity"):
        assert model[k] == pytest.approx(gt[k], abs=1e-6), k
        assert model[k + "_ci95"] == pytest.approx(gt[k + "_ci95"], abs=1e-6), k
    assert model["MultiModality"] == pytest.approx(0, abs=1e-6)  # every sample is the same motion
    assert "MultiModality" not in gt
    assert gt["FID"] > 0.01  # the ground truth's FID: against a second pass with other crops
    assert 0 <= gt["R@1"] <= gt["R@2"] <= gt["R@3"] <= 1
    for method in ("ground_truth", "model"):
        for k, values in gt_run.per_repeat[method].items():
            assert len(values) == SMALL["repeats"]
            mean, half = gt_run.metrics[method][k], gt_run.metrics[method][k + "_ci95"]
            assert mean == pytest.approx(np.mean(values))
            assert half == pytest.approx(1.96 * np.std(values) / math.sqrt(len(values)))  # population std
    doc = dataclasses.asdict(gt_run)
    assert json.loads(json.dumps(doc)) == doc  # plain numbers only


def test_ci_half_width_on_a_known_input():
    mean, half = mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert (mean, half) == (2.5, pytest.approx(1.96 * math.sqrt(1.25) / 2))


def test_noise_scores_worse_and_runs_are_deterministic(files, evaluator, gt_run):
    data = files[2]
    with pytest.warns(UserWarning):
        noise = P.run_protocol(noise_generator, data, evaluator, progress=False, **SMALL)
    assert noise.metrics["ground_truth"] == gt_run.metrics["ground_truth"]  # the draw does not depend on the model
    assert noise.metrics["model"]["FID"] > 10 * gt_run.metrics["ground_truth"]["FID"] + 1
    assert noise.metrics["model"]["MultiModality"] > 0
    with pytest.warns(UserWarning):  # repeat 0 again, alone: the same numbers, bit for bit
        again = P.run_protocol(noise_generator, data, evaluator, progress=False, **(SMALL | {"repeats": 1}))
    for method in ("ground_truth", "model"):
        assert again.per_repeat[method] == {k: v[:1] for k, v in noise.per_repeat[method].items()}


def test_independent_fid_reference_and_another_seed(files, evaluator, gt_run):
    data = files[2]
    settings = SMALL | {"repeats": 1, "mm_num": 0, "seed": 1}
    with pytest.warns(UserWarning):
        run = P.run_protocol(ground_truth_generator(data, **settings), data, evaluator, progress=False,
                             fid_reference="independent", **settings)  # fmt: skip
    assert run.metrics["model"]["FID"] == pytest.approx(run.metrics["ground_truth"]["FID"], abs=1e-9) and run.metrics["model"]["FID"] > 0.01
    assert "MultiModality" not in run.metrics["model"]
    assert run.per_repeat["ground_truth"]["MM-Dist"][0] != gt_run.per_repeat["ground_truth"]["MM-Dist"][0]


def test_clear_errors(files, evaluator, tmp_path):
    ckpt_dir, glove, data = files
    with pytest.raises(FormatError, match="no such file"):
        P.load_humanml3d_evaluator(tmp_path / "nothing", glove)
    bad = GuoEvaluator().state_dict()  # 263-D motions where the checkpoint has KIT's 251
    parts = {n: {k[len(n) + 1 :]: v for k, v in bad.items() if k.startswith(n + ".")} for n in PARTS}
    parts["movement_encoder"]["main.0.weight"] = torch.zeros(512, 247, 4)
    (tmp_path / "kit" / "model").mkdir(parents=True)
    torch.save(parts, tmp_path / "kit" / "model" / "finest.tar")
    with pytest.raises(FormatError, match=r"main\.0\.weight has shape \(512, 247, 4\)"):
        P.load_humanml3d_evaluator(tmp_path / "kit" / "model", glove, ckpt_dir.parents[1] / "Comp_v6_KLD01" / "meta")
    alone = tmp_path / "alone"  # a checkpoint without the official folders around it
    alone.mkdir()
    (alone / "finest.tar").write_bytes((ckpt_dir / "finest.tar").read_bytes())
    with pytest.raises(FormatError, match="no evaluator normalisation"):
        P.load_humanml3d_evaluator(alone / "finest.tar", glove)
    with pytest.raises(FormatError, match="our_vab_data.npy: no such file"):
        P.load_humanml3d_evaluator(ckpt_dir, tmp_path)
    with pytest.raises(FormatError, match="GloVe directory does not exist"):
        P.load_humanml3d_evaluator(ckpt_dir, tmp_path / "glove")
    evil = tmp_path / "evil"
    evil.mkdir()
    np.save(evil / "our_vab_data.npy", np.zeros((2, 300), np.float32))
    (evil / "our_vab_words.pkl").write_bytes(pickle.dumps(Path("unk")))  # an object, not a word list
    (evil / "our_vab_idx.pkl").write_bytes(pickle.dumps({"unk": 0}))
    with pytest.raises(FormatError, match="refusing to load pathlib"):
        P.WordVectorizer(evil)
    with pytest.raises(FormatError, match="meta directory does not exist"):
        P.load_humanml3d_evaluator(ckpt_dir, glove, tmp_path / "meta")
    no_test = tmp_path / "no_test"
    (no_test / "new_joint_vecs").mkdir(parents=True)
    (no_test / "train.txt").write_text("000000\n")
    with pytest.raises(FormatError, match="test.txt: split file missing"):
        P.run_protocol(noise_generator, no_test, evaluator, progress=False)
    with pytest.raises(FormatError, match="does not exist"):
        P.run_protocol(noise_generator, tmp_path / "missing", evaluator, progress=False)
    with pytest.warns(UserWarning), pytest.raises(FormatError, match="fewer than one batch of 32"):
        P.run_protocol(noise_generator, data, evaluator, progress=False, max_texts=20)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="more motions than pairs"):
        P.run_protocol(noise_generator, data, evaluator, progress=False, batch_size=16)  # 300 pairs from 32
    small = SMALL | {"repeats": 1, "mm_num": 0}
    with pytest.warns(UserWarning), pytest.raises(MotionError, match=r"shape \(at least \d+, 263\)"):
        P.run_protocol(lambda t, n, s: [np.zeros((k - 4, 263)) for k in n], data, evaluator, progress=False, **small)
    with pytest.warns(UserWarning), pytest.raises(MotionError, match="returned 1 motions for 16 requests"):
        P.run_protocol(lambda t, n, s: [np.zeros((n[0], 263))], data, evaluator, progress=False, **small)


def run_script(*args: str) -> int:
    spec = importlib.util.spec_from_file_location("eval_humanml3d", ROOT / "scripts" / "eval_humanml3d.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script.main(list(args))


def test_script_writes_results_json(files, tmp_path, capsys, gt_run):
    ckpt_dir, glove, data = files
    out = tmp_path / "results.json"
    args = ["--data", str(data), "--evaluator-dir", str(ckpt_dir), "--glove", str(glove), "--ground-truth-only",
            "--repeats", "1", "--batch-size", "16", "--diversity-pairs", "20", "--out", str(out), "--no-progress"]  # fmt: skip
    with pytest.warns(UserWarning):
        assert run_script(*args) == 0
    doc = json.loads(out.read_text())
    assert doc["suite"] == "humanml3d" and doc["repeats"] == 1 and doc["seed"] == 0
    assert doc["data"]["name"] == data.name and len(doc["data"]["sha256"]) == 64
    assert doc["model"] == {"name": "ground_truth", "sha256": None}
    assert set(doc["metrics"]) == {"ground_truth"}
    assert {"FID", "FID_ci95", "R@1", "R@2", "R@3", "MM-Dist", "Diversity"} <= set(
        doc["metrics"]["ground_truth"]["all"]
    )
    assert {"torch", "numpy", "omnimogen", "python"} <= set(doc["versions"])
    # Repeat 0 of the ground truth is the same without a model and without MultiModality settings.
    assert doc["per_repeat"]["ground_truth"] == {k: v[:1] for k, v in gt_run.per_repeat["ground_truth"].items()}
    capsys.readouterr()
    assert run_script(*args) == 2  # refuses to overwrite another run
    assert "already exists" in capsys.readouterr().err
    assert run_script(*args, "--glove", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.json")) == 2
    assert "GloVe directory does not exist" in capsys.readouterr().err
    with pytest.warns(UserWarning):
        assert run_script(*args, "--diversity-pairs", "300", "--out", str(tmp_path / "y.json")) == 2
    assert "more motions than pairs" in capsys.readouterr().err and not (tmp_path / "y.json").exists()


def test_omnimogen_generator_asks_for_one_motion_of_the_length():
    class FakeModel:
        calls = []

        def generate(self, text, **kwargs):
            self.calls.append((text, kwargs))
            features = np.full((kwargs["frames"] - 1, 263), kwargs["seed"], np.float32)
            return SimpleNamespace(motions=[SimpleNamespace(features=features)])

    model = FakeModel()
    out = P.omnimogen_generator(model, temperature=0.7)(["a person waves", "a man runs"], [40, 64], [3, 9])
    assert [o.shape for o in out] == [(40, 263), (64, 263)] and out[1][0, 0] == 9
    assert model.calls[1] == ("a man runs", {"frames": 65, "seed": 9, "motion_only": True, "temperature": 0.7})
