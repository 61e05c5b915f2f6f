"""BVH parsing, import onto SMPL22 (rigs, axes, units, resampling) and export by inverse kinematics."""

import gzip
import json
import re
import warnings

import numpy as np
import pytest
from conftest import HERE, TAKES
from scipy.spatial.transform import Rotation

from omnimogen.errors import FormatError, MotionError
from omnimogen.formats import bvh
from omnimogen.formats.bvh import UNITS, parse_bvh, read_bvh, write_bvh
from omnimogen.formats.rigs import RIGS
from omnimogen.motion import SMPL22

WALK = TAKES / "dataset-1_walk_normal_001.bvh.gz"
J = {name: i for i, name in enumerate(SMPL22.joint_names)}


def synthetic_motion(frames: int = 40, yaw: tuple[float, float] = (0.0, 0.0), seed: int = 0) -> np.ndarray:
    """(T, 22, 3) metres, Y up: SMPL22 bones of constant length swinging about every joint, while the
    pelvis (with no other rotation) turns from yaw[0] to yaw[1] degrees and walks along its facing."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, frames)[:, None, None]
    rotvecs = rng.uniform(-0.5, 0.5, (22, 3)) * np.sin(3 * np.pi * t + rng.uniform(0, 2 * np.pi, (22, 3)))
    heading = Rotation.from_euler("y", np.linspace(*yaw, frames)[:, None], degrees=True)
    joints = np.zeros((frames, 22, 3))
    joints[:, 0] = [0.0, 0.95, 0.0] + np.cumsum(heading.apply([0.0, 0.0, 0.03]), axis=0)
    world = [heading]
    for j in range(1, 22):  # SMPL22 parents precede their children
        p = SMPL22.parents[j]
        joints[:, j] = joints[:, p] + world[p].apply(SMPL22.offsets[j])
        world.append(world[p] * Rotation.from_rotvec(rotvecs[:, j]))
    return joints


def facing(joints: np.ndarray) -> np.ndarray:
    """(T, 3) unit facing direction from the hips (left minus right, crossed with up)."""
    f = np.cross(joints[:, J["left_hip"]] - joints[:, J["right_hip"]], [0.0, 1.0, 0.0])
    return f / np.linalg.norm(f, axis=-1, keepdims=True)


def renamed(text: str, names: dict[str, str]) -> str:
    """BVH text with its ROOT/JOINT names replaced through ``names``."""
    return re.sub(r"^(\s*(?:ROOT|JOINT) )(\S+)$", lambda m: m[1] + names.get(m[2], m[2]), text, flags=re.M)


def quiet_read(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_bvh(*args, **kwargs)


# ---- parsing and forward kinematics -------------------------------------------------------------

SMALL = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 1 0
    CHANNELS 2 Zrotation Xrotation
    JOINT Head
    {
      OFFSET 0 1 0
      CHANNELS 1 Yposition
      End Site
      {
        OFFSET 0 0.5 0
      }
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.0333333
1 2 3 90 90 0 0 0 1
0 0 0 0 0 0 90 90 2
0 0 0 0 0 0 0 0 1
"""


def test_forward_kinematics_uses_intrinsic_euler_in_channel_order():
    clip = parse_bvh(SMALL)
    assert clip.joint_names == ("Hips", "Chest", "Head")
    assert clip.parents == (-1, 0, 1)
    assert clip.channels[1:] == (("Zrotation", "Xrotation"), ("Yposition",))
    assert clip.fps == 30.0  # 0.0333333 is a rounded 1/30
    pos = clip.global_positions()
    # R = Rz(90) Rx(90), intrinsic, takes (0, 1, 0) to (0, 0, 1); extrinsic order would give (-1, 0, 0).
    # The head's Yposition channel replaces the Y of its offset (1, then 2, then 1).
    np.testing.assert_allclose(pos[:, 1], [[1, 2, 4], [0, 1, 0], [0, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(pos[:, 2], [[1, 2, 5], [0, 1, 2], [0, 2, 0]], atol=1e-12)


def test_gzip_crlf_and_tabs_parse_the_same(tmp_path):
    path = tmp_path / "small.bvh.gz"
    with gzip.open(path, "wt", newline="") as f:
        f.write(SMALL.replace("  ", "\t").replace("\n", "\r\n"))
    a, b = parse_bvh(SMALL), parse_bvh(path)
    assert a.joint_names == b.joint_names and a.channels == b.channels
    np.testing.assert_array_equal(a.motion, b.motion)


def test_parse_bandai_clip():
    clip = parse_bvh(WALK)
    assert clip.joint_names[:3] == ("joint_Root", "Hips", "Spine") and len(clip.joint_names) == 22
    assert all(len(c) == 6 for c in clip.channels)
    assert clip.motion.shape == (195, 132)
    assert clip.fps == 30.0
    pos = clip.global_positions()
    np.testing.assert_allclose(pos[:, 1], clip.motion[:, 6:9], atol=1e-9)  # Hips under a static root
    np.testing.assert_allclose(pos[0, 1], [-1.71443, 90.2704, -407.123])


# ---- import --------------------------------------------------------------------------------------


def test_import_bandai_clip():
    with pytest.warns(UserWarning, match="spine2") as record:
        clip = read_bvh(WALK)
    assert len(record) == 1  # one warning listing every placed joint
    assert (clip.rig, clip.up, clip.unit, clip.interpolated) == ("bandai", "y", "cm", ("spine2",))
    assert (clip.fps, clip.source_fps, clip.name) == (20.0, 30.0, "dataset-1_walk_normal_001")
    joints = clip.joints
    assert joints.shape == (130, 22, 3) and joints.dtype == np.float32  # floor(194 / 30 * 20) + 1
    np.testing.assert_allclose(joints[:, J["spine2"]], (joints[:, J["spine1"]] + joints[:, J["spine3"]]) / 2, atol=1e-6)
    feet = joints[:, [J["left_ankle"], J["right_ankle"], J["left_foot"], J["right_foot"]], 1].min(axis=1)  # (T,)
    floor = joints[..., 1].min()
    assert 0.0 < floor < 0.1  # Bandai's toe joints stay about 4 cm above the ground
    assert np.mean(feet - floor < 0.03) > 0.9  # a foot is on the floor nearly all the time
    head = float(np.mean(joints[:, J["head"], 1] - feet))
    assert 1.2 < head < 1.5  # the Bandai head joint is the base of the skull: 1.33 m above the feet
    travel = joints[-1, 0] - joints[0, 0]
    travel[1] = 0.0
    walked = np.linalg.norm(travel)
    assert 6.0 < walked < 10.0  # 6.5 s of walking at about 1.2 m/s
    assert np.mean(facing(joints) @ (travel / walked)) > 0.9  # facing where it goes: not mirrored


def test_bandai_round_trip(tmp_path):
    for fps in (20, 30):
        clip = quiet_read(WALK, fps=fps)
        write_bvh(tmp_path / "walk.bvh", clip.joints, fps=fps)
        again = read_bvh(tmp_path / "walk.bvh", fps=fps)
        assert (again.rig, again.unit, again.up, again.interpolated) == ("smpl", "m", "y", ())
        error = np.linalg.norm(again.joints - clip.joints, axis=-1).max()
        # The requirement is 1 cm; resampling interpolates local rotations, so bones stay rigid at
        # any frame rate and the export reproduces the joints to float precision.
        assert error < 1e-5, (fps, error)
        bones = np.linalg.norm(clip.joints[:, 1:] - clip.joints[:, list(SMPL22.parents[1:])], axis=-1)
        rigid = np.delete(bones, [SMPL22.index("spine2") - 1, SMPL22.index("spine3") - 1], axis=1)  # placed spine2
        assert (rigid.max(0) - rigid.min(0)).max() < 1e-5


@pytest.mark.parametrize("yaw", [(0.0, 360.0), (180.0, 180.0)], ids=["turning", "facing_backwards"])
def test_export_round_trip_keeps_pelvis_orientation(tmp_path, yaw):
    joints = synthetic_motion(60, yaw)
    path = write_bvh(tmp_path / "turn.bvh", joints)
    again = read_bvh(path)
    assert again.joints.shape == joints.shape
    assert np.abs(again.joints - joints).max() < 1e-4
    expected = Rotation.from_euler("y", np.linspace(*yaw, 60)[:, None], degrees=True).apply([0.0, 0.0, 1.0])
    np.testing.assert_allclose(facing(again.joints.astype(np.float64)), expected, atol=1e-4)
    # The root's channels alone turn +Z to the facing, and its yaw curve never jumps.
    root = parse_bvh(path).motion[:, 3:6]
    np.testing.assert_allclose(Rotation.from_euler("ZXY", root, degrees=True).apply([0, 0, 1]), expected, atol=1e-5)
    assert np.abs(np.diff(root, axis=0)).max() < 10.0
    np.testing.assert_allclose(root[-1, 2] - root[0, 2], yaw[1] - yaw[0], atol=1e-3)


@pytest.mark.parametrize("up,unit", [("z", "cm"), ("-y", "mm"), ("y", "inch"), ("-z", "m"), ("y", "cmu")])
def test_up_axis_and_unit_detection(tmp_path, up, unit):
    joints = synthetic_motion(20)
    to_file = Rotation.from_euler("x", -bvh._UP_TO_Y[up], degrees=True)
    in_file = to_file.apply(joints.reshape(-1, 3)).reshape(joints.shape) / UNITS[unit]
    path = write_bvh(tmp_path / "axes.bvh", in_file)
    clip = read_bvh(path)
    assert (clip.up, clip.unit) == (up, unit)
    np.testing.assert_allclose(clip.joints, joints, atol=1e-5)
    forced = read_bvh(path, up=up, unit=unit)
    np.testing.assert_array_equal(forced.joints, clip.joints)


@pytest.mark.parametrize("rig", sorted(RIGS))
def test_builtin_rigs_are_recognised(tmp_path, rig):
    joints = synthetic_motion(10)
    names = {n: RIGS[rig][n][0] if n in RIGS[rig] else f"extra_{n}" for n in SMPL22.joint_names}
    if rig == "mixamo":
        names = {k: f"mixamorig:{v}" for k, v in names.items()}
    if rig == "cmu":  # CMU's Neck and shoulders exist but sit on Spine1; only the names matter here
        names.update(spine2="Neck", left_collar="LeftShoulder", right_collar="RightShoulder")
    write_bvh(tmp_path / "src.bvh", joints)
    path = tmp_path / f"{rig}.bvh"
    path.write_text(renamed((tmp_path / "src.bvh").read_text(), names))
    placed = tuple(n for n in SMPL22.joint_names if n not in RIGS[rig])
    if placed:
        with pytest.warns(UserWarning, match=", ".join(placed)):
            clip = read_bvh(path)
    else:
        clip = read_bvh(path)
    assert (clip.rig, clip.interpolated) == (rig, placed)
    kept = [J[n] for n in SMPL22.joint_names if n not in placed]
    np.testing.assert_allclose(clip.joints[:, kept], joints[:, kept], atol=1e-5)


def test_custom_joint_map_and_unknown_rig(tmp_path):
    joints = synthetic_motion(10, (90.0, 90.0))
    write_bvh(tmp_path / "src.bvh", joints)
    path = tmp_path / "odd_rig.bvh"
    path.write_text(
        renamed((tmp_path / "src.bvh").read_text(), {n: f"Bone{i:02d}" for i, n in enumerate(SMPL22.joint_names)})
    )
    with pytest.raises(FormatError, match=r"odd_rig\.bvh: no joint found for SMPL pelvis, .*--joint-map") as err:
        read_bvh(path)
    assert "\n" not in str(err.value)

    without = {"left_foot", "right_foot", "left_collar", "right_collar"}
    joint_map = {n: f"Bone{i:02d}" for i, n in enumerate(SMPL22.joint_names) if n not in without}
    (tmp_path / "map.json").write_text(json.dumps(joint_map))
    with pytest.warns(UserWarning, match="left_foot, right_foot, left_collar, right_collar"):
        from_file = read_bvh(path, joint_map=tmp_path / "map.json")
    with pytest.warns(UserWarning):
        from_dict = read_bvh(path, joint_map=joint_map)
    np.testing.assert_array_equal(from_file.joints, from_dict.joints)
    assert from_file.rig == "custom"
    got = from_file.joints.astype(np.float64)
    mapped = [J[n] for n in joint_map]
    np.testing.assert_allclose(got[:, mapped], joints[:, mapped], atol=1e-5)
    # Collars halfway between spine3 and the shoulders; toes one foot length ahead of the ankles, along
    # the facing (+X at 90 degrees of yaw), at ankle height.
    np.testing.assert_allclose(
        got[:, J["left_collar"]], (got[:, J["spine3"]] + got[:, J["left_shoulder"]]) / 2, atol=1e-6
    )
    toe = got[:, J["right_foot"]] - got[:, J["right_ankle"]]
    np.testing.assert_allclose(toe / np.linalg.norm(toe, axis=-1, keepdims=True), [[1, 0, 0]] * 10, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(toe, axis=-1), SMPL22.lengths[J["right_foot"]], rtol=1e-3)

    (tmp_path / "bad_map.json").write_text(json.dumps({"hips": "Bone00"}))
    with pytest.raises(FormatError, match=r"bad_map\.json: 'hips' are not SMPL22 joints"):
        read_bvh(path, joint_map=tmp_path / "bad_map.json")


# ---- bad input -----------------------------------------------------------------------------------


def _lines_without(text: str, line: str) -> str:
    return text.replace(line + "\n", "", 1)


BAD_INPUTS = {
    "truncated": (
        SMALL.rsplit("\n", 2)[0] + "\n",
        r"the file declares 3 frames but holds 2 \(it is truncated",
    ),
    "cut_mid_line": (SMALL[:-6], r"line 26: 6 values where the hierarchy declares 9 channels"),
    "unclosed_joint": (
        SMALL.replace("  }\n}\nMOTION", "  }\nMOTION"),
        r"line 20: joint 'Hips' is not closed",
    ),
    "extra_brace": (SMALL.replace("}\nMOTION", "}\n}\nMOTION"), r"line 21: a '}' closes nothing"),
    "no_channels": (
        _lines_without(SMALL, "    CHANNELS 2 Zrotation Xrotation"),
        r"line 6: joint 'Chest' has no CHANNELS",
    ),
    "channel_count": (SMALL.replace("CHANNELS 2 Z", "CHANNELS 3 Z"), r"line 9: CHANNELS 3 does not match"),
    "bad_offset": (SMALL.replace("OFFSET 0 1 0", "OFFSET 0 one 0", 1), r"line 8: 'one' is not a number"),
    "bad_value": (
        SMALL.replace("0 0 0 0 0 0 90 90 2", "0 0 0 0 0 x 90 90 2"),
        r"line 25: 'x' is not a number",
    ),
    "nan": (SMALL.replace("0 0 0 0 0 0 90 90 2", "0 0 0 0 0 nan 90 90 2"), r"line 25: the frame holds a NaN"),
    "zero_frames": (SMALL.split("Frames")[0] + "Frames: 0\nFrame Time: 0.05\n", r"declares 0 frames"),
    "no_motion": (SMALL.split("MOTION")[0], r"no MOTION section"),
    "not_bvh": ("hello\nMOTION\n", r"line 1: the file does not start with HIERARCHY"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_files_raise_one_line_format_errors(tmp_path, case):
    text, message = BAD_INPUTS[case]
    path = tmp_path / f"{case}.bvh"
    path.write_text(text)
    with pytest.raises(FormatError, match=re.escape(str(path)) + r".*" + message) as err:
        read_bvh(path)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match=r"nowhere\.bvh\.gz: no such file"):
        read_bvh(tmp_path / "nowhere.bvh.gz")


# ---- export --------------------------------------------------------------------------------------


def test_exported_file_is_a_tpose_skeleton_in_metres(tmp_path):
    joints = synthetic_motion(5)
    clip = parse_bvh(write_bvh(tmp_path / "out.bvh.gz", joints))
    assert clip.joint_names[0] == "pelvis" and set(clip.joint_names) == set(SMPL22.joint_names)
    assert clip.channels[0] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
    assert all(c == ("Zrotation", "Xrotation", "Yrotation") for c in clip.channels[1:])
    assert clip.fps == 20.0 and clip.motion.shape == (5, 3 + 3 * 22)
    offsets = dict(zip(clip.joint_names, clip.offsets, strict=True))
    np.testing.assert_allclose(offsets["left_elbow"], [SMPL22.lengths[J["left_elbow"]], 0, 0], atol=1e-6)
    np.testing.assert_allclose(offsets["right_knee"], [0, -SMPL22.lengths[J["right_knee"]], 0], atol=1e-6)
    np.testing.assert_allclose(offsets["head"], [0, SMPL22.lengths[J["head"]], 0], atol=1e-6)


def test_write_rejects_bad_joints(tmp_path):
    good = synthetic_motion(3)
    nan = good.copy()
    nan[2, 4, 1] = np.nan
    for joints, message in (
        (good[:, :21], r"shape \(3, 21, 3\)"),
        (good[:0], r"shape \(0, 22, 3\)"),
        (nan, "frame 2"),
    ):
        with pytest.raises(MotionError, match=message):
            write_bvh(tmp_path / "x.bvh", joints)
    assert not (tmp_path / "x.bvh").exists()


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "out.bvh"
    path.write_text("previous")

    def fail(f, frames):
        f.write("0 0 0\n")
        raise RuntimeError("disk full")

    monkeypatch.setattr(bvh, "_write_frames", fail)
    with pytest.raises(RuntimeError):
        write_bvh(path, synthetic_motion(3))
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bvh"]
    (tmp_path / "a_file").write_text("")
    with pytest.raises(FormatError, match=r"a_file/out\.bvh: cannot be written"):
        write_bvh(tmp_path / "a_file" / "out.bvh", synthetic_motion(3))


def test_a_root_channel_relative_to_its_offset_stands_on_the_floor(tmp_path, hml_joints):
    """Character Creator writes the root's position relative to its OFFSET; read as absolute, the body
    would float a hip height below the floor (CMU take 006_09). Both conventions read the same."""
    from omnimogen.formats.bvh import parse_bvh

    absolute = write_bvh(tmp_path / "absolute.bvh", hml_joints)  # our writer: absolute channels
    bvh = parse_bvh(absolute)
    lines = absolute.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Frame Time")) + 1
    relative = []
    for line in lines[start:]:
        values = line.split()
        for axis in range(3):  # Xposition Yposition Zposition come first on the root
            values[axis] = f"{float(values[axis]) - bvh.offsets[0][axis]:.6f}"
        relative.append(" ".join(values))
    (tmp_path / "relative.bvh").write_text("\n".join(lines[:start] + relative) + "\n")
    a, r = read_bvh(absolute), read_bvh(tmp_path / "relative.bvh")
    assert bvh.offsets[0][1] > 0.5  # a hip height: the two files really differ
    np.testing.assert_allclose(r.joints, a.joints, atol=1e-4)
    assert abs(np.median(r.joints[:, [7, 8], 1].min(axis=1))) < 0.2  # ankles near the floor


def test_a_body_lying_down_needs_its_up_axis_named(tmp_path):
    """The up axis is detected from the median pose: a motion lying along the floor (a crawl, a get-up)
    looks like a standing one of another up axis, and reads back right only with ``up``."""
    walk = np.load(HERE / "fixtures" / "dataset-2_walk-turn-left_normal_004.joints.npy").astype(np.float64)
    lying = Rotation.from_euler("x", 90, degrees=True).apply(walk.reshape(-1, 3)).reshape(walk.shape)
    lying[..., 1] -= lying[..., 1].min() - 0.05  # on the floor, face up
    write_bvh(tmp_path / "lying.bvh", lying)
    assert read_bvh(tmp_path / "lying.bvh").up != "y"
    back = read_bvh(tmp_path / "lying.bvh", up="y")
    np.testing.assert_allclose(back.joints, lying, atol=1e-4)
