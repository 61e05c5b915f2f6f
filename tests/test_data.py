"""The Bandai corpus builder, captions, splits and the HumanML3D-layout loader."""

import json
import warnings

import numpy as np
import pytest
from conftest import bandai

from omnimogen.data.bandai import Take, assign_splits, build_bandai, find_takes
from omnimogen.data.captions import ACTIONS, STYLES, captions_for, label_words, mirror_label, mirror_text, names_label
from omnimogen.data.dataset import Caption, MotionDataset
from omnimogen.errors import FormatError
from omnimogen.motion import SMPL22, Motion, mirror_joints


@pytest.mark.slow
def test_every_bandai_label_has_phrasings():
    takes = find_takes(bandai())
    assert len(takes) > 2700
    assert {t.action for t in takes} <= set(ACTIONS)
    assert {t.style for t in takes} <= set(STYLES)
    missing = [t.id for t in takes if t.bvh is None]
    assert missing == ["dataset-1_dance-long_normal_001"]  # the one label without a motion (NOTICE.md)


def test_captions_are_varied_deterministic_and_say_the_labels():
    caps = captions_for("walk", "tired", 3, "dataset-1_walk_tired_001")
    assert caps == captions_for("walk", "tired", 3, "dataset-1_walk_tired_001")
    assert len(set(caps)) == 3
    assert all(c[0].isupper() and c.endswith(".") for c in caps)
    tired_words = [w for w in STYLES["tired"][0] + STYLES["tired"][1] if w]
    assert all(any(w in c.lower() for w in tired_words) for c in caps)
    assert captions_for("walk", "tired", 3, "other-take") != caps
    normal = captions_for("run", "normal", 5, "x")
    assert all("  " not in c and ",." not in c for c in normal)
    # What a check of a caption looks for: the label's words, without the verbs the phrasings vary (a
    # strict check: "raises the left arm" lacks "hand", and some captions say it so).
    assert label_words("raise-up-left-hand") == ["left", "hand"] and label_words("normal") == []
    assert label_words("walk-turn-right") == ["walk", "turn", "right"]
    assert names_label("She Raises the LEFT hand.", "raise-up-left-hand") and names_label("anything", "normal")
    assert not names_label("She raises the left arm.", "raise-up-left-hand")


def test_mirroring_swaps_sides_in_words_labels_and_joints(hml_joints):
    assert mirror_text("Waves the Left hand, then turns right.") == "Waves the Right hand, then turns left."
    assert mirror_text("walks clockwise") == "walks counterclockwise"
    assert mirror_label("walk-turn-left") == "walk-turn-right"
    assert mirror_label("raise-up-both-hands") == "raise-up-both-hands"
    m = mirror_joints(hml_joints)
    np.testing.assert_array_equal(mirror_joints(m), hml_joints)  # an involution
    left_hand, right_hand = SMPL22.index("left_wrist"), SMPL22.index("right_wrist")
    np.testing.assert_allclose(m[:, left_hand, 0], -hml_joints[:, right_hand, 0])
    assert_mirror_images(Motion.from_joints(hml_joints).features, Motion.from_joints(m).features)


def assert_mirror_images(f, fm):
    """Features of a motion and of its mirror image describe mirror-image joints.

    Not exactly: HumanML3D's reference skeleton has left and right bones of different lengths
    (left hip 10.3 cm, right 11.0 cm, ...), and every motion is re-laid on it, so the mirrored clip
    differs by about 1 cm (median) and under 5 cm (max) from the exact mirror image.
    """
    d = np.linalg.norm(mirror_joints(Motion.from_features(f).joints) - Motion.from_features(fm).joints, axis=-1)
    assert np.median(d) < 0.015 and d.max() < 0.05


def test_splits_are_deterministic_stratified_and_disjoint():
    takes = [
        Take(f"dataset-2_walk_{s}_{i:03d}", 2, "walk", s, i, None, None) for s in ("normal", "happy") for i in range(40)
    ]
    takes += [Take(f"dataset-1_bow_{s}_001", 1, "bow", s, 1, None, None) for s in STYLES]
    a, b = assign_splits(takes), assign_splits(list(reversed(takes)))
    assert a == b  # independent of order
    for style in ("normal", "happy"):
        cell = [a[t.id] for t in takes if t.action == "walk" and t.style == style]
        assert cell.count("train") == 32 and cell.count("val") == 2 and cell.count("test") == 6


def test_caption_lines_round_trip():
    c = Caption("A person walks forward, happily.", 0.0, 0.0)
    line = c.to_line()
    assert line.count("#") == 3 and "walks/OTHER" in line
    assert Caption.from_line(line) == c
    assert Caption.from_line("a man jumps#a/DET man/NOUN jump/VERB#1.5#3.0\n") == Caption("a man jumps", 1.5, 3.0)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "bandai"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = build_bandai(bandai(), out, limit=12, workers=2, progress=False)
    return out, report


def test_small_build_has_the_humanml3d_layout(small_corpus):
    out, report = small_corpus
    assert (
        report.takes_written == 12
        and report.clips_written == 24
        and not set(report.skipped) - {"dataset-1_dance-long_normal_001"}
    )
    assert sum(report.per_split.values()) == 24
    labels = json.loads((out / "labels.json").read_text())
    ids = {s: (out / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    for s, members in ids.items():
        for i in members:
            assert labels[i]["split"] == s
            twin = i[1:] if i.startswith("M") else "M" + i
            assert twin in members  # a take and its mirror share a split
    assert not set(ids["train"]) & set(ids["test"])
    mean, std = np.load(out / "Mean.npy"), np.load(out / "Std.npy")
    assert mean.shape == std.shape == (263,) and (std > 0).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["hours"] > 0 and len(manifest["source_sha256"]) == 64

    ds = MotionDataset(out, "train")
    clip = ds[0]
    assert clip.features.shape[1] == 263 and len(clip.captions) == 3 and clip.label["action"]
    joints = np.load(out / "new_joints" / f"{clip.id}.npy")
    assert joints.shape == (len(clip.features), 22, 3)
    # A real person: head about 1.5-1.9 m above the floor, feet on it.
    head = joints[:, SMPL22.index("head"), 1]
    feet = joints[:, [7, 8, 10, 11], 1]
    assert 1.3 < np.median(head) < 1.9 and feet.min() > -0.01 and np.median(feet.min(axis=1)) < 0.08


def test_mirrored_clip_is_the_mirror_image(small_corpus):
    out, _ = small_corpus
    labels = json.loads((out / "labels.json").read_text())
    take = next(i for i in labels if not i.startswith("M"))
    f = np.load(out / "new_joint_vecs" / f"{take}.npy")
    fm = np.load(out / "new_joint_vecs" / f"M{take}.npy")
    assert_mirror_images(f, fm)
    caps = (out / "texts" / f"{take}.txt").read_text().splitlines()
    mcaps = (out / "texts" / f"M{take}.txt").read_text().splitlines()
    assert [mirror_text(c) for c in caps] == mcaps


@pytest.mark.slow
def test_build_refuses_to_clobber_and_rejects_bad_sources(small_corpus, tmp_path):
    out, _ = small_corpus
    with pytest.raises(FormatError, match="already exists"):
        build_bandai(bandai(), out, limit=1)
    with pytest.raises(FormatError, match="no Bandai"):
        build_bandai(tmp_path, tmp_path / "x", limit=1)


@pytest.mark.slow
def test_corrupt_file_is_named_and_skipped(tmp_path):
    src = tmp_path / "src" / "Bandai-Namco-Research-Motiondataset-1"
    (src / "cfg").mkdir(parents=True)
    (src / "data").mkdir()
    real = bandai() / "Bandai-Namco-Research-Motiondataset-1"
    for f in ("content_label.txt", "style_label.txt"):
        (src / "cfg" / f).write_text((real / "cfg" / f).read_text())
    for stem in ("dataset-1_walk_normal_001", "dataset-1_run_normal_001"):
        (src / "data" / f"{stem}.json").write_text((real / "data" / f"{stem}.json").read_text())
        (src / "data" / f"{stem}.bvh.gz").write_bytes((real / "data" / f"{stem}.bvh.gz").read_bytes())
    (src / "data" / "dataset-1_run_normal_001.bvh.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.warns(UserWarning, match="dataset-1_run_normal_001"):
        report = build_bandai(tmp_path / "src", tmp_path / "out", workers=1, progress=False)
    assert report.takes_written == 1 and "dataset-1_run_normal_001" in report.skipped
    assert (tmp_path / "out" / "new_joint_vecs" / "dataset-1_walk_normal_001.npy").is_file()


def test_loader_reports_missing_files(tmp_path, hml_features):
    root = tmp_path / "hml"
    (root / "new_joint_vecs").mkdir(parents=True)
    np.save(root / "new_joint_vecs" / "000001.npy", hml_features)
    (root / "train.txt").write_text("000001\n000002\n")
    with pytest.warns(UserWarning, match="1 clip"):
        ds = MotionDataset(root, "train")
    assert ds.ids == ["000001"] and ds[0].captions == []
    with pytest.raises(FormatError, match="val.txt"):
        MotionDataset(root, "val")
    with pytest.raises(FormatError, match="does not exist"):
        MotionDataset(tmp_path / "nope")
