"""How fast the demo answers, loads its index and starts.

    python -m demo.bench --json [--checkpoint CKPT] [--sizes 1000 10000]

- search: text query -> full result payload (top-5 with token x patch maps and animation data,
  JSON-encoded), p50 / p95 over repeated queries, for galleries of random unit-norm patch
  embeddings of each size (clip lengths 2-10 s, as in HumanML3D) and the real text encoder;
- index load: a 5,000-clip index file, loaded from a warm page cache (a second launch), and
  until a searcher is ready on it (its float32 copy made);
- start-up: `python app.py` until its port answers, cold (empty cache: the gallery is generated
  and its motions encoded; its captions are encoded in the background after the port opens)
  and warm (the gallery cached).
Animation rendering in the browser is not included. `load_average` (start and end) says how
busy the machine was: on a shared machine the numbers are inflated.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"search_p50_ms": {"1000": 100, "10000": 500}, "index_load_5000_s": 2,
           "app_start_s": 20}
QUERIES = [
    "a person waves the left hand",
    "someone raises the right arm above the head",
    "a person walks forward and turns left",
    "a person squats down twice",
    "a person jumps, then claps",
    "a man kicks with his right leg and then steps back",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder (default: "
                        "weights/default, else a random model of the `cpu` config)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=30, help="queries per gallery size")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per search (app.py's default; it runs one search "
                        "per core)")
    parser.add_argument("--skip-app", action="store_true", help="do not time app.py start-up")
    parser.add_argument("--skip-load", action="store_true", help="do not time index loading")


def _model(checkpoint):
    from motion_retrieval.checkpoint import load_checkpoint

    if checkpoint or (ROOT / "weights" / "default" / "config.json").is_file():
        path = checkpoint or ROOT / "weights" / "default"
        model, stats, _ = load_checkpoint(path)
        return model, stats, str(path)
    import torch

    from motion_retrieval.config import get_config
    from motion_retrieval.model import RetrievalModel

    torch.manual_seed(0)
    model = RetrievalModel(get_config("cpu").model).eval()
    stats = {"mean": np.zeros(29, np.float32), "std": np.ones(29, np.float32)}
    return model, stats, "random `cpu` config model (no weights/default)"


def random_index(n: int, dim: int, seed: int = 0, whole_dim: int | None = None):
    """A gallery of n clips with random unit patch embeddings and simple joints (and whole-clip
    vectors, so that a hybrid model can search it too). `dim` is the model's `score_dim`;
    `whole_dim` its `cfg.embed_dim` where they differ (`model.word_time`)."""
    from motion_retrieval.index import GalleryIndex
    from motion_retrieval.skeleton import rest_pose

    rng = np.random.default_rng(seed)
    frames = rng.integers(40, 201, n)
    n_valid = np.ceil(frames / 16).astype(int) * 14
    mask = np.arange(196)[None, :] < n_valid[:, None]
    emb = np.empty((int(n_valid.sum()), dim), np.float16)
    for s in range(0, len(emb), 200_000):  # bounded float32 scratch memory
        x = rng.standard_normal((min(200_000, len(emb) - s), dim)).astype(np.float32)
        emb[s:s + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    def unit(rows: int, width: int = dim) -> np.ndarray:
        x = rng.standard_normal((rows, width)).astype(np.float32)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)

    pooled = unit(n)
    pose = rest_pose().astype(np.float16)
    total = int(frames.sum())
    return GalleryIndex(
        ids=[f"clip{i:05d}" for i in range(n)], captions=[["a person walks forward"]] * n,
        labels=[None] * n, patch_emb=emb, patch_mask=mask, pooled=pooled,
        caption_texts=["a person walks forward"],
        caption_emb=rng.standard_normal((6, dim)).astype(np.float16),
        caption_offsets=np.array([0, 6]), caption_owner=np.array([0]),
        joints=np.broadcast_to(pose, (total, 22, 3)).copy(),
        joint_offsets=np.concatenate([[0], np.cumsum(frames)]), n_frames=frames,
        meta={"random": True}, whole=unit(n, whole_dim or dim),
        caption_whole=unit(1, whole_dim or dim))


def time_search(model, stats, index, repeats: int, k: int) -> dict:
    from .engine import Engine
    from .search import Searcher

    engine = Engine(Searcher(model, stats, index), index, "bench")
    for q in QUERIES[:2]:  # warm-up (first-call allocations)
        engine.search_text(q, k)
    times, cpu = [], []
    for i in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        json.dumps(engine.search_text(QUERIES[i % len(QUERIES)], k))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    ms = np.array(times) * 1000
    # CPU seconds per query (all threads) tell the cost apart from other processes' load.
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "cpu_p50_ms": round(float(np.percentile(np.array(cpu) * 1000, 50)), 1),
            "valid_patches_per_clip": round(float(index.patch_mask.sum(1).mean()), 1)}


def time_index_load(model, stats, n: int = 5000) -> dict:
    """Seconds to read an n-clip index file, and to a searcher ready on it (fp32 copy made)."""
    from motion_retrieval.index import load_index, save_index

    from .search import Searcher

    with tempfile.TemporaryDirectory() as tmp:
        path = save_index(random_index(n, model.score_dim, whole_dim=model.cfg.embed_dim),
                          Path(tmp) / "gallery.safetensors")
        load_index(path)
        t0 = time.perf_counter()
        index = load_index(path)
        loaded = time.perf_counter() - t0
        Searcher(model, stats, index)
        return {"clips": n, "seconds": round(loaded, 3),
                "searcher_ready_s": round(time.perf_counter() - t0, 3),
                "file_mb": round(path.stat().st_size / 2**20, 1)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_app_start(cache: Path, checkpoint: str | None, timeout: float = 300) -> dict:
    """Wall seconds from spawning app.py to its port accepting connections, and its CPU seconds.

    CPU seconds (all threads, until it is stopped right after) do not grow with other processes'
    load the way wall time does, so they tell a busy machine apart from a slow start.
    """
    import resource

    port = _free_port()
    cmd = [sys.executable, str(ROOT / "app.py"), "--port", str(port)]
    if checkpoint:
        cmd += ["--checkpoint", str(checkpoint)]
    env = {**os.environ, "MOTION_CACHE": str(cache), "GRADIO_ANALYTICS_ENABLED": "False"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wall = None
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {proc.returncode} "
                                   f"(run `python app.py --port {port}` to see why)")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    wall = time.perf_counter() - t0
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"app.py did not answer within {timeout} s")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    model, stats, label = _model(args.checkpoint)
    dim = model.score_dim
    out: dict = {"load_average": round(os.getloadavg()[0], 2), "model": label, "embed_dim": dim,
                 "threads": args.threads,
                 "cpu": platform.processor() or platform.machine(), "k": args.k, "search": {}}
    for n in args.sizes:
        index = random_index(n, dim, seed=n, whole_dim=model.cfg.embed_dim)
        out["search"][str(n)] = time_search(model, stats, index, args.repeats, args.k)
        del index
        if not args.json:
            print(f"search, {n} clips: {out['search'][str(n)]}", flush=True)
    if not args.skip_load:
        out["index_load"] = time_index_load(model, stats)
        if not args.json:
            print(f"index load: {out['index_load']}", flush=True)
    if not args.skip_app:
        with tempfile.TemporaryDirectory() as tmp:
            first = time_app_start(Path(tmp), args.checkpoint)
            cached = time_app_start(Path(tmp), args.checkpoint)
        served = args.checkpoint or ("weights/default" if (ROOT / "weights" / "default" /
                                     "config.json").is_file() else "random tiny model")
        out["app_start_s"] = {"cold_empty_cache": first, "warm_cached_gallery": cached,
                              "model": str(served)}
    out["targets"] = TARGETS
    out["load_average_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1) if args.json else f"app start: {out.get('app_start_s')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
