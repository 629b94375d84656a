"""Training losses: symmetric InfoNCE, masked-LM inputs, and the explanation-faithfulness terms."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(logits: torch.Tensor, positives: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric cross-entropy over a (B, B) text x motion logit matrix, 0.5 each way.

    `positives` (B, B) bool marks every pair that is a true match (the diagonal, plus captions
    that are word-for-word the same): templated corpora repeat captions, and treating those as
    negatives would teach the model to separate identical sentences.
    """
    b = logits.shape[0]
    if logits.shape != (b, b):
        raise ValueError(f"expected a square logit matrix, got {tuple(logits.shape)}")
    eye = torch.eye(b, dtype=torch.bool, device=logits.device)
    pos = eye if positives is None else (positives.to(logits.device) | eye)
    logits = logits.float()
    t2m = -(torch.logsumexp(logits.masked_fill(~pos, float("-inf")), 1)
            - torch.logsumexp(logits, 1))
    m2t = -(torch.logsumexp(logits.masked_fill(~pos, float("-inf")), 0)
            - torch.logsumexp(logits, 0))
    return 0.5 * t2m.mean() + 0.5 * m2t.mean()


def caption_positives(captions: list[str]) -> torch.Tensor:
    """(B, B) bool: caption i and caption j are the same text (case and spaces folded)."""
    keys = [" ".join(c.lower().split()) for c in captions]
    return torch.tensor([[a == b for b in keys] for a in keys], dtype=torch.bool)


def mask_tokens(input_ids: torch.Tensor, valid: torch.Tensor, mask_id: int, vocab_size: int,
                prob: float = 0.15, generator: torch.Generator | None = None):
    """BERT masking of the valid (non-special) positions: (masked ids, labels with -100 elsewhere).

    Of the chosen positions 80 % become [MASK], 10 % a random token, 10 % stay; each caption
    gets at least one so the loss is never empty.
    """
    dev = input_ids.device
    rand = torch.rand(input_ids.shape, generator=generator).to(dev)
    chosen = (rand < prob) & valid
    # Guarantee one masked token per caption that has any valid token.
    first = torch.where(valid, rand, torch.full_like(rand, 2.0)).argmin(1)
    has = valid.any(1)
    chosen[has, first[has]] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    r = torch.rand(input_ids.shape, generator=generator).to(dev)
    ids = input_ids.clone()
    ids[chosen & (r < 0.8)] = mask_id
    swap = chosen & (r >= 0.8) & (r < 0.9)
    ids[swap] = torch.randint(vocab_size, (int(swap.sum()),), generator=generator).to(dev)
    return ids, labels


def token_diversity_loss(t_emb: torch.Tensor, t_mask: torch.Tensor,
                         margin: float = 0.3) -> torch.Tensor:
    """Anti-collapse: mean over captions of relu(mean pairwise cosine of its words - margin).

    Collapsed captions (all words one vector) turn MaxSim into a single-vector match whose maps
    explain nothing; this keeps the words of a caption apart. Captions with < 2 words add 0.
    """
    t = t_emb.float() * t_mask.unsqueeze(-1)
    n = t_mask.sum(1).float()
    gram = t @ t.transpose(1, 2)  # (B, L, L), zero rows/cols for masked tokens
    off = gram.sum((1, 2)) - (gram.diagonal(dim1=1, dim2=2)).sum(1)
    pairs = n * (n - 1)
    ok = pairs > 0
    if not bool(ok.any()):
        return t_emb.new_zeros(())
    mean_cos = off[ok] / pairs[ok]
    return F.relu(mean_cos - margin).mean()


def grounding_loss(t_emb: torch.Tensor, m_emb: torch.Tensor, m_mask: torch.Tensor,
                   part_target: torch.Tensor, time_target: torch.Tensor | None = None,
                   pool: str = "time_max", temperature: float = 0.05) -> torch.Tensor:
    """Weak supervision of where grounded words look, on matched (caption b, motion b) pairs.

    t_emb (B, L, D), m_emb (B, 196, D), m_mask (B, 196); part_target (B, L, 14) bool: the
    parts a token's phrase refers to (all False = the token is not supervised); time_target
    (B, L, 14) bool: the time blocks of the phrase (None or all False = any valid block).
    "time_max": a 14-way cross-entropy over parts of the max over time; "patch": a
    cross-entropy over all valid patches. Either way the target is the set (log of the summed
    probability of the referenced parts), so a phrase naming an arm may pick shoulder or elbow.
    """
    sup = part_target.any(-1)  # (B, L)
    if not bool(sup.any()):
        return t_emb.new_zeros(())
    b, L, _ = t_emb.shape
    grid = m_mask.shape[1]
    side = int(round(grid ** 0.5))
    sim = torch.einsum("bld,bpd->blp", t_emb.float(), m_emb.float()).view(b, L, side, side)
    allowed = m_mask.view(b, 1, side, side).expand(b, L, side, side)
    if time_target is not None:
        in_time = allowed & time_target.unsqueeze(-1)
        # A phrase whose frames miss every real block falls back to the whole clip.
        use = in_time.flatten(2).any(-1, keepdim=True).unsqueeze(-1)
        allowed = torch.where(use, in_time, allowed)
    sim = sim.masked_fill(~allowed, float("-inf")) / temperature
    if pool == "time_max":
        logits = sim.amax(dim=2)  # (B, L, 14 parts)
        target = part_target
    elif pool == "patch":
        logits = sim.flatten(2)
        target = (part_target.unsqueeze(2) & allowed).flatten(2)
    else:
        raise ValueError(f"unknown grounding pool {pool!r}")
    logits, target = logits[sup], target[sup]
    hit = torch.logsumexp(logits.masked_fill(~target, float("-inf")), -1)
    loss = torch.logsumexp(logits, -1) - hit
    return loss[torch.isfinite(loss)].mean() if bool(torch.isfinite(loss).any()) \
        else t_emb.new_zeros(())


def word_time_loss(phase: torch.Tensor, time_target: torch.Tensor,
                   block_times: torch.Tensor) -> torch.Tensor:
    """Mean squared error between each grounded word's phase and the middle of its phrase.

    phase (B, L) in (0, 1) (`RetrievalModel.word_time`); time_target (B, L, 14) bool: the
    phrase's time blocks (all False = not supervised); block_times (B, 14): each block's place
    in the clip's real blocks, 0 on padding (`model.block_times`). The target is the mean of
    the phrase's real blocks' places, so "first" words aim early and "then" words late.
    """
    real = block_times > 0
    tt = time_target & real[:, None, :]
    count = tt.sum(-1)
    sup = count > 0
    if not bool(sup.any()):
        return phase.new_zeros(())
    target = (tt.to(block_times.dtype) * block_times[:, None, :]).sum(-1) / count.clamp(min=1)
    return ((phase.float() - target)[sup] ** 2).mean()
