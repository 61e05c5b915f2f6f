"""The field's evaluation metrics, as pure functions on arrays.

Three families:

- Embedding metrics of text-to-motion (FID, R-precision, MM-Dist, Diversity, MultiModality) follow
  Guo et al. 2022 (``text-to-motion``, ``utils/metrics.py`` and ``final_evaluations.py``) step by
  step, so numbers computed with the official evaluator's embeddings compare with published ones.
- Motion-to-motion retrieval for editing follows MotionFix / TMED (``tmr_evaluator``): cosine
  similarity, batches of 32, ties averaged, R@k in percent.
- Motion metrics take joint positions ``(T, J, 3)`` in metres, Y up, SMPL joint order, as
  :func:`omnimogen.motion.features_to_joints` returns them.

Every function accepts numpy arrays or torch tensors and returns Python floats. Functions that
sample take ``rng``: a ``numpy.random.Generator`` or an integer seed; none touches global RNG state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.ndimage import uniform_filter1d
from scipy.spatial.distance import cdist

from ..errors import MotionError
from ..motion import FPS, SMPL22

ANKLES_AND_TOES = tuple(sorted(j for foot in SMPL22.feet for j in foot))  # (7, 8, 10, 11)
TOES = tuple(foot[1] for foot in SMPL22.feet)  # (10, 11)

RngLike = np.random.Generator | int


def _array(x, name: str, ndim: int) -> np.ndarray:
    """x as a finite float64 array with ``ndim`` dimensions, or a ValueError naming it."""
    if hasattr(x, "detach"):  # a torch tensor: no torch import needed here
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}.")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return a


def _pair(a, b, names: tuple[str, str], ndim: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Two embedding sets with matching rows (pair i is a[i], b[i]) and matching width."""
    a, b = _array(a, names[0], ndim), _array(b, names[1], ndim)
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}.")
    return a, b


def _joints(x, name: str = "joints", min_frames: int = 1) -> np.ndarray:
    """Joint positions (T, J, 3) as float64, or a MotionError that says what is wrong."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise MotionError(f"{name} must have shape (frames, joints, 3), got {a.shape}.")
    if a.shape[0] < min_frames:
        raise MotionError(f"{name} needs at least {min_frames} frames for this metric, got {a.shape[0]}.")
    if not np.isfinite(a).all():
        raise MotionError(f"{name} contains NaN or infinite values.")
    return a


def _same_motion(a, b, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a, b = _joints(a, names[0]), _joints(b, names[1])
    if a.shape != b.shape:
        raise MotionError(f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}.")
    return a, b


def _batches(n: int, batch_size: int, rng: RngLike | None) -> np.ndarray:
    """Indices (n // batch_size, batch_size): in order, or shuffled by rng; the remainder is dropped."""
    order = np.arange(n) if rng is None else np.random.default_rng(rng).permutation(n)
    count = n // batch_size
    return order[: count * batch_size].reshape(count, batch_size)


# ---------------------------------------------------------------------------------------------
# Text-to-motion metrics (Guo et al. 2022)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``, computed as the standard
    implementation (pytorch-fid, copied into text-to-motion) does: when the matrix square root is
    not finite (near-singular covariances) ``eps * I`` is added to both covariances, and the small
    imaginary part that ``sqrtm`` leaves from rounding is dropped. It can come out a hair below zero.
    """
    mu1, mu2 = _array(mu1, "mu1", 1), _array(mu2, "mu2", 1)
    sigma1, sigma2 = _array(sigma1, "sigma1", 2), _array(sigma2, "sigma2", 2)
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"means and covariances disagree on the dimension: {mu1.shape}, {mu2.shape}, "
            f"{sigma1.shape}, {sigma2.shape}."
        )
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(d) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > 1e-3:
            raise ValueError(f"the covariance product has no real square root (imaginary part {imag:.3g}).")
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid(real_emb, gen_emb) -> float:
    """Fréchet Inception Distance between two embedding sets real (N, D) and generated (M, D).

    The statistics are the sample mean and the unbiased sample covariance (``np.cov``), as in the
    reference implementation.
    """
    real, gen = _array(real_emb, "real_emb", 2), _array(gen_emb, "gen_emb", 2)
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"real_emb and gen_emb must have the same width, got {real.shape[1]} and {gen.shape[1]}.")
    if min(len(real), len(gen)) < 2:
        raise ValueError("FID needs at least 2 embeddings in each set to estimate a covariance.")
    stats = [(x.mean(0), np.cov(x, rowvar=False)) for x in (real, gen)]
    return frechet_distance(*stats[0], *stats[1])


def r_precision(text_emb, motion_emb, batch_size: int = 32, top_k: int = 3, rng: RngLike | None = None) -> np.ndarray:
    """R-precision at k = 1..top_k, fractions in [0, 1], as Guo et al. compute it.

    Pair i is (text_emb[i], motion_emb[i]), both (N, D). The pairs are cut into batches of
    ``batch_size`` (in order, or shuffled by ``rng`` like the official loader's ``shuffle=True``;
    the remainder is dropped like its ``drop_last=True``). Within a batch, each *text* ranks the
    batch's motions by Euclidean distance (the official code argsorts the rows of the
    text-by-motion distance matrix) and scores a hit at k when its own motion is among the k
    closest. Exact ties count in the matching pair's favour; the official ``np.argsort`` breaks them
    arbitrarily, which only matters for identical distances.

    Returns an array (top_k,), so ``top1, top2, top3 = r_precision(t, m)`` reads naturally.
    """
    text, motion = _pair(text_emb, motion_emb, ("text_emb", "motion_emb"))
    if not 1 <= top_k <= batch_size:
        raise ValueError(f"top_k must be between 1 and batch_size ({batch_size}), got {top_k}.")
    if len(text) < batch_size:
        raise ValueError(f"R-precision needs at least one full batch of {batch_size} pairs, got {len(text)}.")
    ranks = []
    for idx in _batches(len(text), batch_size, rng):
        dist = cdist(text[idx], motion[idx])  # (B, B) Euclidean: rows texts, columns motions
        ranks.append((dist < np.diag(dist)[:, None]).sum(1))  # (B,) motions strictly closer than the match
    ranks = np.concatenate(ranks)
    return np.array([(ranks < k).mean() for k in range(1, top_k + 1)])


def matching_score(text_emb, motion_emb) -> float:
    """MM-Dist: the mean Euclidean distance between matched text and motion embeddings (N, D).

    The official code averages the same distances over the batches R-precision used; pass the
    same pairs to get its number exactly.
    """
    text, motion = _pair(text_emb, motion_emb, ("text_emb", "motion_emb"))
    return float(np.linalg.norm(text - motion, axis=1).mean())


def diversity(emb, pairs: int = 300, *, rng: RngLike) -> float:
    """Diversity: the mean Euclidean distance between ``pairs`` random pairs of embeddings (N, D).

    As in Guo et al.: two index sets of size ``pairs`` are drawn independently, each without
    replacement, and paired in order (so a pair may repeat an item, with probability 1/N).
    """
    x = _array(emb, "emb", 2)
    if len(x) <= pairs:
        raise ValueError(f"diversity needs more than {pairs} embeddings, got {len(x)}.")
    g = np.random.default_rng(rng)
    first, second = g.choice(len(x), pairs, replace=False), g.choice(len(x), pairs, replace=False)
    return float(np.linalg.norm(x[first] - x[second], axis=1).mean())


def multimodality(emb, pairs: int = 10, *, rng: RngLike) -> float:
    """MultiModality: how different the generations for one text are, averaged over texts.

    ``emb`` is (T, R, D): R generations for each of T texts (the protocol uses R = 30). As in Guo
    et al., ``pairs`` index pairs into the R generations are drawn once (each side without
    replacement) and used for every text; the result is the mean distance over texts and pairs.
    """
    x = _array(emb, "emb", 3)
    if x.shape[1] <= pairs:
        raise ValueError(f"multimodality needs more than {pairs} generations per text, got {x.shape[1]}.")
    g = np.random.default_rng(rng)
    first, second = g.choice(x.shape[1], pairs, replace=False), g.choice(x.shape[1], pairs, replace=False)
    return float(np.linalg.norm(x[:, first] - x[:, second], axis=2).mean())


# ---------------------------------------------------------------------------------------------
# Motion-to-motion retrieval (MotionFix / TMED)


def _retrieval_ranks(query: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank (B,) of targets[i] for query[i] under cosine similarity, ties averaged."""
    q = query / np.linalg.norm(query, axis=1, keepdims=True).clip(1e-12)
    t = targets / np.linalg.norm(targets, axis=1, keepdims=True).clip(1e-12)
    sim = q @ t.T  # (B, B)
    own = np.diag(sim)[:, None]
    better = (sim > own).sum(1)
    tied = (sim == own).sum(1) - 1  # other targets exactly as similar as the match
    return better + tied / 2


def m2m_retrieval(query, targets, batch_size: int | None = 32, rng: RngLike | None = None) -> dict[str, float]:
    """Motion-to-motion retrieval: R@1, R@2, R@3 (percent) and AvgR (mean rank, 1 is best).

    Query i's correct item is targets[i] (both (N, D), embeddings of a motion encoder). Similarity
    is the cosine of the embeddings, as TMR's ``get_sim_matrix``; ties are averaged as in
    MotionFix's ``contrastive_metrics``. With ``batch_size`` the items are cut into batches of that
    size (consecutive items, no shuffle unless ``rng`` is given; MotionFix shuffles with a fixed
    seed; the remainder is dropped) and every query competes only within its batch; with ``None``
    it competes against the whole set. MotionFix's rows are the ground-truth motions and its
    columns the generated ones: for edited-to-target, pass ``query=target_emb, targets=edited_emb``.
    """
    q, t = _pair(query, targets, ("query", "targets"))
    n = len(q)
    size = n if batch_size is None else batch_size
    if size < 1 or n < size:
        raise ValueError(f"m2m_retrieval needs at least one batch of {size} pairs, got {n}.")
    ranks = np.concatenate([_retrieval_ranks(q[idx], t[idx]) for idx in _batches(n, size, rng)])
    out = {f"R@{k}": float(100 * (ranks < k).mean()) for k in (1, 2, 3)}
    out["AvgR"] = float(ranks.mean() + 1)
    return out


# ---------------------------------------------------------------------------------------------
# Motion quality metrics on joint positions


def _horizontal_speed(p: np.ndarray, fps: float) -> np.ndarray:
    """Horizontal (XZ) speed, m/s, of points (T, K, 3) between consecutive frames: (T - 1, K)."""
    return np.linalg.norm(np.diff(p[..., [0, 2]], axis=0), axis=-1) * fps


def physical_score(
    joints,
    fps: float = FPS,
    feet: Sequence[int] = ANKLES_AND_TOES,
    height_threshold: float = 0.05,
    speed_threshold: float = 0.075,
) -> float:
    """OmniMoGen's Physical score in [0, 1]: 1 for a body standing on the floor without sliding.

    The paper gives ``exp(-relu(|z_min| - 0.05)) * exp(-relu(|v_min| - 0.075))`` with z_min "the
    lowest foot height (floating or sinking)" and v_min "the slowest horizontal foot speed
    (skating)", metres and m/s, and no more detail. Our reading, per step between frames t and t+1:

    - z_min: the height of the lowest foot joint (``feet``: ankles and toes), each joint's height
      taken as its mean over the two frames. A body has to touch the floor (|z_min| small) at every
      moment it is not jumping; floating and sinking both move it away from 0.
    - v_min: the slowest horizontal speed among the foot joints *in contact*, i.e. below
      ``height_threshold`` on both frames, and 0 when no foot is in contact. A planted foot must
      not slide; a foot in the air may move freely (its height term already prices flight).
    - the score is the formula on each step, averaged over the clip.

    Why per step and why "in contact": the minimum over the whole clip of either quantity is about
    0 for any clip that touches the floor or pauses once, so it cannot see floating or skating;
    without the contact condition, flight phases count as skating and real running scores ~0.70 on
    the Bandai test split instead of 0.93. Measured on all 852 Bandai test clips: 0.991 on average
    (0.999 without the running clips); the same clips floating 0.2 m: 0.856, sinking 0.2 m: 0.833,
    gliding at 1 m/s: 0.421. A foot that slides while the other stays planted costs only where it
    is the sole support (left foot sliding at 1 m/s whenever down: 0.910); :func:`foot_skating_ratio`
    is the metric for that (0.854 of its steps skate).
    """
    j = _joints(joints, min_frames=2)
    p = j[:, list(feet)]  # (T, F, 3)
    h = p[..., 1]  # (T, F)
    mid = (h[:-1] + h[1:]) / 2  # (T - 1, F)
    contact = (h[:-1] < height_threshold) & (h[1:] < height_threshold)  # (T - 1, F)
    speed = _horizontal_speed(p, fps)  # (T - 1, F)
    z_min = mid.min(1)
    v_min = np.where(contact, speed, np.inf).min(1)
    v_min[~contact.any(1)] = 0.0
    score = np.exp(-np.maximum(np.abs(z_min) - height_threshold, 0)) * np.exp(-np.maximum(v_min - speed_threshold, 0))
    return float(score.mean())


def foot_skating_ratio(
    joints, fps: float = FPS, feet: Sequence[int] = TOES, height: float = 0.05, speed: float = 0.5, window: int = 5
) -> float:
    """Fraction of frame steps in which a foot skates, as GMD and OmniControl define it.

    A step t -> t+1 skates when a toe joint (``feet``, SMPL 10 and 11) is below ``height`` metres on
    both frames and its horizontal speed exceeds ``speed`` m/s both on that step and averaged over
    ``window`` steps (a centred moving average with zero padding, ``uniform_filter1d`` with
    ``mode="constant"`` as in their code). The defaults are theirs: 5 cm, and 0.5 m/s, which is
    2.5 cm per frame at 20 fps. Either foot skating counts the step.
    """
    j = _joints(joints, min_frames=2)
    p = j[:, list(feet)]  # (T, F, 3)
    v = _horizontal_speed(p, fps)  # (T - 1, F)
    v_avg = uniform_filter1d(v, size=window, axis=0, mode="constant", origin=0)
    low = p[..., 1] < height
    contact = low[:-1] & low[1:]  # (T - 1, F)
    skating = contact & (v > speed) & (v_avg > speed)
    return float(skating.any(1).mean())


@dataclass(frozen=True)
class ContactReport:
    """Foot contact quality of a motion: lower is better for all but ``physical``."""

    skate: float  # fraction of steps in which a planted toe slides (GMD's foot-skating ratio)
    penetration: float  # metres: mean over frames of the depth of the lowest foot joint below the floor
    floating: float  # metres: mean over frames of the lowest foot joint's height above 5 cm
    physical: float  # OmniMoGen's Physical score (1 is best)


def contact_report(joints: np.ndarray, fps: float) -> ContactReport:
    """Foot-skate ratio, floor penetration, floating and Physical of (T, 22, 3) joints."""
    low = np.asarray(joints)[:, list(ANKLES_AND_TOES), 1].min(1)
    return ContactReport(
        skate=foot_skating_ratio(joints, fps), penetration=float(np.maximum(-low, 0).mean()),
        floating=float(np.maximum(low - 0.05, 0).mean()), physical=physical_score(joints, fps),
    )  # fmt: skip


def jitter(joints, fps: float = FPS) -> float:
    """Mean magnitude of the jerk (third time derivative of joint positions), in m/s^3.

    Finite differences over frames, averaged over frames and joints. Zero for any motion whose
    joints move at constant velocity or constant acceleration.
    """
    j = _joints(joints, min_frames=4)
    jerk = np.diff(j, n=3, axis=0) * fps**3  # (T - 3, J, 3)
    return float(np.linalg.norm(jerk, axis=-1).mean())


def mpjpe(a, b, align_root: bool = False) -> float:
    """Mean per-joint position error in metres between two motions (T, J, 3).

    With ``align_root`` both motions are expressed relative to their root joint (0) frame by frame,
    so only the pose is compared, not where the body is.
    """
    a, b = _same_motion(a, b, ("a", "b"))
    if align_root:
        a, b = a - a[:, :1], b - b[:, :1]
    return float(np.linalg.norm(a - b, axis=-1).mean())


def keyframe_error(joints, target, frames: Sequence[int]) -> float:
    """Mean joint position error in metres at the given key frames (in-betweening, keyframing).

    ``joints`` and ``target`` are (T, J, 3) on the same time base; only ``frames`` are compared.
    """
    a, b = _same_motion(joints, target, ("joints", "target"))
    idx = np.asarray(frames, dtype=int)
    if idx.ndim != 1 or len(idx) == 0 or idx.min() < 0 or idx.max() >= len(a):
        raise MotionError(f"frames must be a non-empty list of frame indices in [0, {len(a)}), got {idx.tolist()}.")
    return float(np.linalg.norm(a[idx] - b[idx], axis=-1).mean())


def trajectory_error(joints, target, align_start: bool = False) -> float:
    """Mean horizontal (XZ) distance in metres between the root trajectories of two motions (T, J, 3).

    With ``align_start`` each trajectory is first moved so that it starts at the origin, which
    compares the path's shape and not where it was placed.
    """
    a, b = _same_motion(joints, target, ("joints", "target"))
    ra, rb = a[:, 0, [0, 2]], b[:, 0, [0, 2]]  # (T, 2)
    if align_start:
        ra, rb = ra - ra[:1], rb - rb[:1]
    return float(np.linalg.norm(ra - rb, axis=-1).mean())


# ---------------------------------------------------------------------------------------------
# Repeated evaluations


def mean_ci95(values) -> tuple[float, float]:
    """Mean and 95% half-width ``1.96 * std / sqrt(n)`` of repeated measurements (n,).

    As Guo et al. report "repeated 20 times, mean +- interval": ``std`` is the population standard
    deviation (``np.std``, ddof 0), as in their ``get_metric_statistics``.
    """
    v = _array(values, "values", 1)
    if len(v) == 0:
        raise ValueError("mean_ci95 needs at least one value.")
    return float(v.mean()), float(1.96 * v.std() / math.sqrt(len(v)))


def aggregate(per_repeat: Sequence[Mapping[str, float]], names: Sequence[str] | None = None) -> dict[str, float]:
    """Every metric's mean and 95% half-width over the repeats, ``{name: mean, name + "_ci95": half}``
    (``names``: which, in that order; default: the first repeat's): the one summary that the suites and
    the HumanML3D protocol report."""
    out: dict[str, float] = {}
    for name in names if names is not None else list(per_repeat[0]):
        if all(name in r for r in per_repeat):
            out[name], out[f"{name}_ci95"] = mean_ci95([r[name] for r in per_repeat])
    return out
