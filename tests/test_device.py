"""Where tensors live (omnimogen.device): the models' paths create nothing on a default device, devices
and weight types are chosen and refused with one sentence, and, where CUDA exists, the same model
answers alike on the GPU and the CPU."""

import numpy as np
import pytest
import torch
from conftest import FIXTURES

from omnimogen.cli import main
from omnimogen.device import mixed_precision, resolve_device, resolve_dtype
from omnimogen.errors import OptionError
from omnimogen.evaluation.evaluator import PRESETS as EVALUATOR_PRESETS
from omnimogen.evaluation.evaluator import TextMotionEvaluator, pad_batch
from omnimogen.model.pipeline import OmniMoGen
from omnimogen.model.transformer import ModelConfig, OmniMoGenLM
from omnimogen.model.vocab import Message, MotionCodes, TextPart, Vocab
from omnimogen.motion import Motion, Normalizer
from omnimogen.tokenizer import PRESETS, MotionTokenizer
from omnimogen.training.lm import Rendered2Batch
from omnimogen.training.tokenizer import reconstruction_loss

CUDA = torch.cuda.is_available()
TEXTS = ["Make <SourceMotion> look tired.", "a person walks forward happily", "Follow <RefMotion>."] * 20


class default_device_is_meta:
    """Inside, a tensor made without naming its device lands on ``meta`` (no data). Mixed with the
    model's real tensors it fails at once: what would fail on a GPU, where the default is the CPU."""

    def __enter__(self):
        torch.set_default_device("meta")

    def __exit__(self, *exc):
        torch.set_default_device(None)


@pytest.fixture(scope="module")
def tok():
    torch.manual_seed(0)
    t = MotionTokenizer(PRESETS["tiny"], Normalizer.load(FIXTURES))
    t.train()
    t(torch.randn(4, 32, 263))  # the codebooks' k-means start (the library's, before any device question)
    return t


@pytest.mark.parametrize("layout", ["grouped", "flat"])
def test_the_language_models_training_path_names_its_devices(layout):
    vocab = Vocab.train_bpe(TEXTS, 300, 3, 16, layout)
    torch.manual_seed(0)
    lm = OmniMoGenLM(ModelConfig(layout=layout, hidden_size=32, layers=1, heads=2, intermediate_size=64), vocab)
    codes = np.random.default_rng(0).integers(0, 16, (5, 3))
    r = vocab.render([Message("user", (TextPart("a person walks"),)), Message("assistant", (MotionCodes(codes),))])
    batch = Rendered2Batch(vocab)([("t2m", r), ("t2m", r)])  # built on the CPU, as a DataLoader does
    with default_device_is_meta():
        out = lm(batch["ids"], batch["codes"], attention_mask=batch["attention_mask"], loss_mask=batch["loss_mask"])
        out.loss.backward()
    assert out.loss.device.type == "cpu" and torch.isfinite(out.loss)
    assert all(p.grad is not None and p.grad.device.type == "cpu" for p in lm.parameters() if p.requires_grad)


def test_the_tokenizers_training_path_names_its_devices(tok):
    x = torch.randn(4, 32, 263)
    with default_device_is_meta():
        out = tok(x)
        loss, joints = reconstruction_loss(tok, x, out.reconstruction, joint_weight=1.0)
        (loss + out.commit_loss).backward()
    assert torch.isfinite(loss) and joints.device.type == "cpu"


def test_the_evaluators_path_names_its_devices(hml_features):
    ev = TextMotionEvaluator(EVALUATOR_PRESETS["tiny"], Normalizer.load(FIXTURES))
    x, lengths = pad_batch([torch.from_numpy(hml_features[:40]).float(), torch.from_numpy(hml_features[:25]).float()])
    with default_device_is_meta():
        emb = ev.motion_encoder(x, lengths)
    assert emb.device.type == "cpu" and torch.isfinite(emb).all()


def test_devices_and_types_are_chosen_or_refused_in_one_sentence():
    assert resolve_device(None) == resolve_device("auto") == torch.device("cuda" if CUDA else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for bad in ("gpu", "cuda:x", "cpu:1", 3):
        with pytest.raises(OptionError, match="device must be"):
            resolve_device(bad)
    if not CUDA:
        with pytest.raises(OptionError, match="no CUDA GPU"):
            resolve_device("cuda")
    assert resolve_dtype(None) == torch.float32 and resolve_dtype("bf16") == torch.bfloat16
    with pytest.raises(OptionError, match="dtype must be one of"):
        resolve_dtype("int8")
    assert mixed_precision("auto", cpu=True) == "no" and mixed_precision("bf16", cpu=True) == "bf16"
    with pytest.raises(OptionError, match="mixed_precision must be"):
        mixed_precision("half", cpu=False)


@pytest.mark.skipif(CUDA, reason="checks the message of a machine without CUDA")
def test_the_command_line_refuses_a_missing_gpu(tmp_path, capsys):
    assert main(["generate", "a person walks", "--device", "cuda", "-o", str(tmp_path / "a.bvh")]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err and not (tmp_path / "a.bvh").exists()
    out = tmp_path / "run"
    assert main(["train", "tokenizer", "--data", str(FIXTURES), "--out", str(out), "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def _tiny_model(tok) -> OmniMoGen:
    vocab = Vocab.train_bpe(["a person walks", "A person walks forward."] * 20, 300, 3, 32, "grouped")
    torch.manual_seed(0)
    return OmniMoGen(OmniMoGenLM(ModelConfig(hidden_size=32, layers=1, heads=2, intermediate_size=64), vocab), tok)


def test_a_model_in_bfloat16_keeps_its_tokenizer_in_float32(tok):
    model = _tiny_model(tok).to("cpu", "bfloat16")
    assert {p.dtype for p in model.lm.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in model.tokenizer.parameters()} == {torch.float32}
    result = model("a person walks", seconds=2.0, seed=0, motion_only=True)
    (motion,) = result.motions
    assert motion.num_frames == 41 and np.isfinite(motion.joints).all()


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_the_gpu_and_the_cpu_give_the_same_answer(tok, hml_features):
    model = _tiny_model(tok)
    source = Motion.from_features(hml_features[:41])
    on_cpu = model.to("cpu")("a person walks", seconds=2.0, seed=3, temperature=0, motion_only=True)
    codes_cpu = model.tokenizer.encode(source)
    on_gpu = model.to("cuda")("a person walks", seconds=2.0, seed=3, temperature=0, motion_only=True)
    assert model.device.type == "cuda"
    np.testing.assert_array_equal(model.tokenizer.encode(source), codes_cpu)
    np.testing.assert_allclose(on_gpu.motions[0].joints, on_cpu.motions[0].joints, atol=1e-3)
