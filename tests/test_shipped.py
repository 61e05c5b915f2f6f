"""The models that ship with the package load with no arguments and run the README's main job."""

import warnings

import numpy as np
from conftest import TAKES

import omnimogen
from omnimogen.cli import main
from omnimogen.evaluation import load_evaluator
from omnimogen.motion import Motion
from omnimogen.tokenizer import load_tokenizer


def test_the_main_job_writes_a_bvh_and_its_preview(tmp_path):
    out = tmp_path / "walk.bvh"
    assert main(["generate", "a person walks forward happily", "-o", str(out), "--seed", "0", "--seconds", "2"]) == 0
    walk = Motion.load(out)
    assert walk.num_frames == 41 and np.isfinite(walk.joints).all()
    assert (tmp_path / "walk.gif").stat().st_size > 0


def test_shipped_model_uses_the_shipped_tokenizer_and_is_seeded():
    model = omnimogen.load_model()
    assert model.lm.tokenizer_fingerprint == load_tokenizer().fingerprint() == model.tokenizer.fingerprint()
    a = model.generate("a person waves with the right hand", seconds=3, seed=7)
    b = model.generate("a person waves with the right hand", seconds=3, seed=7)
    assert a.motions[0].num_frames == 61
    np.testing.assert_array_equal(a.tokens, b.tokens)
    # Editing its own output gives a motion of the asked length too.
    edited = model.edit(a.motions[0], "make it look tired", seconds=2, seed=0)
    assert edited.motions[0].num_frames == 41


def test_shipped_evaluator_places_real_clips_by_their_captions():
    ev = load_evaluator()
    data = TAKES
    clips = [Motion.load(data / f"dataset-1_{name}_001.bvh.gz") for name in ("walk_normal", "bow_normal")]
    texts = ["a person walks forward", "a person bows"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Bandai rig has no spine2 (said once per file)
        sim = ev.embed_motions([c.features for c in clips]) @ ev.embed_texts(texts).T
    assert sim[0, 0] > sim[0, 1] and sim[1, 1] > sim[1, 0]
