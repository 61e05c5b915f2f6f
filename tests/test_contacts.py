"""Clean foot contacts: planted feet held still and above the floor, real motion left nearly as it is."""

import numpy as np
import pytest
from conftest import HERE

from omnimogen.evaluation.metrics import contact_report, mpjpe
from omnimogen.motion import SMPL22, Motion
from omnimogen.motion.contacts import clean_contacts, contacts, steady_bones

WALKS = ["dataset-2_walk-turn-left_normal_004", "dataset-1_walk-back_normal_001", "dataset-2_walk-turn-right_normal_005"]
LEGS = [(SMPL22.index(f"{s}_hip"), SMPL22.index(f"{s}_knee"), SMPL22.index(f"{s}_ankle"), SMPL22.index(f"{s}_foot"))
        for s in ("left", "right")]  # fmt: skip


def _walk(name: str = WALKS[0]) -> np.ndarray:
    return np.load(HERE / "fixtures" / f"{name}.joints.npy").astype(np.float64)


def _bones(joints: np.ndarray) -> np.ndarray:
    pairs = [(a, b) for leg in LEGS for a, b in zip(leg[:-1], leg[1:], strict=True)]
    return np.stack([np.linalg.norm(joints[:, b] - joints[:, a], axis=-1) for a, b in pairs])


def _planted_slide(joints: np.ndarray, planted: np.ndarray) -> float:
    """Mean horizontal speed (m/s at 20 fps) of the foot joints on steps where they are planted on both frames."""
    feet = joints[:, [7, 10, 8, 11]][..., [0, 2]]
    speed = np.linalg.norm(np.diff(feet, axis=0), axis=-1) * 20
    both = planted[:-1] & planted[1:]
    return float(speed[both].mean())


@pytest.mark.parametrize("name", WALKS)
def test_real_walks_are_left_nearly_as_they_are(name):
    joints = _walk(name)
    clean = clean_contacts(joints, 20)
    assert mpjpe(joints, clean) < 0.005  # metres
    np.testing.assert_allclose(_bones(clean), _bones(joints), atol=1e-5)  # the legs keep their lengths
    before, after = contact_report(joints, 20), contact_report(clean, 20)
    assert after.skate <= before.skate + 0.025 and after.penetration < 1e-12  # a toe-off may catch up a step faster
    upper = [j for j in range(22) if j not in {4, 5, 7, 8, 10, 11}]  # all but knees, ankles and toes
    np.testing.assert_allclose(clean[:, upper][..., [0, 2]], joints[:, upper][..., [0, 2]], atol=1e-6)
    drop = joints[:, upper, 1] - clean[:, upper, 1]  # lowered (by the same amount) only where a leg cannot reach
    assert drop.min() >= -1e-6 and drop.max() < 0.01 and np.ptp(drop, axis=1).max() < 1e-6


def test_a_sliding_planted_foot_is_held_still_without_stretching_the_leg():
    joints = _walk()
    planted = contacts(joints, 20)
    assert planted.any(0).all()  # every foot joint is planted somewhere in a walk
    # A generated-looking fault: the left foot drifts sideways by 10 cm a second whenever it is down.
    slid = joints.copy()
    drift = np.cumsum(planted[:, 0] | planted[:, 1]) * 0.005
    slid[:, [7, 10], 0] += drift[:, None]
    assert _planted_slide(slid, planted) > _planted_slide(joints, planted)
    clean = clean_contacts(slid, 20)
    now = contacts(steady_bones(slid), 20)  # what the cleanup sees
    assert _planted_slide(clean, now) < 0.5 * _planted_slide(steady_bones(slid), now)
    heels = np.zeros_like(now)
    heels[:, [0, 2]] = now[:, [0, 2]]
    assert _planted_slide(clean, heels) < 1e-3  # a planted ankle is held (but where out of reach); a toe rolls off
    np.testing.assert_allclose(_bones(clean), _bones(steady_bones(slid)), atol=1e-5)


def test_a_sunken_body_gets_its_feet_on_the_floor_and_its_legs_bent():
    joints = _walk()
    sunk = joints - [0, 0.04, 0]
    assert contact_report(sunk, 20).penetration > 0.01
    clean = clean_contacts(sunk, 20)
    assert clean[:, [7, 8, 10, 11], 1].min() >= -1e-9
    np.testing.assert_allclose(_bones(clean), _bones(sunk), atol=1e-5)
    drop = sunk[:, 0, 1] - clean[:, 0, 1]  # the legs bend; the body stays where it was but for a few millimetres
    assert drop.min() >= -1e-6 and drop.max() < 0.01


def test_a_foot_held_out_of_reach_lowers_the_body_smoothly():
    joints = _walk()
    planted = contacts(joints, 20)
    # the left toe and ankle slide 8 cm forward over each planted run: held at its middle, a straight leg
    # cannot reach the hold at the run's ends
    slid = joints.copy()
    left = planted[:, 0] | planted[:, 1]
    for start, stop in zip(np.flatnonzero(np.diff(np.r_[0, left.astype(int)]) == 1),
                           np.flatnonzero(np.diff(np.r_[left.astype(int), 0]) == -1) + 1, strict=True):  # fmt: skip
        slid[start:stop, [7, 10], 2] += np.linspace(-0.04, 0.04, stop - start)[:, None]
    clean = clean_contacts(slid, 20)
    np.testing.assert_allclose(_bones(clean), _bones(steady_bones(slid)), atol=1e-5)
    drop = slid[:, 0, 1] - clean[:, 0, 1]
    assert drop.max() > 0.005 and drop.min() >= -1e-6  # lowered where a held foot could not be reached
    assert np.abs(np.diff(drop, 2)).max() < 0.005  # smoothly


def test_the_motion_method_keeps_caption_and_rate_and_refuses_other_skeletons():
    m = Motion.from_joints(_walk(), 20, "a walk")
    clean = m.with_clean_contacts(travel=0.05)
    assert (clean.caption, clean.fps, clean.num_frames) == ("a walk", 20, m.num_frames)
    with pytest.raises(TypeError):
        m.with_clean_contacts(unknown=1)


def test_generated_bones_get_one_length_each_before_the_feet_are_held():
    rng = np.random.default_rng(0)
    joints = _walk() * (1 + 0.01 * rng.standard_normal((1, 22, 1)))  # bones that wobble from joint to joint
    joints += 0.003 * rng.standard_normal(joints.shape)  # and from frame to frame, as decoded motions do
    steady = steady_bones(joints)
    assert _bones(steady).std(axis=1).max() < 1e-9 and _bones(joints).std(axis=1).max() > 1e-3
    np.testing.assert_allclose(_bones(clean_contacts(joints, 20)), _bones(steady), atol=1e-6)
