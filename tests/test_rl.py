"""Reinforcement learning: the rewards on motions whose answer is known, GRPO's advantages and
objective, and a short resumable run on a tiny model."""

import json
import warnings

import numpy as np
import pytest
import torch

from omnimogen.motion import FPS, Motion, mirror_joints
from omnimogen.training import rewards as R
from omnimogen.training.rl import RLTrainConfig, policy_loss, train_rl


@pytest.fixture(scope="module")
def standing(hml_joints) -> np.ndarray:
    """A real pose held for 3 s, its lowest foot joint on the floor."""
    pose = hml_joints[0] - [0, hml_joints[0][list(R.ANKLES_AND_TOES), 1].min(), 0]
    return np.repeat(pose[None], 61, axis=0)


def test_physical_reward_prices_sliding_floating_and_sinking(standing):
    assert R.physical_reward(standing) == pytest.approx(0.0, abs=1e-12)
    glide = standing + np.arange(61)[:, None, None] * [1.0 / FPS, 0, 0]  # 1 m/s along X, feet down
    assert R.physical_reward(glide) == pytest.approx(-1.0, rel=1e-6)  # (1 m/s)^2
    skid = standing + np.arange(61)[:, None, None] * [3.0 / FPS, 0, 0]  # 3 m/s: (3 m/s)^2, capped
    assert R.physical_reward(skid) == -R.PHYSICAL_CAP
    assert R.physical_reward(standing + [0, 0.25, 0]) == pytest.approx(-0.20, abs=1e-9)  # 25 cm up, 5 free
    assert R.physical_reward(standing - [0, 0.10, 0]) == pytest.approx(-0.10, abs=1e-9)  # 10 cm into the floor
    assert R.frozen(standing) and not R.frozen(glide)


def test_verifiable_checks_compare_an_answer_with_its_target(turning_features):
    target = Motion.from_features(turning_features).joints
    same = R.verifiable_checks(target, target, target)
    assert same and all(same.values()) and R.verifiable_reward(same) == 1.0
    assert {"turn", "locomotion", "speed_ratio", "length"} <= set(same)
    mirrored = R.verifiable_checks(mirror_joints(target), target)
    assert mirrored["turn"] is False  # the same walk turning the other way
    double = target[::2]  # twice as fast, half as long: an edit that should have kept speed and length
    fast = R.verifiable_checks(double, target, target)
    assert fast["speed_ratio"] is False and fast["length"] is False and fast["turn"] is True
    standing_target = np.repeat(target[:1], 40, axis=0)
    assert "turn" not in R.verifiable_checks(target, standing_target)  # a target that does not turn asks none
    assert R.verifiable_reward({}) is None


def test_semantic_rewards_and_advantages_within_a_group():
    np.testing.assert_allclose(R.semantic_reward([0.3, 0.3, 0.3]), [1, 1, 1])
    s = R.semantic_reward([0.9, 0.5, 0.1])
    assert s.sum() == pytest.approx(3) and s[0] > s[1] > s[2]
    np.testing.assert_allclose(R.group_advantages([2.0, 2.0]), [0, 0])
    a = R.group_advantages([0.0, 1.0, 2.0])
    assert a.mean() == pytest.approx(0) and a[2] > 0 > a[0] and a.std() == pytest.approx(1, rel=1e-3)
    parts = {"semantic": np.array([1.0, np.nan]), "physical": np.array([-0.5, -0.1]), "similarity": np.ones(2)}
    np.testing.assert_allclose(R.combine(parts, R.RewardWeights(semantic=2, physical=1)), [1.5, -0.1])


def test_the_objective_raises_what_beat_the_group_and_holds_to_the_reference():
    logprobs = torch.tensor([[-1.0, -2.0], [-1.5, -0.5]], requires_grad=True)
    mask = torch.ones(2, 2)
    loss, stats = policy_loss(logprobs, logprobs.detach().clone(), mask, torch.tensor([1.0, -1.0]), 0.2, 0.04)
    loss.backward()
    assert stats["kl"] == pytest.approx(0.0)  # at the reference
    assert (logprobs.grad[0] < 0).all() and (logprobs.grad[1] > 0).all()  # descent raises answer 0, lowers 1
    drifted = (logprobs.detach() + 0.5).requires_grad_(True)
    loss, stats = policy_loss(drifted, logprobs.detach(), mask, torch.zeros(2), 0.2, 0.04)
    loss.backward()
    assert stats["kl"] > 0 and (drifted.grad > 0).all()  # with no advantage, the KL pulls back


def test_a_short_run_trains_logs_every_reward_and_resumes(inputs, tmp_path):
    from omnimogen.model.pipeline import OmniMoGen
    from omnimogen.training.lm import LMTrainConfig, train_lm

    sft = tmp_path / "sft"
    lm_cfg = LMTrainConfig(model={"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
                           text_vocab_size=400, steps=2, batch_size=4, val_every=2, ckpt_every=2, val_per_task=1)  # fmt: skip
    cfg = RLTrainConfig(steps=2, batch_size=2, group_size=2, max_prompts=6, val_prompts=2, val_every=2,
                        ckpt_every=1, log_every=1, lr=1e-3, warmup_steps=1)  # fmt: skip
    run = tmp_path / "rl"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_lm(inputs / "x2mo", inputs / "corpus", inputs / "tok", sft, lm_cfg, progress=False)
        train_rl(sft / "final", inputs / "x2mo", inputs / "corpus", run, cfg, progress=False)
        cfg.steps = 3  # resume from step 2's checkpoint
        train_rl(sft / "final", inputs / "x2mo", inputs / "corpus", run, cfg, progress=False)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all({"reward", "reward_physical", "failed", "frozen", "kl"} <= set(r) for r in steps)
    vals = [r["val"] for r in log if "val" in r]
    assert len(vals) == 3 and {"val_reward", "reward_similarity", "reward_physical"} <= set(vals[0])  # 0, 2, 3
    before, after = OmniMoGen.from_pretrained(sft / "final").lm, OmniMoGen.from_pretrained(run / "final").lm
    moved = [not torch.equal(a, b) for a, b in zip(before.state_dict().values(), after.state_dict().values(), strict=True)]
    assert any(moved)  # the policy changed; the tokenizer it carries is the SFT model's
    assert OmniMoGen.from_pretrained(run / "final").tokenizer.fingerprint() == OmniMoGen.from_pretrained(sft / "final").tokenizer.fingerprint()
