"""Evaluation: the field's metrics as pure functions, our text-motion evaluator, and the official HumanML3D
evaluator's architecture with the standard protocol that runs it."""

from .evaluator import (
    EvaluatorConfig,
    RetrievalReport,
    TextMotionEvaluator,
    evaluate_retrieval,
    label_ranks,
    load_evaluator,
)
from .guo import GuoConfig, GuoEvaluator, load_guo_evaluator
from .metrics import (
    diversity,
    fid,
    foot_skating_ratio,
    frechet_distance,
    jitter,
    keyframe_error,
    m2m_retrieval,
    matching_score,
    mean_ci95,
    mpjpe,
    multimodality,
    physical_score,
    r_precision,
    trajectory_error,
)
from .protocol import HumanML3DEvaluator, WordVectorizer, load_humanml3d_evaluator, omnimogen_generator, run_protocol

__all__ = [
    "EvaluatorConfig", "GuoConfig", "GuoEvaluator", "RetrievalReport", "TextMotionEvaluator", "diversity",
    "evaluate_retrieval", "fid", "foot_skating_ratio", "frechet_distance", "jitter", "keyframe_error", "label_ranks",
    "load_evaluator", "load_guo_evaluator", "m2m_retrieval", "matching_score", "mean_ci95", "mpjpe", "multimodality",
    "physical_score", "r_precision", "trajectory_error", "HumanML3DEvaluator", "WordVectorizer",
    "load_humanml3d_evaluator", "omnimogen_generator", "run_protocol",
]  # fmt: skip
