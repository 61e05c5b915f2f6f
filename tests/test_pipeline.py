"""The user-facing model API on a tiny model that has memorised a few answers."""

import copy
import json
import re

import numpy as np
import pytest
import torch
from conftest import FIXTURES, HERE

from omnimogen import Motion
from omnimogen.errors import FormatError, OptionError
from omnimogen.evaluation.metrics import physical_score
from omnimogen.model import pipeline
from omnimogen.model.pipeline import GenerationError, InstructionError, OmniMoGen
from omnimogen.model.transformer import ModelConfig, OmniMoGenLM
from omnimogen.model.vocab import Message, MotionCodes, TextPart, Vocab
from omnimogen.motion import Normalizer, checks, resample
from omnimogen.tokenizer import PRESETS, MotionTokenizer

STEPS = 6


@pytest.fixture(scope="module")
def model(hml_features):
    torch.manual_seed(0)
    tok = MotionTokenizer(PRESETS["tiny"], Normalizer.load(FIXTURES))
    tok.train()
    for _ in range(3):
        tok(torch.randn(4, 32, 263))
    tok.eval()
    L, K = tok.config.num_levels, tok.config.codebook_size
    rng = np.random.default_rng(0)
    walk = rng.integers(0, K, (STEPS, L))
    texts = ["a person walks", "Write a caption for <Motion>.", "A person walks forward."] * 20
    vocab = Vocab.train_bpe(texts, 300, L, K, "grouped")
    lm = OmniMoGenLM(ModelConfig(hidden_size=64, layers=2, heads=2, intermediate_size=128), vocab)
    source = tok.encode(Motion.from_features(hml_features[:24]))
    convs = [
        [Message("user", (TextPart("a person walks"),)), Message("assistant", (MotionCodes(walk),))],
        [Message("user", (MotionCodes(source, "Motion"), TextPart("Write a caption for <Motion>."))),
         Message("assistant", (TextPart("A person walks forward."),))],
    ]  # fmt: skip
    opt = torch.optim.AdamW(lm.parameters(), lr=3e-3)
    rendered = [vocab.render(c) for c in convs]
    for _ in range(150):  # memorise both answers
        for r in rendered:
            loss, _ = lm.loss(
                torch.from_numpy(r.ids)[None], torch.from_numpy(r.loss_mask)[None], torch.from_numpy(r.codes)[None]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    m = OmniMoGen(lm, tok)
    m.expected_walk = walk
    return m


def test_text_to_motion_obeys_the_duration(model):
    out = model.generate("a person walks", seconds=1.2, temperature=0)
    assert len(out.motions) == 1 and out.motions[0].num_frames == 25  # 1.2 s at 20 fps, both ends
    assert out.text == "<Motion>"
    np.testing.assert_array_equal(out.parts[0].codes, model.expected_walk)


def test_motion_to_text(model, hml_features):
    out = model.describe(Motion.from_features(hml_features[:24]), temperature=0)
    assert out.text == "A person walks forward." and out.motions == []


def test_words_and_motions_have_their_own_temperatures(model, hml_features):
    clip, caption = Motion.from_features(hml_features[:24]), "A person walks forward."
    hot = {"temperature": 50.0, "top_p": None}  # nearly uniform over the allowed tokens
    assert {model.describe(clip, seed=s, text_temperature=0, **hot).text for s in range(3)} == {caption}
    assert any(model.describe(clip, seed=s, text_temperature=None, **hot).text != caption for s in range(3))
    # Greedy words leave the motion sampled at ``temperature``.
    codes = [model.generate("a person walks", seconds=1.2, seed=s, text_temperature=0, **hot).parts[0].codes
             for s in range(2)]  # fmt: skip
    assert not np.array_equal(*codes)


def test_a_model_samples_at_its_own_defaults_unless_the_caller_says_otherwise(model, tmp_path, monkeypatch):
    cold = {"temperature": 0, "text_temperature": 0, "guidance": 3.0}
    greedy = model.generate("a person walks", seconds=1.2, **cold).parts[0].codes
    model.lm.sampling = cold  # as scripts/ship_model.py --temperature saves it
    try:
        model.save_pretrained(tmp_path / "m")
    finally:
        model.lm.sampling = {}
    own = OmniMoGen.from_pretrained(tmp_path / "m")
    assert own.lm.sampling == cold
    for seed in range(2):  # no temperature given: the model's own (greedy here), whatever the seed
        np.testing.assert_array_equal(own.generate("a person walks", seconds=1.2, seed=seed).parts[0].codes, greedy)
    hot = [own.generate("a person walks", seconds=1.2, seed=s, temperature=50.0, top_p=None).parts[0].codes
           for s in range(2)]  # fmt: skip
    assert not np.array_equal(*hot)  # the caller's temperature wins
    asked = []  # guidance: each motion answer beside "A person moves." alone; words-only answers unguided
    real = pipeline.generate
    asked_unconditional = []
    monkeypatch.setattr(pipeline, "generate", lambda lm, p, opt, gen, unconditional=None: asked.append(
        (opt.guidance, unconditional and unconditional[0].ids.tolist())) or asked_unconditional.append(
        unconditional) or real(lm, p, opt, gen))  # fmt: skip
    own.edit(own.generate("a person walks", seconds=1.2).motions[0], "make it look happy")
    own.describe(own.generate("a person walks", seconds=1.2, guidance=1.0).motions[0])
    free = own.lm.vocab.render([Message("user", (TextPart(pipeline.UNCONDITIONAL),))], generation_prompt=True)
    assert asked == [(3.0, free.ids.tolist())] * 2 + [(1.0, None), (3.0, None)]
    asked_unconditional.clear()  # a style read from the words, with style_guidance: also the request without it
    own.generate("a tired person walks", seconds=1.2, style_guidance=1.0)
    own.generate("a tired person walks", seconds=1.2)
    plain = own.lm.vocab.render([Message("user", (TextPart("A person walks forward."),))], generation_prompt=True)
    assert [len(u) for u in asked_unconditional] == [2, 1] and asked_unconditional[0][1].ids.tolist() == plain.ids.tolist()
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    for bad in ({"temperature": -1}, {"temprature": 0.7}, [0.7], {"guidance": -2}):  # hand-edited: refused, named
        (tmp_path / "m" / "config.json").write_text(json.dumps({**config, "sampling": bad}))
        with pytest.raises(FormatError, match="config.json.*sampling"):
            OmniMoGen.from_pretrained(tmp_path / "m")


def test_a_caption_or_an_asked_question_is_answered_in_words_never_with_a_motion(model, hml_features, monkeypatch):
    from omnimogen.model.generate import SamplingOptions, _Grammar

    sp = model.lm.vocab.special
    free, words = (_Grammar(model.lm, 1, SamplingOptions(words_only=w)).allowed(0) for w in (False, True))
    assert free[sp["<mo>"]] and free[sp["<name>"]]  # a turn may open a motion ...
    assert not words[sp["<mo>"]] and not words[sp["<name>"]] and words[sp["<eoa>"]]  # ... unless words are asked
    assert (words.sum() - 1) == (free.sum() - 3)  # every word token stays allowed
    asked = []
    real = model._answer
    monkeypatch.setattr(model, "_answer", lambda m, opt, *a, **k: asked.append(opt) or real(m, opt, *a, **k))
    clip = Motion.from_features(hml_features[:24])
    assert model.describe(clip, temperature=0).text == "A person walks forward."
    model.chat()("what is <Motion> doing?", {"Motion": clip}, temperature=0)
    assert [o.words_only for o in asked] == [True, True]
    with pytest.raises(OptionError, match="words only"):
        model.describe(clip, motion_only=True)


def test_same_seed_same_result(model):
    a = model.generate("a person walks", seed=3, temperature=1.5, top_p=None)
    b = model.generate("a person walks", seed=3, temperature=1.5, top_p=None)
    np.testing.assert_array_equal(a.tokens, b.tokens)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"instruction": ""}, "empty"),
        ({"instruction": "Follow the style of <RefMotion>."}, "no motion was given"),
        ({"instruction": "walk", "seconds": 0}, "seconds"),
        ({"instruction": "walk", "seconds": -1}, "seconds"),
        ({"instruction": "walk", "seconds": 1000}, "seconds"),
        ({"instruction": "walk", "seconds": 2, "frames": 30}, "not both"),
        ({"instruction": b"a person walks"}, "not bytes"),
        ({"instruction": b"a person walks \xff".decode("utf-8", "surrogateescape")}, "not valid UTF-8"),
    ],
)
def test_bad_instructions(model, kwargs, message):
    with pytest.raises((InstructionError, OptionError), match=message):
        model(**kwargs)


def test_unused_motion_is_refused(model, hml_features):
    with pytest.raises(InstructionError, match="never mentions"):
        model("walk", {"Extra": Motion.from_features(hml_features[:24])})


def test_unfinished_answers_are_reported_not_returned(model):
    from omnimogen.model import pipeline

    with pytest.raises(GenerationError, match="no valid answer"):
        model._answer([Message("user", (TextPart("a person walks"),))],
                      pipeline.SamplingOptions(max_new_tokens=2), None, frames=None)  # fmt: skip


def test_save_and_load(model, tmp_path):
    model.save_pretrained(tmp_path / "m")
    again = OmniMoGen.from_pretrained(tmp_path / "m")
    a = model.generate("a person walks", temperature=0)
    b = again.generate("a person walks", temperature=0)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    with pytest.raises(FormatError, match="does not exist"):
        OmniMoGen.from_pretrained(tmp_path / "nope")


def test_a_tokenizer_other_than_the_trained_one_is_refused(model, tmp_path):
    # Without its own tokenizer/ folder a model is read with the shipped tokenizer, which is not the
    # tiny one this model was trained on.
    model.save_pretrained(tmp_path / "bare", tokenizer=False)
    assert not (tmp_path / "bare" / "tokenizer").exists()
    with pytest.raises(FormatError, match="trained on tokenizer"):
        OmniMoGen.from_pretrained(tmp_path / "bare")
    # A tokenizer of the same shape with other codebooks is refused too.
    model.save_pretrained(tmp_path / "m")
    other = copy.deepcopy(model.tokenizer)
    with torch.no_grad():
        other.quantizer.layers[0]._codebook.embed.add_(0.1)
    other.save_pretrained(tmp_path / "m" / "tokenizer")
    with pytest.raises(FormatError, match="codes would mean other motions"):
        OmniMoGen.from_pretrained(tmp_path / "m")


def test_chat_keeps_history(model):
    chat = model.chat()
    first = chat("a person walks", temperature=0)
    assert first.motions and len(chat.history) == 2
    assert isinstance(chat.history[1].parts[0], MotionCodes)


def test_long_motions_continue_across_windows(model):
    out = model.generate("a person walks", seconds=12, seed=0)
    assert len(out.motions) == 1 and out.motions[0].num_frames == 241
    root = out.motions[0].joints[:, 0]
    steps = np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=1)
    assert steps.max() < 0.25  # no jump where windows meet (a quarter metre in 1/20 s is a sprint)


def test_a_continuation_is_placed_where_the_motion_left_off(hml_joints):
    from omnimogen.model.stitch import place_after, settle

    a, b = hml_joints[:100], hml_joints[99:]
    # What a continuation looks like: canonical (the features put it at the origin facing +Z).
    b_canonical = Motion.from_features(Motion.from_joints(b).features).joints
    placed = place_after(b_canonical, a)
    np.testing.assert_allclose(placed[0, 0, [0, 2]], a[-1, 0, [0, 2]], atol=1e-6)
    whole = settle(np.concatenate([a, placed[1:]]), len(a) - 1)
    assert len(whole) == len(hml_joints)
    err = np.linalg.norm(whole[110:, 0, [0, 2]] - hml_joints[110:, 0, [0, 2]], axis=-1)
    assert err.max() < 0.1  # the re-placed path follows the original (facing estimated from one pose)


def test_pieces_that_restate_each_other_join_into_the_motion_they_came_from(hml_joints):
    from omnimogen.model.stitch import POSE_FRAMES, _cut_in, _turn, align_about_y

    k = POSE_FRAMES
    # A rigid turn about +Y and a move along the floor are undone exactly by the fit on the poses.
    moved = _turn(hml_joints, 1.1, np.array([2.0, -0.5]))
    np.testing.assert_allclose(align_about_y(moved, moved[:k], hml_joints[:k]), hml_joints, atol=1e-5)
    # Two overlapping pieces of a real take, the second turned and moved elsewhere, cut together again.
    a, b = hml_joints[:80], _turn(hml_joints[80 - k :], -2.0, np.array([5.0, 1.0]))
    whole, cut, miss = _cut_in(a, b, k)
    assert len(whole) == len(hml_joints) and 80 - k + 2 <= cut <= 80 - 3
    np.testing.assert_allclose(whole, hml_joints, atol=1e-5)
    assert miss < 1e-4


def test_settling_spreads_a_jump_in_speed_and_leaves_the_rest(hml_joints):
    from omnimogen.model.stitch import SETTLE_FRAMES, settle, speed_jumps

    # A body gliding at 1 m/s that jumps to 3 m/s after frame 50.
    glide = np.cumsum(np.where(np.arange(100) < 51, 0.05, 0.15))[:, None, None] * np.array([1.0, 0, 0]) + np.zeros((1, 22, 3))
    out = settle(glide, 50)
    assert speed_jumps(glide, [50])["join_max"] == pytest.approx(2.0)
    # the 2 m/s change is spread over the window: about 2 / 13 a frame, none above 0.3
    assert speed_jumps(out, [50], reach=SETTLE_FRAMES + 1)["join_max"] < 0.3
    far = np.r_[0 : 50 - SETTLE_FRAMES + 1, 50 + SETTLE_FRAMES + 1 : 100]
    np.testing.assert_array_equal(out[far], glide[far])  # outside the window nothing moves
    # where the acceleration changes linearly (a cubic path), there is no jump and nothing moves
    t = np.arange(100, dtype=np.float64)[:, None, None]
    cubic = 1e-5 * (t - 40) ** 3 * np.array([1.0, 0.2, -0.5]) + 0.01 * t + np.zeros((1, 22, 3))
    np.testing.assert_allclose(settle(cubic, 50), cubic, atol=1e-9)


def test_of_the_in_betweens_drawn_the_smoothest_join_is_kept(hml_joints):
    from omnimogen.model.stitch import BRIDGE_TRIES, POSE_FRAMES, bridged, speed_changes

    k, extra = POSE_FRAMES, 8
    a, b = hml_joints[:80], hml_joints[80 + extra :]
    true = hml_joints[80 - k : 80 + extra + k]  # what goes between: it re-states a's end and b's start exactly
    lurch = true.copy()
    lurch[k + 2 : k + 5] += np.array([0.06, 0.0, 0.0])  # the same ends, and a lurch sideways in the middle
    drawn = []

    def window(text, frames, motions):
        assert frames == 2 * k + extra and set(motions) == {"StartPose", "EndPose"}
        drawn.append(lurch if len(drawn) % 2 == 0 else true)  # the lurch comes first, so it wins any tie
        return Motion.from_joints(drawn[-1])

    out, spans = bridged(window, a, b, extra)
    assert len(drawn) == BRIDGE_TRIES and len(out) == len(hml_joints) and len(spans) == 2
    inside = slice(spans[0][1] + 1, spans[1][0])  # between the two joins: the transition as drawn
    np.testing.assert_allclose(out[inside], hml_joints[inside], atol=1e-4)
    assert speed_changes(out).max() < 2 * speed_changes(hml_joints).max()


def test_the_last_window_of_a_long_motion_is_in_betweened_too():
    from omnimogen.model.stitch import BRIDGE_TRIES, INBETWEEN, POSE_FRAMES, long_motion

    asked = []

    def window(text, frames, motions):  # a body gliding forward at 1 m/s, whatever it is asked
        asked.append((text, frames))
        return Motion.from_joints(np.arange(frames)[:, None, None] * np.array([0.0, 0, 0.05]) + np.ones((1, 22, 3)))

    out = long_motion(window, "a person walks", {}, 85, 40, 9)  # after two windows, 6 frames are left to make
    assert len(out) == 85
    continued = [f for t, f in asked if t.startswith("Continue")]
    assert continued == [40, 2 * POSE_FRAMES + 1]  # not 9 frames: a piece that short could not be in-betweened
    assert sum(t == INBETWEEN for t, _ in asked) == 2 * BRIDGE_TRIES


def test_every_call_returns_a_motion_of_the_asked_length(model, hml_features):
    a = Motion.from_features(hml_features[:60])
    b = Motion.from_features(hml_features[100:160])
    kw = {"seconds": 2, "motion_only": True, "seed": 0}
    for out in (model.edit(a, "make it look happy", **kw), model.inbetween(a, b, "walk", **kw),
                model("Follow the style of <RefMotion> with the action of <SourceMotion>", {"SourceMotion": a, "RefMotion": b}, **kw),
                model.generate("a person walks", think=True, rounds=1, **kw)):  # fmt: skip
        assert len(out.motions) == 1 and out.motions[0].num_frames == 41


def test_cli_generate_and_describe(model, tmp_path, capsys, hml_features):
    from omnimogen.cli import main

    model.save_pretrained(tmp_path / "m")
    out = tmp_path / "walk.bvh"
    args = ["generate", "a person walks", "-o", str(out), "--model", str(tmp_path / "m"), "--seconds", "1.2"]
    assert main([*args, "--seed", "0", "--temperature", "0"]) == 0
    assert Motion.load(out).num_frames == 25
    assert (tmp_path / "walk.gif").stat().st_size > 0
    # Two outputs, one preview (beside the first).
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "walk.npy")]) == 0
    assert capsys.readouterr().out.count("(preview)") == 1
    # Asking for a GIF yourself (or --no-preview) writes no extra one.
    assert (
        main([*args[:3], str(tmp_path / "a.npy"), "-o", str(tmp_path / "asked.gif"), *args[4:], "--temperature", "0"]) == 0
    )
    assert not (tmp_path / "a.gif").exists()
    expected = model.generate("a person walks", seconds=1.2, temperature=0).motions[0]
    np.testing.assert_allclose(Motion.load(tmp_path / "a.npy").joints, expected.with_clean_contacts().joints, atol=1e-5)
    assert main([*args[:3], str(tmp_path / "raw.npy"), *args[4:], "--temperature", "0", "--no-clean-contacts"]) == 0
    np.testing.assert_allclose(Motion.load(tmp_path / "raw.npy").joints, expected.joints, atol=1e-5)
    # Without --temperature the CLI samples as the API does by default (one default, pipeline.MOTION_TEMPERATURE).
    assert main([*args[:3], str(tmp_path / "seeded.npy"), *args[4:], "--seed", "3", "--no-clean-contacts"]) == 0
    seeded = model.generate("a person walks", seconds=1.2, seed=3).motions[0]
    np.testing.assert_allclose(Motion.load(tmp_path / "seeded.npy").joints, seeded.joints, atol=1e-5)
    # On the user's character: the BVH carries the rig's joints; a rig with no BVH output fails before any work.
    rig = HERE / "fixtures" / "rigs" / "mixamo.bvh"
    assert main([*args[:3], str(tmp_path / "mixamo.bvh"), *args[4:], "--rig", str(rig)]) == 0
    assert "mixamorig:LeftUpLeg" in (tmp_path / "mixamo.bvh").read_text()
    assert main(["generate", "a person walks", "-o", str(tmp_path / "m.npy"), "--rig", str(rig), "--model", "no"]) == 2
    assert "no output is one of" in capsys.readouterr().err
    # Motion to text.
    source = tmp_path / "source.npy"
    np.save(source, hml_features[:24])
    capsys.readouterr()
    assert main(["describe", str(source), "--model", str(tmp_path / "m"), "--temperature", "0"]) == 0
    assert capsys.readouterr().out.strip() == "A person walks forward."
    # A motion the instruction refers to but that was not given: a message and exit code 2.
    assert main(["generate", "make <SourceMotion> look happy", "-o", str(out), "--model", str(tmp_path / "m")]) == 2
    assert "SourceMotion" in capsys.readouterr().err
    # A result never replaces the motion it was made from: -o SOURCE, or the second of two samples.
    take = tmp_path / "take_2.npy"
    np.save(take, hml_features[:24])
    before = take.read_bytes()
    for out_args in (["-o", str(take)], ["-o", str(tmp_path / "take.npy"), "--samples", "2"]):
        edit = ["generate", "make <SourceMotion> look happy", "--motion", f"SourceMotion={take}", *out_args]
        assert main([*edit, "--model", str(tmp_path / "m")]) == 2
        assert "would be lost" in capsys.readouterr().err and take.read_bytes() == before
    assert not (tmp_path / "take_1.npy").exists()
    # Kept body parts are said on stderr, and --no-keep-parts leaves them to the model.
    keep = ["generate", "keep the legs of <SourceMotion> and raise the right hand", "--motion", f"SourceMotion={take}",
            "--model", str(tmp_path / "m"), "--seed", "0"]  # fmt: skip
    assert main([*keep, "-o", str(tmp_path / "kept.npy")]) == 0
    assert "kept from the motion being edited: legs, torso, left_arm" in capsys.readouterr().err
    assert main([*keep, "-o", str(tmp_path / "alone.npy"), "--no-keep-parts"]) == 0
    assert "kept from" not in capsys.readouterr().err
    # An unknown output format fails before anything loads (here the model would not); no -o says so.
    assert main(["generate", "a person walks", "-o", str(tmp_path / "x.fbx"), "--model", str(tmp_path / "no")]) == 2
    assert "cannot save '.fbx'" in capsys.readouterr().err
    assert main(args[:2] + args[4:]) == 0
    assert "not saved" in capsys.readouterr().err


def test_edits_keep_the_source_length_unless_the_words_ask_otherwise(model, hml_features):
    source = Motion.from_features(hml_features[:30])  # 31 frames
    assert model.edit(source, "make it look happy", seed=0).motions[0].num_frames == source.num_frames
    assert model.edit(source, "make it a 2 second clip", seed=0).motions[0].num_frames == 41
    ref = Motion.from_features(hml_features[:60])
    assert model.implied_frames("make <SourceMotion> happy", {"SourceMotion": source}) == source.num_frames
    assert model.implied_frames("make <SourceMotion> twice as fast", {"SourceMotion": source}) is None
    # In-context: the answer may follow a longer reference's path, so the model decides its length.
    assert model.implied_frames("the path of <RefMotion>, the action of <SourceMotion>",
                                 {"SourceMotion": source, "RefMotion": ref}) is None  # fmt: skip


def test_a_chat_question_about_the_motion_is_asked_as_its_caption(model):
    from omnimogen.model.understand import asks_for_caption

    for q in ("what is the person doing?", "What's he doing now?", "describe it", "so what happens in that one?",
              "what did they do?", "what does the animation look like?"):  # fmt: skip
        assert asks_for_caption(q), q
    for q in ("why did it turn left?", "does it look sad?", "make it look happy", "what comes next? show it"):
        assert not asks_for_caption(q), q
    chat = model.chat()
    walk = chat("a person walks", seconds=1.2, seed=0).motions[0]
    answer = chat("what is the person doing?", seed=0)
    assert not answer.motions and isinstance(answer.prompt.parts[0], MotionCodes)  # the last answer, bound
    assert answer.text == model.describe(walk, seed=0).text
    assert [m.role for m in chat.history] == ["user", "assistant"] * 2


def test_every_chat_turn_that_asks_for_a_motion_gets_one_of_the_same_length(model):
    chat = model.chat()
    first = chat("a person walks", seconds=1.2, seed=0)
    second = chat("now make it look sad", seed=1)  # the tiny model would rather talk: the turn asks for a motion
    assert first.motions and second.motions and second.motions[0].num_frames == 25
    assert [m.role for m in chat.history] == ["user", "assistant", "user", "assistant"]


def test_a_new_request_in_a_conversation_is_asked_as_a_first_turn(model):
    from omnimogen.model.understand import refers_back

    for follow_up in ("make it look happy", "now faster", "again, but with the left hand", "the same but slower",
                      "Mirror the previous one", "can you make the steps longer", "do it twice as fast",
                      # a wish about the motion there is, a comparative, the other side
                      "she should seem a lot more cheerful", "a tad brisker", "switch to the left foot",
                      "use the other arm", "the walker ought to look ancient"):  # fmt: skip
        assert refers_back(follow_up), follow_up
    for new in ("a person does a cartwheel", "someone bows politely", "A tired person waves goodbye.",
                "a man jogs in a circle", "a runner sprints", "a boxer throws a jab", "a dancer twirls",
                "a person walks backwards"):  # fmt: skip
        assert not refers_back(new), new
    chat = model.chat()
    chat("a person walks", seconds=1.2, seed=0)
    odd = chat("a person does a backflip", seed=0)  # a new request: read, warned of, its own length
    assert len(odd.warnings) == 1 and "not trained on anything like" in odd.warnings[0]
    assert odd.prompt == model.generate("a person does a backflip", seed=0, motion_only=True).prompt
    edit = chat("make it look happy", seed=0)  # and the next turn edits its answer: same length, a style edit of it
    assert edit.motions[0].num_frames == odd.motions[0].num_frames and edit.reading.task == "edit/style"
    assert [m.role for m in chat.history] == ["user", "assistant"] * 3


def test_judgments_are_read_sentence_by_sentence_as_the_reflection_data_words_them():
    from omnimogen.instructions.phrasings import default_phrasings
    from omnimogen.model.understand import read_judgment

    t = default_phrasings().templates
    fill = {"actions": "walks forward", "shown_actions": "waves", "wanted_actions": "bows", "style_adj": "happy",
            "shown_adj": "tired", "wanted_adj": "happy", "pace_error": "twice too fast", "attribute": "action",
            "wanted": "a person walks", "shown": "a person waves"}  # fmt: skip
    ok = [x.format(**fill) for k in ("verdict/action/ok", "verdict/style/ok", "verdict/caption/ok") for x in t[k]]
    bad = [x.format(**fill) for k in t if k.startswith("verdict/") and k.endswith(("/bad", "/action", "/side", "/fix"))
           for x in t[k]]  # fmt: skip
    for yes in t["verdict/yes"]:
        for part in ok:  # every way of saying yes and what is right: right
            assert read_judgment(f"{yes} {part}").right(), (yes, part)
        for part in bad:  # a yes that then names a fault contradicts itself: not right
            judged = read_judgment(f"{yes} {part}")
            assert judged.contradicts and not judged.right(), (yes, part)
    for no in t["verdict/no"]:
        for part in ok[:3] + bad[:3]:
            judged = read_judgment(f"{no} {part}")
            assert not judged.accepts and not judged.right() and not judged.contradicts, (no, part)
    assert read_judgment("Yes, but it should be slower.").contradicts  # words outside the templates
    assert not read_judgment("").right()
    # a no whose only complaint is the style is a yes where the words asked for no style
    only_style = " ".join([t["verdict/no"][0], ok[0], bad_style := t["verdict/style/bad"][0].format(**fill),
                           t["verdict/fix"][0].format(attribute="style")])  # fmt: skip
    judged = read_judgment(only_style)
    assert [a for a, _ in judged.faults] == ["any", "style", "style"] and bad_style in [s for _, s in judged.faults]
    assert not judged.right() and judged.right(ignore=("style",))
    assert not read_judgment(t["verdict/no"][0]).right(ignore=("style",))  # a plain no stays a no
    action_too = read_judgment(only_style + " " + t["verdict/action/bad"][0].format(**fill))
    assert not action_too.right(ignore=("style",))


def test_everyday_words_are_asked_as_the_training_captions_and_unknown_requests_warn(model):
    out = model.generate("my character takes a calm stroll ahead", seconds=1.2, seed=0)
    assert out.reading.known and out.reading.action == "walk"
    assert out.prompt.parts[-1].text == out.reading.caption == "A person walks forward."
    raw = model.generate("my character takes a calm stroll ahead", seconds=1.2, seed=0, interpret_words=False)
    assert raw.reading is None and raw.prompt.parts[-1].text == "my character takes a calm stroll ahead"
    assert out.warnings == []
    for seed in range(3):  # the model decides the length: not under 2 s (pipeline.SHORTEST_FRAMES), a walk 4 s
        assert model.generate("a person runs", seed=seed).motions[0].num_frames >= pipeline.SHORTEST_FRAMES
        walk = model.generate("a person strolls along", seed=seed)
        assert walk.reading.action == "walk" and walk.motions[0].num_frames >= pipeline.SHORTEST_WALK_FRAMES
    odd = model.generate("do a backflip", seconds=1.2, seed=0)
    assert len(odd.warnings) == 1 and "not trained on anything like" in odd.warnings[0]
    assert odd.prompt.parts[-1].text == "do a backflip"  # an unknown request keeps its words


def test_a_duration_in_the_words_is_kept_within_what_a_call_may_ask(model):
    assert model.implied_frames("a 0.1 s twitch", {}) == 2 * model.tokenizer.config.downsample + 1
    assert model.implied_frames("walk on for 500 seconds", {}) == 60 * 20 + 1  # at most MAX_SECONDS


def test_the_body_parts_an_edit_keeps_come_from_the_edited_motion(model):
    """A walk that should keep its legs and raise the right arm: the answer's arm on the source's legs,
    torso, left arm and path (a real raise and a real walk stand in for the model and the user)."""
    walk = np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy")
    raise_ = np.load(FIXTURES.parent / "dataset-2_raise-up-right-hand_normal_007.joints.npy")
    n = min(len(walk), len(raise_))
    edited, answer = Motion.from_joints(walk[:n]), Motion.from_joints(raise_[:n])
    words = "keep the legs of <SourceMotion> as they are and raise the right hand"
    codes = MotionCodes(model.tokenizer.encode(answer))
    out = model.keep_parts(pipeline.Result("<Motion>", [answer], parts=(codes,)), words, edited)
    got = out.motions[0]
    assert out.kept.kept == ("legs", "torso", "left_arm") and got.num_frames == n
    for part in ("legs", "torso", "left_arm"):
        assert checks.part_error(got.joints, edited.joints, part) < 0.02, part
    assert checks.part_error(got.joints, answer.joints, "right_arm") < 0.06  # its rotations, on the kept torso
    assert checks.part_error(got.joints, edited.joints, "right_arm") > checks.KEPT_METRES
    assert checks.raised_hand(got.joints) == "right"
    np.testing.assert_allclose(got.joints[:, 0, [0, 2]], edited.joints[:, 0, [0, 2]], atol=0.01)  # the legs' path
    assert len(out.parts) == 1 and not np.array_equal(out.parts[0].codes, codes.codes)  # a follow-up edits this
    # Words that keep nothing, an answer of another length, or keep_parts=False: the answer as it was.
    assert model.keep_parts(out, "make <SourceMotion> look tired", edited) is out
    short = pipeline.Result("<Motion>", [Motion.from_joints(raise_[: n - 8])], parts=(codes,))
    kept = model.keep_parts(short, words, edited)
    assert kept.motions == short.motions and "another length" in kept.warnings[0]
    source = Motion.from_joints(walk[:25])
    assert model.edit(source, words, seed=0).kept is not None
    assert model.edit(source, words, seed=0, keep_parts=False).kept is None
    chat = model.chat()  # a follow-up keeps the parts of the last answer
    first = chat("a person walks", seconds=1.2, seed=0).motions[0]
    follow_up = chat("now keep the legs the same and raise the right hand", seed=1)
    assert follow_up.kept is not None and follow_up.motions[0].num_frames == first.num_frames
    # (by rotation: the tiny model's bones are not the reference skeleton's, so positions move a little)
    assert checks.part_error(follow_up.motions[0].joints, first.joints, "legs") < checks.KEPT_METRES


def test_the_path_of_one_motion_with_the_gesture_of_the_other_is_composed(model):
    """A real turning walk's path and legs with a real right-hand raise: composed by the splice the
    training's examples were made with, not generated; where the joints disagree, the model answers."""
    walk = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy"))
    raise_ = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_raise-up-right-hand_normal_007.joints.npy"))
    words = "take the route of <RefMotion> with the raised hand from <SourceMotion>"
    out = model(words, {"SourceMotion": raise_, "RefMotion": walk}, seed=0)
    got = out.motions[0]
    assert out.composed and "right_arm of <SourceMotion>" in out.composed and got.num_frames == walk.num_frames
    assert checks.raised_hand(got.joints) == "right"  # the path within 10 cm (the features' root integrates)
    assert checks.path_error(got.joints, walk.joints) < 0.1 < checks.path_error(raise_.joints, walk.joints)
    assert checks.part_error(got.joints, walk.joints, "legs") < 0.02
    assert out.prompt is not None and isinstance(out.parts[0], MotionCodes)
    # The roles the other way round (a path asked of the raise, which stays in place): generated.
    swapped = model(words, {"SourceMotion": walk, "RefMotion": raise_}, seed=0)
    assert swapped.composed is None
    assert model(words, {"SourceMotion": raise_, "RefMotion": walk}, seed=0, keep_parts=False).composed is None


def test_a_walk_bent_onto_another_path_turns_with_it_and_keeps_its_own_steps(model):
    """A real right turn walked along a real left turn's path (motion path editing): it turns left,
    follows that path, faces along it, and its body in its own frame is unchanged; a motion in place
    has no path to bend. Through the pipeline: "keep the manner of <SourceMotion> but follow the route of <RefMotion>"."""
    from omnimogen.model.compose import along_path
    left = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy"))
    right = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-right_normal_005.joints.npy"))
    raise_ = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_raise-up-right-hand_normal_007.joints.npy"))
    bent = along_path(right, left)
    assert bent.num_frames == right.num_frames and checks.turn_side(bent.joints) == "left"
    assert checks.path_error(bent.joints, left.joints) < 0.15 < 1.5 < checks.path_error(right.joints, left.joints)
    assert checks.facing_along_path(bent.joints) > 0.9
    for part, metres in (("legs", 0.03), ("torso", 0.01), ("arms", 0.01)):  # planted feet held: the legs move a little
        assert checks.part_error(bent.joints, right.joints, part) < metres, part
    assert physical_score(bent.joints) > 0.94  # turned with the body and not held, the planted feet slid: 0.86
    assert along_path(raise_, left) is None and along_path(left, raise_) is None
    out = model("keep the manner of <SourceMotion> but follow the route of <RefMotion>",
                {"SourceMotion": right, "RefMotion": left})  # fmt: skip
    assert out.composed == "<SourceMotion> walked along the path of <RefMotion>"
    assert checks.turn_side(out.motions[0].joints) == "left"


def test_a_walk_asked_to_turn_is_bent_onto_a_turning_course(model):
    """A real walk (the first 2 s of a left turn's take, bending left by 30 degrees) asked to turn right
    halfway: it turns about 90 degrees further right than it did, faces along its path and keeps its
    length and its body; asked for more than a turn, or in place, the model answers."""
    from omnimogen.model.compose import turned
    left = np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy")
    straight = Motion.from_joints(left[:40])
    assert checks.locomotion(straight.joints) == "forward"
    out = model("make <SourceMotion> turn right halfway", {"SourceMotion": straight}, seed=0)
    got = out.motions[0]
    assert out.composed and "90 degrees to the right" in out.composed and got.num_frames == straight.num_frames
    added = checks.turn_degrees(got.joints) - checks.turn_degrees(straight.joints)
    assert -100 < added < -80 and checks.facing_along_path(got.joints) > 0.9
    assert checks.part_error(got.joints, straight.joints, "legs") < 0.03 and physical_score(got.joints) > 0.94
    assert abs(checks.path_length(got.joints) - checks.path_length(straight.joints)) < 0.1  # no glide
    for other in ("make <SourceMotion> turn right and look sad", "make <SourceMotion> jog and turn right"):
        assert model(other, {"SourceMotion": straight}, seed=0).composed is None, other
    raise_ = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_raise-up-right-hand_normal_007.joints.npy"))
    assert model("make <SourceMotion> turn right halfway", {"SourceMotion": raise_}, seed=0).composed is None
    assert turned(raise_, 90.0) is None



def test_a_walk_that_turns_is_asked_straight_and_bent(model, monkeypatch):
    """Text to motion read as a turning (or diagonal) walk: the model is asked for a straight walk in
    the read style, which is bent onto a course that turns the asked way (a real straight walk stands in
    for the tiny model's); a walk that does not go straight is asked again, then left to the model."""
    from omnimogen.model.understand import Reading
    left = np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy")
    walk = Motion.from_joints(resample(left[:40], 9.5, 20))  # its straight first 2 s, played slower: 4.1 s
    raise_ = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_raise-up-right-hand_normal_007.joints.npy"))
    asked = []

    def answer(messages, opt, gen, frames, retries=3, unstyled=None, pick=None, candidates=1, given=walk):
        asked.append(messages[-1].parts[-1].text)
        return pipeline.Result("<Motion>", [given], parts=(MotionCodes(model.tokenizer.encode(given)),))

    def read(action, style="normal"):
        return lambda text, known: Reading(action, style, "", 1.0, True, f"A person does {action}.")

    monkeypatch.setattr(model, "_answer", answer)
    monkeypatch.setattr(pipeline, "interpret", read("walk-turn-left", "tired"))
    out = model.generate("the tired guy walks on and then hangs a left at the corner", seed=0)
    got = out.motions[0]
    assert asked == ["A person walks forward tiredly."] and out.reading.action == "walk-turn-left"
    assert "90 degrees to the left at 50%" in out.composed and got.num_frames == walk.num_frames
    assert checks.turn_side(got.joints) == "left" and checks.facing_along_path(got.joints) > 0.9
    assert checks.part_error(got.joints, walk.joints, "legs") < 0.03
    monkeypatch.setattr(pipeline, "interpret", read("walk-right"))
    out = model.generate("she drifts off to the right", seed=0)
    assert "35 degrees to the right at 5%" in out.composed and checks.side_of_path(out.motions[0].joints) == "right"
    monkeypatch.setattr(pipeline, "interpret", read("walk-turn-left"))  # the words' own degrees
    assert "180 degrees" in model.generate("walk and turn around to the left", seed=0).composed
    assert model.generate("walk and turn left", seed=0, keep_parts=False).composed is None
    asked.clear()  # a walk that does not go straight: asked WALK_TRIES times, then the model's own turn
    monkeypatch.setattr(model, "_answer", lambda *a, **k: answer(*a, **k, given=raise_))
    out = model.generate("walk and turn left", seed=0)
    assert out.composed is None and len(asked) == pipeline.WALK_TRIES + 1 and asked[-1] == "A person does walk-turn-left."
    asked.clear()  # a walk of three steps and a stop (2 s, the model's own length): asked again, the same way
    monkeypatch.setattr(model, "_answer", lambda *a, **k: answer(*a, **k, given=Motion.from_joints(left[:40])))
    assert model.generate("walk and turn left", seed=0).composed is None and len(asked) == pipeline.WALK_TRIES + 1
    assert model.generate("walk and turn left", seed=0, seconds=2).composed is not None  # a length asked: kept


def test_another_speed_and_nothing_else_is_the_motion_played_so(model):
    """"make it twice as fast" of a real walk: the walk itself, every second frame (time resampling,
    as the training's speed edits were made); a chat follow-up plays the last answer so, and the turn
    after it edits that; a speed asked with another change, or keep_parts=False: the model answers."""
    walk = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy"))
    out = model.edit(walk, "make it twice as fast", seed=0)
    got = out.motions[0]
    assert out.composed == "<SourceMotion> played 2 times as fast" and got.num_frames == (walk.num_frames - 1) // 2 + 1
    np.testing.assert_allclose(got.joints, walk.joints[::2], atol=1e-5)
    assert checks.speed_ratio(got.joints, walk.joints) == pytest.approx(2.0, rel=0.05)
    assert model.edit(walk, "make it twice as fast", seed=0, keep_parts=False).composed is None
    assert model.edit(walk, "make it twice as fast and sad", seed=0).composed is None
    chat = model.chat()
    first = chat("a person walks", seconds=1.2, seed=0).motions[0]
    slower = chat("hmm, way too quick, play it at half speed", seed=1)
    assert slower.composed == "the last answer played 0.5 times as fast"
    assert slower.motions[0].num_frames == 2 * (first.num_frames - 1) + 1 and len(chat.history) == 4
    after = chat("now make it look happy", seed=2)  # edits the slowed answer, at its length
    assert after.composed is None and after.motions[0].num_frames == slower.motions[0].num_frames
    again = chat("twice as fast", seed=3)  # a speed alone edits the last answer: not a new request
    assert again.composed == "the last answer played 2 times as fast"


def test_a_style_edit_is_asked_in_the_training_words_and_pushed_from_a_normal_one(model, monkeypatch):
    """"make <SourceMotion> look happier": asked as the training's style edits are worded, with the
    same edit to a normal style as the row its codes are pushed away from (EDIT_STYLE_GUIDANCE); the
    words as given with interpret_words=False, and an edit that asks for more than a style."""
    walk = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy")[:60])
    asked = []

    def answer(messages, opt, gen, frames, retries=3, unstyled=None, pick=None, candidates=1):
        turn = messages[-1]
        asked.append((turn.parts[-1].text, unstyled and unstyled.parts[-1].text, opt.style_guidance))
        # a style edit keeps the action: several answers, the one nearest the source kept
        kept = pick is not None and pick(walk.joints) == 0.0 and pick(walk.joints[::-1]) > 0
        assert (kept, candidates) == ((True, pipeline.STYLE_EDIT_CANDIDATES) if unstyled else (False, 1))
        assert unstyled is None or unstyled.parts[0].codes.shape == turn.parts[0].codes.shape  # the same motion
        return pipeline.Result("<Motion>", [walk], parts=(MotionCodes(model.tokenizer.encode(walk)),))

    monkeypatch.setattr(model, "_answer", answer)
    out = model.edit(walk, "make <SourceMotion> look happier", seed=0)
    assert asked[-1] == ("Make <SourceMotion> look happy.", "Make <SourceMotion> look normal.", pipeline.EDIT_STYLE_GUIDANCE)
    assert out.reading.task == "edit/style" and out.reading.style == "happy"
    assert out.prompt.parts[-1].text == "Make <SourceMotion> look happy."
    model.edit(walk, "make <SourceMotion> look happier", seed=0, style_guidance=0.5)
    assert asked[-1][2] == 0.5
    model.edit(walk, "make <SourceMotion> look happier", seed=0, interpret_words=False)
    assert asked[-1] == ("make <SourceMotion> look happier", None, 0.0)
    out = model.edit(walk, "make <SourceMotion> look happier and raise the left hand", seed=0)
    assert asked[-1][:2] == ("make <SourceMotion> look happier and raise the left hand", None) and out.reading is None


def test_of_several_answers_sampled_at_once_the_one_nearest_the_source_is_kept(model, monkeypatch):
    """Options.candidates answers in one batch; for a style edit the one whose poses are nearest the
    source's (checks.pose_distance), each a valid answer of its own."""
    walk = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy")[:60])
    made, result = [], pipeline.OmniMoGen._result
    monkeypatch.setattr(model, "_result", lambda *a: made.append(result(model, *a)) or made[-1])
    out = model.edit(walk, "make <SourceMotion> look happier", seed=0, candidates=3)
    assert len(made) == 3 and all(m.motions[0].num_frames == walk.num_frames for m in made)
    distances = [checks.pose_distance(m.motions[0].joints, walk.joints) for m in made]
    assert out.motions[0] is made[int(np.argmin(distances))].motions[0]
    assert len({round(d, 9) for d in distances}) == 3  # three samples, not one answer thrice
    made.clear()
    model.edit(walk, "make <SourceMotion> look happier", seed=0, candidates=1)
    assert len(made) == 1
    made.clear()
    model.generate("a person walks", seed=0, candidates=3)  # nothing to stay near: answered once
    assert len(made) == 1
    with pytest.raises(OptionError, match="candidates"):
        model.edit(walk, "make <SourceMotion> look happier", candidates=0)


def test_an_answer_that_does_not_show_the_asked_action_is_sampled_again(model, monkeypatch):
    """Text to motion (or an edit into another action) read as an action the joints tell
    (checks.action_test): a first answer that does
    not show it (a walk for "a person bows") is sampled again, SHOWN_CANDIDATES at once, and the first
    of them that shows it (a real bow) kept; none showing it keeps the first answer; an answer that
    shows it, an action the joints do not tell (a goodbye) or candidates=1: answered once."""
    from omnimogen.model.understand import Reading
    walk = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy")[:60])
    bow = Motion.load(HERE / "fixtures" / "bandai" / "dataset-1_bow_normal_001.bvh.gz").resample(20)
    calls, batches = [], []

    def answer(messages, opt, gen, frames, retries=3, unstyled=None, pick=None, candidates=1):
        calls.append(candidates)
        made = batches.pop(0)
        best = made[0] if pick is None else min(made, key=lambda m: pick(m.joints))
        return pipeline.Result("<Motion>", [best], parts=(MotionCodes(model.tokenizer.encode(best)),))

    def read(action):
        return lambda text, known: Reading(action, "normal", "", 1.0, True, f"A person does {action}.")

    monkeypatch.setattr(model, "_answer", answer)
    monkeypatch.setattr(pipeline, "interpret", read("bow"))
    batches[:] = [[walk], [walk, walk, bow, walk]]
    out = model.generate("she takes a deep bow", seed=0)
    assert calls == [1, pipeline.SHOWN_CANDIDATES] and out.motions[0] is bow and checks.bows(out.motions[0].joints)
    assert out.warnings == []
    calls.clear()
    batches[:] = [[walk], [walk, walk]]  # none of them bows: the first answer stays, and says so
    out = model.generate("she takes a deep bow", seed=0)
    assert out.motions[0] is walk and calls == [1, 8]
    assert any("none of 9 answers shows what 'A person does bow.' asks" in w for w in out.warnings)
    calls.clear()
    batches[:] = [[bow]]
    assert model.generate("she takes a deep bow", seed=0).motions[0] is bow and calls == [1]
    calls.clear()
    batches[:] = [[walk]]
    model.generate("she takes a deep bow", seed=0, candidates=1)
    monkeypatch.setattr(pipeline, "interpret", read("bye"))
    batches[:] = [[walk]]
    model.generate("she waves goodbye", seed=0)
    assert calls == [1, 1]
    calls.clear()  # an edit into another action the joints tell: the same
    monkeypatch.setattr(model, "asked_action", lambda text, source: "bow")
    batches[:] = [[walk], [walk, bow]]
    out = model.edit(walk, "have them bow instead", seed=0)
    assert out.reading.task == "edit/action" and out.motions[0] is bow and calls == [1, 8]


def test_one_motion_at_the_speed_of_another_is_played_at_that_speed(model):
    """"<SourceMotion> as fast as the runner in <RefMotion>": the kept walk played as many times as
    fast as the other travels faster, the roles read from the words either way round; a motion in place
    (a gesture's timing is not its speed) is left to the model."""
    from omnimogen.motion import FPS, resample

    walk = np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy").astype(np.float64)
    slow, fast = Motion.from_joints(walk), Motion.from_joints(resample(walk, FPS * 2, FPS))
    out = model("<SourceMotion> should go exactly as fast as the runner in <RefMotion>",
                {"SourceMotion": slow, "RefMotion": fast}, seed=0)  # fmt: skip
    assert re.fullmatch(r"<SourceMotion> played (1.9\d|2) times as fast: the pace of <RefMotion>", out.composed)
    got = out.motions[0].joints
    assert checks.mean_speed(got) == pytest.approx(checks.mean_speed(fast.joints), rel=0.03)
    assert abs(len(got) - fast.num_frames) <= 1 and checks.pose_distance(got, fast.joints) < 0.01  # the same walk
    back = model("at the pace of <SourceMotion>, redo <RefMotion>", {"SourceMotion": slow, "RefMotion": fast}, seed=0)
    assert re.match(r"<RefMotion> played 0.(49|5)", back.composed) and abs(back.motions[0].num_frames - slow.num_frames) <= 1
    asked = model("<SourceMotion> should go exactly as fast as the runner in <RefMotion>",
                  {"SourceMotion": slow, "RefMotion": fast}, seed=0, keep_parts=False)  # fmt: skip
    assert asked.composed is None  # the model alone
    wave = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_raise-up-right-hand_normal_007.joints.npy"))
    assert model("wave like <SourceMotion>, with the timing of <RefMotion>", {"SourceMotion": wave, "RefMotion": fast},
                 seed=0, motion_only=True).composed is None  # fmt: skip


def test_a_mirror_image_and_a_walk_the_other_way_are_made_exactly(model):
    """"mirror the turn so it goes toward the left" of a right turn: its mirror image; "have them back up
    instead" of a walk: the walk played backward in time; each starting where the source starts,
    facing as it does, as long as it; none where the source already shows the asked side or way."""
    right = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-right_normal_005.joints.npy"))
    out = model.edit(right, "mirror the turn in <SourceMotion> so it goes toward the left", seed=0)
    got, src = out.motions[0].joints, right.joints
    assert out.composed == "<SourceMotion> mirrored left to right" and out.motions[0].num_frames == right.num_frames
    assert checks.turn_side(got) == "left" and checks.turn_degrees(got) == pytest.approx(-checks.turn_degrees(src), abs=1)
    assert np.allclose(got[0, 0, [0, 2]], src[0, 0, [0, 2]]) and checks.headings(got)[0] == pytest.approx(checks.headings(src)[0])
    assert model.edit(right, "mirror <SourceMotion> so it turns right", seed=0).composed is None  # it already does
    straight = Motion.from_joints(right.joints[:20])  # shows no side: mirrored when asked outright
    assert model.edit(straight, "mirror <SourceMotion>", seed=0).composed == "<SourceMotion> mirrored left to right"
    back = model.edit(right, "have them back up instead. <SourceMotion>", seed=0)
    assert back.composed == "<SourceMotion> played backward in time: walking backward"
    assert checks.locomotion(back.motions[0].joints) == "backward" and back.motions[0].num_frames == right.num_frames
    assert np.allclose(back.motions[0].joints[0, 0, [0, 2]], src[0, 0, [0, 2]])
    again = model.edit(back.motions[0], "walk forwards, the way they face: <SourceMotion>", seed=0)
    assert checks.locomotion(again.motions[0].joints) == "forward"
    assert model.edit(right, "walk <SourceMotion> forwards", seed=0).composed is None  # it already walks forward
    chat = model.chat()  # a chat's follow-up edits the last answer the same way
    chat.replay("a person walks and turns right", None, [right])
    assert chat("now mirror it", seed=1).composed == "the last answer mirrored left to right"
    assert chat("and have them walk backwards instead", seed=2).composed.startswith("the last answer played backward")


def test_the_action_of_one_motion_in_the_style_of_another_is_the_style_edit_of_the_first(model, monkeypatch):
    """"wave like <RefMotion> with the attitude of <SourceMotion>": the style the model names in its own
    caption of <SourceMotion>, asked as the style edit of <RefMotion> (pushed as style edits are), at
    its length; where the caption names no style, the action's motion as it is, and a warning."""
    walk = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy")[:60])
    wave = Motion.from_joints(walk.joints[:40])
    caption = ["A human walks forward, in an exhausted way."]
    monkeypatch.setattr(model, "describe", lambda motion, seed=None: pipeline.Result(caption[0], []))
    out = model("wave like <RefMotion> with the attitude of <SourceMotion>", {"SourceMotion": walk, "RefMotion": wave},
                seed=0, motion_only=True)  # fmt: skip
    assert out.prompt.parts[-1].text == "Make <SourceMotion> look exhausted."
    assert np.array_equal(out.prompt.parts[0].codes, model.tokenizer.encode(wave)) and len(out.prompt.parts) == 2
    assert out.reading.task == "incontext/style" and out.reading.caption == "Make <RefMotion> look exhausted."
    assert out.reading.phrase == caption[0] and out.motions[0].num_frames == wave.num_frames and not out.warnings
    caption[0] = "A human walks forward."
    out = model("wave like <RefMotion> with the attitude of <SourceMotion>", {"SourceMotion": walk, "RefMotion": wave},
                seed=0, motion_only=True)  # fmt: skip
    assert out.composed == "<RefMotion> as it is" and np.array_equal(out.motions[0].joints, wave.joints)
    assert "names no style in <SourceMotion>" in out.warnings[0] and out.reading.caption == "<RefMotion> as it is"
    plain = model("wave like <RefMotion> with the attitude of <SourceMotion>", {"SourceMotion": walk, "RefMotion": wave},
                  seed=0, interpret_words=False, motion_only=True)  # fmt: skip
    assert plain.reading is None and plain.prompt.parts[-1].text.startswith("wave like")


def test_an_edit_that_asks_for_another_action_is_asked_in_the_training_words(model, monkeypatch):
    """"instead of walking they should jog" of a walk: asked as the training's action edits are worded,
    at the source's length (also where the words say to keep the duration), without the body parts
    the words seem to keep; another walk of a walk is left to the model (a trajectory edit), but the
    same walk backward is played so."""
    walk = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy")[:60])
    asked = []

    def answer(messages, opt, gen, frames, retries=3, unstyled=None, pick=None, candidates=1):
        asked.append((messages[-1].parts[-1].text, frames))
        assert pick is None and candidates == 1  # another action: nothing to stay near
        return pipeline.Result("<Motion>", [walk], parts=(MotionCodes(model.tokenizer.encode(walk)),))

    monkeypatch.setattr(model, "_answer", answer)
    out = model.edit(walk, "instead of walking, the person in <SourceMotion> should jog. Keep the duration.", seed=0)
    assert asked[-1] == ("Change the action in <SourceMotion>: the person should run forward instead.", walk.num_frames)
    assert out.reading.task == "edit/action" and out.reading.action == "run" and out.kept is None
    model.edit(walk, "instead of walking, the person in <SourceMotion> should walk sideways", seed=0)
    assert asked[-1][0] == "instead of walking, the person in <SourceMotion> should walk sideways"
    back = model.edit(walk, "instead of walking, the person in <SourceMotion> should walk backwards", seed=0)
    assert back.composed == "<SourceMotion> played backward in time: walking backward"  # made exactly
    model.edit(walk, "instead of walking, the person in <SourceMotion> should jog", seed=0, interpret_words=False)
    assert asked[-1][0] == "instead of walking, the person in <SourceMotion> should jog"
    chat = model.chat()
    chat.replay("a person walks", None, [walk])
    out = chat("now have them jog instead", seed=1)
    assert asked[-1][0].startswith("Change the action in <SourceMotion>") and out.reading.phrase == "now have them jog instead"


def test_a_chat_follow_up_that_asks_for_a_style_is_the_style_edit_of_the_last_answer(model):
    """"now make him look tired" after an answer: asked as "Make <SourceMotion> look tired." of that
    answer (the edit's reading, guided the same way), at its length; one that asks for more (a side)
    or interpret_words=False stays the conversation's own turn."""
    chat = model.chat()
    first = chat("a person walks", seconds=1.2, seed=0).motions[0]
    tired = chat("now make him look tired", seed=1)
    assert tired.prompt.parts[-1].text == "Make <SourceMotion> look tired."
    assert np.array_equal(tired.prompt.parts[0].codes, model.tokenizer.encode(first))
    assert tired.reading.task == "edit/style" and tired.reading.phrase == "now make him look tired"
    assert tired.motions[0].num_frames == first.num_frames and len(chat.history) == 4
    assert chat("now make him look happy and wave the left hand", seed=2).reading is None
    assert chat("now make him look sad", seed=3, interpret_words=False).prompt.parts[-1].text == "now make him look sad"


def test_an_edit_that_keeps_the_legs_and_asks_a_gesture_splices_the_gesture_made_from_words(model, monkeypatch):
    """"legs stay, right hand goes up high" of a real walk: the model is asked for the gesture in its
    training captions' words, as long as the walk, and its right arm is spliced onto the walk, whose
    legs and path stay exactly; keep_parts=False leaves the edit to the model."""
    walk = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_walk-turn-left_normal_004.joints.npy")[:60])
    raise_ = Motion.from_joints(np.load(FIXTURES.parent / "dataset-2_raise-up-right-hand_normal_007.joints.npy"))
    asked = []

    def answer(messages, opt, gen, frames, retries=3, unstyled=None, pick=None, candidates=1):
        asked.append((messages[-1].parts[-1].text, frames))
        assert pick is None and candidates == 1  # a gesture made anew, spliced: nothing to stay near
        return pipeline.Result("<Motion>", [raise_], parts=(MotionCodes(model.tokenizer.encode(raise_)),))

    monkeypatch.setattr(model, "_answer", answer)
    out = model.edit(walk, "legs stay the same, right hand goes up high. <SourceMotion>", seed=0)
    got = out.motions[0]
    assert asked == [("A person raises the right hand.", walk.num_frames)] and out.kept.changed == ("right_arm",)
    assert "right_arm of a motion made as 'A person raises the right hand.'" in out.composed
    assert got.num_frames == walk.num_frames and checks.part_error(got.joints, walk.joints, "legs") < 0.03
    assert checks.raised_hand(got.joints) == "right" and checks.raised_hand(walk.joints) == "none"
    asked.clear()
    assert model.edit(walk, "legs stay the same, right hand goes up high. <SourceMotion>", seed=0,
                      keep_parts=False).composed is None and asked[0][0].startswith("legs stay")  # fmt: skip
