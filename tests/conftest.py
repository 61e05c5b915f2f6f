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


# Fixtures that build a dataset from the whole Bandai corpus (seconds to a minute each), and the tests
# that do so themselves: marked `slow` so that `pytest -m "not slow"` is a quick loop. CI runs all.
CORPUS_FIXTURES = {"corpus", "small_corpus", "tiny_data", "inputs"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if CORPUS_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
