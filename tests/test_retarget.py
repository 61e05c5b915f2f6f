"""Retargeting onto other characters' rigs: small test rigs (tests/fixtures/rigs, scripts/make_test_rigs.py)."""

import warnings

import numpy as np
import pytest
from conftest import HERE

from omnimogen.formats.bvh import parse_bvh, read_bvh, save_bvh, write_bvh
from omnimogen.formats.retarget import effector_errors, load_rig, on_rig, retarget

RIGS = HERE / "fixtures" / "rigs"


@pytest.mark.parametrize("name,family,up", [("mixamo", "mixamo", "y"), ("cmu_daz", "cmu_daz", "y"),
                                            ("character_creator", "character_creator", "z")])  # fmt: skip
def test_a_walk_keeps_its_directions_on_each_rig(name, family, up, tmp_path):
    joints = np.load(HERE / "fixtures" / "dataset-2_walk-turn-left_normal_004.joints.npy").astype(np.float64)
    rig = load_rig(RIGS / f"{name}.bvh")
    assert (rig.family, rig.up) == (family, up)
    out = retarget(joints, rig)
    assert out.joint_names == rig.bvh.joint_names and out.channels == rig.bvh.channels
    save_bvh(tmp_path / "out.bvh", out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a rig without toes: placed on reading back
        back = read_bvh(tmp_path / "out.bvh").joints.astype(np.float64)
    errors = effector_errors(joints, back)
    assert max(errors.values()) < 2.0, errors  # degrees
    floor = np.percentile(back[:, [7, 8, 10, 11], 1].min(1), 5)
    assert abs(floor - np.percentile(joints[:, [7, 8, 10, 11], 1].min(1), 5)) < 0.02


def test_our_own_rig_reproduces_the_motion(tmp_path):
    joints = np.load(HERE / "fixtures" / "dataset-2_walk-turn-left_normal_004.joints.npy").astype(np.float64)
    write_bvh(tmp_path / "self.bvh", joints)
    save_bvh(tmp_path / "again.bvh", retarget(joints, load_rig(tmp_path / "self.bvh")))
    np.testing.assert_allclose(read_bvh(tmp_path / "again.bvh").joints, joints, atol=2e-3)


def test_the_retarget_command_writes_on_the_rig_and_keeps_the_rig_file(tmp_path, capsys):
    from omnimogen.cli import main

    take = tmp_path / "walk.npy"
    np.save(take, np.load(HERE / "fixtures" / "dataset-2_walk-turn-left_normal_004.joints.npy"))
    rig = tmp_path / "character.bvh"
    rig.write_bytes((RIGS / "character_creator.bvh").read_bytes())
    before = rig.read_bytes()
    assert main(["retarget", str(take), "--rig", str(rig), "-o", str(tmp_path / "out.bvh")]) == 0
    out = parse_bvh(tmp_path / "out.bvh")
    assert out.joint_names == parse_bvh(rig).joint_names and len(out.motion) == 97
    # errors name the problem: no rig, an output over the rig, a non-BVH output
    for args, message in ((["-o", str(tmp_path / "x.bvh")], "needs --rig"),
                          (["--rig", str(rig), "-o", str(rig)], "would be lost"),
                          (["--rig", str(rig), "-o", str(tmp_path / "x.npy")], "is saved as .bvh")):  # fmt: skip
        assert main(["retarget", str(take), *args]) == 2
        assert message in capsys.readouterr().err
    assert main(["convert", str(take), str(tmp_path / "x.bvh"), "--rig-map", str(rig)]) == 2  # a map of no rig
    assert "--rig-map needs --rig" in capsys.readouterr().err
    assert rig.read_bytes() == before and not (tmp_path / "x.npy").exists() and not (tmp_path / "x.bvh").exists()


def test_feet_are_held_on_the_characters_own_proportions():
    from omnimogen.motion.contacts import clean_contacts, contacts

    joints = clean_contacts(np.load(HERE / "fixtures" / "dataset-2_walk-turn-left_normal_004.joints.npy"), 20)
    rig = load_rig(RIGS / "mixamo.bvh")

    def heel_slide(bvh) -> float:  # m/s of the ankles where they are planted, at the character's scale
        feet = on_rig(bvh, rig)[:, [7, 8]]
        planted = contacts(on_rig(bvh, rig), 20)[:, [0, 2]]
        speed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * 20
        return float(speed[planted[:-1] & planted[1:]].mean())

    plain, held = retarget(joints, rig), retarget(joints, rig, clean_contacts=True)
    assert heel_slide(held) < 1e-3 < heel_slide(plain)  # the proportions differ: a held foot slides unless re-held
    assert held.joint_names == rig.bvh.joint_names
    assert max(effector_errors(joints, on_rig(held, rig)).values()) < 3.0  # the pose is kept
