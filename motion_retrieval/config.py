"""Model and training configurations as plain dataclasses, with named presets.

`CONFIGS[name]()` returns a fresh `TrainConfig`; `apply_overrides(cfg, ["field=value", ...])`
changes any field from the command line (`model.` may prefix model fields, or be left out).
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import asdict, dataclass, field, fields

SCORERS = ("maxsim", "global")
PART_IDENTITY = ("none", "part_embed", "patch_skip", "both")
GROUNDING_POOL = ("time_max", "patch")


@dataclass
class ModelConfig:
    """What the network is; saved next to every checkpoint."""

    vit_name: str = "vit_tiny_patch16_224"
    vit_depth: int | None = None  # fewer blocks than the timm default (small CPU models)
    pretrained: bool = False  # timm weights need the network: off by default
    drop_path: float = 0.1
    vit_final_norm: bool = True  # the paper's features skip the ViT's last LayerNorm
    text_model: str = "minilm"  # "minilm" (the offline package), a hub name or a local dir
    text_max_length: int = 48
    embed_dim: int = 256
    band_width: int = 16
    scorer: str = "maxsim"  # "maxsim" (token x patch) or "global" (pooled, cosine)
    logit_scale_init: float = 1 / 0.07
    logit_scale_max: float = 100.0
    # MaxSim only: weight of the patch-to-word half of the score (0 = the paper's MaxSim, words
    # only). See `model.maxsim`.
    coverage_weight: float = 0.0
    # Faithful explanations: give every output patch its body-part identity back.
    # "part_embed": a learned vector per part added after the ViT; "patch_skip": the patch's own
    # (pre-transformer) patch embedding added back to its output token; "both".
    part_identity: str = "none"
    # Pooled heads for `TrainConfig.global_aux_weight`; they score only in a hybrid model
    # (`whole_clip_weight` > 0).
    global_aux: bool = False
    # ... or none: the pooled loss goes through the MaxSim projections themselves, so its dense
    # gradient shapes the very space the words and patches are matched in.
    global_aux_shared: bool = False
    # MaxSim only: weight w of the whole-clip cosine (pooled words against pooled patches,
    # through the global_aux heads) in the score, (maxsim + w * whole) / (1 + w). 0 = pure
    # MaxSim. Chosen on the validation split after training (`python -m motion_retrieval
    # hybrid`); see `RetrievalModel.score`.
    whole_clip_weight: float = 0.0
    # MaxSim only: words know *when*. A head on each word's text state predicts where in the
    # clip it happens (phase in 0..1, from context such as "then" or "after") and how much
    # that matters (gate >= 0); each patch carries its time block's place in the clip's real
    # frames. Both ride in two extra embedding dimensions, so a word-patch cosine gains
    # gate * cos(pi * (phase - time)) and the maps, the index and search need no other change.
    # See `RetrievalModel.word_time`.
    word_time: bool = False

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise ValueError(f"scorer must be one of {SCORERS}, got {self.scorer!r}")
        if self.part_identity not in PART_IDENTITY:
            raise ValueError(f"part_identity must be one of {PART_IDENTITY}, "
                             f"got {self.part_identity!r}")
        if self.coverage_weight < 0:
            raise ValueError("coverage_weight must be >= 0")
        if self.whole_clip_weight < 0:
            raise ValueError("whole_clip_weight must be >= 0")
        if self.whole_clip_weight > 0 and self.scorer != "maxsim":
            raise ValueError("whole_clip_weight is for MaxSim models (scorer=maxsim)")
        if self.whole_clip_weight > 0 and not self.global_aux:
            raise ValueError("whole_clip_weight > 0 needs the whole-clip heads "
                             "(model.global_aux=true, trained with global_aux_weight > 0)")
        if self.word_time and self.scorer != "maxsim":
            raise ValueError("word_time is for MaxSim models (scorer=maxsim)")
        if self.band_width * 14 != 224:
            raise ValueError("band_width must be 16: 14 bands make the 224-pixel image")


@dataclass
class TrainConfig:
    """How the network is trained."""

    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 15
    batch_size: int = 48
    lr_motion: float = 1e-4
    lr_text: float = 2e-5
    lr_head: float = 1e-4
    weight_decay: float = 0.1
    warmup_epochs: float = 1.0
    grad_clip: float = 1.0
    seed: int = 42
    # Paper's MLM regulariser: 15 % of tokens, weight 0.2, on the first mlm_batch captions.
    mlm_weight: float = 0.2
    mlm_prob: float = 0.15
    mlm_batch: int = 16
    text_frozen_layers: int = 0  # freeze embeddings + this many lower text layers
    mirror_prob: float = 0.5  # mirror motion + caption (+ grounding parts) with this chance
    # Faithful explanations (off in the paper recipe).
    hard_negative_batches: bool = False  # fill batches with whole labels.json "group"s
    token_diversity_weight: float = 0.0  # push a caption's word embeddings apart ...
    token_diversity_margin: float = 0.3  # ... when their mean pairwise cosine exceeds this
    grounding_weight: float = 0.0  # weak part supervision from grounding.json
    grounding_pool: str = "time_max"  # part logits: max over time blocks, or over all patches
    grounding_temperature: float = 0.05
    # Comma-separated data folder names whose grounding.json may supervise training ("" = all).
    # Leave Bandai-Namco out to judge grounding there on labels the model never saw.
    grounding_from: str = ""
    # With model.word_time: supervise each grounded word's phase with the middle of its
    # phrase's time blocks (squared error; same grounding.json and `grounding_from` filter).
    word_time_weight: float = 0.0
    # Auxiliary pooled (global) InfoNCE on the same encoders, through separate heads: dense
    # gradients for every patch while the scored path stays MaxSim (unless the model is made
    # hybrid afterwards: `model.whole_clip_weight`). Needs model.global_aux.
    global_aux_weight: float = 0.0
    # Soft MaxSim in training: the max over patches becomes a softmax-weighted mean whose
    # temperature falls geometrically from soft_max_tau to soft_max_tau_end over training
    # (0 = the hard max throughout). Evaluation and search always use the hard max.
    soft_max_tau: float = 0.0
    soft_max_tau_end: float = 0.0
    # Bookkeeping.
    val_every: int = 1
    select_metric: str = "val_rsum"  # mean of T2M/M2T R@1 and R@5 on the validation split
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    num_threads: int = 0  # torch CPU threads; 0 keeps torch's default
    max_train_clips: int = 0  # 0 = all; for smoke runs
    max_val_clips: int = 0
    text_fp16: bool = True  # store text weights in fp16 in the checkpoint
    log_every: int = 10

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = ModelConfig(**self.model)
        if self.grounding_pool not in GROUNDING_POOL:
            raise ValueError(f"grounding_pool must be one of {GROUNDING_POOL}")
        if self.soft_max_tau < 0 or self.soft_max_tau_end < 0:
            raise ValueError("soft_max_tau and soft_max_tau_end must be >= 0")
        if self.global_aux_weight > 0 and not self.model.global_aux:
            self.model.global_aux = True  # the loss needs its heads
        if self.word_time_weight < 0:
            raise ValueError("word_time_weight must be >= 0")
        if self.word_time_weight > 0 and not self.model.word_time:
            raise ValueError("word_time_weight > 0 needs model.word_time=true")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2 for a contrastive loss")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        model = ModelConfig(**d.pop("model", {}))
        known = {f.name for f in fields(cls)}
        return cls(model=model, **{k: v for k, v in d.items() if k in known})


def paper() -> TrainConfig:
    """METHOD.md §3: ViT-B/16 + DistilBERT, batch 128, 60 epochs (needs a GPU and the hub)."""
    return TrainConfig(
        model=ModelConfig(vit_name="vit_base_patch16_224", pretrained=True, drop_path=0.2,
                          text_model="distilbert-base-uncased", vit_final_norm=False),
        epochs=60, batch_size=128, lr_motion=1e-4, lr_text=2e-5, lr_head=1e-4,
        weight_decay=0.1, mirror_prob=0.0, text_fp16=False,
    )


def cpu() -> TrainConfig:
    """Sized for 2 CPU cores and ~4.7k clips in about 30-40 minutes (see docs/training.md)."""
    return TrainConfig(
        model=ModelConfig(vit_name="vit_tiny_patch16_224", vit_depth=4, drop_path=0.05),
        epochs=8, batch_size=48, lr_motion=3e-4, lr_text=3e-5, lr_head=3e-4,
        warmup_epochs=0.5, text_frozen_layers=4, mlm_batch=8,
    )


def faithful() -> TrainConfig:
    """The `cpu` budget with the explanation-faithfulness recipe switched on."""
    cfg = cpu()
    cfg.model.part_identity = "part_embed"
    cfg.hard_negative_batches = True
    cfg.token_diversity_weight = 0.1
    cfg.grounding_weight = 0.5
    cfg.global_aux_weight = 1.0  # chosen on validation (README "Results")
    cfg.lr_head = 1e-3  # projections + logit scale; chosen on validation (README "Results")
    cfg.model.global_aux = True  # its training-only heads
    # Words that know when (chosen on validation: docs/results.md, "Words that know when").
    cfg.model.word_time = True
    cfg.word_time_weight = 1.0
    return cfg


def tiny() -> TrainConfig:
    """For tests: seconds on one core."""
    return TrainConfig(
        model=ModelConfig(vit_name="vit_tiny_patch16_224", vit_depth=1, drop_path=0.0,
                          embed_dim=32, text_max_length=24),
        epochs=2, batch_size=8, lr_motion=1e-3, lr_text=1e-4, lr_head=1e-3, warmup_epochs=0.0,
        mlm_batch=4, text_frozen_layers=5, log_every=1, text_fp16=True,
    )


CONFIGS: dict[str, typing.Callable[[], TrainConfig]] = {
    "cpu": cpu, "paper": paper, "tiny": tiny, "faithful": faithful,
}


def get_config(name: str) -> TrainConfig:
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; choose one of {sorted(CONFIGS)}")
    return CONFIGS[name]()


def _parse_value(text: str, kind) -> object:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {text!r}")
    if kind in (int, float):
        return kind(text)
    if kind is str:
        return text
    return json.loads(text)


def apply_overrides(cfg: TrainConfig, items: list[str]) -> TrainConfig:
    """Set `field=value` pairs (e.g. `epochs=3`, `model.vit_depth=2`, `scorer=global`)."""
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects field=value, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        target = cfg
        if key.startswith("model."):
            target, key = cfg.model, key[len("model."):]
        elif not hasattr(cfg, key) and hasattr(cfg.model, key):
            target = cfg.model
        if key == "model" or not hasattr(target, key):
            raise ValueError(f"unknown config field {key!r}")
        hints = typing.get_type_hints(type(target))
        setattr(target, key, _parse_value(value, hints[key]))
    # Re-run validation on the edited values.
    cfg.model = dataclasses.replace(cfg.model)
    return dataclasses.replace(cfg)
