"""JSON payloads for the browser: skeleton animations and per-word explanations.

Everything here is plain data (lists, numbers, strings) so that the viewer in assets/viewer.js
can draw maps, highlight joints and play animations without asking the server again.
"""
from __future__ import annotations

import numpy as np

from motion_retrieval.motion_image import TIME_BLOCKS, block_frames
from motion_retrieval.skeleton import (
    BODY_PARTS,
    FPS,
    JOINT_NAMES,
    KINEMATIC_CHAINS,
    PART_JOINTS,
    PART_LABELS,
)

GRID = TIME_BLOCKS  # time blocks = body parts = 14


def skeleton_info() -> dict:
    """What the viewer needs once: bones, sides, parts and the joints each part moves."""
    side = ["L" if n.startswith("l_") else "R" if n.startswith("r_") else "C" for n in JOINT_NAMES]
    return {
        "chains": [list(c) for c in KINEMATIC_CHAINS],
        "side": side,
        "parts": list(BODY_PARTS),
        "part_labels": list(PART_LABELS),
        "part_joints": [list(PART_JOINTS[p]) for p in BODY_PARTS],
        "fps": FPS,
        "grid": GRID,
    }


def animation(joints: np.ndarray, max_frames: int = 400) -> dict:
    """Joint positions as millimetre integers, flattened frame by frame (T * 22 * 3 values)."""
    joints = np.asarray(joints, dtype=np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (len(JOINT_NAMES), 3):
        raise ValueError(f"expected (T, 22, 3) joints, got {joints.shape}")
    step = max(1, int(np.ceil(len(joints) / max_frames)))  # keep the payload bounded
    shown = joints[::step]
    return {
        "n": int(len(shown)),
        "fps": FPS / step,
        "mm": np.round(shown * 1000).astype(np.int32).reshape(-1).tolist(),
    }


def word_explanation(word_map: np.ndarray, n_frames: int) -> dict:
    """One word's (P,) cosines over the patches -> its 14 x 14 map and best (part, moment)."""
    word_map = np.asarray(word_map, dtype=np.float32)
    valid = np.isfinite(word_map)
    best = int(np.argmax(np.where(valid, word_map, -np.inf)))
    block, part = divmod(best, GRID)
    f0, f1 = block_frames(block, n_frames)
    grid = np.where(valid, np.round(word_map, 3), np.nan).reshape(GRID, GRID)
    return {
        "map": [[None if np.isnan(v) else float(v) for v in row] for row in grid],
        "best": best,
        "block": block,
        "part": part,
        "part_name": BODY_PARTS[part],
        "part_label": PART_LABELS[part],
        "frames": [f0, f1],
        "seconds": [round(f0 / FPS, 2), round(f1 / FPS, 2)],
        "similarity": round(float(word_map[best]), 3),
    }


def word_maps(maps: np.ndarray, words) -> list[np.ndarray]:
    """Per word, the mean of its word pieces' rows (each piece weighs the same in MaxSim)."""
    return [np.mean(maps[w.tokens], axis=0) for w in words]


def word_when(when, words) -> list[dict] | None:
    """Per word, where the sentence places it in a clip (phase, 0 = start, 1 = end) and how
    much the score counts that (gate), averaged over its pieces; None unless the model has
    `word_time` (when: (L_valid, 2) from `search.TextSearch.when`)."""
    if when is None:
        return None
    return [{"phase": round(float(np.mean(when[w.tokens, 0])), 3),
             "gate": round(float(np.mean(when[w.tokens, 1])), 3)} for w in words]


def block_seconds(n_frames: int) -> list[list[float]]:
    """Per time block, its [start, end) in seconds for this clip (the map's row labels)."""
    return [[round(a / FPS, 2), round(b / FPS, 2)]
            for a, b in (block_frames(i, n_frames) for i in range(GRID))]


def clip_entry(index, i: int, score: float | None = None, rank: int | None = None) -> dict:
    """A gallery clip as the viewer draws it: caption, labels, length and animation."""
    n = int(index.n_frames[i])
    return {
        "rank": rank,
        "id": index.ids[i],
        "score": None if score is None else round(float(score), 4),
        "caption": index.captions[i][0] if index.captions[i] else "",
        "captions": index.captions[i],
        "labels": index.labels[i],
        "n_frames": n,
        "seconds": round(n / FPS, 2),
        "blocks": block_seconds(n),
        "motion": animation(index.clip_joints(i)),
    }


def text_payload(result, index, model_label: str = "") -> dict:
    """Everything the viewer needs for one text search (result: search.TextSearch)."""
    results = []
    for hit in result.hits:
        entry = clip_entry(index, hit.index, hit.score, hit.rank)
        if hit.maxsim is not None:  # a hybrid model: what the maps explain, and what not
            entry["parts"] = {"maxsim": round(hit.maxsim, 4), "whole": round(hit.whole, 4)}
        entry["words"] = ([word_explanation(m, entry["n_frames"])
                           for m in word_maps(hit.maps, result.words)]
                          if hit.maps is not None else [])
        if hit.whole_tokens is not None and entry["words"]:
            # Each word's exact share of the whole-clip cosine; punctuation holds the rest.
            shares = [float(np.sum(hit.whole_tokens[w.tokens])) for w in result.words]
            for e, share in zip(entry["words"], shares):
                e["whole_share"] = round(share, 4)
            entry["parts"]["whole_other"] = round(hit.whole - sum(shares), 4)
        results.append(entry)
    return {
        "kind": "text",
        "query": result.query,
        "words": [w.text for w in result.words],
        "tokens": result.tokens,
        "when": word_when(result.when, result.words),
        # Per word: did a training caption use it (None: the checkpoint has no vocabulary)?
        "known": [w.known for w in result.words],
        "unknown": [{"word": w, "closest": closest} for w, closest in result.unknown],
        "results": results,
        "skeleton": skeleton_info(),
        "model": model_label,
    }


def motion_payload(joints: np.ndarray, result, index, name: str = "uploaded motion",
                   model_label: str = "") -> dict:
    """The viewer payload for a reverse search (result: search.MotionSearch)."""
    n = int(len(joints))
    query = {"rank": None, "id": name, "score": None, "caption": name, "captions": [],
             "labels": None, "n_frames": n, "seconds": round(n / FPS, 2),
             "blocks": block_seconds(n), "motion": animation(joints), "words": []}
    return {
        "kind": "motion",
        "query": name,
        "upload": query,
        "captions": [{"caption": c, "score": round(s, 4), "id": index.ids[i]}
                     for c, s, i in result.captions],
        "results": [clip_entry(index, i, s, r) for r, (i, s) in enumerate(result.motions, 1)],
        "skeleton": skeleton_info(),
        "model": model_label,
    }


def api_result(payload: dict) -> dict:
    """The compact JSON the `search` API endpoint returns (no maps, no joints)."""
    return {
        "query": payload["query"],
        "model": payload.get("model", ""),
        **({"unknown_words": payload["unknown"]} if payload.get("unknown") else {}),
        "results": [
            {"rank": r["rank"], "id": r["id"], "score": r["score"], "caption": r["caption"],
             **({"parts": r["parts"]} if "parts" in r else {}),
             "words": [{"word": w, "part": e["part_name"], "part_label": e["part_label"],
                        "seconds": e["seconds"], "similarity": e["similarity"],
                        **({"whole_share": e["whole_share"]} if "whole_share" in e else {}),
                        **({"when": when} if when else {})}
                       for w, e, when in zip(payload["words"], r["words"],
                                             payload.get("when") or [None] * len(r["words"]))]}
            for r in payload["results"]
        ],
    }


def summary_markdown(payload: dict) -> str:
    """Each word's best body part and moment in the top result, as a short Markdown list."""
    if not payload.get("results"):
        return "No results."
    top = payload["results"][0]
    if not top["words"]:
        return (f"Top result **{top['id']}** (score {top['score']:.3f}). This model scores whole "
                "captions (global embedding), so there is no per-word map.")
    lines = [f"**Top result `{top['id']}`** (score {top['score']:.3f}): where each word matched"]
    if "parts" in top:
        lines[0] = (f"**Top result `{top['id']}`** (score {top['score']:.3f} = words' best "
                    f"patches {top['parts']['maxsim']:.3f}, mixed with the whole-clip match "
                    f"{top['parts']['whole']:.3f}): where each word matched")
    whens = payload.get("when") or [None] * len(top["words"])
    for word, e, when in zip(payload["words"], top["words"], whens):
        s0, s1 = e["seconds"]
        share = (f"; {e['whole_share']:+.3f} of the whole-clip match"
                 if "whole_share" in e else "")
        # With word time a map entry is cosine + the time term, so it is not called a cosine.
        value = f"score {e['similarity']:.2f}" if when else f"cos {e['similarity']:.2f}"
        placed = f"; placed at {100 * when['phase']:.0f} % of the clip" if when else ""
        lines.append(f"- **{word}** → {e['part_label']}, {s0:.1f}–{s1:.1f} s "
                     f"({value}{share}{placed})")
    return "\n".join(lines + unknown_note(payload))


def unknown_note(payload: dict) -> list[str]:
    """A line naming the query's words that no training caption used, if any."""
    unknown = payload.get("unknown") or []
    if not unknown:
        return []
    parts = [f"**{u['word']}**" + (f" (closest it knows: {', '.join(u['closest'])})"
                                    if u["closest"] else "") for u in unknown]
    return ["", f"New to this model: {'; '.join(parts)}. No training caption used "
            f"{'this word' if len(unknown) == 1 else 'these words'}, so "
            f"{'its' if len(unknown) == 1 else 'their'} match is a guess and the ranking leans "
            "on the other words; rephrasing with a known word may help."]
