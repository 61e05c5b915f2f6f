from pathlib import Path

import numpy as np
import pytest
import torch

# Tests use tiny models: one thread is fastest, and OpenMP threads spinning against another busy
# process (a training job) slow small ops down a hundredfold.
torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures" / "humanml3d"
BANDAI = SHARED / "data" / "bandai"


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
