"""The unified vocabulary, the transformer and constrained KV-cached generation, on tiny random models."""

import numpy as np
import pytest
import torch

from omnimogen.model.generate import SamplingOptions, generate
from omnimogen.model.transformer import ModelConfig, OmniMoGenLM
from omnimogen.model.vocab import SPECIALS, Message, MotionCodes, TextPart, Vocab

LEVELS, K = 3, 16
TEXTS = ["Make <SourceMotion> look tired.", "a person walks forward happily", "Follow the style of <RefMotion>."] * 30


@pytest.fixture(scope="module", params=["flat", "grouped"])
def setup(request):
    vocab = Vocab.train_bpe(TEXTS, 300, LEVELS, K, request.param)
    torch.manual_seed(0)
    model = OmniMoGenLM(
        ModelConfig(layout=request.param, hidden_size=32, layers=2, heads=2, intermediate_size=64), vocab
    )
    return vocab, model.eval()


def conversation(rng):
    return [
        Message(
            "user",
            (
                MotionCodes(rng.integers(0, K, (5, LEVELS)), "SourceMotion"),
                TextPart("Make <SourceMotion> look tired, ünïcode ✓."),
            ),
        ),
        Message("assistant", (MotionCodes(rng.integers(0, K, (7, LEVELS))),)),
        Message("user", (TextPart("Now faster."),)),
        Message("assistant", (TextPart("Here: "), MotionCodes(rng.integers(0, K, (2, LEVELS))), TextPart(" done."))),
    ]


def test_render_and_parse_are_inverses(setup):
    vocab, _ = setup
    rng = np.random.default_rng(0)
    for _ in range(5):
        conv = conversation(rng)
        r = vocab.render(conv)
        assert vocab.parse(r.ids, r.codes) == conv
        assert r.ids[0] == vocab.special["<bos>"] and r.ids.max() < vocab.size


def test_loss_mask_covers_exactly_the_assistant(setup):
    vocab, _ = setup
    conv = conversation(np.random.default_rng(1))
    r = vocab.render(conv)
    user_only = vocab.render(conv[:1])
    assert not r.loss_mask[: len(user_only.ids)].any()  # the whole first user turn is prompt
    eoa = np.flatnonzero(r.ids == vocab.special["<eoa>"])
    assert len(eoa) == 2 and r.loss_mask[eoa].all()
    assert not r.loss_mask[r.ids == vocab.special["<user>"]].any()
    assert not r.loss_mask[r.ids == vocab.special["<assistant>"]].any()
    steps = 7 + 2  # assistant motion steps
    if vocab.layout == "flat":
        assert r.loss_mask[vocab.is_motion(r.ids)].sum() == steps * LEVELS
    else:
        assert (r.loss_mask & (r.codes[:, 0] >= 0)).sum() == steps
        assert (len(r.ids) - len(vocab.render(conv, generation_prompt=False).ids)) == 0


def test_grouped_is_shorter_by_the_number_of_levels():
    rng = np.random.default_rng(2)
    conv = [
        Message("user", (TextPart("walk"),)),
        Message("assistant", (MotionCodes(rng.integers(0, K, (40, LEVELS))),)),
    ]
    flat = Vocab.train_bpe(TEXTS, 300, LEVELS, K, "flat").render(conv)
    grouped = Vocab.train_bpe(TEXTS, 300, LEVELS, K, "grouped").render(conv)
    assert len(flat.ids) - len(grouped.ids) == 40 * (LEVELS - 1)


def test_vocab_saves_and_loads(setup, tmp_path):
    vocab, _ = setup
    vocab.save(tmp_path)
    again = Vocab.load(tmp_path)
    conv = conversation(np.random.default_rng(3))
    np.testing.assert_array_equal(again.render(conv).ids, vocab.render(conv).ids)
    assert [again.text.id_to_token(again.special[s]) for s in SPECIALS] == list(SPECIALS)


def test_cached_and_uncached_decoding_agree(setup):
    vocab, model = setup
    prompts = [vocab.render(conversation(np.random.default_rng(4))[:1], generation_prompt=True),
               vocab.render([Message("user", (TextPart("walk"),))], generation_prompt=True)]  # fmt: skip
    opt = SamplingOptions(temperature=0, max_new_tokens=40)
    a = generate(model, prompts, opt, use_cache=True)
    b = generate(model, prompts, opt, use_cache=False)
    for x, y in zip(a.ids, b.ids, strict=True):
        np.testing.assert_array_equal(x, y)


def test_same_generator_seed_same_tokens_and_batch_independent(setup):
    vocab, model = setup
    p = vocab.render([Message("user", (TextPart("walk"),))], generation_prompt=True)
    opt = SamplingOptions(temperature=1.0, top_k=50, top_p=0.95, max_new_tokens=50)
    a = generate(model, [p], opt, torch.Generator().manual_seed(7))
    b = generate(model, [p], opt, torch.Generator().manual_seed(7))
    c = generate(model, [p], opt, torch.Generator().manual_seed(8))
    np.testing.assert_array_equal(a.ids[0], b.ids[0])
    assert not np.array_equal(a.ids[0], c.ids[0])


def test_constraints_hold_and_length_is_obeyed(setup):
    vocab, model = setup
    sp = vocab.special
    p = vocab.render([Message("user", (TextPart("walk"),))], generation_prompt=True)
    # Force a motion: feed "<mo>" as the start of the answer by asking for exactly 6 steps.
    opt = SamplingOptions(temperature=1.0, max_new_tokens=300, motion_steps=6)
    for seed in range(4):
        out = generate(model, [p], opt, torch.Generator().manual_seed(seed))
        ids = out.ids[0]
        full = np.concatenate([p.ids, ids])
        codes = np.concatenate([p.codes, out.codes[0]]) if vocab.layout == "grouped" else None
        if not out.finished[0]:
            continue  # a random model may ramble past the budget; the grammar still held (checked below)
        parsed = vocab.parse(full, codes)
        for part in parsed[-1].parts:
            if isinstance(part, MotionCodes):
                assert part.codes.shape == (6, LEVELS)
        assert sp["<bos>"] not in ids and sp["<user>"] not in ids
    # inside spans only codes of the right level appear (flat) / codes are valid (grouped)
    if vocab.layout == "flat":
        inside = False
        pos = 0
        for t in ids:
            if t == sp["<mo>"]:
                inside, pos = True, 0
            elif t == sp["</mo>"]:
                inside = False
                assert pos % LEVELS == 0
            elif inside:
                lo, hi = vocab.level_range(pos % LEVELS)
                assert lo <= t < hi
                pos += 1


def test_a_motion_the_model_sizes_stays_within_its_bounds(setup):
    vocab, model = setup
    p = vocab.render([Message("user", (TextPart("walk"),))], generation_prompt=True)
    opt = SamplingOptions(temperature=2.0, max_new_tokens=120, motion_only=True, min_motion_steps=5, max_motion_steps=7)
    for seed in range(6):
        out = generate(model, [p], opt, torch.Generator().manual_seed(seed))
        (motion,) = [x for x in vocab.parse(np.concatenate([p.ids, out.ids[0]]),
                                            None if out.codes[0] is None else np.concatenate([p.codes, out.codes[0]])
                                            )[-1].parts if isinstance(x, MotionCodes)]  # fmt: skip
        assert 5 <= len(motion.codes) <= 7


def test_guidance_contrasts_with_the_unconditional_prompt(setup):
    """Guided codes come from unconditional + g x (conditional - unconditional) logits: an unconditional
    prompt equal to the prompt, or g = 1, changes nothing; another one changes the codes, not the form."""
    from omnimogen.errors import OptionError

    vocab, model = setup
    ask = vocab.render([Message("user", (TextPart("walk"),))], generation_prompt=True)
    free = vocab.render([Message("user", (TextPart("a person walks forward happily"),))], generation_prompt=True)
    opt = SamplingOptions(temperature=0, max_new_tokens=80, motion_steps=6, motion_only=True)
    plain = generate(model, [ask], opt)
    if vocab.layout == "flat":
        with pytest.raises(OptionError, match="grouped"):
            generate(model, [ask], SamplingOptions(guidance=2.0), unconditional=[free])
        return
    same = generate(model, [ask], SamplingOptions(**{**opt.__dict__, "guidance": 3.0}), unconditional=[ask])
    off = generate(model, [ask], opt, unconditional=[free])  # guidance 1: the unconditional prompt is not run
    guided = generate(model, [ask], SamplingOptions(**{**opt.__dict__, "guidance": 3.0}), unconditional=[free])
    for out in (same, off):
        np.testing.assert_array_equal(out.ids[0], plain.ids[0])
        np.testing.assert_array_equal(out.codes[0], plain.codes[0])
    np.testing.assert_array_equal(guided.ids[0], plain.ids[0])  # the grammar's tokens: 6 steps, then the end
    assert guided.codes[0].shape == plain.codes[0].shape and not np.array_equal(guided.codes[0], plain.codes[0])
    with pytest.raises(OptionError, match="guidance"):
        SamplingOptions(guidance=-1.0)
    # A second unconditional prompt (the request without its style) adds style_guidance x (c - it):
    # nothing at 0, the request itself nothing at any weight, another request changes the codes.
    guide = {**opt.__dict__, "guidance": 3.0}
    for h, second in ((0.0, free), (4.0, ask)):
        styled = generate(model, [ask], SamplingOptions(**{**guide, "style_guidance": h}), unconditional=[free, second])
        np.testing.assert_array_equal(styled.codes[0], guided.codes[0])
    styled = generate(model, [ask], SamplingOptions(**{**guide, "style_guidance": 4.0}), unconditional=[free, free])
    assert not np.array_equal(styled.codes[0], guided.codes[0])
    with pytest.raises(OptionError, match="style_guidance"):
        SamplingOptions(style_guidance=-1.0)
    with pytest.raises(OptionError, match="one or two"):
        generate(model, [ask], SamplingOptions(**guide), unconditional=[free] * 3)


def test_grouped_loss_weighs_codes(setup):
    vocab, model = setup
    r = vocab.render(conversation(np.random.default_rng(5)))
    codes = torch.from_numpy(r.codes)[None] if r.codes is not None else None
    loss, stats = model.loss(torch.from_numpy(r.ids)[None], torch.from_numpy(r.loss_mask)[None], codes)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert ("code_loss" in stats) == (vocab.layout == "grouped")


def test_level_by_level_logits_match_all_levels_at_once():
    vocab = Vocab.train_bpe(TEXTS, 300, LEVELS, K, "grouped")
    torch.manual_seed(1)
    model = OmniMoGenLM(ModelConfig(hidden_size=32, layers=1, heads=2, intermediate_size=64), vocab).eval()
    hidden = torch.randn(4, 32)
    codes = torch.randint(0, K, (4, LEVELS))
    every = model.code_logits(hidden, codes)  # how training scores them
    cond = torch.zeros_like(hidden)
    for level in range(LEVELS):  # how sampling builds them up
        torch.testing.assert_close(model.level_logits(hidden, cond, level), every[:, level])
        cond = cond + model.code_cond(codes[:, level] + level * K)
    # a level depends on the coarser codes: other codes, other logits
    assert not torch.allclose(every[:, 2], model.code_logits(hidden, codes.flip(0))[:, 2])


@pytest.mark.parametrize("lora_rank", [0, 4])
def test_pretrained_base_with_resized_embeddings_and_lora(tmp_path, lora_rank):
    """The pretrained path on a tiny random checkpoint saved locally (no downloads)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM

    base_tok = Tokenizer(models.BPE())
    base_tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    base_tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=280, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    base_tok.train_from_iterator(TEXTS, trainer)
    base_size = base_tok.get_vocab_size()
    cfg = LlamaConfig(vocab_size=base_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2)  # fmt: skip
    LlamaForCausalLM(cfg).save_pretrained(tmp_path / "base")

    vocab = Vocab.extend(base_tok, LEVELS, K, "grouped")
    assert vocab.text_size == base_size + len(SPECIALS) and min(vocab.special.values()) == base_size
    model = OmniMoGenLM(ModelConfig(base=str(tmp_path / "base"), lora_rank=lora_rank), vocab)
    assert model.lm.get_input_embeddings().num_embeddings == vocab.text_size
    r = vocab.render(conversation(np.random.default_rng(6)))
    loss, _ = model.loss(
        torch.from_numpy(r.ids)[None], torch.from_numpy(r.loss_mask)[None], torch.from_numpy(r.codes)[None]
    )
    loss.backward()
    if lora_rank:
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        assert any("lora_" in n for n in trainable) and not any("q_proj.base_layer" in n for n in trainable)
    p = vocab.render([Message("user", (TextPart("walk"),))], generation_prompt=True)
    out = generate(model, [p], SamplingOptions(temperature=0, max_new_tokens=20))
    assert len(out.ids[0]) > 0


@pytest.mark.parametrize("kv_heads,half", [(2, False), (1, False), (2, True)])
def test_lean_llama_decoder_matches_hugging_face(kv_heads, half):
    from transformers import LlamaConfig, LlamaForCausalLM

    from omnimogen.model.fast_llama import LlamaDecoder

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=kv_heads, tie_word_embeddings=True)  # fmt: skip
    lm = LlamaForCausalLM(cfg).eval()
    assert LlamaDecoder.supports(lm)
    ids = torch.randint(0, 50, (2, 9))
    attn = torch.ones(2, 9, dtype=torch.long)
    attn[1, :4] = 0  # left padding, as generate() batches prompts of different lengths
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ref = lm(input_ids=ids, attention_mask=attn, position_ids=pos, output_hidden_states=True)
    fast = LlamaDecoder(lm, batch=2, max_len=16, half=half)
    embed = lm.get_input_embeddings()
    hidden = [fast(embed(ids[:, :6]), attn[:, :6], pos[:, :6])]  # a prompt, then one position at a time
    hidden += [fast(embed(ids[:, t : t + 1]), attn[:, : t + 1], pos[:, t : t + 1]) for t in range(6, 9)]
    hidden = torch.cat(hidden, 1)
    real = attn.bool()
    tol = {"atol": 5e-3, "rtol": 5e-3} if half else {"atol": 1e-5, "rtol": 1e-4}  # float16 weights: ~3 digits
    torch.testing.assert_close(hidden[real], ref.hidden_states[-1][real], **tol)
    torch.testing.assert_close(fast.logits(hidden)[real], ref.logits[real], **tol)
    assert torch.isfinite(hidden).all()  # padding rows stay finite
    with torch.no_grad():  # the fused weight copies follow an in-place change of the model's weights
        lm.model.layers[0].mlp.down_proj.weight.mul_(3)
        again = LlamaDecoder(lm, batch=2, max_len=16, half=half)(embed(ids), attn, pos)
        changed = lm(input_ids=ids, attention_mask=attn, position_ids=pos, output_hidden_states=True)
    torch.testing.assert_close(again[real], changed.hidden_states[-1][real], **tol)
    with pytest.raises(ValueError, match="built for 16 positions"):
        fast(embed(ids), attn.new_ones(2, 18), pos)
    lm.train()
    assert not LlamaDecoder.supports(lm)  # training mode (dropout) takes the Hugging Face path
