from pathlib import Path

import numpy as np
import pytest
import torch

# Tests use tiny models: one thread is fastest, and OpenMP threads spinning against another busy
# process (a training job) slow small ops down a hundredfold.
torch.set_num_threads(1)

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "humanml3d"  # golden HumanML3D files (MIT, see its LICENSE)
TAKES = HERE / "fixtures" / "bandai"  # three Bandai takes as published (CC BY-NC 4.0, see fixtures/NOTICE.md)
# The full Bandai corpus: tests that build datasets from it skip when a clone has no ../shared beside it.
BANDAI = HERE.parents[1] / "shared" / "data" / "bandai"


def bandai() -> Path:
    """The Bandai corpus folder, or skip the test (and the fixtures built from it) when it is absent."""
    if not (BANDAI / "Bandai-Namco-Research-Motiondataset-1").is_dir():
        pytest.skip(f"needs the Bandai corpus at {BANDAI} (absent in this clone)")
    return BANDAI


@pytest.fixture(scope="session")
def hml_features() -> np.ndarray:
    return np.load(FIXTURES / "new_joint_vecs" / "012314.npy")


@pytest.fixture(scope="session")
def hml_joints() -> np.ndarray:
    return np.load(FIXTURES / "new_joints" / "012314.npy")


@pytest.fixture(scope="session")
def turning_features() -> np.ndarray:
    """momask_example_000612: a clip whose facing passes through -Z (HumanML3D's sign bug)."""
    return np.load(FIXTURES / "momask_example_000612.npy")


@pytest.fixture(scope="session")
def inputs(tmp_path_factory):
    """A small Bandai corpus (40 takes), an X2Mo set of 120 samples and a tiny tokenizer: what a
    language-model or RL training run reads."""
    import warnings

    from omnimogen.data.bandai import build_bandai
    from omnimogen.instructions.builder import build_x2mo
    from omnimogen.motion import Normalizer
    from omnimogen.tokenizer import PRESETS, MotionTokenizer

    root = tmp_path_factory.mktemp("lm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_bandai(bandai(), root / "corpus", limit=40, progress=False)
        build_x2mo(root / "corpus", root / "x2mo", samples=120, seed=0, progress=False)
    torch.manual_seed(0)
    tok = MotionTokenizer(PRESETS["tiny"], Normalizer.load(FIXTURES))
    tok.train()
    for _ in range(2):
        tok(torch.randn(4, 32, 263))
    tok.save_pretrained(root / "tok")
    return root


# Fixtures that build a dataset from the whole Bandai corpus (seconds to a minute each), and the tests
# that do so themselves: marked `slow` so that `pytest -m "not slow"` is a quick loop. CI runs all.
CORPUS_FIXTURES = {"corpus", "small_corpus", "tiny_data", "inputs"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if CORPUS_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
