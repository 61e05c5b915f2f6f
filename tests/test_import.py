"""``omnimogen data import``: a folder of captioned takes of any rig becomes a HumanML3D-layout dataset."""

import json
import shutil
import warnings

import numpy as np
import pytest
from conftest import TAKES

from omnimogen import Motion
from omnimogen.cli import main
from omnimogen.data.dataset import Layout, MotionDataset
from omnimogen.data.importer import clip_id, drop_rest_pose, import_folder, read_captions, split_of
from omnimogen.errors import FormatError
from omnimogen.formats.rigs import match_rig

DAZ = ("hip abdomen chest neck head leftEye rightEye rCollar rShldr rForeArm rHand rThumb1 lCollar lShldr lForeArm "
       "lHand lThumb1 rButtock rThigh rShin rFoot lButtock lThigh lShin lFoot").split()  # fmt: skip
ASF = ("hip lhipjoint lfemur ltibia lfoot ltoes rhipjoint rfemur rtibia rfoot rtoes lowerback upperback thorax "
       "lowerneck upperneck head lclavicle lhumerus lradius lwrist lhand rclavicle rhumerus rradius rwrist rhand").split()  # fmt: skip


def test_the_two_cmu_conversions_are_recognised():
    rig, found = match_rig(DAZ)
    assert rig == "cmu_daz" and DAZ[found[1]] == "lThigh" and DAZ[found[21]] == "rHand"
    rig, found = match_rig(ASF)
    assert rig == "cmu_asf" and ASF[found[1]] == "lfemur" and ASF[found[12]] == "upperneck"
    assert 3 not in found and 13 not in found  # spine1 and the collars would be zero-length bones: placed


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "takes"
    (src / "sub").mkdir(parents=True)
    shutil.copy(TAKES / "dataset-1_walk_normal_001.bvh.gz", src / "walk.bvh.gz")
    shutil.copy(TAKES / "dataset-1_bow_angry_001.bvh.gz", src / "sub" / "bow.bvh.gz")
    (src / "broken.bvh").write_text("HIERARCHY\nROOT Hips\n")
    (src / "captions.csv").write_text(
        "path,source,caption\n"
        "walk.bvh.gz,bandai,a person walks forward and turns left | walk\n"
        "sub/bow.bvh.gz,bandai,\"an angry person bows, stiffly\"\n"
        "broken.bvh,x,a broken file\n"
        "missing.bvh,x,not there\n"
    )
    return src


def test_import_writes_the_layout_with_mirrors_and_take_splits(folder, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = import_folder(folder, tmp_path / "out", workers=1, progress=False)
    assert (report.takes_found, report.takes_written, report.clips_written) == (4, 2, 4)
    assert set(report.skipped) == {"broken", "missing"} and "no such file" in report.skipped["missing"]
    assert sum("left out broken" in str(w.message) for w in caught) == 1
    layout = Layout(tmp_path / "out")
    assert [c.text for c in layout.captions("walk")] == ["a person walks forward and turns left", "walk"]
    assert [c.text for c in layout.captions("Mwalk")][0] == "a person walks forward and turns right"
    assert [c.text for c in layout.captions("sub_bow")] == ["an angry person bows, stiffly"]
    for take in ("walk", "sub_bow"):  # a take and its mirror share the split its id hashes to
        split = split_of(take)
        assert {take, "M" + take} <= set(layout.split_ids(split))
    labels = layout.labels()
    assert labels["Msub_bow"] == {"source": "sub/bow.bvh.gz", "split": split_of("sub_bow"), "mirror": True}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["rigs"] == {"bandai": 2} and manifest["format"] == "omnimogen.import"
    walk = Motion.from_features(layout.features("walk"))
    original = Motion.load(TAKES / "dataset-1_walk_normal_001.bvh.gz")
    assert abs(walk.duration - original.duration) < 0.1  # 30 fps read at 20 fps, nothing cut
    mirrored = Motion.from_features(layout.features("Mwalk")).joints
    np.testing.assert_allclose(mirrored[:, 0, 1], walk.joints[:, 0, 1], atol=5e-3)  # same height (floor by the feet)
    assert (tmp_path / "out" / "Mean.npy").is_file() and len(MotionDataset(tmp_path / "out", split_of("walk"))) >= 2
    again = import_folder(folder, tmp_path / "again", workers=1, progress=False)
    assert again.per_split == report.per_split and again.source_sha256 == report.source_sha256


def test_leading_t_pose_frames_are_dropped(hml_joints):
    t_pose = hml_joints[:1].copy()
    sk_l, sk_r = 16, 17  # shoulders; wrists 20, 21 held out level with them
    for wrist, shoulder, side in ((20, sk_l, 1), (21, sk_r, -1)):
        t_pose[0, wrist] = t_pose[0, shoulder] + np.array([side * 0.55, 0.0, 0.0])
    joints = np.concatenate([t_pose, t_pose, hml_joints])
    assert len(drop_rest_pose(joints)) == len(hml_joints)
    assert len(drop_rest_pose(hml_joints)) == len(hml_joints)


def test_bad_captions_files_are_one_sentence(tmp_path, capsys):
    (tmp_path / "a.csv").write_text("file,text\nx.bvh,hi\n")
    with pytest.raises(FormatError, match="needs the columns path and caption"):
        read_captions(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("path,caption\n../outside.bvh,hi\n")
    with pytest.raises(FormatError, match="line 2: the path '../outside.bvh' must be relative"):
        read_captions(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text("path,caption\nx.bvh,a\nx.bvh,b\n")
    with pytest.raises(FormatError, match="line 3: x.bvh is listed twice"):
        read_captions(tmp_path / "c.csv")
    assert clip_id("cmu/02_01.bvh.gz") == "cmu_02_01" and clip_id("a b/c.npy") == "a_b_c"
    assert main(["data", "import", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no captions file" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_deepmimic_clips_are_read_and_imported(tmp_path):
    """DeepMimic's kick on its 15-joint humanoid: forward kinematics, the 22 joints placed, imported."""
    from conftest import HERE

    from omnimogen.formats.deepmimic import is_deepmimic, read_deepmimic

    src = HERE / "fixtures" / "deepmimic"
    joints = read_deepmimic(src / "humanoid3d_kick.txt", fps=20)
    assert joints.shape == (31, 22, 3) and np.isfinite(joints).all()  # 1.53 s of keyframes at 20 fps
    bones = np.linalg.norm(joints[:, 4] - joints[:, 1], axis=-1)  # left thigh: rigid, 0.42 m as defined
    np.testing.assert_allclose(bones, 0.421546, atol=1e-6)
    height = joints[0, SMPL22_HEAD, 1] - joints[0, [10, 11], 1].min()
    assert 1.3 < height < 1.7  # a standing adult, Y up, metres
    kick = max(joints[:, 8, 1].max(), joints[:, 7, 1].max()) - min(joints[0, 7, 1], joints[0, 8, 1])
    assert kick > 0.4  # one ankle rises well off the floor
    assert is_deepmimic(src / "humanoid3d_kick.txt") and not is_deepmimic(src.parent / "NOTICE.md")
    folder = tmp_path / "dm"
    folder.mkdir()
    for name in ("humanoid3d.txt", "humanoid3d_kick.txt"):
        shutil.copy(src / name, folder / name)
    (folder / "captions.csv").write_text("path,caption\nhumanoid3d_kick.txt,a person kicks\n")
    report = import_folder(folder, tmp_path / "out", workers=1, progress=False)
    assert report.takes_written == 1 and json.loads((tmp_path / "out" / "manifest.json").read_text())["rigs"] == {
        "deepmimic": 1}
    with pytest.raises(FormatError, match="no humanoid3d.txt beside it"):
        read_deepmimic(tmp_path / "out" / "manifest.json")


SMPL22_HEAD = 15


def test_broken_deepmimic_files_are_one_sentence(tmp_path):
    from conftest import HERE

    from omnimogen.formats.deepmimic import read_deepmimic

    character = HERE / "fixtures" / "deepmimic" / "humanoid3d.txt"
    (tmp_path / "ragged.txt").write_text('{"Loop": "none", "Frames": [[0.1, 0, 0], [0.1]]}')
    with pytest.raises(FormatError, match="Frames must be at least two rows of 44 finite numbers"):
        read_deepmimic(tmp_path / "ragged.txt", character=character)
    (tmp_path / "char.txt").write_text('{"Skeleton": {"Joints": [{"Name": "root"}]}}')
    with pytest.raises(FormatError, match="needs a Skeleton.Joints list whose joints have Name, Type"):
        read_deepmimic(tmp_path / "ragged.txt", character=tmp_path / "char.txt")
    (tmp_path / "bad.txt").write_text("{not json")
    with pytest.raises(FormatError, match="not a readable DeepMimic clip"):
        read_deepmimic(tmp_path / "bad.txt", character=character)
