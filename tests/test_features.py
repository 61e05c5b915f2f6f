"""Golden tests of the HumanML3D representation against the reference files, and its invariants."""

import numpy as np
import pytest
import torch
from conftest import FIXTURES

from omnimogen.errors import MotionError
from omnimogen.motion import SMPL22, Normalizer, features_to_joints, joints_to_features, make_skeleton
from omnimogen.motion.rotations import cont6d_to_matrix, matrix_to_quat, qmul, qrot, quat_to_matrix

# Tolerances of the issue: root slices ~5e-6, positions and velocities 5e-5, rotations 1e-4, contacts exact.
TOLERANCE = {
    "root_rot_velocity": 5e-6,
    "root_linear_velocity": 5e-6,
    "root_height": 5e-6,
    "positions": 5e-5,
    "velocities": 5e-5,
    "rotations": 1e-4,
    "foot_contacts": 0.0,
}


def test_features_to_joints_matches_reference(hml_features, hml_joints):
    joints = features_to_joints(hml_features)
    assert joints.shape == hml_joints.shape and joints.dtype == np.float32
    np.testing.assert_allclose(joints, hml_joints, atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant", ["humanml3d", "corrected"])
def test_joints_to_features_reproduces_reference_slice_by_slice(hml_features, variant):
    # The reference smooths the facing over 80 frames each side, so the last rows need the joint
    # frame after the last feature row: rebuild it from that row's velocities.
    joints = features_to_joints(hml_features, extra_frame=True)
    assert joints.shape == (len(hml_features) + 1, 22, 3)
    feats = joints_to_features(joints, variant=variant)
    assert feats.shape == hml_features.shape
    for part, sl in SMPL22.feature_slices().items():
        err = np.abs(feats[:, sl] - hml_features[:, sl]).max()
        assert err <= TOLERANCE[part], f"{part}: {err}"


def test_without_the_last_frame_only_rows_the_smoothing_reaches_differ(hml_features, hml_joints):
    feats = joints_to_features(hml_joints)  # 170 frames -> 169 rows, last joint frame missing
    err = np.abs(feats - hml_features[:-1]).max(axis=1)
    radius = 80  # int(4 * sigma + 0.5) with sigma = 20
    assert err[: len(hml_joints) - 1 - radius].max() < 1e-4
    assert err.max() > 1e-4  # the tail really does depend on the missing frame


def test_sign_bug_faithful_and_corrected_variants(turning_features):
    # A physically consistent motion whose facing passes through -Z: rebuild it once with the
    # corrected variant (the stored file carries the bug's wrong sign at frame 142).
    stored = turning_features
    assert stored[142, 0] < 0 < stored[141, 0] and stored[143, 0] > 0
    consistent = joints_to_features(features_to_joints(stored, extra_frame=True), variant="corrected")
    joints = features_to_joints(consistent, extra_frame=True)

    corrected = joints_to_features(joints, variant="corrected")
    np.testing.assert_allclose(corrected, consistent, atol=1e-6)  # lossless round trip

    faithful = joints_to_features(joints, variant="humanml3d")
    wrong = np.flatnonzero(np.abs(faithful - consistent).max(axis=1) > 1e-6)
    assert len(wrong) == 1  # exactly the frame that crosses -Z ...
    k = wrong[0]
    assert faithful[k, 0] == pytest.approx(-consistent[k, 0], abs=1e-6)  # ... gets the opposite sign
    # and so the faithful variant drifts: features -> joints -> features changes the motion.
    again = joints_to_features(features_to_joints(faithful, extra_frame=True), variant="humanml3d")
    assert np.abs(again - faithful).max() > 1e-2


def test_batched_torch_and_numpy_agree(hml_features):
    f = np.stack([hml_features[:60], hml_features[60:120]])  # (2, 60, 263)
    j_np = features_to_joints(f)
    j_t = features_to_joints(torch.from_numpy(f))
    assert isinstance(j_t, torch.Tensor) and j_t.shape == (2, 60, 22, 3)
    np.testing.assert_allclose(j_t.numpy(), j_np, atol=1e-6)
    np.testing.assert_allclose(j_np[1], features_to_joints(hml_features[60:120]), atol=1e-6)
    # Batched joints -> features equals item by item (each item canonicalised on its own).
    joints = features_to_joints(f, extra_frame=True) + np.array([0.0, 0.3, 0.0])
    back = joints_to_features(torch.from_numpy(joints))
    for i in range(2):
        np.testing.assert_allclose(back[i].numpy(), joints_to_features(joints[i]), atol=1e-6)


def test_features_to_joints_is_differentiable(hml_features):
    f = torch.from_numpy(hml_features[:20]).requires_grad_()
    features_to_joints(f).pow(2).sum().backward()
    assert f.grad is not None and torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0


def test_canonical_form_invariants(hml_features):
    """Features do not change under a yaw rotation and translation of the input; contacts are binary."""
    joints = features_to_joints(hml_features, extra_frame=True).astype(np.float64)
    a = 2.1
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    moved = joints @ rot.T + np.array([3.0, 0.7, -5.0])
    np.testing.assert_allclose(joints_to_features(moved), joints_to_features(joints), atol=1e-5)
    contacts = joints_to_features(joints)[:, SMPL22.feature_slices()["foot_contacts"]]
    assert set(np.unique(contacts)) <= {0.0, 1.0}


def test_bone_lengths_are_uniformised(hml_features):
    joints = features_to_joints(hml_features, extra_frame=True) * 1.3  # a taller person
    rebuilt = features_to_joints(joints_to_features(joints))
    bones = np.linalg.norm(rebuilt[:, 1:] - rebuilt[:, list(SMPL22.parents[1:])], axis=-1)
    np.testing.assert_allclose(bones, np.broadcast_to(SMPL22.lengths[1:], bones.shape), atol=1e-5)


def test_other_skeleton_has_its_own_width():
    # An 8-joint toy rig: the feature code takes the skeleton as an argument.
    skel = make_skeleton(
        "toy", ["root", "lhip", "rhip", "chest", "lfoot", "rfoot", "lshoulder", "rshoulder"],
        chains=[(0, 1, 4), (0, 2, 5), (0, 3), (3, 6), (3, 7)],
        directions=[[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0]],
        lengths=[0, 0.1, 0.1, 0.5, 0.8, 0.8, 0.2, 0.2], face_joints=(2, 1, 7, 6), feet=((4, 4), (5, 5)),
        leg=(4, 4), mirror=[0, 2, 1, 3, 5, 4, 7, 6],
    )  # fmt: skip
    assert skel.feature_dim == 4 + 7 * 3 + 7 * 6 + 8 * 3 + 4
    rest = np.array(
        [
            [0, 1, 0],
            [0.1, 1, 0],
            [-0.1, 1, 0],
            [0, 1.5, 0],
            [0.1, 0.2, 0],
            [-0.1, 0.2, 0],
            [0.2, 1.5, 0],
            [-0.2, 1.5, 0],
        ]
    )
    t = np.linspace(0, 1, 12)[:, None, None]
    joints = rest[None] + t * np.array([0.0, 0.0, 1.0])  # walk forward 1 m
    feats = joints_to_features(joints, skel)
    assert feats.shape == (11, skel.feature_dim)
    np.testing.assert_allclose(
        features_to_joints(feats, skel, extra_frame=True)[-1, 0], [0, 0.8, 1], atol=1e-6
    )  # on the floor


def test_sixd_and_quaternion_helpers_agree():
    q = torch.nn.functional.normalize(torch.randn(100, 4, dtype=torch.float64), dim=-1)
    m = quat_to_matrix(q)
    np.testing.assert_allclose(cont6d_to_matrix(torch.cat([m[..., 0], m[..., 1]], -1)), m, atol=1e-12)
    q2 = matrix_to_quat(m)
    np.testing.assert_allclose(torch.where(q[:, :1] < 0, -q, q), q2, atol=1e-9)
    v = torch.randn(100, 3, dtype=torch.float64)
    np.testing.assert_allclose(qrot(q, v), (m @ v[..., None])[..., 0], atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(qmul(q, q2)), m @ m, atol=1e-12)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((10, 262)), "shape"),
        (np.zeros((0, 263)), "at least one frame"),
        (np.full((5, 263), np.nan), "NaN"),
    ],
)
def test_features_to_joints_rejects_bad_input(bad, message):
    with pytest.raises(MotionError, match=message):
        features_to_joints(bad)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((10, 21, 3)), "shape"),
        (np.zeros((1, 22, 3)), "at least 2 frames"),
        (np.full((5, 22, 3), np.inf), "NaN"),
    ],
)
def test_joints_to_features_rejects_bad_input(bad, message):
    with pytest.raises(MotionError, match=message):
        joints_to_features(bad)


def test_normalizer_groups_std_like_humanml3d(hml_features, tmp_path):
    ref_std = np.load(FIXTURES / "Std.npy")
    norm = Normalizer.fit([hml_features, hml_features[::-1]])
    for sl in SMPL22.feature_slices().values():
        assert np.unique(ref_std[sl]).size == 1  # the reference groups too
        assert np.unique(norm.std[sl]).size == 1
    x = norm.normalize(hml_features)
    np.testing.assert_allclose(x.mean(0)[:4], 0, atol=1e-4)
    np.testing.assert_allclose(norm.denormalize(x), hml_features, atol=1e-5)
    t = torch.from_numpy(hml_features)
    np.testing.assert_allclose(norm.denormalize(norm.normalize(t)).numpy(), hml_features, atol=1e-5)
    norm.save(tmp_path)
    again = Normalizer.load(tmp_path)
    np.testing.assert_array_equal(again.std, norm.std)
    hml = Normalizer.load(FIXTURES)
    assert hml.mean.shape == (263,)
