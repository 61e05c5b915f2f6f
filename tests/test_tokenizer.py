"""The tokenizer: codes round trip, any length, checkpoints, bad input, and training (resume, two processes)."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch
from conftest import FIXTURES, TAKES, bandai

from omnimogen import Motion
from omnimogen.cli import main
from omnimogen.errors import FormatError, MotionError
from omnimogen.evaluation.metrics import ANKLES_AND_TOES, physical_score
from omnimogen.motion import Normalizer
from omnimogen.tokenizer import PRESETS, MotionTokenizer, load_tokenizer
from omnimogen.training.common import ConfigError, resolve_config
from omnimogen.training.tokenizer import TokenizerTrainConfig, planted_feet, reconstruction_loss, train_tokenizer

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def tok():
    torch.manual_seed(0)
    model = MotionTokenizer(TINY, Normalizer.load(FIXTURES))
    model.train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):  # initialise the codebooks (k-means on the first batches)
            model(torch.randn(4, 32, 263))
    return model.eval()


@pytest.mark.parametrize("frames", [5, 6, 7, 8, 9, 171])
def test_any_length_encodes_and_decodes_to_the_stated_length(tok, hml_features, frames):
    m = Motion.from_features(hml_features[: frames - 1])
    codes = tok.encode(m)
    steps = -(-(frames - 1) // 4)  # ceil
    assert codes.shape == (steps, TINY.num_levels) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < TINY.codebook_size
    assert tok.decode(codes).num_frames == 4 * steps + 1
    assert tok.decode(codes, length=frames).num_frames == frames


def test_coarser_levels_decode_and_codes_are_deterministic(tok, hml_features):
    m = Motion.from_features(hml_features)
    codes = tok.encode(m)
    np.testing.assert_array_equal(codes, tok.encode(m))
    full, coarse = tok.decode(codes), tok.decode(codes, levels=1)
    assert full.num_frames == coarse.num_frames
    assert not np.allclose(full.features, coarse.features)  # the other levels contribute


def test_save_and_load_pretrained(tok, hml_features, tmp_path):
    tok.save_pretrained(tmp_path / "t")
    assert {p.name for p in (tmp_path / "t").iterdir()} == {"config.json", "model.safetensors", "Mean.npy", "Std.npy"}
    again = load_tokenizer(tmp_path / "t")
    m = Motion.from_features(hml_features)
    np.testing.assert_array_equal(again.encode(m), tok.encode(m))
    np.testing.assert_allclose(again.decode(tok.encode(m)).features, tok.decode(tok.encode(m)).features, atol=1e-6)


def test_broken_checkpoints_are_named(tok, tmp_path):
    tok.save_pretrained(tmp_path / "a")
    (tmp_path / "a" / "Std.npy").unlink()
    with pytest.raises(FormatError, match="missing Std.npy"):
        MotionTokenizer.from_pretrained(tmp_path / "a")
    tok.save_pretrained(tmp_path / "b")
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    (tmp_path / "b" / "config.json").write_text(json.dumps({**cfg, "width": 48}))
    with pytest.raises(FormatError, match="do not match config.json"):
        MotionTokenizer.from_pretrained(tmp_path / "b")
    with pytest.raises(FormatError, match="does not exist"):
        MotionTokenizer.from_pretrained(tmp_path / "nope")


@pytest.mark.parametrize(
    "codes, message",
    [
        (np.zeros((4, 2), dtype=int), "shape"),
        (np.full((4, 3), 32), "lie in"),
        (np.full((4, 3), -1), "lie in"),
        (np.zeros((0, 3), dtype=int), "empty"),
        (np.full((4, 3), 0.5), "integers"),
    ],
)
def test_bad_codes(tok, codes, message):
    with pytest.raises(MotionError, match=message):
        tok.decode(codes)


def test_bad_motions(tok, hml_features):
    with pytest.raises(MotionError, match="at least 5"):
        tok.encode(Motion.from_features(hml_features[:3]))
    with pytest.raises(MotionError, match="levels"):
        tok.decode(np.zeros((2, 3), dtype=int), levels=4)


# ---- training ---------------------------------------------------------------------------------


def _tiny_cfg(**overrides) -> TokenizerTrainConfig:
    base = {"preset": "tiny", "steps": 6, "batch_size": 4, "window": 16, "val_every": 3, "ckpt_every": 2,
            "log_every": 2, "val_clips": 4, "warmup_steps": 1}  # fmt: skip
    return TokenizerTrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A 40-take Bandai build (train and val populated)."""
    from omnimogen.data.bandai import build_bandai

    out = tmp_path_factory.mktemp("tokdata") / "bandai"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_bandai(bandai(), out, limit=40, progress=False)
    return out


def test_config_overrides_and_errors(tmp_path):
    cfg = resolve_config(TokenizerTrainConfig, None, ["steps=7", "model.width=64", "lr_decay_at=[0.5]"])
    assert cfg.steps == 7 and cfg.model == {"width": 64} and cfg.lr_decay_at == [0.5]
    assert cfg.model_config().width == 64
    with pytest.raises(ConfigError, match="unknown config key"):
        resolve_config(TokenizerTrainConfig, None, ["stepz=7"])
    with pytest.raises(ConfigError, match="not a valid int"):
        resolve_config(TokenizerTrainConfig, None, ["steps=many"])
    (tmp_path / "c.json").write_text('{"steps": 3, "preset": "tiny"}')
    assert resolve_config(TokenizerTrainConfig, tmp_path / "c.json").steps == 3


def test_training_resumes_after_sigkill(tiny_data, tmp_path):
    """Kill a run with SIGKILL after its first checkpoint; the resumed run finishes from there."""
    run = tmp_path / "run"
    args = [sys.executable, "-m", "omnimogen.cli", "train", "tokenizer", "--data", str(tiny_data), "--out", str(run)]
    sets = ["--set", "preset=tiny", "--set", "steps=400", "--set", "batch_size=4", "--set", "window=16",
            "--set", "ckpt_every=5", "--set", "val_every=1000", "--set", "val_clips=2"]  # fmt: skip
    proc = subprocess.Popen(args + sets, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "checkpoints" / "latest").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    latest = (run / "checkpoints" / "latest").read_text().strip()
    killed_at = int(latest.split("-")[1])
    assert 0 < killed_at < 400
    # The same settings as the killed run; only the length may differ on resume.
    cfg = TokenizerTrainConfig(preset="tiny", steps=killed_at + 4, batch_size=4, window=16, ckpt_every=5,
                               val_every=1000, val_clips=2)  # fmt: skip
    result = train_tokenizer(tiny_data, run, cfg, progress=False)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == killed_at + 4 and result["rank_checksums"]
    assert (run / "final" / "model.safetensors").is_file()
    for ckpt in (run / "checkpoints").glob("step-*"):
        assert (ckpt / "COMPLETE").is_file()  # no half-written checkpoint survives


def test_decoder_only_fine_tuning_keeps_every_code(tiny_data, tmp_path, hml_features):
    train_tokenizer(tiny_data, tmp_path / "base", _tiny_cfg(), progress=False)
    base = MotionTokenizer.from_pretrained(tmp_path / "base" / "final")
    cfg = _tiny_cfg(init_from=str(tmp_path / "base" / "final"), decoder_only=True, lr=1e-2)
    train_tokenizer(tiny_data, tmp_path / "ft", cfg, progress=False)
    tuned = MotionTokenizer.from_pretrained(tmp_path / "ft" / "final")
    motion = Motion.from_features(hml_features[:60])
    np.testing.assert_array_equal(tuned.encode(motion), base.encode(motion))
    assert tuned.fingerprint() == base.fingerprint()
    for (name, a), b in zip(base.decoder.state_dict().items(), tuned.decoder.state_dict().values(), strict=True):
        if a.is_floating_point() and a.numel() > 1:
            assert not torch.equal(a, b), f"decoder {name} did not train"
            break
    with pytest.raises(ConfigError, match="needs init_from"):
        train_tokenizer(tiny_data, tmp_path / "bad", _tiny_cfg(decoder_only=True), progress=False)


def test_resume_refuses_a_different_config(tiny_data, tmp_path):
    train_tokenizer(tiny_data, tmp_path / "r", _tiny_cfg(), progress=False)
    with pytest.raises(ConfigError, match="other settings"):
        train_tokenizer(tiny_data, tmp_path / "r", _tiny_cfg(lr=1e-3), progress=False)


def test_two_processes_end_with_identical_weights(tiny_data, tmp_path):
    """DDP over gloo on the CPU, launched like a user would (torchrun)."""
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "omnimogen.cli",
           "train", "tokenizer", "--data", str(tiny_data), "--out", str(run), "--set", "preset=tiny",
           "--set", "steps=6", "--set", "batch_size=4", "--set", "window=16", "--set", "val_every=3",
           "--set", "ckpt_every=3", "--set", "val_clips=2", "--device", "cpu"]  # gloo, also on a one-GPU machine  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    checksums = log[-1]["rank_checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1]
    assert load_tokenizer(run / "final").config.num_levels == TINY.num_levels


def test_cli_encode_decode(tok, hml_features, tmp_path, capsys):
    tok.save_pretrained(tmp_path / "tok")
    src = tmp_path / "m.npy"
    np.save(src, hml_features[:41])
    args = ["--tokenizer", str(tmp_path / "tok")]
    assert main(["encode", str(src), "-o", str(tmp_path / "c.json"), *args]) == 0
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["frames"] == 42 and len(doc["codes"]) == 11 and len(doc["codes"][0]) == 3
    assert main(["decode", str(tmp_path / "c.json"), "-o", str(tmp_path / "out.npy"), *args]) == 0
    assert np.load(tmp_path / "out.npy").shape == (41, 263)
    doc["codes"][0][0] = 999
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    assert main(["decode", str(tmp_path / "bad.json"), "-o", str(tmp_path / "x.npy"), *args]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "lie in" in err and not (tmp_path / "x.npy").exists()


def test_the_shipped_default_tokenizer_reconstructs_a_test_clip():
    """A Bandai take of the test split (never trained on), through the package's default tokenizer."""
    tok = load_tokenizer()  # the one shipped in omnimogen/assets/tokenizer
    assert (tok.config.num_levels, tok.config.codebook_size) == (6, 512)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = Motion.load(TAKES / "dataset-1_bow_angry_001.bvh.gz")
    m = Motion.from_features(m.features)  # the canonical form the tokenizer sees
    errors = []
    for levels in (1, 6):
        rec = tok.decode(tok.encode(m), levels=levels, length=m.num_frames)
        a, b = m.joints - m.joints[:, :1], rec.joints - rec.joints[:, :1]
        errors.append(np.linalg.norm(a - b, axis=-1).mean())
    assert errors[1] < 0.04 and errors[1] < errors[0]  # root-aligned MPJPE under 4 cm, finer with all levels


@pytest.mark.parametrize("name", ["dataset-2_walk-turn-left_normal_004", "dataset-2_walk-turn-right_normal_005"])
def test_the_shipped_decoder_keeps_planted_feet_planted(name):
    """Stages 4 to 6 (the foot-contact and clearance losses): real walks through the shipped tokenizer keep
    Physical above 0.97 (the takes: 0.998 and 0.995; stage 3, without those losses, gave 0.928 and 0.923,
    stage 4 0.971 and 0.978, stage 5 0.980 and 0.983, stage 6 0.984 and 0.985; the looped tokenizer
    shipped on 2026-12-07, trained on the extra corpora too, 0.975 and 0.991, and 0.987 against 0.981
    over the 426 Bandai test clips)."""
    tok = load_tokenizer()
    walk = Motion.from_joints(np.load(FIXTURES.parent / f"{name}.joints.npy"), fps=20)
    with torch.no_grad():
        rec = tok.decode(tok.encode(walk), length=walk.num_frames)
    assert physical_score(walk.joints) > 0.99 and physical_score(rec.joints) > 0.97


def test_refitting_a_level_brings_its_unused_codes_back(tok, tiny_data, tmp_path):
    import copy

    from omnimogen.training.tokenizer import refit_codebooks

    model = copy.deepcopy(tok)
    clips = [torch.randn(64, 263) for _ in range(8)]  # 128 latent steps for 32 codes
    book = model.quantizer.layers[2]._codebook
    book.embed[0, 8:] = 1e3  # 24 of the 32 finest codes can never be chosen
    x = torch.cat(clips).reshape(8, 64, 263)
    before = model.encode_tensor(x)
    assert len(before[..., 2].unique()) <= 8
    fingerprint = model.fingerprint()
    usage = refit_codebooks(model, clips, [2], min_count=2)
    after = model.encode_tensor(x)
    assert usage[2] >= 0.75 and len(after[..., 2].unique()) >= 24
    torch.testing.assert_close(after[..., :2], before[..., :2])  # the coarser levels keep their codes
    assert model.fingerprint() != fingerprint  # a model trained on the old codes will refuse it
    with torch.no_grad():
        z = model.encoder(x.transpose(1, 2)).transpose(1, 2)
        error = {name: float((m.quantizer.get_output_from_indices(m.encode_tensor(x)) - z).pow(2).mean())
                 for name, m in (("refit", model), ("original", tok))}  # fmt: skip
    assert error["refit"] <= error["original"], error  # better than the codebook before the damage
    with pytest.raises(ConfigError, match="needs init_from"):
        train_tokenizer(tiny_data, tmp_path / "bad", _tiny_cfg(refit_levels=[2]), progress=False)


def test_corpora_get_the_share_of_windows_they_are_weighted_by():
    from omnimogen.training.tokenizer import Windows, corpus_repeats

    big = [np.zeros((40, 263))] * 10  # 10 clips x 25 windows of 16 rows
    small = [np.zeros((20, 263))] * 2  # 2 clips x 5 windows
    assert corpus_repeats([big, small], 16, None) is None
    repeats = corpus_repeats([big, small], 16, (1, 1))  # equal shares: the small corpus listed 25 times
    assert repeats == [1] * 10 + [25] * 2
    windows = Windows(big + small, 16, repeats)
    assert len(windows) == 250 + 250
    assert corpus_repeats([big, small], 16, (3, 1)) == [1] * 10 + [8] * 2  # 250 : 80, about 3 : 1
    with pytest.raises(ConfigError, match="one positive weight per corpus"):
        corpus_repeats([big, small], 16, (1,))
    with pytest.raises(ConfigError, match="no training clip of 16 frames"):
        corpus_repeats([big, [np.zeros((5, 263))]], 16, (1, 1))


def test_training_on_two_corpora(tiny_data, tmp_path):
    """A Bandai build and an imported folder train one tokenizer; Mean/Std are those of both."""
    import shutil

    from omnimogen.data.importer import import_folder

    src = tmp_path / "takes"
    src.mkdir()
    for name in ("dataset-1_walk_normal_001", "dataset-1_bow_angry_001", "dataset-1_bow_normal_001"):
        shutil.copy(TAKES / f"{name}.bvh.gz", src / f"{name}.bvh.gz")
    (src / "captions.csv").write_text("path,caption\n" + "".join(
        f"{n}.bvh.gz,a person moves\n" for n in ("dataset-1_walk_normal_001", "dataset-1_bow_angry_001",
                                                 "dataset-1_bow_normal_001")))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_folder(src, tmp_path / "mine", workers=1, progress=False)
        train_tokenizer([tiny_data, tmp_path / "mine"], tmp_path / "run", _tiny_cfg(data_weights=(1, 1)),
                        progress=False)  # fmt: skip
    tok = MotionTokenizer.from_pretrained(tmp_path / "run" / "final")
    one = Normalizer.load(tiny_data)
    assert not np.allclose(tok.normalizer.mean, one.mean)  # fitted on both corpora, not the first alone


def test_short_clips_are_looped_to_the_window():
    import numpy as np

    from omnimogen.training.tokenizer import loop_to

    clip = np.arange(20 * 3, dtype=np.float32).reshape(20, 3)
    looped = loop_to(clip, 48)
    assert len(looped) == 60 and np.array_equal(looped[:20], clip) and np.array_equal(looped[40:], clip)
    assert loop_to(clip, 16) is clip  # long enough: untouched


def test_planted_feet_are_the_low_still_ones():
    joints = np.zeros((5, 22, 3))
    joints[:, :, 1] = 0.5  # the body in the air...
    joints[:, 10, 1] = 0.01  # ...but the left toe on the floor, still
    joints[:, 11, 1] = 0.01  # and the right toe on the floor, sliding at 1 m/s
    joints[:, 11, 0] = np.arange(5) / 20
    planted, speed = planted_feet(torch.from_numpy(joints))
    assert planted[:, 2].all() and not planted[:, 3].any() and not planted[:, :2].any()  # ankles, toes
    np.testing.assert_allclose(speed[:, 3].numpy(), 1.0)


def test_the_contact_loss_prices_planted_feet_that_slide(tok):
    walk = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy"), fps=20)
    x = torch.from_numpy(tok.normalizer.normalize(walk.features)).float()[None]
    slid = walk.features.copy()
    slid[:, 2] += 0.5 / 20  # root linear velocity (m per frame, facing frame): the whole body drifts 0.5 m/s
    drift = torch.from_numpy(tok.normalizer.normalize(slid)).float()[None]

    def contact_term(recon, margin=0.0):
        with_it, _ = reconstruction_loss(tok, x, recon, joint_weight=0.0, contact_weight=1.0, contact_margin=margin)
        without, _ = reconstruction_loss(tok, x, recon, joint_weight=0.0)
        return float(with_it - without)

    assert contact_term(x) < 0.05  # the real walk's own planted feet barely move
    assert 0.4 < contact_term(drift) < 0.6  # m/s: the drift, on every planted frame
    # with a margin only the speed above it counts: the real creep is free, the drift costs 0.3 less
    assert contact_term(x, margin=0.075) < 0.2 * contact_term(x)
    assert abs(contact_term(drift) - contact_term(drift, margin=0.3) - 0.3) < 0.05


def test_the_clearance_loss_prices_swinging_feet_that_skim_the_floor(tok):
    walk = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy"), fps=20)
    x = torch.from_numpy(tok.normalizer.normalize(walk.features)).float()[None]
    feet = [tok.skeleton.feature_slices()["positions"].start + 3 * (j - 1) + 1 for j in ANKLES_AND_TOES]  # heights

    def clearance_term(dy):
        moved = walk.features.copy()
        moved[:, feet] += dy  # ankles and toes up (or down) by dy metres on every frame
        recon = torch.from_numpy(tok.normalizer.normalize(moved)).float()[None]
        with_it, _ = reconstruction_loss(tok, x, recon, joint_weight=0.0, clearance_weight=1.0)
        without, _ = reconstruction_loss(tok, x, recon, joint_weight=0.0)
        return float(with_it - without)

    assert clearance_term(0.0) == 0 and clearance_term(0.04) == 0  # real or higher swinging feet: free
    # 4 cm lower: a swinging foot between 5 and 9 cm now skims; the cost is how far below 5 cm, at most 4 cm
    assert 0.003 < clearance_term(-0.04) < 0.04
    assert clearance_term(-0.04) > 2 * clearance_term(-0.01)
