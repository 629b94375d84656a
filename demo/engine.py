"""Load a model and a gallery, once, and answer the app's requests with plain payloads.

Defaults on a fresh machine: the committed weights in weights/default (or a clearly labelled,
randomly initialised `tiny` model while none are committed) and a gallery made from the
procedural corpus's test split, generated on first launch and cached under the cache folder
keyed by checkpoint fingerprint, corpus size and seed.

Environment (each also a flag of app.py): MOTION_CHECKPOINT (a checkpoint folder),
MOTION_GALLERY (a prepared data folder or an index .safetensors), MOTION_CACHE (cache folder,
default ~/.cache/motion-retrieval), MOTION_GALLERY_SIZE / MOTION_GALLERY_SEED (procedural corpus).
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motion_retrieval.index import (
    GalleryIndex,
    add_captions,
    build_index,
    checkpoint_fingerprint,
    load_index,
    save_index,
)
from motion_retrieval.synthetic import CORPUS_VERSION, generate_split

from . import payload as P
from .search import QueryError, Searcher
from .uploads import read_upload

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = ROOT / "weights" / "default"
# The default gallery is the test split of `prepare synthetic:5000` (seed 0): clips whose groups
# the default weights never saw in training.
DEFAULT_CORPUS_SIZE = 5000
DEFAULT_SEED = 0
RANDOM_LABEL = ("untrained tiny model (random weights): results are meaningless until "
                "weights/default is committed or --checkpoint is given")

Progress = Callable[[str], None]


def cache_dir() -> Path:
    return Path(os.environ.get("MOTION_CACHE") or Path.home() / ".cache" / "motion-retrieval")


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class Engine:
    searcher: Searcher
    index: GalleryIndex
    model_label: str
    random_model: bool = False
    gallery_label: str = ""
    mesh_dir: Path = field(default_factory=lambda: cache_dir() / "meshes")  # posed .glb files
    # Cleared while the gallery's caption embeddings (motion -> text only) are being encoded.
    captions_ready: threading.Event = field(default_factory=_set_event)

    @property
    def whole_clip_weight(self) -> float:
        """> 0 for a hybrid model: its score mixes MaxSim with a whole-clip cosine."""
        return self.searcher.whole_weight

    # ---------------------------------------------------------------- queries
    def search_text(self, query: str, k: int = 5) -> dict:
        """Viewer payload (see payload.text_payload); raises QueryError with a readable message."""
        result = self.searcher.search_text(query, k)
        return P.text_payload(result, self.index, self.model_label)

    def api_search(self, query: str, k: int = 5) -> dict:
        return P.api_result(self.search_text(query, k))

    def search_joints(self, joints: np.ndarray, k: int = 5, name: str = "uploaded motion",
                      wait: float = 120.0) -> dict:
        # Right after a first launch the captions may still be encoding: wait for them.
        self.captions_ready.wait(wait)
        result = self.searcher.search_motion(joints, k)
        return P.motion_payload(joints, result, self.index, name, self.model_label)

    def search_upload(self, path: str | Path, k: int = 5) -> dict:
        """Read an uploaded file (checked before parsing) and search with it."""
        joints = read_upload(path)
        return self.search_joints(joints, k, name=Path(path).name)

    def clip_joints(self, clip_id: str) -> np.ndarray:
        try:
            i = self.index.ids.index(clip_id)
        except ValueError:
            raise QueryError(f"no clip {clip_id!r} in the gallery") from None
        return self.index.clip_joints(i)


# ---------------------------------------------------------------------------------------------
# Model


def paper_checkpoint_dir(file: Path, progress: Progress) -> Path:
    """Convert one of the paper's released checkpoint files into a checkpoint folder (cached).

    The paper's angle statistics (Mean_angle.npy, Std_angle.npy) must sit next to the file or
    in $MOTION_PAPER_STATS; $MOTION_PAPER_TEXT names its text model (default
    distilbert-base-uncased; its tokenizer and config come from the hub or a local folder).
    """
    from motion_retrieval.checkpoint import save_checkpoint
    from motion_retrieval.paper_checkpoint import load_paper_checkpoint, paper_stats

    stats_dir = Path(os.environ.get("MOTION_PAPER_STATS") or file.parent)
    mean, std = stats_dir / "Mean_angle.npy", stats_dir / "Std_angle.npy"
    if not (mean.is_file() and std.is_file()):
        raise FileNotFoundError(f"serving {file.name} needs the paper's Mean_angle.npy and "
                                f"Std_angle.npy in {stats_dir} (or set MOTION_PAPER_STATS)")
    st = file.stat()
    out = cache_dir() / f"paper-{file.stem}-{st.st_size}-{st.st_mtime_ns}"
    if not (out / "config.json").is_file():
        progress(f"converting the paper checkpoint {file} (once)")
        text = os.environ.get("MOTION_PAPER_TEXT", "distilbert-base-uncased")
        model, _ = load_paper_checkpoint(file, text_model=text)
        save_checkpoint(out, model, paper_stats(mean, std), {"paper_checkpoint": str(file)},
                        text_fp16=False)
    return out


def resolve_checkpoint(checkpoint: str | Path | None,
                       progress: Progress = print) -> Path | None:
    """The checkpoint folder to serve: the argument, $MOTION_CHECKPOINT, weights/default, None.

    A file (rather than a folder) is taken for one of the paper's released checkpoints.
    """
    choice = checkpoint or os.environ.get("MOTION_CHECKPOINT")
    if choice:
        path = Path(choice)
        if path.is_file():
            return paper_checkpoint_dir(path, progress)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a checkpoint folder (no config.json)")
        return path
    if (DEFAULT_WEIGHTS / "config.json").is_file():
        return DEFAULT_WEIGHTS
    return None


def random_checkpoint(clips: Callable[[], list], progress: Progress) -> Path:
    """A randomly initialised `tiny` checkpoint in the cache (made once, then reused).

    `clips()` gives the motions its angle statistics come from; it is called only when the
    checkpoint has to be made, so a second launch generates nothing.
    """
    import torch

    from motion_retrieval.angles import angle_stats, joint_angles
    from motion_retrieval.checkpoint import save_checkpoint
    from motion_retrieval.config import get_config
    from motion_retrieval.model import RetrievalModel

    path = cache_dir() / "random-tiny"
    if (path / "config.json").is_file():
        return path
    progress("no trained weights found: making a random tiny model (for a working UI only)")
    torch.manual_seed(0)
    model = RetrievalModel(get_config("tiny").model)
    mean, std = angle_stats([joint_angles(c.joints) for c in clips()[:200]])
    save_checkpoint(path, model, {"mean": mean, "std": std}, {"random_init": True})
    return path


# ---------------------------------------------------------------------------------------------
# Gallery


def gallery_clips(gallery: str | Path) -> tuple[list, str]:
    from motion_retrieval.dataset import read_dataset, split_ids

    root = Path(gallery)
    split = "test" if (root / "test.txt").is_file() else None
    if split and not split_ids(root, split):
        split = None
    data = read_dataset(root, split=split)
    if not data.clips:
        raise ValueError(f"{root} holds no readable clips")
    return list(data.clips), f"{root} ({split or 'all'} split, {len(data.clips)} clips)"


def _folder_key(root: Path) -> str:
    """Changes when the folder's clips change (names, sizes, mtimes of the joint files)."""
    h = hashlib.sha256(str(root.resolve()).encode())
    for p in sorted((root / "new_joints").glob("*.npy")):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    for name in ("texts", "test.txt", "labels.json"):
        q = root / name
        if q.exists():
            h.update(f"{name}:{q.stat().st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def default_gallery_key(fingerprint: str, size: int, seed: int) -> str:
    """The cache file name of the default (procedural) gallery: it names the corpus version,
    so a gallery generated by an older corpus generator is not served again."""
    return f"gallery-{fingerprint}-synthetic-v{CORPUS_VERSION}-{size}-{seed}.safetensors"


def cached_index(path: Path, make: Callable[[], GalleryIndex], fingerprint: str,
                 progress: Progress) -> GalleryIndex:
    if path.is_file():
        try:
            index = load_index(path)
            if index.meta.get("fingerprint") == fingerprint:
                return index
        except ValueError as exc:  # stale format or a broken file: rebuild it
            progress(f"rebuilding the cached gallery ({exc})")
    index = make()
    save_index(index, path)
    return index


def _every(progress: Progress, seconds: float = 2.0):
    """build_index's (done, total) callback as a terminal line at most every `seconds`."""
    last = [time.perf_counter()]

    def report(done: int, total: int, stage: str = "motions") -> None:
        now = time.perf_counter()
        if done == total or now - last[0] >= seconds:
            last[0] = now
            progress(f"  encoded {done}/{total} {stage}")
    return report


# ---------------------------------------------------------------------------------------------


def load_engine(checkpoint: str | Path | None = None, gallery: str | Path | None = None,
                size: int | None = None, seed: int | None = None,
                progress: Progress = print, search_threads: int | None = None) -> Engine:
    """Load the model and the gallery index (building and caching the index if needed).

    search_threads: torch threads once loaded (start-up encoding uses every core). One per
    search, with the queue running one search per core, beats two threads per search: with
    more threads than free cores, OpenMP's spin-waiting costs ~3x on a busy 2-core machine.
    """
    import torch

    from motion_retrieval.checkpoint import load_checkpoint

    t0 = time.perf_counter()
    gallery = gallery or os.environ.get("MOTION_GALLERY") or None
    index_path = None  # where the index is cached (None: a file the user gave us)
    size = int(size or os.environ.get("MOTION_GALLERY_SIZE") or DEFAULT_CORPUS_SIZE)
    seed = int(seed if seed is not None else os.environ.get("MOTION_GALLERY_SEED", DEFAULT_SEED))
    ckpt = resolve_checkpoint(checkpoint, progress)
    clips = None

    def default_clips() -> list:
        nonlocal clips
        if clips is None:
            progress(f"generating the procedural test split of generate_corpus({size}, "
                     f"seed={seed})")
            clips = generate_split(size, seed, "test")
        return clips

    if ckpt is None:
        ckpt = random_checkpoint(default_clips, progress)
    fingerprint = checkpoint_fingerprint(ckpt)
    progress(f"loading the model from {ckpt}")
    model, stats, meta = load_checkpoint(ckpt)
    random_model = bool(meta.get("random_init"))
    scorer = model.cfg.scorer
    if model.cfg.scorer == "maxsim" and model.cfg.whole_clip_weight > 0:
        scorer = f"maxsim + whole clip x{model.cfg.whole_clip_weight:g}"
    label = RANDOM_LABEL if random_model else f"{ckpt.name} ({model.cfg.vit_name}, " \
        f"{model.cfg.text_model}, {scorer})"

    if gallery and Path(gallery).is_file():
        index = load_index(gallery)
        if index.meta.get("fingerprint") not in (None, fingerprint):
            progress(f"warning: {gallery} was built with another checkpoint "
                     f"({index.meta.get('fingerprint')}); its scores will not match this model")
        gallery_label = f"{gallery} ({len(index)} clips)"
    else:
        def make() -> GalleryIndex:
            nonlocal clips
            if gallery:
                clips, _ = gallery_clips(gallery)
            else:
                default_clips()
            progress(f"encoding a gallery of {len(clips)} clips (once; it is cached)")
            # Captions (for motion -> text only) are encoded after the app opens.
            return build_index(model, stats, clips, progress=_every(progress), captions=False,
                               meta={
                "fingerprint": fingerprint, "checkpoint": str(ckpt),
                "gallery": str(gallery) if gallery else f"synthetic:{size}:{seed}"})

        if gallery:
            root = Path(gallery)
            if not root.is_dir():
                raise FileNotFoundError(f"no gallery folder or index at {root}")
            key = f"gallery-{fingerprint}-{_folder_key(root)}.safetensors"
            gallery_label = f"{root}"
        else:
            key = default_gallery_key(fingerprint, size, seed)
            gallery_label = f"procedural test split (generate_corpus({size}, seed={seed}))"
        index_path = cache_dir() / key
        index = cached_index(index_path, make, fingerprint, progress)
        gallery_label = f"{gallery_label}, {len(index)} clips"
    searcher = Searcher(model, stats, index, vocabulary=meta.get("vocabulary"))
    if search_threads:
        torch.set_num_threads(search_threads)
    engine = Engine(searcher, index, label, random_model, gallery_label)
    if index.meta.get("captions_pending"):
        engine.captions_ready.clear()
        threading.Thread(target=_finish_captions, name="gallery-captions", daemon=True,
                         args=(engine, model, index_path, progress)).start()
    if searcher.vocabulary:  # for "closest known words" (a few seconds for a large vocabulary)
        threading.Thread(target=searcher.warm_vocabulary, name="vocabulary", daemon=True).start()
    progress(f"ready in {time.perf_counter() - t0:.1f} s: {len(index)} clips, {label}")
    return engine


def _finish_captions(engine: Engine, model, path: Path | None, progress: Progress) -> None:
    """Encode the gallery's captions in the background, then cache the completed index."""
    try:
        progress(f"encoding {len({c for cs in engine.index.captions for c in cs})} gallery "
                 "captions in the background (for search by motion)")
        add_captions(engine.index, model, progress=_every(progress),
                     lock=engine.searcher.text_lock)
        engine.searcher.refresh_captions()
        if path is not None:
            save_index(engine.index, path)
        progress("gallery captions ready")
    except Exception as exc:  # the text search keeps working; say why motion -> text won't
        progress(f"could not encode the gallery captions: {exc!r}")
    finally:
        engine.captions_ready.set()
