"""The Motion value type, its file formats, and the command line (exit codes, messages, no partial files)."""

import json

import numpy as np
import pytest
from conftest import TAKES

from omnimogen import Motion
from omnimogen.cli import main
from omnimogen.errors import FormatError, MotionError

WALK = TAKES / "dataset-1_walk_normal_001.bvh.gz"


def test_features_and_joints_convert_losslessly(hml_features):
    m = Motion.from_features(hml_features, caption="a person")
    assert m.num_frames == len(hml_features) + 1 and m.fps == 20
    assert m.duration == pytest.approx(len(hml_features) / 20)
    again = Motion.from_joints(m.joints)
    np.testing.assert_allclose(again.features, hml_features, atol=1e-4)


@pytest.mark.parametrize("suffix", [".npy", ".json", ".bvh", ".bvh.gz"])
def test_save_load_round_trip(tmp_path, hml_joints, suffix):
    m = Motion.from_joints(hml_joints, caption="a person walks")
    path = m.save(tmp_path / f"clip{suffix}")
    back = Motion.load(path)
    assert back.num_frames == m.num_frames and back.fps == m.fps
    np.testing.assert_allclose(back.joints, m.joints, atol=1e-4)
    if suffix == ".json":
        assert back.caption == "a person walks"


def test_npy_holds_features_or_joints_by_choice(tmp_path, hml_features):
    m = Motion.from_features(hml_features)
    assert np.load(m.save(tmp_path / "a.npy")).shape == hml_features.shape  # as made
    assert np.load(m.save(tmp_path / "b.npy", npy="joints")).shape == (len(hml_features) + 1, 22, 3)
    assert Motion.load(tmp_path / "b.npy").num_frames == len(hml_features) + 1


def test_resample_keeps_duration(hml_joints):
    m = Motion.from_joints(hml_joints)
    r = m.resample(30)
    assert r.fps == 30 and r.duration == pytest.approx(m.duration, abs=1 / 30)
    np.testing.assert_allclose(r.joints[0], m.joints[0])
    np.testing.assert_allclose(r.joints[3], m.joints[2], atol=1e-6)  # t = 0.1 s in both


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda p: p.write_text("not json"), FormatError, "not valid JSON"),
        (lambda p: p.write_text('{"format": "other"}'), FormatError, "not an omnimogen motion"),
        (lambda p: p.write_text('{"format": "omnimogen.motion", "joints": [[1, 2]]}'), MotionError, "shape"),
    ],
)
def test_bad_json_is_named(tmp_path, make, error, message):
    path = tmp_path / "bad.json"
    make(path)
    with pytest.raises(error, match=message) as info:
        Motion.load(path)
    assert "bad.json" in str(info.value)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((10, 100)), "neither features"),
        (np.zeros((1, 22, 3)), "at least 2"),
        (np.zeros((0, 263)), "at least 1"),
        (np.full((5, 263), np.nan), "NaN"),
    ],
)
def test_bad_npy_is_named(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(MotionError, match=message) as info:
        Motion.load(tmp_path / "bad.npy")
    assert "bad.npy" in str(info.value)


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(FormatError, match="cannot load"):
        Motion.load(tmp_path / "x.fbx")
    with pytest.raises(FormatError, match="no such file"):
        Motion.load(tmp_path / "x.bvh")


# ---- command line ------------------------------------------------------------------------------


def test_cli_convert_bvh_to_npy_and_back(tmp_path, capsys):
    assert main(["convert", str(WALK), str(tmp_path / "walk.npy"), "--npy", "features"]) == 0
    f = np.load(tmp_path / "walk.npy")
    assert f.shape[1] == 263
    assert main(["convert", str(tmp_path / "walk.npy"), str(tmp_path / "walk.bvh")]) == 0
    assert "wrote" in capsys.readouterr().out
    m = Motion.load(tmp_path / "walk.bvh")
    assert m.num_frames == len(f) + 1
    np.testing.assert_allclose(m.joints, Motion.from_features(f).joints, atol=1e-3)


def test_cli_render_side_by_side(tmp_path):
    a = tmp_path / "a.json"
    Motion.load(WALK).save(a)
    out = tmp_path / "cmp.gif"
    assert main(["render", str(WALK), str(a), "-o", str(out), "--max-frames", "8", "--caption", "walk"]) == 0
    from PIL import Image

    with Image.open(out) as im:
        assert im.n_frames == 8 and im.width > im.height


@pytest.mark.parametrize(
    "content, message",
    [
        ("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 6 Xposition", "bvh"),  # truncated
        ("hello", "bvh"),  # not a BVH at all
    ],
)
def test_cli_bad_bvh_exits_non_zero_with_one_line_and_no_output(tmp_path, capsys, content, message):
    src, out = tmp_path / "broken.bvh", tmp_path / "out.npy"
    src.write_text(content)
    assert main(["convert", str(src), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "broken.bvh" in err and len(err.splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_cli_nan_and_missing_file(tmp_path, capsys):
    np.save(tmp_path / "nan.npy", np.full((10, 22, 3), np.nan))
    assert main(["render", str(tmp_path / "nan.npy"), "-o", str(tmp_path / "x.gif")]) == 2
    assert "NaN" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.bvh"), str(tmp_path / "y.npy")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "x.gif").exists() and not (tmp_path / "y.npy").exists()
    # Converting a file onto itself would replace the original (say, a rig's own BVH) with a retarget.
    src = tmp_path / "walk.bvh.gz"
    src.write_bytes(WALK.read_bytes())
    assert main(["convert", str(src), str(src)]) == 2
    assert "would be lost" in capsys.readouterr().err and src.read_bytes() == WALK.read_bytes()


def test_cli_unknown_rig_asks_for_a_joint_map(tmp_path, capsys):
    text = WALK.open("rb").read()
    import gzip

    bvh = gzip.decompress(text).decode()
    for old, new in (("Hips", "Bassin"), ("UpperLeg", "Cuisse"), ("LowerLeg", "Jambe"), ("Spine", "Dos")):
        bvh = bvh.replace(old, new)
    src = tmp_path / "odd.bvh"
    src.write_text(bvh)
    assert main(["convert", str(src), str(tmp_path / "o.npy")]) == 2
    err = capsys.readouterr().err
    assert "--joint-map" in err
    mapping = {"pelvis": "Bassin", "left_hip": "Cuisse_L", "right_hip": "Cuisse_R", "left_knee": "Jambe_L",
               "right_knee": "Jambe_R", "spine1": "Dos", "spine3": "Chest", "left_ankle": "Foot_L",
               "right_ankle": "Foot_R", "left_foot": "Toes_L", "right_foot": "Toes_R", "neck": "Neck",
               "head": "Head", "left_collar": "Shoulder_L", "right_collar": "Shoulder_R",
               "left_shoulder": "UpperArm_L", "right_shoulder": "UpperArm_R", "left_elbow": "LowerArm_L",
               "right_elbow": "LowerArm_R", "left_wrist": "Hand_L", "right_wrist": "Hand_R"}  # fmt: skip
    (tmp_path / "map.json").write_text(json.dumps(mapping))
    args = ["convert", str(src), str(tmp_path / "o.npy"), "--joint-map", str(tmp_path / "map.json")]
    assert main(args) == 0
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), Motion.load(WALK).joints, atol=1e-5)
