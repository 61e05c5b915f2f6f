"""Reinforcement learning after supervised training: ``omnimogen train rl --model SFT --data X2MO --corpus DATASET --out RUN``.

Group relative policy optimisation (GRPO, as the paper's second stage): for each prompt of the
instruction set whose answer is one motion, sample a group of answers, decode them, reward each
(``training.rewards``: semantic, physical, verifiable), and push up the answers that beat their
group's mean: a clipped surrogate on each answer token with a KL penalty (the k3 estimator) to the
frozen supervised model. One optimisation step per group of samples, so the ratio is 1 at the
step and the clip only matters for the gradient's form; rewarded and logged per component.

Our loop rather than TRL's ``GRPOTrainer``: that trainer samples with ``model.generate`` over a
text tokenizer, and our answers are grammar-constrained interleaved text and motion-code steps
(``model.generate.generate``) whose rewards need the decoded motion. Everything else is the shared
training loop: resumable run folders, one process or many, validation, ``RUN/best``.

Validation samples one answer (a fixed seed) for each of ``val_prompts`` held-out prompts and
reports every reward, how many answers did not parse and how many stood frozen: a rising reward
with rising failures or frozen answers is reward hacking, and ``best`` is chosen on the combined
reward only among validations without more failures than the start.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..evaluation.evaluator import load_evaluator
from ..instructions.corpus import Corpus
from ..instructions.recipes import materialise
from ..instructions.schema import Sample
from ..model.generate import SamplingOptions, generate
from ..model.pipeline import OmniMoGen, load_model
from ..model.vocab import Message, MotionCodes, Rendered, TextPart
from ..motion import Motion
from . import rewards as R
from .common import ConfigError, start_run, train_loop
from .lm import Rendered2Batch, read_split

FAIL_REWARD = -2.0  # an answer that does not parse as one motion: below any answer that does


@dataclass
class RLTrainConfig:
    steps: int = 300
    batch_size: int = 4  # prompts per step and process
    group_size: int = 4  # answers sampled per prompt
    lr: float = 1e-5
    warmup_steps: int = 10
    weight_decay: float = 0.0
    clip: float = 0.2  # the surrogate's clip range
    kl: float = 0.04  # weight of the KL penalty to the supervised model
    temperature: float = 1.0  # of the sampled answers (the log-probabilities are at temperature 1)
    semantic: float = 1.0  # reward weights: 0 leaves one out (the ablation rows)
    physical: float = 1.0
    verifiable: float = 1.0
    semantic_temperature: float = 0.1
    tasks: tuple = ()  # X2Mo tasks to learn from; empty: every task whose answer is one motion
    max_prompts: int = 4000  # train prompts drawn from the set (seeded), to bound preparation
    max_tokens: int = 1024  # longer prompt + answer renderings are left out of the update
    val_prompts: int = 32
    seed: int = 0
    val_every: int = 50
    ckpt_every: int = 50
    log_every: int = 5
    num_threads: int | None = None
    device: str = "auto"
    mixed_precision: str = "auto"

    def weights(self) -> R.RewardWeights:
        return R.RewardWeights(self.semantic, self.physical, self.verifiable)


@dataclass
class Prompt:
    """One request of the instruction set, ready to sample: the rendered conversation up to the
    assistant's turn, the target answer's joints, and the motion being edited (when there is one)."""

    task: str
    rendered: Rendered
    text: str  # the last user turn's words
    target: np.ndarray  # (T, 22, 3)
    source: np.ndarray | None
    frames: int | None  # the answer's length when the request implies one (an edit keeps its source's)


def answer_is_one_motion(sample: Sample) -> bool:
    last = sample.turns[-1]
    return last.role == "assistant" and len(last.parts) == 1 and last.parts[0].motion is not None


def build_prompts(samples: list[Sample], corpus: Corpus, model: OmniMoGen, limit: int, seed: int,
                  tasks: tuple = ()) -> list[Prompt]:  # fmt: skip
    """The prompts of ``samples`` whose answer is one motion (of ``tasks`` when given), at most
    ``limit`` of them in a seeded order."""
    chosen = [s for s in samples if answer_is_one_motion(s) and (not tasks or s.task in tasks)]
    order = np.random.default_rng(seed).permutation(len(chosen))[:limit]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # materialising clips warns about nothing a user can act on here
        for i in sorted(order.tolist()):
            s = chosen[i]
            motions = {}  # placeholder name -> Motion of the last user turn
            messages = []
            for turn in s.turns[:-1]:
                parts = []
                for p in turn.parts:
                    if p.motion is None:
                        parts.append(TextPart(p.text))
                        continue
                    m = materialise(p.motion, corpus)
                    if p.name:
                        motions[p.name] = m
                    parts.append(MotionCodes(model.tokenizer.encode(m), p.name))
                messages.append(Message(turn.role, tuple(parts)))
            last_user = s.turns[-2] if len(s.turns) > 1 else s.turns[0]
            text = " ".join(p.text for p in last_user.parts if p.text).strip()
            named = {p.name: motions[p.name] for p in last_user.parts if p.motion is not None and p.name in motions}
            target = materialise(s.turns[-1].parts[0].motion, corpus)
            source = named.get("SourceMotion")
            frames = model.implied_frames(text, named) if text else None  # as generation would ask it
            out.append(Prompt(s.task, model.lm.vocab.render(messages, generation_prompt=True), text, target.joints,
                              None if source is None else source.joints, frames))  # fmt: skip
    return out


@dataclass
class Rollout:
    """The answers sampled for one prompt and what they earned."""

    sequences: list[Rendered]  # prompt + answer, the answer's tokens masked in
    motions: list[Motion | None]  # None: the answer did not parse as one motion
    rewards: dict[str, np.ndarray]  # component -> (G,) (NaN where a component was not asked)
    total: np.ndarray  # (G,)


def rollout(model: OmniMoGen, prompt: Prompt, group: int, cfg: RLTrainConfig, evaluator, gen) -> Rollout:
    """Sample ``group`` answers to one prompt, decode and reward them."""
    lm, v = model.lm, model.lm.vocab
    steps = model.latent_steps(prompt.frames)
    opt = SamplingOptions(temperature=cfg.temperature, motion_only=True, motion_steps=steps)
    out = generate(lm, [prompt.rendered] * group, opt, gen)
    sequences, motions = [], []
    for b in range(group):
        ids = np.concatenate([prompt.rendered.ids, out.ids[b]])
        codes = np.concatenate([prompt.rendered.codes, out.codes[b]]) if v.layout == "grouped" else None
        mask = np.concatenate([np.zeros(len(prompt.rendered.ids), bool), np.ones(len(out.ids[b]), bool)])
        sequences.append(Rendered(ids, mask, codes))
        motion = None
        if out.finished[b]:
            try:
                parts = [p for p in v.parse(ids, codes)[-1].parts if isinstance(p, MotionCodes)]
                if len(parts) == 1:
                    motion = model.tokenizer.decode(parts[0].codes, length=prompt.frames)
            except ValueError:
                pass
        motions.append(motion)
    rewards = score(prompt, motions, evaluator, cfg)
    total = R.combine(rewards, cfg.weights())
    total[[m is None for m in motions]] = FAIL_REWARD
    return Rollout(sequences, motions, rewards, total)


def score(prompt: Prompt, motions: list[Motion | None], evaluator, cfg: RLTrainConfig) -> dict[str, np.ndarray]:
    """Each reward of each answer (NaN where an answer did not parse or a reward was not asked), and
    ``similarity``: the evaluator's cosine before the group's softmax (what validation reports)."""
    n = len(motions)
    out = {name: np.full(n, np.nan) for name in ("semantic", "similarity", "physical", "verifiable")}
    ok = [i for i, m in enumerate(motions) if m is not None]
    if not ok:
        return out
    if cfg.semantic:
        answers = evaluator.embed_motions([motions[i].features for i in ok])
        if prompt.source is None and prompt.task.startswith("t2m"):
            wanted = evaluator.embed_texts([prompt.text])[0]  # text to motion: the words asked
        else:
            wanted = evaluator.embed_motions([Motion.from_joints(prompt.target).features])[0]
        out["similarity"][ok] = answers @ wanted
        out["semantic"][ok] = R.semantic_reward(answers @ wanted, cfg.semantic_temperature)
    for i in ok:
        j = motions[i].joints
        out["physical"][i] = R.physical_reward(j)
        passed = R.verifiable_checks(j, prompt.target, prompt.source)
        value = R.verifiable_reward(passed)
        out["verifiable"][i] = np.nan if value is None else value
    return out


def policy_loss(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor, advantages: torch.Tensor,
                clip: float, kl: float) -> tuple[torch.Tensor, dict]:  # fmt: skip
    """GRPO's objective for one update per sample: per answer token the clipped surrogate
    ``min(r A, clip(r) A)`` with ``r = p / p_sampling`` (1 at this step, its gradient A * grad log p),
    minus ``kl`` times the k3 estimate of KL(policy || reference); averaged over each answer's
    tokens, then over answers. All of (B, T - 1) but ``advantages`` (B,)."""
    ratio = torch.exp(logprobs - logprobs.detach())
    a = advantages[:, None]
    surrogate = torch.minimum(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a)
    delta = ref_logprobs - logprobs
    k3 = torch.exp(delta) - delta - 1
    per_token = -(surrogate - kl * k3) * mask
    tokens = mask.sum(1).clamp(min=1)
    loss = (per_token.sum(1) / tokens).mean()
    kl_mean = float(((k3 * mask).sum(1) / tokens).mean().detach())
    return loss, {"kl": kl_mean}


def train_rl(model_dir: str | Path | None, x2mo: str | Path, corpus: str | Path | list, out: str | Path,
             cfg: RLTrainConfig, evaluator: str | Path | None = None, progress: bool = True) -> dict:  # fmt: skip
    """Train (or resume) a GRPO run from the supervised model at ``model_dir`` (None: the shipped
    one); ``evaluator`` gives the semantic reward (None: the shipped one). Returns the last record."""
    from accelerate.utils import set_seed

    if cfg.group_size < 2:
        raise ConfigError("group_size must be at least 2: advantages compare the answers to one prompt.")
    acc, run = start_run(cfg, out)
    set_seed(cfg.seed, device_specific=False)
    policy = load_model(model_dir, device="cpu")
    judge = load_evaluator(evaluator, device="cpu") if cfg.semantic else None
    corpus = Corpus([Path(c) for c in ([corpus] if isinstance(corpus, (str, Path)) else corpus)])
    train = build_prompts(read_split(Path(x2mo), "train"), corpus, policy, cfg.max_prompts, cfg.seed, cfg.tasks)
    val = build_prompts(read_split(Path(x2mo), "val"), corpus, policy, cfg.val_prompts, cfg.seed + 1, cfg.tasks)
    if not train:
        raise ConfigError(f"{x2mo}: no train sample answers with one motion{' in ' + str(cfg.tasks) if cfg.tasks else ''}.")
    reference = copy.deepcopy(policy.lm).requires_grad_(False)
    lm = policy.lm.train()
    opt = torch.optim.AdamW(lm.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / max(1, cfg.warmup_steps)))
    lm, opt, sched = acc.prepare(lm, opt, sched)
    raw = acc.unwrap_model(lm)
    policy.lm = raw
    policy.tokenizer.to(acc.device)
    reference.to(acc.device)
    if judge is not None:
        judge.to(acc.device)
    collate = Rendered2Batch(raw.vocab)
    first_failures: list[int] = []

    def train_step(model, idx, step):
        gen = torch.Generator().manual_seed((cfg.seed * 1_000_003 + step) * 64 + acc.process_index)
        raw.eval()
        with torch.no_grad():
            rolls = [rollout(policy, train[i], cfg.group_size, cfg, judge, gen) for i in idx.tolist()]
        raw.train()
        items, advantages = [], []
        for r in rolls:
            adv = R.group_advantages(r.total)
            for seq, a in zip(r.sequences, adv, strict=True):
                if len(seq.ids) <= cfg.max_tokens:
                    items.append(("rl", seq))
                    advantages.append(a)
        record = _rollout_record(rolls)
        if not items:  # every rendering too long: touch the parameters with zero weight (DDP waits for them)
            return sum(p.sum() for p in model.parameters()) * 0.0, record
        b = {k: None if t is None else t.to(acc.device) for k, t in collate(items).items()}
        out = model(b["ids"], b["codes"], attention_mask=b["attention_mask"], logprob_mask=b["loss_mask"])
        with torch.no_grad():
            ref = reference(b["ids"], b["codes"], attention_mask=b["attention_mask"], logprob_mask=b["loss_mask"])
        mask = b["loss_mask"][:, 1:].float()
        adv = torch.tensor(advantages, dtype=torch.float32, device=acc.device)
        loss, stats = policy_loss(out.logprobs, ref.logprobs, mask, adv, cfg.clip, cfg.kl)
        return loss, {**record, **stats}

    def validate(step):
        if not val:
            return None, {}
        raw.eval()
        gen = torch.Generator().manual_seed(cfg.seed + 12345)
        with torch.no_grad():
            rolls = [rollout(policy, p, 1, cfg, None if judge is None else judge, gen) for p in val]
        record = _rollout_record(rolls)
        # One answer per prompt: the semantic reward's softmax is 1 for each, so its raw similarity counts.
        w = cfg.weights()
        value = sum(getattr(w, name) * record.get(f"reward_{key}", 0.0) for name, key in
                    (("semantic", "similarity"), ("physical", "physical"), ("verifiable", "verifiable")))  # fmt: skip
        record["val_reward"] = round(value, 4)
        fails = record["failed"] + record["frozen"]
        if not first_failures:
            first_failures.append(fails)
        # A reward bought with answers that stop parsing or stand frozen is not progress: never best.
        return (-value if fails <= first_failures[0] else None), record

    def save(directory: Path):
        policy.save_pretrained(directory)

    if run.latest() is None and acc.is_main_process:  # the supervised model's own figures: the baseline
        score, record = validate(0)
        run.log({"step": 0, "val": record})
    acc.wait_for_everyone()

    return train_loop(acc, run, cfg, lm, opt, sched, list(range(len(train))), train_step=train_step,
                      validate=validate, save=save, name="rl", progress=progress)  # fmt: skip


def _rollout_record(rolls: list[Rollout]) -> dict:
    """Mean of each reward over the answers that parsed, the combined reward, failures and frozen answers."""
    record: dict = {}
    for name in ("semantic", "similarity", "physical", "verifiable"):
        values = np.concatenate([r.rewards[name] for r in rolls])
        if np.isfinite(values).any():
            record[f"reward_{name}"] = round(float(np.nanmean(values)), 4)
    motions = [m for r in rolls for m in r.motions]
    record["reward"] = round(float(np.mean(np.concatenate([r.total for r in rolls]))), 4)
    record["failed"] = sum(m is None for m in motions)
    record["frozen"] = sum(m is not None and R.frozen(m.joints) for m in motions)
    return record


__all__ = ["RLTrainConfig", "build_prompts", "policy_loss", "rollout", "score", "train_rl"]
