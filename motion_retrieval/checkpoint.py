"""Checkpoints as plain files: safetensors tensors, JSON config, angle statistics, tokenizer.

Layout of a checkpoint folder:
    model.safetensors   the weights (text weights optionally fp16; tensors equal to the
                        installed MiniLM left out and read back from the package)
    config.json         {"format", "model": ModelConfig, "aliases", "from_base", "meta"}
    angle_stats.json    {"mean": [29], "std": [29]}
    text/               the text model's config.json and tokenizer files (no weights)
Loading never unpickles anything: safetensors and JSON only.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .config import ModelConfig
from .features import check_stats

FORMAT = "motion_retrieval/1"


def _dedupe(state: dict) -> tuple[dict, dict]:
    """Drop tensors that share storage with an earlier one (tied weights); return aliases."""
    seen: dict[tuple, str] = {}
    out, aliases = {}, {}
    for k, v in state.items():
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape), v.dtype)
        if v.numel() and key in seen:
            aliases[k] = seen[key]
        else:
            seen[key] = k
            out[k] = v
    return out, aliases


def _base_tensors(model) -> dict[str, torch.Tensor]:
    """Our key -> tensor of the installed MiniLM, for keys it provides (empty for other models)."""
    if model.cfg.text_model != "minilm":
        return {}
    from .model import minilm_dir

    path = minilm_dir() / "model.safetensors"
    prefix = f"text.{model.text.base_model_prefix}."
    out = {}
    with safe_open(str(path), "pt") as f:
        for k in f.keys():
            bare = k.split(".", 1)[1] if k.startswith(model.text.base_model_prefix + ".") else k
            out[prefix + bare] = f.get_tensor(k)
    return out


def save_checkpoint(path, model, stats: dict, meta: dict | None = None, *,
                    text_fp16: bool = True, omit_base: bool = True) -> Path:
    """Write `path/` (created) and return it. `meta` must be JSON-serialisable."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    mean, std = check_stats(stats)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    state, aliases = _dedupe(state)
    from_base = []
    if omit_base:
        for k, ref in _base_tensors(model).items():
            if k in state and state[k].shape == ref.shape and torch.equal(state[k], ref.to(
                    state[k].dtype)):
                from_base.append(k)
                del state[k]
    if text_fp16:
        state = {k: v.half() if k.startswith("text.") and v.is_floating_point() else v
                 for k, v in state.items()}
    state = {k: v.contiguous() for k, v in state.items()}
    save_file(state, str(path / "model.safetensors"), metadata={"format": FORMAT})
    config = {"format": FORMAT, "model": dataclasses.asdict(model.cfg), "aliases": aliases,
              "from_base": sorted(from_base), "meta": meta or {}}
    (path / "config.json").write_text(json.dumps(config, indent=1))
    (path / "angle_stats.json").write_text(json.dumps(
        {"mean": mean.tolist(), "std": std.tolist()}))
    text_dir = path / "text"
    text_dir.mkdir(exist_ok=True)
    model.text.config.save_pretrained(text_dir)
    model.tokenizer.save_pretrained(text_dir)
    return path


def read_config(path) -> dict:
    path = Path(path)
    file = path / "config.json"
    if not file.exists():
        raise FileNotFoundError(f"{path} is not a checkpoint folder (no config.json)")
    config = json.loads(file.read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{file}: unknown checkpoint format {config.get('format')!r}")
    return config


def load_checkpoint(path, device: str | torch.device = "cpu"):
    """(model in eval mode, stats {"mean", "std"} as float32 arrays, meta dict)."""
    from .model import RetrievalModel

    path = Path(path)
    config = read_config(path)
    cfg = ModelConfig(**{**config["model"], "pretrained": False})  # never download at load
    model = RetrievalModel(cfg, text_source=str(path / "text"), load_text_weights=False)
    state = load_file(str(path / "model.safetensors"))
    if config["from_base"]:
        base = _base_tensors(model)
        missing = [k for k in config["from_base"] if k not in base]
        if missing:
            raise ValueError(f"{path}: the installed MiniLM lacks {missing[:3]}; "
                             "this checkpoint was saved against another text model")
        state.update({k: base[k] for k in config["from_base"]})
    for alias, source in config["aliases"].items():
        state[alias] = state[source]
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    stats_raw = json.loads((path / "angle_stats.json").read_text())
    mean, std = check_stats(stats_raw)
    return model.to(device).eval(), {"mean": mean, "std": std}, config["meta"]


def save_optimizer(path, optimizer: torch.optim.Optimizer, extra: dict) -> None:
    """Optimizer state as safetensors + JSON (so resuming never unpickles either)."""
    path = Path(path)
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    save_file(tensors, str(path / "optimizer.safetensors"))
    (path / "train_state.json").write_text(json.dumps(
        {"param_groups": sd["param_groups"], "scalars": scalars, **extra}, default=_json))


def _json(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"cannot store {type(o).__name__} in train_state.json")


def load_optimizer(path, optimizer: torch.optim.Optimizer) -> dict:
    """Restore `optimizer` from `path`; returns the extra fields saved with it."""
    path = Path(path)
    info = json.loads((path / "train_state.json").read_text())
    tensors = load_file(str(path / "optimizer.safetensors"))
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        idx, name = k.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    for k, v in info.pop("scalars").items():
        idx, name = k.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    groups = info.pop("param_groups")
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    return info
