"""The HumanML3D motion representation: joint positions <-> 263-D feature rows (for 22 joints).

``joints_to_features`` follows HumanML3D's ``process_file`` step by step (uniform bone lengths, put
on the floor, first root at the origin, first frame facing +Z, IK 6-D rotations with a smoothed
facing direction, root and local velocities, foot contacts); ``features_to_joints`` is its
``recover_from_ric``. Both are batched over leading dimensions, run in float64 internally, accept
numpy arrays or torch tensors and return the type they were given.

Two conventions of the reference are kept on purpose, because existing data and models depend on
them: the IK facing direction adds the *left-minus-right* hip vector to the right-minus-left
shoulder vector (a sign slip in HumanML3D's ``Skeleton.inverse_kinematics_np``), and the facing
is smoothed with a Gaussian of sigma 20 frames (radius 80), so the last feature rows depend on the
last joint frame.

The variant matters for one quantity, the root angular velocity. HumanML3D takes
``arcsin(y)`` of the relative quaternion ``r[t+1] * r[t]^-1`` without first making its ``w``
non-negative; when the facing passes through -Z the two quaternions lie in opposite hemispheres and
the sign comes out wrong (HumanML3D issue, seen in ``momask_example_000612`` at frame 142), so
features -> joints -> features drifts. ``variant="humanml3d"`` reproduces the reference bit for
bit; ``variant="corrected"`` (the default) flips the quaternion to ``w >= 0`` first. The default is
the corrected one because this project builds its own corpora and needs the round trip to be
stable; both agree on every frame that does not face -Z, so models see the same distribution.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import MotionError
from .rotations import cont6d_to_matrix, matrix_to_cont6d, matrix_to_quat, qbetween, qinv, qmul, qrot, quat_to_matrix
from .skeleton import SMPL22, Skeleton

Variant = Literal["corrected", "humanml3d"]
FPS = 20  # the HumanML3D time base
WINDOW_ROWS = 196  # the longest motion of training and of the protocol: 196 feature rows, 9.8 s at FPS
FOOT_CONTACT_THRESHOLD = 0.002  # squared displacement per frame, m^2
FACING_SMOOTH_SIGMA = 20  # frames


def _to_tensor(x) -> tuple[torch.Tensor, callable]:
    """Float64 tensor view of x and a function that converts a result back to x's type and dtype."""
    if isinstance(x, torch.Tensor):
        dtype = x.dtype if x.is_floating_point() else torch.float32
        return x.to(torch.float64), lambda y: y.to(dtype)
    arr = np.asarray(x)
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float32
    return torch.from_numpy(arr.astype(np.float64)), lambda y: y.detach().cpu().numpy().astype(dtype)


def _check_finite(t: torch.Tensor, what: str) -> None:
    if not torch.isfinite(t).all():
        bad = (~torch.isfinite(t)).nonzero()[0].tolist()
        raise MotionError(f"{what} contains NaN or infinite values (first at index {tuple(bad)}).")


def _smooth_time(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """scipy.ndimage.gaussian_filter1d(x, sigma, axis=-2, mode='nearest') for x (..., T, C)."""
    radius = int(4 * sigma + 0.5)
    k = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (k / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    lead, (t, c) = x.shape[:-2], x.shape[-2:]
    flat = x.reshape(-1, t, c).transpose(1, 2).reshape(-1, 1, t)  # (N*C, 1, T)
    # 'nearest' extends the edge value however far the kernel reaches, even past a short clip.
    flat = torch.cat([flat[..., :1].expand(-1, -1, radius), flat, flat[..., -1:].expand(-1, -1, radius)], -1)
    out = F.conv1d(flat, kernel)
    return out.reshape(-1, c, t).transpose(1, 2).reshape(*lead, t, c)


def _forward_direction(across: torch.Tensor) -> torch.Tensor:
    """Facing direction on the ground plane from a left-to-right vector (..., 3)."""
    across = across / across.norm(dim=-1, keepdim=True)
    up = across.new_tensor([0.0, 1.0, 0.0]).expand_as(across)
    return torch.linalg.cross(up, across)


def uniform_skeleton(joints: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Re-lay every bone with the skeleton's reference length along its own direction, and scale
    the root trajectory by the ratio of leg lengths (HumanML3D's IK-then-FK step, in closed form)."""
    parents = skeleton.parents
    knee, ankle = skeleton.leg
    src_leg = sum((joints[..., 0, j, :] - joints[..., 0, parents[j], :]).norm(dim=-1) for j in (knee, ankle))
    tgt_leg = float(skeleton.lengths[knee] + skeleton.lengths[ankle])
    scale = (tgt_leg / src_leg)[..., None, None]  # (..., 1, 1)
    out = [None] * skeleton.num_joints
    out[0] = joints[..., 0, :] * scale  # (..., T, 3)
    for chain in skeleton.chains:
        for p, c in zip(chain[:-1], chain[1:], strict=True):
            bone = joints[..., c, :] - joints[..., p, :]
            out[c] = out[p] + float(skeleton.lengths[c]) * bone / bone.norm(dim=-1, keepdim=True)
    return torch.stack(out, dim=-2)


def _inverse_kinematics(joints: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """HumanML3D's IK: per-bone local quaternions (..., T, J, 4); entry 0 is the smoothed facing."""
    r_hip, l_hip, r_sh, l_sh = skeleton.face_joints
    # Left-minus-right hips plus right-minus-left shoulders: the reference's sign slip, kept (see top).
    across = (joints[..., l_hip, :] - joints[..., r_hip, :]) + (joints[..., r_sh, :] - joints[..., l_sh, :])
    forward = _smooth_time(_forward_direction(across), FACING_SMOOTH_SIGMA)
    forward = forward / forward.norm(dim=-1, keepdim=True)
    root_quat = qbetween(forward, forward.new_tensor([0.0, 0.0, 1.0]))  # (..., T, 4)
    # The released HumanML3D data fixes the first frame's facing to the identity (the clip was
    # already turned to face +Z); recovery starts from the identity too, so the round trip is exact.
    root_quat = torch.cat(
        [
            torch.zeros_like(root_quat[..., :1, :]) + root_quat.new_tensor([1.0, 0, 0, 0]),
            root_quat[..., 1:, :],
        ],
        dim=-2,
    )
    quats = [None] * skeleton.num_joints
    quats[0] = root_quat
    directions = torch.from_numpy(skeleton.directions).to(joints)
    for chain in skeleton.chains:
        parent_global = root_quat
        for p, c in zip(chain[:-1], chain[1:], strict=True):
            bone = joints[..., c, :] - joints[..., p, :]
            rot = qbetween(directions[c].expand_as(bone), bone / bone.norm(dim=-1, keepdim=True))
            quats[c] = qmul(qinv(parent_global), rot)
            parent_global = qmul(parent_global, quats[c])
    return torch.stack(quats, dim=-2)


def canonicalize(joints: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Uniform bone lengths, lowest point on the floor, first root over the origin, first frame
    facing +Z. (..., T, J, 3) -> (..., T, J, 3)."""
    joints = uniform_skeleton(joints, skeleton)
    floor = joints[..., 1].amin(dim=(-1, -2))  # (...,)
    joints = joints - torch.stack([torch.zeros_like(floor), floor, torch.zeros_like(floor)], -1)[..., None, None, :]
    first = joints[..., 0, :, :]  # (..., J, 3)
    root_xz = first[..., 0, :] * joints.new_tensor([1.0, 0.0, 1.0])
    joints = joints - root_xz[..., None, None, :]
    r_hip, l_hip, r_sh, l_sh = skeleton.face_joints
    across = (first[..., r_hip, :] - first[..., l_hip, :]) + (first[..., r_sh, :] - first[..., l_sh, :])
    forward = _forward_direction(across)
    forward = forward / forward.norm(dim=-1, keepdim=True)
    turn = qbetween(forward, forward.new_tensor([0.0, 0.0, 1.0]))  # (..., 4)
    return qrot(turn[..., None, None, :], joints)


def joints_to_features(
    joints,
    skeleton: Skeleton = SMPL22,
    *,
    variant: Variant = "corrected",
    foot_threshold: float = FOOT_CONTACT_THRESHOLD,
):
    """Joint positions (..., T, J, 3) in metres, Y up -> features (..., T - 1, D).

    D = 4 + (J-1)*3 + (J-1)*6 + J*3 + 4 (263 for the 22-joint skeleton).
    """
    if variant not in ("corrected", "humanml3d"):
        raise ValueError(f"variant must be 'corrected' or 'humanml3d', not {variant!r}")
    x, back = _to_tensor(joints)
    j = skeleton.num_joints
    if x.ndim < 3 or x.shape[-2:] != (j, 3):
        raise MotionError(f"joints must have shape (frames, {j}, 3), got {tuple(x.shape)}.")
    if x.shape[-3] < 2:
        raise MotionError(f"a motion needs at least 2 frames to have velocities, got {x.shape[-3]}.")
    _check_finite(x, "joints")

    glob = canonicalize(x, skeleton)  # (..., T, J, 3)

    (l_ankle, l_toe), (r_ankle, r_toe) = skeleton.feet
    step = ((glob[..., 1:, :, :] - glob[..., :-1, :, :]) ** 2).sum(-1)  # (..., T-1, J)
    contacts = (step[..., [l_ankle, l_toe, r_ankle, r_toe]] < foot_threshold).to(glob.dtype)

    quats = _inverse_kinematics(glob, skeleton)  # (..., T, J, 4)
    r_rot = quats[..., 0, :]  # (..., T, 4)
    cont6d = matrix_to_cont6d(quat_to_matrix(quats[..., 1:, :]))  # (..., T, J-1, 6)

    root_vel = qrot(r_rot[..., 1:, :], glob[..., 1:, 0, :] - glob[..., :-1, 0, :])  # (..., T-1, 3)
    rel = qmul(r_rot[..., 1:, :], qinv(r_rot[..., :-1, :]))  # (..., T-1, 4)
    if variant == "corrected":
        rel = torch.where(rel[..., :1] < 0, -rel, rel)
    root_ang = torch.asin(rel[..., 2:3].clamp(-1.0, 1.0))  # half the yaw change per frame

    local = glob * glob.new_tensor([1.0, 0.0, 1.0])
    ric = qrot(r_rot[..., None, :], glob - local[..., :1, :])  # (..., T, J, 3) root-relative, facing +Z
    local_vel = qrot(r_rot[..., :-1, None, :], glob[..., 1:, :, :] - glob[..., :-1, :, :])  # (..., T-1, J, 3)

    lead = x.shape[:-3]
    n = x.shape[-3] - 1
    feats = torch.cat(
        [
            root_ang,
            root_vel[..., [0, 2]],
            ric[..., :-1, 0, 1:2],
            ric[..., :-1, 1:, :].reshape(*lead, n, (j - 1) * 3),
            cont6d[..., :-1, :, :].reshape(*lead, n, (j - 1) * 6),
            local_vel.reshape(*lead, n, j * 3),
            contacts,
        ],
        dim=-1,
    )
    return back(feats)


def _root_trajectory(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Facing quaternions (..., T, 4) and root positions (..., T, 3) integrated from the velocities."""
    ang = torch.cumsum(torch.cat([torch.zeros_like(f[..., :1, 0]), f[..., :-1, 0]], dim=-1), dim=-1)
    r_rot = torch.stack([torch.cos(ang), torch.zeros_like(ang), torch.sin(ang), torch.zeros_like(ang)], -1)
    zero = torch.zeros_like(f[..., :1, 0:1])
    step = torch.cat([f[..., :-1, 1:2], torch.zeros_like(f[..., :-1, 1:2]), f[..., :-1, 2:3]], dim=-1)
    step = torch.cat([torch.cat([zero, zero, zero], -1), step], dim=-2)  # (..., T, 3)
    r_pos = torch.cumsum(qrot(qinv(r_rot), step), dim=-2)
    r_pos = torch.cat([r_pos[..., :1], f[..., 3:4], r_pos[..., 2:3]], dim=-1)
    return r_rot, r_pos


def features_to_joints(features, skeleton: Skeleton = SMPL22, *, extra_frame: bool = False):
    """Features (..., T, D) -> joint positions (..., T, J, 3) (HumanML3D's ``recover_from_ric``).

    With ``extra_frame=True`` the result has T + 1 frames: the frame after the last feature row is
    rebuilt from that row's local joint velocities, so joints -> features -> joints loses nothing.
    Differentiable in torch.
    """
    f, back = _to_tensor(features)
    j = skeleton.num_joints
    if f.ndim < 2 or f.shape[-1] != skeleton.feature_dim:
        raise MotionError(
            f"features must have shape (frames, {skeleton.feature_dim}) for the {j}-joint skeleton "
            f"{skeleton.name!r}, got {tuple(f.shape)}."
        )
    if f.shape[-2] < 1:
        raise MotionError("a motion needs at least one frame of features.")
    _check_finite(f, "features")
    r_rot, r_pos = _root_trajectory(f)
    sl = skeleton.feature_slices()
    ric = f[..., sl["positions"]].unflatten(-1, (j - 1, 3))
    pos = qrot(qinv(r_rot[..., None, :]), ric) + (r_pos * r_pos.new_tensor([1.0, 0.0, 1.0]))[..., None, :]
    joints = torch.cat([r_pos[..., None, :], pos], dim=-2)  # (..., T, J, 3)
    if extra_frame:
        vel = f[..., -1, sl["velocities"]].unflatten(-1, (j, 3))  # (..., J, 3)
        last = joints[..., -1, :, :] + qrot(qinv(r_rot[..., -1, None, :]), vel)
        joints = torch.cat([joints, last[..., None, :, :]], dim=-3)
    return back(joints)


def facing_rotations(features, skeleton: Skeleton = SMPL22):
    """The body as a facing, a root position and per-bone rotations relative to the facing frame.

    Returns ``(r_rot, r_pos, rel)``: r_rot (..., T, 4) the world-to-facing quaternion integrated from
    the root angular velocity, r_pos (..., T, 3) the root, rel (..., T, J, 4) for each bone the
    shortest-arc rotation from its rest direction to its direction seen from the facing frame
    (entry 0 is the identity). A bone of a chain points along ``qrot(qinv(r_rot) * rel, offset)``.

    Why not the stored 6-D values as they are: HumanML3D's IK composes each chain as
    ``r_rot * L1 * L2 ...`` although ``r_rot`` maps world to facing (it is the inverse of the body's
    orientation), so a stored local rotation L depends on how far the body has turned since the
    first frame. Spliced raw into another clip, it sets a limb off by up to twice the difference of
    the two facings (180 degrees for a clip that has turned 90 degrees). ``rel`` is the same
    information made independent of the facing: ``rel = r_rot * (r_rot * L1 * L2 ...)``.

    The features must be those of the clip as it stands (``joints_to_features`` of its joints), not a
    row slice of a longer clip: the stored rotations refer to the facing at the original first frame.
    """
    f, back = _to_tensor(features)
    j = skeleton.num_joints
    if f.ndim < 2 or f.shape[-1] != skeleton.feature_dim:
        raise MotionError(f"features must have shape (frames, {skeleton.feature_dim}), got {tuple(f.shape)}.")
    _check_finite(f, "features")
    r_rot, r_pos = _root_trajectory(f)  # (..., T, 4), (..., T, 3)
    d6 = f[..., skeleton.feature_slices()["rotations"]].unflatten(-1, (j - 1, 6))
    local = matrix_to_quat(cont6d_to_matrix(d6))  # (..., T, J-1, 4); entry c-1 is joint c
    rel = [torch.zeros_like(r_rot) + r_rot.new_tensor([1.0, 0, 0, 0])] * j
    for chain in skeleton.chains:
        world = r_rot
        for c in chain[1:]:
            world = qmul(world, local[..., c - 1, :])
            rel[c] = qmul(r_rot, world)
    return back(r_rot), back(r_pos), back(torch.stack(rel, dim=-2))


def pose_from_rotations(r_rot, r_pos, rel, skeleton: Skeleton = SMPL22):
    """Forward kinematics: joints (..., T, J, 3) from ``facing_rotations``'s three arrays.

    Every bone is laid with its reference length from its parent outwards, so any mix of rotations
    (a body-part splice) gives a body with the skeleton's proportions.
    """
    r_rot, back = _to_tensor(r_rot)
    r_pos, rel = _to_tensor(r_pos)[0], _to_tensor(rel)[0]
    offsets = torch.from_numpy(skeleton.offsets).to(r_pos)  # (J, 3)
    to_world = qinv(r_rot)
    joints = [r_pos] + [None] * (skeleton.num_joints - 1)
    for chain in skeleton.chains:
        for p, c in zip(chain[:-1], chain[1:], strict=True):
            joints[c] = joints[p] + qrot(qmul(to_world, rel[..., c, :]), offsets[c].expand_as(r_pos))
    return back(torch.stack(joints, dim=-2))


def rotations_to_joints(features, skeleton: Skeleton = SMPL22):
    """Features (..., T, D) -> joints (..., T, J, 3) from the root channels and the 6-D rotations.

    The exact inverse of the IK in ``joints_to_features`` (it ignores the ric positions): on the
    features of a whole clip it agrees with ``features_to_joints`` to float precision. See
    ``facing_rotations`` for what the features must be.
    """
    return pose_from_rotations(*facing_rotations(features, skeleton), skeleton)


def frames_to_seconds(frames: int, fps: float = FPS) -> float:
    return frames / fps


def seconds_to_frames(seconds: float, fps: float = FPS) -> int:
    return int(math.floor(seconds * fps + 0.5))
