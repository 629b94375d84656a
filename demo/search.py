"""Search a gallery index both ways: text -> motions (with token x patch maps), motion -> text.

Text -> motion is exact brute-force MaxSim (the model's own score) over the index's valid patches
only, in float32. The searcher keeps them as one contiguous matrix with the clips sorted by how
many valid patches they have, so each run of equal counts is a few plain GEMMs followed by a max
over patches (a reshape, no gather) and a mean over tokens (plus, for models trained with a
coverage weight, a max over tokens and a mean over patches); nothing is approximated. Maps are
computed for the top-k results only. A hybrid model (`whole_clip_weight` w > 0) adds the cosine
of the query's and each clip's whole-clip vectors, (maxsim + w * whole) / (1 + w), as its
`RetrievalModel.score` does; each hit keeps both parts, so the app can say how much of the score
the word maps explain.

Motion -> motion uses the cosine of mean-pooled patch embeddings (cheap, and stable for clips
of different lengths); motion -> caption uses the model's score (MaxSim, plus the whole-clip part
of a hybrid model) of each gallery caption against the motion.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import numpy as np
import torch

from motion_retrieval.index import GalleryIndex
from motion_retrieval.model import decode_time, masked_mean, with_coverage
from motion_retrieval.vocabulary import normalize_word, strip_punct

MAX_QUERY_CHARS = 300
MAX_QUERY_TOKENS = 64
MAX_K = 50


class QueryError(ValueError):
    """A query the demo refuses; the message is meant for the person who typed it."""


@dataclass
class Word:
    text: str
    tokens: list[int]  # rows of the token x patch map (positions among the valid tokens)
    # Whether a training caption used this word (None: the checkpoint has no vocabulary).
    known: bool | None = None


@dataclass
class TextHit:
    rank: int
    index: int          # clip position in the gallery
    id: str
    score: float
    maps: np.ndarray | None  # (L_valid, P) cosines, -inf on padding patches; None for P = 1
    # A hybrid model's two parts (score = (maxsim + w * whole) / (1 + w)); None otherwise.
    maxsim: float | None = None
    whole: float | None = None
    # (L_valid,) each token's exact share of `whole` (they add up to it); None unless hybrid.
    whole_tokens: np.ndarray | None = None


@dataclass
class TextSearch:
    query: str
    tokens: list[str]   # the valid word pieces, in order
    words: list[Word]
    hits: list[TextHit]
    # (L_valid, 2) each token's (phase, gate) for a model with `word_time`: where in the clip
    # the sentence places it (0 = start, 1 = end) and how much that counts; None otherwise.
    when: np.ndarray | None = None
    # The words no training caption used, each with the closest words the model was trained
    # on (by its text encoder); empty when all are known or the checkpoint has no vocabulary.
    unknown: list[tuple[str, list[str]]] = field(default_factory=list)


@dataclass
class MotionSearch:
    captions: list[tuple[str, float, int]]  # (caption, MaxSim score, clip index)
    motions: list[tuple[int, float]]        # (clip index, pooled cosine)
    n_frames: int


def group_words(query: str, offsets: list[tuple[int, int]]) -> list[Word]:
    """Join word pieces into the whitespace-separated words of the query they came from.

    Pieces with no letter or digit ("," "-" "!") join no word, and a chip's text loses its
    edge punctuation ("twice," -> "twice"): the evaluation's pointing game scores words, not
    punctuation, so a word's map here averages exactly the pieces that game would use.
    """
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", query)]
    words: list[Word] = []
    last = None
    for row, (a, b) in enumerate(offsets):
        if not any(ch.isalnum() for ch in query[a:b]):
            continue
        w = next((i for i, (s, e) in enumerate(spans) if s <= a < e), None)
        if w is not None and w == last:
            words[-1].tokens.append(row)
        else:
            text = query[spans[w][0]:spans[w][1]] if w is not None else query[a:b]
            words.append(Word(strip_punct(text), [row]))
        last = w
    return words


class Searcher:
    """Holds a model and a gallery index; answers queries. Thread-safe for reading."""

    def __init__(self, model, stats, index: GalleryIndex, chunk_rows: int = 262_144,
                 vocabulary: list[str] | None = None):
        if index.dim != model.score_dim:
            raise ValueError(f"the gallery index was built with {index.dim}-dim embeddings but "
                             f"the model makes {model.score_dim}-dim ones: rebuild the index "
                             "with this checkpoint")
        self.model = model.eval()
        self.stats = stats
        self.index = index
        self.chunk_rows = chunk_rows
        # The training captions' words (checkpoint meta "vocabulary"), for `Word.known`.
        self.vocabulary = sorted(set(vocabulary)) if vocabulary else None
        self._vocab_set = set(self.vocabulary or ())
        self._vocab_emb: torch.Tensor | None = None  # their text vectors, made on first need
        self.coverage = float(model.cfg.coverage_weight)
        self.whole_weight = float(getattr(model.cfg, "whole_clip_weight", 0.0))
        if self.whole_weight > 0 and not index.has_whole:
            raise ValueError("this model adds a whole-clip score but the gallery index has no "
                             "whole-clip vectors: rebuild the index with this checkpoint")
        self.whole = torch.from_numpy(index.whole.astype(np.float32))
        # The tokenizer (Rust, stateful truncation) must not run in two threads at once.
        self.text_lock = threading.Lock()
        n_valid = index.patch_mask.sum(1).astype(np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(n_valid)])  # clip i: rows offsets[i:i+2]
        # Reorder the clips by valid-patch count, once: each run of equal counts is then a dense
        # (clips, n, D) block of one contiguous float32 matrix, so a query costs a few large
        # GEMMs and reshapes (no gather, no per-clip loop). float32: no bf16 units on these CPUs
        # and fp16 -> fp32 per query would cost more than the matmul.
        self.order = np.argsort(n_valid, kind="stable")
        counts = n_valid[self.order]
        rows = (np.repeat(self.offsets[self.order] - np.concatenate([[0], np.cumsum(counts)])[:-1],
                          counts) + np.arange(int(counts.sum())))
        self.emb = torch.from_numpy(np.ascontiguousarray(index.patch_emb[rows], np.float32))
        # Runs of equal counts as (first sorted clip, clips, patches each, first row).
        self.runs: list[tuple[int, int, int, int]] = []
        starts = np.flatnonzero(np.diff(counts, prepend=-1))
        for a, b in zip(starts, np.append(starts[1:], len(counts))):
            n = int(counts[a])
            if n:  # a clip with no valid patch cannot match anything (score stays -inf)
                self.runs.append((int(a), int(b - a), n, int(counts[:a].sum())))
        self.pooled = torch.from_numpy(index.pooled.astype(np.float32))
        self.refresh_captions()

    def refresh_captions(self) -> None:
        """Take up the index's caption embeddings (after index.add_captions filled them in)."""
        self.caption_emb = torch.from_numpy(self.index.caption_emb.astype(np.float32))
        self.caption_whole = torch.from_numpy(self.index.caption_whole.astype(np.float32))

    # -------------------------------------------------------------------- text
    def encode_query(self, query: str):
        """(L_valid, D) token embeddings, the word pieces and the words of a checked query, its
        (D,) whole-caption vector and the (L_valid, D) token shares of that vector
        (`RetrievalModel.text_whole_tokens`; both None unless the model is hybrid)."""
        query = check_query(query)
        model = self.model
        limit = min(MAX_QUERY_TOKENS, model.cfg.text_max_length)
        with self.text_lock:
            n = len(model.tokenizer(query, truncation=False)["input_ids"])
            if n > limit:  # the model would silently drop the end of the query
                raise QueryError(f"the query is {n} tokens long; this model reads at most "
                                 f"{limit}")
            with torch.inference_mode():
                batch = model.tokenize([query])
                hidden, mask = model.text_features(batch)
                emb, mask = model.project_text(hidden, mask)
                whole = shares = None
                if self.whole_weight > 0:  # the shares add up to the whole-caption vector
                    shares = model.text_whole_tokens(hidden, mask)[0].float()
                    whole = shares.sum(0)
        valid = batch["valid"][0].cpu().numpy().astype(bool)
        if model.cfg.scorer == "global":
            return emb[0][mask[0]].float(), [query], [Word(query, [0])], whole, None
        rows = np.flatnonzero(valid)
        if len(rows) == 0:
            raise QueryError("the query has no words the model can read")
        tokens = [batch["tokens"][0][r] for r in rows]
        offsets = [tuple(int(v) for v in batch["offsets"][0][r]) for r in rows]
        keep = torch.from_numpy(rows)
        return (emb[0][keep].float(), tokens, group_words(query, offsets), whole,
                None if shares is None else shares[keep])

    def scores(self, q: torch.Tensor, q_whole: torch.Tensor | None = None,
               local: torch.Tensor | None = None) -> torch.Tensor:
        """(N,) the model's exact score of the query ((L, D) tokens and, for a hybrid model, its
        (D,) whole-caption vector) against every gallery clip; `local`: its MaxSim part, when
        the caller already has it."""
        local = self.maxsim_scores(q) if local is None else local
        return local if self.whole_weight == 0 else self.hybrid(local, self.whole, q_whole)

    def hybrid(self, local: torch.Tensor, whole: torch.Tensor, q_whole) -> torch.Tensor:
        """(maxsim + w * whole) / (1 + w) with whole = rows of `whole` against `q_whole`."""
        if q_whole is None:
            raise ValueError("a hybrid model's score needs the query's whole-clip vector")
        with torch.inference_mode():
            return with_coverage(local, whole @ q_whole.float(), self.whole_weight)

    def maxsim_scores(self, q: torch.Tensor) -> torch.Tensor:
        """(N,) exact MaxSim (with the model's coverage) of the (L, D) query against every clip."""
        ranked = torch.full((len(self.index),), -torch.inf)
        q = q.float().contiguous()
        cov = self.coverage
        with torch.inference_mode():
            for first, clips, n, row in self.runs:
                per = max(1, self.chunk_rows // n)
                for s in range(0, clips, per):
                    c = min(per, clips - s)
                    block = self.emb[row + s * n:row + (s + c) * n]
                    # E @ q.T through linear: MKL's fast path for a skinny right-hand side.
                    sim = torch.nn.functional.linear(block, q).view(c, n, -1)
                    score = sim.amax(1).mean(1)
                    if cov > 0:  # see motion_retrieval.model.maxsim
                        score = with_coverage(score, sim.amax(2).mean(1), cov)
                    ranked[first + s:first + s + c] = score
        out = torch.empty_like(ranked)
        out[torch.from_numpy(self.order)] = ranked
        return out

    def maps(self, q: torch.Tensor, i: int) -> np.ndarray:
        """(L, P) cosines of the query tokens against clip i's patches (-inf on padding)."""
        idx = self.index
        a, b = self.offsets[i], self.offsets[i + 1]
        emb = torch.from_numpy(idx.patch_emb[a:b].astype(np.float32))
        out = np.full((q.shape[0], idx.num_patches), -np.inf, dtype=np.float32)
        with torch.inference_mode():
            out[:, idx.patch_mask[i]] = torch.nn.functional.linear(q.float(), emb).numpy()
        return out

    def search_text(self, query: str, k: int = 5) -> TextSearch:
        k = check_k(k, len(self.index))
        q, tokens, words, q_whole, q_shares = self.encode_query(query)
        local = self.maxsim_scores(q)  # kept: each hit reports its MaxSim part
        top = torch.topk(self.scores(q, q_whole, local), k)
        hits = []
        for rank, (score, i) in enumerate(zip(top.values.tolist(), top.indices.tolist()), 1):
            maps = self.maps(q, i) if self.index.num_patches > 1 else None
            parts = ((float(local[i]), float(self.whole[i] @ q_whole),
                      (q_shares @ self.whole[i]).numpy())
                     if self.whole_weight > 0 else (None, None, None))
            hits.append(TextHit(rank, i, self.index.ids[i], float(score), maps, *parts))
        when = None
        if getattr(self.model.cfg, "word_time", False):
            when = torch.stack(decode_time(q), dim=1).numpy()
        unknown = self.mark_known(words)
        return TextSearch(query.strip(), tokens, words, hits, when, unknown)

    def mark_known(self, words: list[Word], k: int = 3) -> list[tuple[str, list[str]]]:
        """Set each word's `known`; return the unknown ones with their k closest known words."""
        if self.vocabulary is None or self.model.cfg.scorer == "global":
            return []  # no vocabulary, or one "word" that is the whole query
        out: dict[str, list[str]] = {}
        for w in words:
            word = normalize_word(w.text)
            w.known = word in self._vocab_set
            if not w.known and word not in out:
                out[word] = self.closest_known(word, k)
        return list(out.items())

    def word_vectors(self, words: list[str]) -> torch.Tensor:
        """(n, H) unit vectors of words read on their own: the mean of their text-encoder
        states, before any projection (the pretrained encoder's sense of the word)."""
        out = []
        for s in range(0, len(words), 256):  # the lock per chunk: a query need not wait long
            with self.text_lock, torch.inference_mode():
                hidden, valid = self.model.text_features(self.model.tokenize(words[s:s + 256]))
                out.append(torch.nn.functional.normalize(masked_mean(hidden, valid).float(),
                                                         dim=-1))
        return torch.cat(out)

    def warm_vocabulary(self) -> None:
        """Encode the vocabulary now (the app does it in the background after it opens), so
        the first query with a new word does not wait for it."""
        if self.vocabulary and self._vocab_emb is None:
            self._vocab_emb = self.word_vectors(self.vocabulary)

    def closest_known(self, word: str, k: int = 3) -> list[str]:
        """The k training words whose vectors are closest to `word`'s."""
        if not self.vocabulary:
            return []
        self.warm_vocabulary()
        sims = self._vocab_emb @ self.word_vectors([word])[0]
        top = torch.topk(sims, min(k, len(self.vocabulary))).indices.tolist()
        return [self.vocabulary[i] for i in top]

    # ------------------------------------------------------------------ motion
    def encode_joints(self, joints: np.ndarray):
        """(n_valid, D) patch embeddings of one (T, 22, 3) motion, its frame count, and its (D,)
        whole-clip vector (None unless the model is hybrid)."""
        from motion_retrieval.features import motion_to_input

        x, block_mask, n_frames = motion_to_input(np.asarray(joints, np.float32), self.stats)
        with torch.inference_mode():
            emb, mask, whole = self.model.encode_motion_whole(
                torch.as_tensor(x)[None].float(), torch.as_tensor(block_mask)[None].bool())
        return (emb[0][mask[0]].float(), int(n_frames),
                None if whole is None else whole[0].float())

    def search_motion(self, joints: np.ndarray, k: int = 5) -> MotionSearch:
        k_clips = check_k(k, len(self.index))
        m, n_frames, m_whole = self.encode_joints(joints)
        idx = self.index
        with torch.inference_mode():
            pooled = torch.nn.functional.normalize(m.mean(0), dim=0)
            cos = self.pooled @ pooled
            top = torch.topk(cos, k_clips)
            # Caption MaxSim: every caption token against the motion's patches, mean per caption.
            sim = self.caption_emb @ m.T  # (C_tok, P)
            best = sim.amax(1)  # (C_tok,)
            sums = torch.zeros(len(idx.caption_texts))
            owner = torch.from_numpy(np.repeat(np.arange(len(idx.caption_texts)),
                                               np.diff(idx.caption_offsets)))
            sums.index_add_(0, owner, best)
            n_tok = torch.from_numpy(np.diff(idx.caption_offsets))
            cap = sums / n_tok.clamp(min=1)
            if self.coverage > 0 and len(owner):
                # Each patch's best word within each caption, then the mean over patches.
                per = torch.full((len(cap), sim.shape[1]), -torch.inf).scatter_reduce(
                    0, owner[:, None].expand_as(sim), sim, "amax")
                patches = torch.where(n_tok > 0, per.mean(1), torch.zeros(len(cap)))
                cap = with_coverage(cap, patches, self.coverage)
            if self.whole_weight > 0 and len(cap):
                cap = self.hybrid(cap, self.caption_whole, m_whole)
            ctop = torch.topk(cap, min(k, len(idx.caption_texts)))  # none while pending
        captions = [(idx.caption_texts[c], float(v), int(idx.caption_owner[c]))
                    for v, c in zip(ctop.values.tolist(), ctop.indices.tolist())]
        motions = [(int(i), float(v)) for v, i in zip(top.values.tolist(), top.indices.tolist())]
        return MotionSearch(captions, motions, n_frames)


def check_query(query: str | None) -> str:
    query = (query or "").strip()
    if not query:
        raise QueryError("type a description of a motion, e.g. 'a person waves the left hand'")
    if not any(ch.isalnum() for ch in query):
        raise QueryError("the query has no words, only punctuation; describe a motion, e.g. "
                         "'a person waves the left hand'")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(query)} characters long; keep it under "
                         f"{MAX_QUERY_CHARS}")
    return query


def check_k(k, n: int) -> int:
    try:
        k = int(k)
    except (TypeError, ValueError) as exc:
        raise QueryError(f"the number of results must be a whole number, got {k!r}") from exc
    if k < 1:
        raise QueryError("ask for at least one result")
    return min(k, MAX_K, n)
