"""Shared by the training tests: a few optimiser steps of `train_step` on a fixed batch."""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from motion_retrieval.train import train_step


def fit_steps(model, cfg, ts, opt, steps: int, record: str | None = None,
              rng: np.random.Generator | None = None) -> list[float]:
    """`steps` CPU steps on all of `ts`; the `record` loss term of each step (or [])."""
    rng = rng if rng is not None else np.random.default_rng(0)
    out_losses = []
    for _ in range(steps):
        out = train_step(model, cfg, ts, list(range(len(ts))), rng, torch.device("cpu"),
                         contextlib.nullcontext())
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        if record:
            out_losses.append(float(out[record].detach()))
    return out_losses
