"""Load the paper's released checkpoints (METHOD.md §6) into `RetrievalModel`.

Their key layout: `motion_encoder.model.*` (timm ViT), `motion_encoder.embed_<part>.*`,
`text_encoder.text_model.*` (a transformers masked-LM model; `text_encoder.base_model.*`
repeats its backbone), `motion_projection.*`, `text_projection.*`, `logit_scale` (log).
Their patch features skip the ViT's final LayerNorm, so the model is built with
`vit_final_norm=False`. The text model's config and tokenizer come from `text_model` (a hub name
such as "distilbert-base-uncased" or a local folder); no weights are downloaded for it.

Caveat: the paper's 41-column angle files follow their own conventions; `paper_stats` picks
the 29 columns the model reads, but our `angles.joint_angles` is an independent
implementation, so served results approximate the paper's, they do not reproduce it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .config import ModelConfig
from .skeleton import BODY_PARTS

# Raw columns of the paper's 41-column angle arrays that make the 29 model columns, in band
# order (a fact of their data layout).
PAPER_COLUMNS: tuple[int, ...] = (
    3, 4, 5, 0, 1, 2, 18, 19, 20, 23, 24, 25, 21, 26, 22, 27, 28, 29, 30, 39, 40,
    31, 32, 33, 34, 35, 36, 37, 38,
)
VIT_BY_WIDTH = {192: "vit_tiny_patch16_224", 384: "vit_small_patch16_224",
                768: "vit_base_patch16_224", 1024: "vit_large_patch16_224"}


def read_state_dict(path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file, or of a torch file read with weights_only (no code runs)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors")
    for prefix in ("model.", "module."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def infer_config(state: dict, text_model: str) -> ModelConfig:
    """A ModelConfig matching the checkpoint's shapes (ViT width/depth, projection size)."""
    try:
        width = int(state["motion_encoder.model.cls_token"].shape[-1])
        embed_dim = int(state["motion_projection.weight"].shape[0])
    except KeyError as exc:
        raise ValueError(f"not a paper checkpoint: missing {exc.args[0]}") from exc
    if width not in VIT_BY_WIDTH:
        raise ValueError(f"no known timm ViT of width {width}")
    blocks = {int(k.split(".")[3]) for k in state if k.startswith("motion_encoder.model.blocks.")}
    return ModelConfig(vit_name=VIT_BY_WIDTH[width], vit_depth=max(blocks) + 1, pretrained=False,
                       drop_path=0.0, vit_final_norm=False, text_model=text_model,
                       embed_dim=embed_dim, scorer="maxsim", part_identity="none")


def map_keys(state: dict) -> dict[str, torch.Tensor]:
    """Paper key -> our key; the duplicated text backbone and classifier heads are dropped."""
    out = {}
    for k, v in state.items():
        if k.startswith("text_encoder.base_model."):
            continue  # the same tensors as text_encoder.text_model.<backbone>.*
        if k.startswith("motion_encoder.model."):
            rest = k[len("motion_encoder.model."):]
            if rest.startswith("head."):
                continue
            out["motion.vit." + rest] = v
        elif k.startswith("motion_encoder.embed_"):
            part, leaf = k[len("motion_encoder.embed_"):].rsplit(".", 1)
            if part not in BODY_PARTS:
                raise ValueError(f"unknown body part band {part!r} in {k}")
            out[f"motion.bands.{part}.{leaf}"] = v
        elif k.startswith("text_encoder.text_model."):
            out["text." + k[len("text_encoder.text_model."):]] = v
        elif k.split(".")[0] in ("motion_projection", "text_projection", "logit_scale"):
            out[k] = v
        else:
            raise ValueError(f"unexpected key {k!r} in a paper checkpoint")
    return out


def load_paper_checkpoint(path, text_model: str = "distilbert-base-uncased",
                          device: str | torch.device = "cpu"):
    """(model in eval mode, cfg) from a released checkpoint file."""
    from .model import RetrievalModel

    state = read_state_dict(path)
    cfg = infer_config(state, text_model)
    model = RetrievalModel(cfg, load_text_weights=False)
    mapped = map_keys(state)
    own = model.state_dict()
    bad = [k for k, v in mapped.items() if k in own and own[k].shape != v.shape]
    if bad:
        raise ValueError(f"shape mismatch for {bad[:3]} (is text_model={text_model!r} right?)")
    result = model.load_state_dict(mapped, strict=False)
    tied = set(getattr(model.text, "_tied_weights_keys", None) or [])
    missing = [k for k in result.missing_keys
               if not (k.startswith("text.") and _is_tied(k[len("text."):], tied))]
    if missing or result.unexpected_keys:
        raise ValueError(f"checkpoint does not fit the model: missing {missing[:5]}, "
                         f"unexpected {result.unexpected_keys[:5]}")
    model.text.tie_weights()
    return model.to(device).eval(), cfg


def _is_tied(key: str, tied) -> bool:
    keys = tied.keys() if isinstance(tied, dict) else tied
    return any(key == t or key.endswith(t) for t in keys)


def paper_stats(mean_file, std_file) -> dict:
    """The paper's Mean_angle.npy / Std_angle.npy (40 or 41 columns) -> our 29-column stats."""
    mean, std = np.load(mean_file, allow_pickle=False), np.load(std_file, allow_pickle=False)
    if mean.shape != std.shape or mean.ndim != 1 or mean.shape[0] not in (40, 41):
        raise ValueError(f"expected 40/41-column statistics, got {mean.shape} / {std.shape}")
    cols = list(PAPER_COLUMNS)
    return {"mean": mean[cols].astype(np.float32),
            "std": (std[cols] + 1e-8).astype(np.float32)}
