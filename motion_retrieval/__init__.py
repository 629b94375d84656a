"""Interpretable text-to-motion retrieval: joint-angle Motion Images, a ViT, and MaxSim.

The public entry points are imported lazily so that `import motion_retrieval` stays cheap
(torch, timm and transformers load only when a model is needed).
"""
from __future__ import annotations

from importlib import import_module

from .errors import MotionFormatError

__version__ = "0.1.0"

_LAZY = {
    "load_motion": "motion_retrieval.formats",
    "joint_angles": "motion_retrieval.angles",
    "angle_stats": "motion_retrieval.angles",
    "read_dataset": "motion_retrieval.dataset",
}

__all__ = ["MotionFormatError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'motion_retrieval' has no attribute {name!r}")
