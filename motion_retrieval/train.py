"""`train`: fit a retrieval model on one or more prepared data folders.

    python -m motion_retrieval train --data DIR [--data DIR ...] --config cpu --out RUN
        [--set field=value ...] [--resume] [--device auto|cpu|cuda]

Writes RUN/train_config.json, RUN/log.jsonl (one line per epoch), RUN/last (resumable) and
RUN/best (chosen on the validation split, never test).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .config import TrainConfig, apply_overrides, get_config
from .model import RetrievalModel, is_hybrid
from .skeleton import BODY_PARTS, MIRROR_PARTS, NUM_PARTS, mirror_caption
from .vocabulary import vocabulary


def add_arguments(p) -> None:
    p.add_argument("--data", action="append", required=True, metavar="DIR",
                   help="prepared data folder (repeat to concatenate several)")
    p.add_argument("--config", default="cpu", help="preset: cpu, paper, faithful, tiny")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    p.add_argument("--set", action="extend", nargs="+", default=[], metavar="FIELD=VALUE",
                   help="override config fields, e.g. --set epochs=3 model.vit_depth=2")
    p.add_argument("--resume", action="store_true", help="continue from RUN/last")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


# ------------------------------------------------------------------------------- data

@dataclass
class TrainSet:
    """Model inputs precomputed once: z-scored Motion Image inputs (and their mirror images)."""

    x: np.ndarray  # (N, 224, 29) float32
    block_mask: np.ndarray  # (N, 14) bool
    n_frames: list[int]
    captions: list[list[str]]
    grounding: list[list]  # per clip, per caption: list of phrase dicts
    groups: list[str | None]
    source: list[str]  # name of the data folder each clip came from
    x_mirror: np.ndarray | None = None
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.captions)


def read_clips(dirs: list[str], split: str, limit: int = 0, seed: int = 0):
    """Clips of `split` from every folder, with the folder name each came from."""
    from .dataset import read_dataset

    clips, sources = [], []
    for d in dirs:
        ds = read_dataset(d, split)
        if ds.skipped:
            print(f"{d} [{split}]: skipped {ds.skipped} unreadable entries")
        clips += [c for c in ds.clips if c.captions]
        sources += [Path(d).name] * sum(1 for c in ds.clips if c.captions)
    if not clips:
        raise FileNotFoundError(f"no {split} clips with captions in {dirs}")
    if limit and len(clips) > limit:
        keep = np.sort(np.random.default_rng(seed).permutation(len(clips))[:limit])
        clips, sources = [clips[i] for i in keep], [sources[i] for i in keep]
    return clips, sources


def clip_angles(clips, desc: str) -> list[np.ndarray]:
    from .angles import joint_angles

    return [joint_angles(c.joints) for c in tqdm(clips, desc=desc, leave=False, mininterval=2)]


def build_set(clips, sources, angles, stats, mirror: bool) -> TrainSet:
    from .angles import MIRROR_PERM, MIRROR_SIGNS
    from .features import angles_to_input

    def stack(arrs):
        out = [angles_to_input(a, stats) for a in arrs]
        return (np.stack([o[0] for o in out]).astype(np.float32),
                np.stack([o[1] for o in out]).astype(bool), [int(o[2]) for o in out])

    x, bm, nf = stack(angles)
    xm = None
    if mirror:
        # joint_angles(mirror_motion(j)) == MIRROR_SIGNS * joint_angles(j)[:, MIRROR_PERM]
        xm = stack([a[:, list(MIRROR_PERM)] * MIRROR_SIGNS for a in angles])[0]
    return TrainSet(x=x, block_mask=bm, n_frames=nf, captions=[list(c.captions) for c in clips],
                    grounding=[list(c.grounding or []) for c in clips],
                    groups=[(c.labels or {}).get("group") for c in clips], source=list(sources),
                    x_mirror=xm, ids=[c.id for c in clips])


def restrict_grounding(ts: TrainSet, grounding_from: str) -> None:
    """Drop the grounding labels of clips from folders not named in `grounding_from`."""
    if not grounding_from:
        return
    allowed = {s.strip() for s in grounding_from.split(",") if s.strip()}
    unknown = allowed - set(ts.source)
    if unknown:
        raise ValueError(f"grounding_from names {sorted(unknown)}, which are not among the "
                         f"training folders {sorted(set(ts.source))}")
    ts.grounding = [g if s in allowed else [] for g, s in zip(ts.grounding, ts.source)]


def mirror_grounded(caption: str, phrases: list) -> tuple[str, list]:
    """Mirror a caption and its grounded phrases (spans follow the changed word lengths)."""
    out = mirror_caption(caption)
    new = []
    for ph in phrases:
        c0, c1 = ph["span"]
        n0 = len(mirror_caption(caption[:c0]))
        n1 = n0 + len(mirror_caption(caption[c0:c1]))
        parts = [BODY_PARTS[MIRROR_PARTS[BODY_PARTS.index(p)]] if p in BODY_PARTS
                 else p.replace("left", "\0").replace("right", "left").replace("\0", "right")
                 for p in ph.get("parts", [])]
        new.append({**ph, "span": [n0, n1], "text": out[n0:n1], "parts": parts})
    return out, new


def phrase_words(caption: str, tokens: list[str], span) -> list[list[int]]:
    """Token positions of each content word of a character span of the caption: the same words
    the evaluation's pointing game scores, so training supervises exactly what is measured."""
    from .text_alignment import content_words, word_token_groups, words_in_span

    words = words_in_span(word_token_groups(caption, tokens), *span)
    return [w.tokens for w in content_words(words) if w.tokens]


def grounding_targets(tokens: list[list[str]], captions: list[str], phrases: list[list],
                      n_frames: list[int], length: int):
    """(part_target (B, L, 14) bool, time_target (B, L, 14) bool) for grounded content words."""
    from .metrics import frames_to_blocks, parts_mask

    b = len(captions)
    part = np.zeros((b, length, NUM_PARTS), dtype=bool)
    time_ = np.zeros((b, length, 14), dtype=bool)
    for i in range(b):
        for ph in phrases[i] or []:
            try:
                pm = parts_mask(ph.get("parts", []))
            except ValueError:
                continue
            if not pm.any():
                continue
            frames = ph.get("frames")
            tm = frames_to_blocks(frames, n_frames[i]) if frames else np.zeros(14, bool)
            for positions in phrase_words(captions[i], tokens[i], ph["span"]):
                part[i, positions] |= pm
                time_[i, positions] |= tm
    return torch.from_numpy(part), torch.from_numpy(time_)


# ------------------------------------------------------------------------- training

def lr_lambda(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return f


def soft_max_tau(cfg: TrainConfig, progress: float) -> float:
    """The soft-MaxSim temperature at `progress` in [0, 1] of training (0 = hard max)."""
    start, end = cfg.soft_max_tau, cfg.soft_max_tau_end or cfg.soft_max_tau
    if start <= 0:
        return 0.0
    return float(start * (end / start) ** min(1.0, max(0.0, progress)))


def train_step(model, cfg: TrainConfig, ts: TrainSet, idx: list[int], rng, device, amp,
               progress: float = 1.0) -> dict:
    """One optimisation step's losses (not yet backpropagated) for the clips `idx`;
    `progress` (0 to 1) is how far training has come (for scheduled terms)."""
    from .losses import (
        caption_positives,
        grounding_loss,
        info_nce,
        mask_tokens,
        token_diversity_loss,
        word_time_loss,
    )
    from .model import block_times

    texts, phrases, xs = [], [], []
    for i in idx:
        c = int(rng.integers(len(ts.captions[i])))
        text = ts.captions[i][c]
        ph = ts.grounding[i][c] if c < len(ts.grounding[i]) else []
        x = ts.x[i]
        if ts.x_mirror is not None and rng.random() < cfg.mirror_prob:
            text, ph = mirror_grounded(text, ph)
            x = ts.x_mirror[i]
        texts.append(text)
        phrases.append(ph)
        xs.append(x)
    x = torch.from_numpy(np.stack(xs)).to(device)
    bm = torch.from_numpy(ts.block_mask[idx]).to(device)
    batch = model.tokenize(texts)
    out = {}
    with amp:
        m_tok, patch_mask = model.motion_features(x, bm)
        hidden, word_mask = model.text_features(batch)
        m_emb, m_mask = model.project_motion(m_tok, patch_mask)
        t_emb, t_mask = model.project_text(hidden, word_mask)
        positives = caption_positives(texts)
        wholes = {}
        if is_hybrid(model):  # fine-tuning a hybrid model: train the score it searches with
            wholes = {"t_whole": model.text_whole(hidden, word_mask),
                      "m_whole": model.motion_whole(m_tok, patch_mask)}
        logits = model.scale() * model.score(t_emb, t_mask, m_emb, m_mask,
                                             tau=soft_max_tau(cfg, progress), **wholes)
        out["nce"] = info_nce(logits, positives)
        if cfg.global_aux_weight > 0 and model.cfg.scorer == "maxsim":
            aux = model.scale() * model.aux_global_score(m_tok, patch_mask, hidden, word_mask)
            out["aux"] = cfg.global_aux_weight * info_nce(aux, positives)
        if cfg.mlm_weight > 0:
            n = min(cfg.mlm_batch, len(texts))
            g = torch.Generator().manual_seed(int(rng.integers(2**31)))
            ids, labels = mask_tokens(batch["input_ids"][:n], batch["valid"][:n],
                                      model.tokenizer.mask_token_id, len(model.tokenizer),
                                      cfg.mlm_prob, g)
            out["mlm"] = cfg.mlm_weight * model.mlm_loss(ids, batch["attention_mask"][:n],
                                                         labels)
        if model.cfg.scorer == "maxsim":
            if cfg.token_diversity_weight > 0:
                words = t_emb[..., :model.cfg.embed_dim]  # what they say, not when (word_time)
                out["div"] = cfg.token_diversity_weight * token_diversity_loss(
                    words, t_mask, cfg.token_diversity_margin)
            if cfg.grounding_weight > 0 or cfg.word_time_weight > 0:
                part, tim = grounding_targets(batch["tokens"], texts, phrases,
                                              [ts.n_frames[i] for i in idx], t_emb.shape[1])
                if cfg.grounding_weight > 0 and part.any():
                    out["ground"] = cfg.grounding_weight * grounding_loss(
                        t_emb, m_emb, m_mask, part.to(device), tim.to(device),
                        cfg.grounding_pool, cfg.grounding_temperature)
                if cfg.word_time_weight > 0 and tim.any():
                    out["when"] = cfg.word_time_weight * word_time_loss(
                        model.word_time(hidden)[0], tim.to(device), block_times(bm))
    out["loss"] = sum(out.values())
    return out


@torch.no_grad()
def evaluate_set(model, ts: TrainSet, device, batch_size: int = 64) -> dict:
    """Validation: "All"-protocol R@k with each clip's first caption, and grounding accuracy."""
    from .metrics import GroundedPhrase, grounding_score, retrieval_metrics, rsum

    model.eval()
    m_embs, m_masks, m_wholes = [], [], []
    for s in range(0, len(ts), batch_size):
        x = torch.from_numpy(ts.x[s:s + batch_size]).to(device)
        bm = torch.from_numpy(ts.block_mask[s:s + batch_size]).to(device)
        e, m, w = model.encode_motion_whole(x, bm)
        m_embs.append(e.float())
        m_masks.append(m)
        m_wholes.append(w)
    m_emb, m_mask = torch.cat(m_embs), torch.cat(m_masks)
    texts = [c[0] for c in ts.captions]
    tok = model.tokenize(texts)
    t_embs, t_masks, t_wholes = [], [], []
    for s in range(0, len(ts), batch_size):
        part = {k: (v[s:s + batch_size] if torch.is_tensor(v) else v) for k, v in tok.items()}
        e, m, w = model.encode_tokens_whole(part)
        t_embs.append(e.float())
        t_masks.append(m)
        t_wholes.append(w)
    t_emb, t_mask = torch.cat(t_embs), torch.cat(t_masks)
    wholes = ({"t_whole": torch.cat(t_wholes).float(), "m_whole": torch.cat(m_wholes).float()}
              if is_hybrid(model) else {})
    scores = model.score(t_emb, t_mask, m_emb, m_mask, **wholes).cpu().numpy()
    res = retrieval_metrics(scores, texts)
    out = {f"val_{d}_{k}": res[d][k] for d in ("t2m", "m2t") for k in ("R@1", "R@5", "MedR")}
    out["val_rsum"] = rsum(res)
    if model.cfg.scorer == "maxsim":
        phrases = []
        for i in range(len(ts)):
            if not ts.grounding[i] or not ts.grounding[i][0]:
                continue
            sim = model.similarity_maps(t_emb[i], m_emb[i], m_mask[i]).cpu().numpy()
            for ph in ts.grounding[i][0]:
                words = phrase_words(texts[i], tok["tokens"][i], ph["span"])
                if words and ph.get("parts"):
                    phrases.append(GroundedPhrase(sim, words, ph["parts"], ph.get("frames"),
                                                  ts.n_frames[i], ts.source[i]))
        for name, g in grounding_score(phrases).items():
            out[f"val_ground_part_{name}"] = g["part"]
            out[f"val_ground_time_{name}"] = g["time"]
    model.train()
    return out


def pick_device(name: str) -> torch.device:
    """"auto" is CUDA where there is one; asking for CUDA without one is a clear error (a
    ValueError, so the CLI prints it) rather than a failure deep inside the first step."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name} was asked for but no CUDA device is available")
    return torch.device(name)


def amp_context(dev: torch.device, amp: bool):
    """bf16 autocast on CUDA (no loss scaler needed: bf16 has float32's range); none on CPU,
    where bf16 matmuls are slower than float32 ones on most machines."""
    if dev.type == "cuda" and amp:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def device_line(dev: torch.device, amp) -> str:
    """What `train` prints before the first epoch, e.g. "device cuda (NVIDIA H200), bf16
    autocast on" (tools/device/gpu_report.py reads it back)."""
    name = f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""
    on = isinstance(amp, torch.autocast) and amp.fast_dtype == torch.bfloat16
    return f"device {dev}{name}, bf16 autocast {'on' if on else 'off'}"


def build_optimizer(model, cfg: TrainConfig):
    model.freeze_text_layers(cfg.text_frozen_layers)
    groups = model.param_groups(cfg.lr_motion, cfg.lr_text, cfg.lr_head, cfg.weight_decay)
    return torch.optim.AdamW(groups, betas=(0.9, 0.98), eps=1e-6)


def train(cfg: TrainConfig, data: list[str], out: str | Path, resume: bool = False,
          device: str = "auto", quiet: bool = False) -> dict:
    """Train and return the best validation metrics; see the module docstring for outputs."""
    from .angles import angle_stats
    from .checkpoint import load_checkpoint, load_optimizer, save_checkpoint, save_optimizer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.replace(cfg)  # re-validate fields set after construction
    dev = pick_device(device)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    last = out / "last"
    resuming = resume and (last / "config.json").exists()
    if resume and not resuming:
        print(f"no {last} to resume from; starting fresh")

    clips, sources = read_clips(data, "train", cfg.max_train_clips, cfg.seed)
    vclips, vsources = read_clips(data, "val", cfg.max_val_clips, cfg.seed)
    angles = clip_angles(clips, "angles (train)")
    vangles = clip_angles(vclips, "angles (val)")

    if resuming:
        model, stats, _ = load_checkpoint(last, dev)
        model.train()
    else:
        mean, std = angle_stats(angles)  # training split(s) only
        stats = {"mean": mean, "std": std}
        model = RetrievalModel(cfg.model).to(dev)
    ts = build_set(clips, sources, angles, stats, mirror=cfg.mirror_prob > 0)
    restrict_grounding(ts, cfg.grounding_from)
    vs = build_set(vclips, vsources, vangles, stats, mirror=False)
    (out / "train_config.json").write_text(json.dumps(
        {"config": cfg.to_dict(), "data": [str(d) for d in data]}, indent=1))

    opt = build_optimizer(model, cfg)
    if model.cfg.scorer == "global" and (cfg.grounding_weight or cfg.token_diversity_weight):
        print("scorer=global has no token x patch map: grounding and token-diversity terms "
              "are skipped")
    has_groups = any(g is not None for g in ts.groups)
    if cfg.hard_negative_batches and not has_groups:
        print("hard_negative_batches: no labels.json groups in the training data; "
              "batches are plain shuffles")
    use_groups = cfg.hard_negative_batches and has_groups

    def epoch_batches(epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([cfg.seed, epoch, 1])
        return (group_batches_for(ts, cfg, rng) if use_groups else random_batches_for(ts, cfg, rng))

    steps_per_epoch = max(1, len(epoch_batches(0)))
    total = cfg.epochs * steps_per_epoch
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    start_epoch, step, best = 0, 0, -math.inf
    best_metrics: dict = {}
    if resuming:
        info = load_optimizer(last, opt)
        start_epoch, step, best = info["epoch"] + 1, info["step"], info["best"]
        if (out / "best" / "config.json").exists():
            best_metrics = json.loads((out / "best" / "config.json").read_text())["meta"]["val"]
    schedule = lr_lambda(warmup, total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    if step:  # resume the schedule where it stopped (LambdaLR keeps no other state)
        sched.last_epoch = step
        for g, base in zip(opt.param_groups, sched.base_lrs):
            g["lr"] = base * schedule(step)
    amp = amp_context(dev, cfg.amp)
    if not quiet:
        print(device_line(dev, amp))
    log_file = out / "log.jsonl"
    max_log = math.log(model.cfg.logit_scale_max)
    meta_base = {"train_config": cfg.to_dict(), "data": [str(d) for d in data],
                 "vocabulary": vocabulary(c for caps in ts.captions for c in caps)}

    for epoch in range(start_epoch, cfg.epochs):
        rng = np.random.default_rng([cfg.seed, epoch])
        torch.manual_seed(cfg.seed * 1000 + epoch)
        batches = epoch_batches(epoch)
        model.train()
        t0, seen, sums = time.time(), 0, {}
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=quiet,
                   mininterval=1)
        for idx in bar:
            losses = train_step(model, cfg, ts, idx, rng, dev, amp, progress=step / total)
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            with torch.no_grad():
                model.logit_scale.clamp_(max=max_log)
            seen += len(idx)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
            bar.set_postfix(loss=f"{float(losses['loss'].detach()):.3f}",
                            sps=f"{seen / (time.time() - t0):.1f}")
        record = {"epoch": epoch + 1, "step": step, "samples_per_s": seen / (time.time() - t0),
                  **{f"lr_{g['name']}": g["lr"] for g in opt.param_groups
                     if not g["name"].endswith("_nodecay")},
                  "scale": float(model.scale().detach()),
                  **{f"train_{k}": v / max(1, seen) for k, v in sums.items()}}
        if (epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs:
            record.update(evaluate_set(model, vs, dev))
            metric = record.get(cfg.select_metric)
            if metric is None:
                raise ValueError(f"select_metric {cfg.select_metric!r} is not a validation "
                                 f"metric; have {sorted(k for k in record if k.startswith('val'))}")
            if metric > best:
                best, best_metrics = metric, dict(record)
                save_checkpoint(out / "best", model, stats, {**meta_base, "epoch": epoch + 1,
                                                             "val": record},
                                text_fp16=cfg.text_fp16)
        with log_file.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if not quiet:
            shown = {k: round(v, 3) for k, v in record.items()
                     if isinstance(v, float) and (k.startswith("val") or k.startswith("train"))}
            print(f"epoch {epoch + 1}: {shown}")
        save_checkpoint(last, model, stats, {**meta_base, "epoch": epoch + 1}, text_fp16=False)
        save_optimizer(last, opt, {"epoch": epoch, "step": step, "best": best})
    return best_metrics


def random_batches_for(ts: TrainSet, cfg: TrainConfig, rng) -> list[list[int]]:
    from .sampler import random_batches

    return random_batches(len(ts), cfg.batch_size, rng)


def group_batches_for(ts: TrainSet, cfg: TrainConfig, rng) -> list[list[int]]:
    from .sampler import group_batches

    return group_batches(ts.groups, cfg.batch_size, rng)


def run(args) -> int:
    cfg = apply_overrides(get_config(args.config), args.set)
    if args.resume and (Path(args.out) / "train_config.json").exists():
        saved = json.loads((Path(args.out) / "train_config.json").read_text())
        cfg = apply_overrides(TrainConfig.from_dict(saved["config"]), args.set)
    best = train(cfg, args.data, args.out, resume=args.resume, device=args.device)
    print(json.dumps({"best": best}, indent=1))
    return 0
