"""Quaternion and 6-D rotation helpers on torch tensors (w, x, y, z; Hamilton product).

The one rotation module of the package. Written by hand because the feature pipeline needs
batched, differentiable torch ops with HumanML3D's exact conventions (continuous 6-D = the first
two matrix columns); scipy's Rotation, used for Euler angles in the BVH module, is numpy-only.
"""

from __future__ import annotations

import torch


def qmul(q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Hamilton product q * r, broadcasting over leading dimensions."""
    w1, x1, y1, z1 = q.unbind(-1)
    w2, x2, y2, z2 = r.unbind(-1)
    return torch.stack(
        (
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ),
        dim=-1,
    )


def qinv(q: torch.Tensor) -> torch.Tensor:
    """Inverse of a unit quaternion (its conjugate)."""
    return q * q.new_tensor([1.0, -1.0, -1.0, -1.0])


def qrot(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4), broadcasting."""
    shape = torch.broadcast_shapes(q.shape[:-1], v.shape[:-1])
    q, v = q.expand(*shape, 4), v.expand(*shape, 3)
    qvec = q[..., 1:]
    uv = torch.linalg.cross(qvec, v)
    uuv = torch.linalg.cross(qvec, uv)
    return v + 2 * (q[..., :1] * uv + uuv)


def qbetween(v0: torch.Tensor, v1: torch.Tensor) -> torch.Tensor:
    """The shortest-arc unit quaternion rotating direction v0 onto v1 (its w is never negative)."""
    v0, v1 = torch.broadcast_tensors(v0, v1)
    axis = torch.linalg.cross(v0, v1)
    w = torch.sqrt((v0**2).sum(-1, keepdim=True) * (v1**2).sum(-1, keepdim=True)) + (v0 * v1).sum(-1, keepdim=True)
    q = torch.cat([w, axis], dim=-1)
    return q / q.norm(dim=-1, keepdim=True)


def qfix(q: torch.Tensor, dim: int = -2) -> torch.Tensor:
    """Flip signs along time (``dim`` of the (..., T, 4) tensor) so consecutive quaternions agree."""
    q = q.movedim(dim, 0)
    flips = ((q[1:] * q[:-1]).sum(-1) < 0).to(torch.int64).cumsum(0) % 2
    sign = torch.cat([torch.ones_like(flips[:1]), 1 - 2 * flips], dim=0).to(q.dtype)
    return (q * sign[..., None]).movedim(0, dim)


def yaw_quat(angle: torch.Tensor) -> torch.Tensor:
    """Rotation by ``angle`` radians about +Y."""
    half = angle / 2
    zero = torch.zeros_like(half)
    return torch.stack([torch.cos(half), zero, torch.sin(half), zero], dim=-1)


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) -> (..., 3, 3)."""
    w, x, y, z = q.unbind(-1)
    two_s = 2.0 / (q * q).sum(-1)
    m = torch.stack(
        (
            1 - two_s * (y * y + z * z), two_s * (x * y - z * w), two_s * (x * z + y * w),
            two_s * (x * y + z * w), 1 - two_s * (x * x + z * z), two_s * (y * z - x * w),
            two_s * (x * z - y * w), two_s * (y * z + x * w), 1 - two_s * (x * x + y * y),
        ),
        dim=-1,
    )  # fmt: skip
    return m.reshape(*q.shape[:-1], 3, 3)


def matrix_to_quat(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) with w >= 0 (numerically stable branch selection)."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    candidates = torch.stack(
        [
            torch.stack(
                [
                    1 + m00 + m11 + m22,
                    m[..., 2, 1] - m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    1 + m00 - m11 - m22,
                    m[..., 1, 0] + m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] + m[..., 0, 1],
                    1 - m00 + m11 - m22,
                    m[..., 2, 1] + m[..., 1, 2],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 1, 0] - m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 2, 1] + m[..., 1, 2],
                    1 - m00 - m11 + m22,
                ],
                -1,
            ),
        ],
        dim=-2,
    )  # (..., 4 candidates, 4); candidate k has 4*q_k^2 on its diagonal entry
    diag = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = diag.argmax(-1, keepdim=True)
    q = torch.gather(candidates, -2, best[..., None].expand(*best.shape[:-1], 1, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def matrix_to_cont6d(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns, as HumanML3D stores them."""
    return torch.cat([m[..., 0], m[..., 1]], dim=-1)


def cont6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (Zhou et al. 2019)."""
    x = d6[..., 0:3] / d6[..., 0:3].norm(dim=-1, keepdim=True)
    z = torch.linalg.cross(x, d6[..., 3:6])
    z = z / z.norm(dim=-1, keepdim=True)
    y = torch.linalg.cross(z, x)
    return torch.stack([x, y, z], dim=-1)
