"""The words a model was trained on, so a search can say which of a query's words it never saw.

A word no training caption used ("applauds" for a model trained on "claps") still reaches the
model through its pretrained text encoder, but nothing taught the model what it looks like in
motion, so its best patch is a guess and the match leans on the other words. Training stores
the vocabulary of its training captions in the checkpoint's meta (`meta["vocabulary"]`);
`python -m motion_retrieval vocabulary --checkpoint CKPT --data DIR ...` adds it to a checkpoint
trained before that. Words are split on white space, lower-cased and stripped of edge
punctuation, as the demo's word chips are.
"""
from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable
from pathlib import Path

_EDGE_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")


def strip_punct(text: str) -> str:
    """"Twice," -> "Twice" (a word of nothing but punctuation stays as it is)."""
    return _EDGE_PUNCT.sub("", text) or text


def normalize_word(text: str) -> str:
    """"Twice," -> "twice": the form vocabularies hold and look-ups use."""
    return strip_punct(text).lower()


def caption_words(text: str) -> list[str]:
    """The words of a caption that hold a letter or digit, normalised."""
    return [normalize_word(w) for w in text.split() if any(ch.isalnum() for ch in w)]


def vocabulary(captions: Iterable[str]) -> list[str]:
    """The sorted distinct words of some captions."""
    return sorted({w for c in captions for w in caption_words(c)})


def folder_vocabulary(folders: Iterable[str | Path], split: str = "train") -> list[str]:
    """The vocabulary of every caption of `split` in prepared data folders."""
    from .dataset import read_dataset

    captions: list[str] = []
    for folder in folders:
        data = read_dataset(folder, split=split)
        if not data.clips:
            raise FileNotFoundError(f"{folder}: split {split!r} has no readable clips")
        captions += [c for clip in data.clips for c in clip.captions]
    return vocabulary(captions)


def add_to_checkpoint(checkpoint: str | Path, words: list[str]) -> Path:
    """Write `words` into the checkpoint's meta (config.json), in place; tensors untouched."""
    path = Path(checkpoint) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {checkpoint} (config.json missing)")
    config = json.loads(path.read_text(encoding="utf-8"))
    config.setdefault("meta", {})["vocabulary"] = list(words)
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")  # as save_checkpoint
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder to update")
    parser.add_argument("--data", action="append", required=True,
                        help="prepared data folder it was trained on (repeat for several)")
    parser.add_argument("--split", default="train", help="split it was trained on (train)")


def run(args: argparse.Namespace) -> int:
    words = folder_vocabulary(args.data, args.split)
    add_to_checkpoint(args.checkpoint, words)
    print(f"wrote {len(words)} training words into {Path(args.checkpoint) / 'config.json'}")
    return 0
