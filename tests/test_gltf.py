"""glTF export, read back by an independent reader: pygltflib parses the file, and the forward
kinematics here follow the glTF 2.0 specification (node TRS, animation channels, skin), not our writer."""

import json
import struct

import numpy as np
import pygltflib
import pytest
from conftest import HERE
from scipy.spatial.transform import Rotation

from omnimogen.formats.bvh import motion_bvh, read_bvh
from omnimogen.formats.gltf import save_gltf
from omnimogen.formats.retarget import load_rig, retarget
from omnimogen.motion import Motion

WALK = HERE / "fixtures" / "dataset-2_walk-turn-left_normal_004.joints.npy"
TYPES = {pygltflib.FLOAT: np.float32, pygltflib.UNSIGNED_SHORT: np.uint16, pygltflib.UNSIGNED_INT: np.uint32}
WIDTH = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def _read(doc: pygltflib.GLTF2, index: int) -> np.ndarray:
    acc = doc.accessors[index]
    view = doc.bufferViews[acc.bufferView]
    data = doc.binary_blob() if doc.buffers[0].uri is None else doc.get_data_from_buffer_uri(doc.buffers[0].uri)
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    width = WIDTH[acc.type]
    raw = np.frombuffer(data, TYPES[acc.componentType], acc.count * width, start)
    return raw.reshape(acc.count, width) if width > 1 else raw


def world_positions(path) -> tuple[list[str], np.ndarray, float]:
    """Joint names, (F, J, 3) world positions of the skin's joints per animation frame, and the fps."""
    doc = pygltflib.GLTF2.load(str(path))
    skin = doc.skins[0]
    anim = doc.animations[0]
    times = _read(doc, anim.samplers[0].input)
    frames = len(times)
    trs = {j: [np.tile(doc.nodes[j].translation or [0, 0, 0], (frames, 1)),
               np.tile(doc.nodes[j].rotation or [0, 0, 0, 1], (frames, 1))] for j in range(len(doc.nodes))}  # fmt: skip
    for ch in anim.channels:
        values = _read(doc, anim.samplers[ch.sampler].output)
        trs[ch.target.node][{"translation": 0, "rotation": 1}[ch.target.path]] = values
    parent = {c: n for n, node in enumerate(doc.nodes) for c in (node.children or [])}
    world = {}

    def place(n):
        if n in world:
            return world[n]
        t, q = trs[n]
        if n in parent:
            pt, pr = place(parent[n])
            world[n] = (pt + pr.apply(t), pr * Rotation.from_quat(q))
        else:
            world[n] = (np.asarray(t, float), Rotation.from_quat(q))
        return world[n]

    positions = np.stack([place(j)[0] for j in skin.joints], axis=1)
    return [doc.nodes[j].name for j in skin.joints], positions, 1 / float(times[1] - times[0])


@pytest.mark.parametrize("suffix", [".glb", ".gltf"])
def test_our_motion_reads_back_in_the_same_places(tmp_path, suffix):
    joints = np.load(WALK).astype(np.float64)
    bvh = motion_bvh(joints, fps=20, name="walk")
    out = save_gltf(tmp_path / f"walk{suffix}", bvh)
    names, positions, fps = world_positions(out)
    assert names == list(bvh.joint_names) and fps == pytest.approx(20)
    order = [bvh.joint_names.index(n) for n in names]
    ours = bvh.global_positions()[:, order]  # the BVH's own forward kinematics, metres
    assert np.abs(positions - ours).max() < 1e-5
    from omnimogen.motion.skeleton import SMPL22

    smpl = positions[:, [names.index(n) for n in SMPL22.joint_names]]
    assert np.abs(smpl - joints).max() < 0.03  # the BVH's rest pose has the median bone lengths


def test_the_file_is_a_valid_skinned_animation(tmp_path):
    out = save_gltf(tmp_path / "walk.glb", motion_bvh(np.load(WALK), fps=20))
    raw = out.read_bytes()
    magic, version, length = struct.unpack("<4sII", raw[:12])
    assert (magic, version, length) == (b"glTF", 2, len(raw))
    doc = pygltflib.GLTF2.load(str(out))
    prim = doc.meshes[0].primitives[0]
    node = next(n for n in doc.nodes if n.mesh == 0)
    assert node.skin == 0 and set(doc.scenes[0].nodes) >= {doc.skins[0].skeleton}
    weights, bones = _read(doc, prim.attributes.WEIGHTS_0), _read(doc, prim.attributes.JOINTS_0)
    np.testing.assert_allclose(weights.sum(1), 1.0)
    assert bones.max() < len(doc.skins[0].joints)
    # Every inverse bind matrix undoes its joint's rest transform (the bind pose is the rest pose).
    inverse = _read(doc, doc.skins[0].inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    for j, n in enumerate(doc.skins[0].joints):
        chain, t = n, np.zeros(3)
        while chain is not None:
            t = t + np.asarray(doc.nodes[chain].translation)
            chain = next((p for p, node in enumerate(doc.nodes) if chain in (node.children or [])), None)
        np.testing.assert_allclose(inverse[j] @ np.r_[t, 1], [0, 0, 0, 1], atol=1e-6)
    # Quaternions are unit and neighbours take the short way.
    for sampler in doc.animations[0].samplers:
        q = _read(doc, sampler.output)
        if q.shape[1] == 4:
            np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1, atol=1e-5)
            assert ((q[1:] * q[:-1]).sum(1) >= 0).all()
    size, kind = struct.unpack("<I4s", raw[12:20])  # the JSON chunk, read without pygltflib
    assert kind == b"JSON" and json.loads(raw[20 : 20 + size])["asset"]["version"] == "2.0"


def test_a_retargeted_character_with_z_up_and_centimetres(tmp_path):
    rig = load_rig(HERE / "fixtures" / "rigs" / "character_creator.bvh")
    assert rig.up == "z"
    bvh = retarget(np.load(WALK), rig)
    out = save_gltf(tmp_path / "cc.glb", bvh, up=rig.up, unit=rig.unit)
    names, positions, _ = world_positions(out)
    ours = bvh.global_positions()  # file axes and units
    expected = rig.to_y_up.apply(ours.reshape(-1, 3)).reshape(ours.shape) * rig.scale
    assert names == list(bvh.joint_names) and np.abs(positions - expected).max() < 1e-4
    assert positions[..., 1].min() > -0.05  # Y up, on the floor


def test_motion_save_and_the_cli_write_gltf(tmp_path, capsys):
    from omnimogen.cli import main

    motion = Motion.from_joints(np.load(WALK), 20)
    motion.save(tmp_path / "a.glb")
    motion.save(tmp_path / "b.glb", rig=HERE / "fixtures" / "rigs" / "mixamo.bvh")
    assert world_positions(tmp_path / "b.glb")[0][0] == "mixamorig:Hips"
    take = tmp_path / "walk.bvh"
    motion.save(take)
    assert main(["retarget", str(take), "--rig", str(HERE / "fixtures" / "rigs" / "cmu_daz.bvh"), "-o",
                 str(tmp_path / "c.gltf")]) == 0  # fmt: skip
    names, positions, _ = world_positions(tmp_path / "c.gltf")
    back = read_bvh(take).joints
    assert len(positions) == len(back)


def test_a_gltf_character_is_a_rig_target(tmp_path, capsys):
    """A glTF skin is read as a target skeleton (here one of our own exports, on a Mixamo-named rig with
    centimetre-scaled nodes folded into metres), and a file without a skin says so."""
    from omnimogen.cli import main
    from omnimogen.formats.retarget import effector_errors, on_rig

    joints = np.load(WALK).astype(np.float64)
    character = tmp_path / "character.glb"
    Motion.from_joints(joints, 20).save(character, rig=HERE / "fixtures" / "rigs" / "mixamo.bvh")
    rig = load_rig(character)
    assert rig.family == "mixamo" and rig.unit == "m"
    mixamo = load_rig(HERE / "fixtures" / "rigs" / "mixamo.bvh")
    np.testing.assert_allclose(rig.leg_length(), mixamo.leg_length(), rtol=1e-4)  # the same proportions
    out = retarget(joints, rig)
    assert max(effector_errors(joints, on_rig(out, rig)).values()) < 2.0
    assert main(["retarget", str(WALK), "--rig", str(character), "-o", str(tmp_path / "again.glb")]) == 0
    bare = tmp_path / "bare.gltf"
    doc = pygltflib.GLTF2.load(str(character))
    doc.skins = []
    doc.save_json(str(bare))
    assert main(["retarget", str(WALK), "--rig", str(bare), "-o", str(tmp_path / "x.bvh")]) == 2
    assert "has no skin" in capsys.readouterr().err
