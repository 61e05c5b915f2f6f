"""Evaluation metrics on cases with a known answer, and the Guo et al. evaluator's checkpoint layout."""

import math

import numpy as np
import pytest
import torch

from omnimogen.errors import FormatError, MotionError
from omnimogen.evaluation import (
    GuoEvaluator,
    diversity,
    fid,
    foot_skating_ratio,
    frechet_distance,
    jitter,
    keyframe_error,
    load_guo_evaluator,
    m2m_retrieval,
    matching_score,
    mean_ci95,
    mpjpe,
    multimodality,
    physical_score,
    r_precision,
    trajectory_error,
)


def with_moments(rng, n: int, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """n samples (n, D) whose sample mean and unbiased sample covariance are exactly mean and cov."""
    x = rng.normal(size=(n, len(mean)))
    x -= x.mean(0)
    white = np.linalg.cholesky(np.cov(x, rowvar=False))
    return x @ np.linalg.inv(white).T @ np.linalg.cholesky(cov).T + mean


def random_spd(rng, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# --- FID ---------------------------------------------------------------------------------------


def test_fid_of_identical_sets_is_zero():
    x = np.random.default_rng(0).normal(size=(200, 16))
    assert abs(fid(x, x)) < 1e-6
    assert abs(fid(torch.from_numpy(x), x)) < 1e-6  # tensors are accepted


def test_fid_of_near_singular_covariances_stays_finite():
    x = np.random.default_rng(1).normal(size=(10, 32))  # 10 samples in 32-D: rank-9 covariance
    assert abs(fid(x, x)) < 1e-4


def test_fid_equals_closed_form_between_gaussians():
    rng = np.random.default_rng(2)
    d = 6
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    # tr((S1 S2)^1/2) = tr((S1^1/2 S2 S1^1/2)^1/2), the latter symmetric: compute it with eigh alone.
    w, v = np.linalg.eigh(s1)
    r1 = v @ np.diag(np.sqrt(w)) @ v.T
    tr_sqrt = np.sqrt(np.linalg.eigvalsh(r1 @ s2 @ r1)).sum()
    expected = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-9)
    real, gen = with_moments(rng, 300, m1, s1), with_moments(rng, 500, m2, s2)
    assert fid(real, gen) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_isotropic_gaussians():
    d, m = 8, np.full(8, 0.5)
    # N(0, I) vs N(m, 4 I): |m|^2 + tr(I + 4I - 2 * 2I) = 2 + 8
    assert frechet_distance(np.zeros(d), np.eye(d), m, 4 * np.eye(d)) == pytest.approx(10.0)


# --- R-precision, MM-Dist ------------------------------------------------------------------------


def swapped_pairs(batches: int) -> tuple[np.ndarray, np.ndarray]:
    """Texts e_i; motion i = e_pi(i) + 0.5 e_i, pi swapping the first 16 of each 32 in pairs.

    For text i the nearest motion is the one with pi(j) = i (distance 0.5); its own motion is at
    sqrt(1.25) when i was swapped (rank 2) and at 0.5 when not (rank 1); all others are farther.
    """
    n = 32 * batches
    perm = np.arange(n)
    for b in range(batches):
        for i in range(0, 16, 2):
            perm[32 * b + i], perm[32 * b + i + 1] = 32 * b + i + 1, 32 * b + i
    text = np.eye(n)
    return text, text[perm] + 0.5 * text


def test_r_precision_known_values():
    text, motion = swapped_pairs(3)
    assert r_precision(text, text) == pytest.approx([1, 1, 1])
    assert r_precision(text, motion) == pytest.approx([0.5, 1, 1])
    top1, top2 = r_precision(text, motion, top_k=2)
    assert (top1, top2) == (0.5, 1.0)


def test_r_precision_ranks_motions_for_each_text():
    """Guo et al. argsort the rows of the text-by-motion distances: each text ranks the motions."""
    text = np.stack([np.array([100.0 * i, 0.0]) for i in range(32)])
    motion = text.copy()
    text[1], motion[0], motion[1] = (1.5, 0), (1, 0), (1.9, 0)
    # text 0: own motion at 1, the other at 1.9 -> hit; text 1: own at 0.4, the other at 0.5 -> hit.
    # Ranked the other way, motion 0 would miss: text 1 (0.5) is closer to it than text 0 (1).
    assert r_precision(text, motion)[0] == 1.0


def test_r_precision_of_unrelated_embeddings_is_chance():
    rng = np.random.default_rng(3)
    text, motion = rng.normal(size=(32 * 200, 8)), rng.normal(size=(32 * 200, 8))
    assert r_precision(text, motion, rng=0) == pytest.approx(np.arange(1, 4) / 32, abs=0.012)


def test_r_precision_shuffle_is_seeded_and_drops_the_remainder():
    rng = np.random.default_rng(4)
    text, motion = rng.normal(size=(100, 8)), rng.normal(size=(100, 8))
    assert np.array_equal(r_precision(text, motion, rng=7), r_precision(text, motion, rng=7))
    # Without shuffling, items 96..99 are dropped: changing them changes nothing.
    motion2 = motion.copy()
    motion2[96:] = text[96:]
    assert np.array_equal(r_precision(text, motion), r_precision(text, motion2))
    with pytest.raises(ValueError, match="full batch"):
        r_precision(text[:20], motion[:20])


def test_matching_score_of_a_constant_offset():
    text = np.random.default_rng(5).normal(size=(50, 4))
    assert matching_score(text, text + np.array([0, 3.0, 0, 4.0])) == pytest.approx(5.0)


# --- Diversity, MultiModality -----------------------------------------------------------------


def test_diversity_on_a_regular_simplex():
    """Distinct points of s * eye(N) are s * sqrt(2) apart; a pair may repeat a point (Guo's sampler)."""
    n, s = 400, 3.0
    d = diversity(s * np.eye(n), rng=0)
    distinct_pairs = d / (s * math.sqrt(2)) * 300
    assert distinct_pairs == pytest.approx(round(distinct_pairs), abs=1e-9)
    assert 295 <= round(distinct_pairs) <= 300
    assert diversity(np.ones((400, 5)), rng=1) == 0.0
    assert diversity(s * np.eye(n), rng=np.random.default_rng(2)) == diversity(s * np.eye(n), rng=2)
    with pytest.raises(ValueError, match="more than 300"):
        diversity(np.eye(300), rng=0)


def test_diversity_of_gaussian_embeddings():
    # |x - y| for x, y ~ N(0, I_D) is sqrt(2) * chi_D, whose mean is sqrt(2) * sqrt(2) Gamma((D+1)/2) / Gamma(D/2).
    dim = 64
    x = np.random.default_rng(6).normal(size=(5000, dim))
    expected = 2 * math.exp(math.lgamma((dim + 1) / 2) - math.lgamma(dim / 2))
    assert diversity(x, rng=0) == pytest.approx(expected, rel=0.03)


def test_multimodality_known_values():
    same = np.repeat(np.random.default_rng(7).normal(size=(5, 1, 8)), 30, axis=1)  # (T, R, D)
    assert multimodality(same, rng=0) == 0.0
    # Text t's 30 generations on a simplex of side s_t * sqrt(2): every distinct pair is that far.
    scales = np.array([1.0, 2.0, 3.0])
    emb = scales[:, None, None] * np.eye(30)[None]
    ratio = multimodality(emb, rng=3) / (math.sqrt(2) * scales.mean()) * 10  # distinct pairs of the 10
    assert ratio == pytest.approx(round(ratio)) and 8 <= round(ratio) <= 10
    with pytest.raises(ValueError, match="more than 10"):
        multimodality(emb[:, :10], rng=0)


# --- Motion-to-motion retrieval ------------------------------------------------------------------


def fan(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Queries all along the x axis, target j at angle 0.01 j: query i's target i ranks (i mod batch) + 1."""
    angles = 0.01 * np.arange(n)
    targets = np.stack([np.cos(angles), np.sin(angles)], 1) * np.linspace(1, 5, n)[:, None]  # scale is ignored
    return np.tile([[2.0, 0.0]], (n, 1)), targets


def test_m2m_retrieval_perfect_and_ranked():
    q = np.random.default_rng(8).normal(size=(64, 16))
    assert m2m_retrieval(q, 3 * q) == {"R@1": 100.0, "R@2": 100.0, "R@3": 100.0, "AvgR": 1.0}
    query, targets = fan(64)
    # Batches of 32: ranks 1..32 in each batch.
    assert m2m_retrieval(query, targets) == pytest.approx(
        {"R@1": 100 / 32, "R@2": 200 / 32, "R@3": 300 / 32, "AvgR": 16.5}
    )
    # Whole set: ranks 1..64.
    whole = m2m_retrieval(query, targets, batch_size=None)
    assert whole == pytest.approx({"R@1": 100 / 64, "R@2": 200 / 64, "R@3": 300 / 64, "AvgR": 32.5})


def test_m2m_retrieval_averages_ties():
    """One-hot queries, targets a derangement of them: for each query one wrong target has cosine 1
    and the correct one ties at 0 with the N - 2 others, so its averaged 0-based rank is N / 2."""
    n = 8
    q = np.eye(n)
    t = q[np.roll(np.arange(n), 1)]
    assert m2m_retrieval(q, t, batch_size=None) == {"R@1": 0.0, "R@2": 0.0, "R@3": 0.0, "AvgR": n / 2 + 1}


def test_m2m_retrieval_shuffles_only_with_rng():
    rng = np.random.default_rng(10)
    targets = rng.normal(size=(70, 8))
    query = targets + rng.normal(size=(70, 8))
    perm = np.random.default_rng(5).permutation(70)  # rng=5 batches the items in this order
    assert m2m_retrieval(query, targets, rng=5) == m2m_retrieval(query[perm], targets[perm])
    assert m2m_retrieval(query, targets, rng=5) != m2m_retrieval(query, targets)
    with pytest.raises(ValueError, match="batch of 32"):
        m2m_retrieval(query[:10], targets[:10])


# --- Physical score, foot skating ----------------------------------------------------------------


def standing(frames: int = 20, lift: float = 0.0, glide: float = 0.0, fps: float = 20) -> np.ndarray:
    """A still body: ankles (7, 8) at 8 cm, toes (10, 11) at lift, the rest at 1 m; moving along x at glide m/s."""
    j = np.zeros((frames, 22, 3))
    j[..., 1] = 1.0
    j[:, [7, 8], 1] = 0.08 + lift
    j[:, [10, 11], 1] = lift
    j[:, :, 0] += glide * np.arange(frames)[:, None] / fps
    return j


def test_physical_score_known_values():
    assert physical_score(standing()) == 1.0
    assert physical_score(standing(lift=0.1)) == pytest.approx(math.exp(-0.05))  # floating 10 cm
    assert physical_score(standing(lift=-0.1)) == pytest.approx(math.exp(-0.05))  # sinking 10 cm
    assert physical_score(standing(glide=1.0)) == pytest.approx(math.exp(-0.925))  # planted feet sliding
    assert physical_score(standing(glide=0.05)) == 1.0  # below the 0.075 m/s tolerance


def test_physical_score_does_not_count_flight_as_skating():
    """10 frames still on the floor, then 10 frames 0.3 m up and moving fast: the airborne steps pay
    only for their height, the step in between for its mean toe height of 0.15 m."""
    j = np.concatenate([standing(10), standing(10, lift=0.3, glide=2.0)])
    expected = (9 + math.exp(-0.10) + 9 * math.exp(-0.25)) / 19
    assert physical_score(j) == pytest.approx(expected)


def test_physical_score_of_real_motion(hml_joints):
    real = physical_score(hml_joints)
    assert real > 0.95
    floating = hml_joints + np.array([0, 0.2, 0])
    assert physical_score(floating) < real - 0.1


def test_foot_skating_ratio_known_values():
    assert foot_skating_ratio(standing()) == 0.0
    assert foot_skating_ratio(standing(glide=1.0)) == 1.0  # window average at the ends: 3/5 of 1 m/s > 0.5
    assert foot_skating_ratio(standing(glide=0.4)) == 0.0  # slower than 2.5 cm per frame
    assert foot_skating_ratio(standing(lift=0.1, glide=1.0)) == 0.0  # not in contact
    one = standing()
    one[:, 10, 0] += np.arange(20) / 20  # only the left toe slides, at 1 m/s
    assert foot_skating_ratio(one) == 1.0
    late = standing()
    late[10:, :, 0] += np.arange(1, 11)[:, None] / 20  # slides from step 9 -> 10 on: 10 of 19 steps
    assert foot_skating_ratio(late) == pytest.approx(10 / 19)


# --- Jitter, errors ------------------------------------------------------------------------------


def test_jitter_known_values():
    t = np.arange(30) / 20
    base = np.random.default_rng(9).normal(size=(1, 22, 3))
    assert jitter(base + 0.7 * t[:, None, None]) == pytest.approx(0.0, abs=1e-9)  # constant velocity
    assert jitter(base + 2.0 * t[:, None, None] ** 2) == pytest.approx(0.0, abs=1e-6)  # constant acceleration
    cubic = base + np.array([0.5, 0, 0]) * t[:, None, None] ** 3  # x = 0.5 t^3: jerk 3 m/s^3
    assert jitter(cubic) == pytest.approx(3.0)


def test_position_errors_of_a_translated_copy(hml_joints):
    shift = np.array([0.3, 1.2, 0.4])  # norm 1.3, horizontal 0.5
    moved = hml_joints + shift
    assert mpjpe(hml_joints, moved) == pytest.approx(1.3)
    assert mpjpe(hml_joints, moved, align_root=True) == pytest.approx(0.0, abs=1e-12)
    assert trajectory_error(hml_joints, moved) == pytest.approx(0.5)
    assert trajectory_error(hml_joints, moved, align_start=True) == pytest.approx(0.0, abs=1e-12)
    garbage = moved.copy()
    garbage[1:4] = 0.0  # frames that are not key frames do not count
    assert keyframe_error(hml_joints, garbage, [0, 5, 9]) == pytest.approx(1.3)


def test_bad_motion_inputs_raise_one_clear_error(hml_joints):
    with pytest.raises(MotionError, match="frames, joints, 3"):
        mpjpe(hml_joints[0], hml_joints[0])
    with pytest.raises(MotionError, match="same shape"):
        mpjpe(hml_joints, hml_joints[:-1])
    with pytest.raises(MotionError, match="at least 4 frames"):
        jitter(hml_joints[:3])
    with pytest.raises(MotionError, match="frame indices"):
        keyframe_error(hml_joints, hml_joints, [len(hml_joints)])
    bad = hml_joints.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(MotionError, match="NaN"):
        physical_score(bad)


def test_mean_ci95():
    mean, half = mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and half == pytest.approx(1.96 * math.sqrt(1.25) / 2)  # population std, as Guo et al.
    assert mean_ci95([0.7] * 20) == (pytest.approx(0.7), pytest.approx(0.0, abs=1e-12))


# --- Guo et al. evaluator ------------------------------------------------------------------------

# Transcribed from EricGuo5513/text-to-motion networks/modules.py (MovementConvEncoder,
# TextEncoderBiGRUCo, MotionEncoderBiGRUCo) with the sizes of networks/evaluator_wrapper.py:
# dim_pose 263 (the last 4 contact channels dropped), dim_word 300, dim_pos_ohot 15,
# dim_text_hidden 512, dim_motion_hidden 1024, dim_coemb_hidden 512, movement hidden and latent 512.
GRU_512 = {f"gru.{w}_l0{r}": (1536, 512) if w.startswith("weight") else (1536,)
           for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") for r in ("", "_reverse")}  # fmt: skip
GRU_1024 = {f"gru.{w}_l0{r}": (3072, 1024) if w.startswith("weight") else (3072,)
            for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") for r in ("", "_reverse")}  # fmt: skip
OFFICIAL = {
    "movement_encoder": {
        "main.0.weight": (512, 259, 4), "main.0.bias": (512,),
        "main.3.weight": (512, 512, 4), "main.3.bias": (512,),
        "out_net.weight": (512, 512), "out_net.bias": (512,),
    },
    "text_encoder": {
        "pos_emb.weight": (300, 15), "pos_emb.bias": (300,),
        "input_emb.weight": (512, 300), "input_emb.bias": (512,),
        **GRU_512,
        "output_net.0.weight": (512, 1024), "output_net.0.bias": (512,),
        "output_net.1.weight": (512,), "output_net.1.bias": (512,),
        "output_net.3.weight": (512, 512), "output_net.3.bias": (512,),
        "hidden": (2, 1, 512),
    },
    "motion_encoder": {
        "input_emb.weight": (1024, 512), "input_emb.bias": (1024,),
        **GRU_1024,
        "output_net.0.weight": (1024, 2048), "output_net.0.bias": (1024,),
        "output_net.1.weight": (1024,), "output_net.1.bias": (1024,),
        "output_net.3.weight": (512, 1024), "output_net.3.bias": (512,),
        "hidden": (2, 1, 1024),
    },
}  # fmt: skip


def official_checkpoint() -> dict:
    """A randomly initialised checkpoint in the layout of t2m/text_mot_match/model/finest.tar."""
    g = torch.Generator().manual_seed(0)
    ckpt = {
        part: {k: 0.05 * torch.randn(shape, generator=g) for k, shape in keys.items()}
        for part, keys in OFFICIAL.items()
    }
    return ckpt | {"epoch": 3, "iter": 1234}


@pytest.fixture(scope="module")
def guo(tmp_path_factory):
    ckpt = official_checkpoint()
    path = tmp_path_factory.mktemp("guo") / "finest.tar"
    torch.save(ckpt, path)
    return ckpt, path, load_guo_evaluator(path)


def test_guo_layer_names_and_shapes_match_the_official_checkpoint():
    model = GuoEvaluator()
    for part, keys in OFFICIAL.items():
        ours = {k: tuple(v.shape) for k, v in getattr(model, part).state_dict().items()}
        assert ours == keys, part


def test_load_guo_evaluator_and_embed(guo):
    ckpt, _, model = guo
    for part in OFFICIAL:
        for k, v in getattr(model, part).state_dict().items():
            assert torch.equal(v, ckpt[part][k]), f"{part}.{k}"
    assert not model.training
    g = torch.Generator().manual_seed(1)
    motions, lengths = torch.randn(3, 40, 263, generator=g), torch.tensor([40, 24, 33])
    m = model.embed_motions(motions, lengths)
    assert m.shape == (3, 512) and torch.isfinite(m).all()
    assert torch.equal(m, model.embed_motions(motions, lengths))  # deterministic (dropout off)
    order = torch.tensor([2, 0, 1])  # outputs follow the input order, whatever the lengths
    assert torch.allclose(model.embed_motions(motions[order], lengths[order]), m[order], atol=1e-5)
    padded = motions.clone()
    padded[1, 24 + 3 :] = 100.0  # beyond the convolutions' reach of the 24 valid frames
    assert torch.allclose(model.embed_motions(padded, lengths), m, atol=1e-5)
    words, pos = torch.randn(3, 7, 300, generator=g), torch.randn(3, 7, 15, generator=g)
    cap_lens = torch.tensor([7, 3, 5])
    t = model.embed_texts(words, pos, cap_lens)
    assert t.shape == (3, 512) and torch.equal(t, model.embed_texts(words, pos, cap_lens))
    words[1, 3:] = 100.0  # tokens past a caption's length are ignored
    assert torch.allclose(model.embed_texts(words, pos, cap_lens), t, atol=1e-5)
    with pytest.raises(MotionError, match="frame count"):
        model.embed_motions(motions, torch.tensor([40, 2, 33]))


def test_load_guo_evaluator_refuses_other_layouts(guo, tmp_path):
    ckpt, _, _ = guo
    with pytest.raises(FormatError, match="no such file"):
        load_guo_evaluator(tmp_path / "missing.tar")
    # The parts are checked in file order, so these files leave out the parts after the broken one.
    renamed = {k.replace("pos_emb", "pos_embedding"): v for k, v in ckpt["text_encoder"].items()}
    torch.save({"movement_encoder": ckpt["movement_encoder"], "text_encoder": renamed}, tmp_path / "renamed.tar")
    with pytest.raises(FormatError, match="missing keys"):
        load_guo_evaluator(tmp_path / "renamed.tar")
    reshaped = ckpt["movement_encoder"] | {"main.0.weight": torch.zeros(512, 263, 4)}
    torch.save({"movement_encoder": reshaped}, tmp_path / "reshaped.tar")
    with pytest.raises(FormatError, match=r"main\.0\.weight has shape \(512, 263, 4\)"):
        load_guo_evaluator(tmp_path / "reshaped.tar")
    torch.save({"text_encoder": ckpt["text_encoder"]}, tmp_path / "partial.tar")
    with pytest.raises(FormatError, match="no 'movement_encoder'"):
        load_guo_evaluator(tmp_path / "partial.tar")
