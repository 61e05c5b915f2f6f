"""Retargeting onto other characters' rigs: small test rigs (tests/fixtures/rigs, scripts/make_test_rigs.py)."""

import warnings

import numpy as np
import pytest
from conftest import HERE

from omnimogen.formats.bvh import read_bvh, save_bvh, write_bvh
from omnimogen.formats.retarget import effector_errors, load_rig, retarget

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
