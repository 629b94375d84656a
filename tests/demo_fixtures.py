"""Small motions, a random `tiny` checkpoint and a gallery folder for the demo and app tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from motion_retrieval import skeleton as sk

ROOT = Path(__file__).resolve().parents[1]
CAPTIONS = ["a person waves the left hand", "a person waves the right hand",
            "a person kicks with the right leg", "a person walks forward",
            "someone raises both arms", "a person squats down"]


def motion(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """A valid (T, 22, 3) motion: a few joints swinging about x, the pelvis drifting forward."""
    t = np.arange(n_frames) / sk.FPS
    rot = np.tile(np.eye(3), (n_frames, sk.NUM_JOINTS, 1, 1))
    for j in rng.choice([1, 2, 4, 5, 16, 17, 18, 19], 3, replace=False):
        a = rng.uniform(0.3, 1.2) * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t)
        c, s = np.cos(a), np.sin(a)
        rot[:, j, 1, 1], rot[:, j, 1, 2], rot[:, j, 2, 1], rot[:, j, 2, 2] = c, -s, s, c
    root = np.zeros((n_frames, 3))
    root[:, 1] = 0.93
    root[:, 2] = t * rng.uniform(0.0, 1.0)
    return sk.forward_kinematics(rot, root).astype(np.float32)


def clips(n: int, seed: int = 0):
    from motion_retrieval.dataset import Clip

    rng = np.random.default_rng(seed)
    return [Clip(f"clip{i:03d}", motion(int(rng.integers(30, 250)), rng),
                 [CAPTIONS[i % len(CAPTIONS)], f"motion number {i}"]) for i in range(n)]


def tiny_model(whole_clip_weight: float = 0.0, word_time: bool = False):
    """A random `tiny` model; whole_clip_weight > 0 makes it hybrid (with whole-clip heads),
    word_time gives it the word-time head (`model.word_time`)."""
    import dataclasses

    import torch

    from motion_retrieval.config import get_config
    from motion_retrieval.model import RetrievalModel

    torch.manual_seed(0)
    cfg = get_config("tiny").model
    if whole_clip_weight > 0:
        cfg = dataclasses.replace(cfg, global_aux=True, whole_clip_weight=whole_clip_weight)
    model = RetrievalModel(dataclasses.replace(cfg, word_time=word_time)).eval()
    if word_time:  # phases and gates that differ from word to word
        torch.nn.init.normal_(model.word_time_head.weight, std=0.5)
    return model


STATS = {"mean": np.zeros(29, np.float32), "std": np.full(29, 30.0, np.float32)}


def encode_whole(model, cs, texts):
    """(t, t_mask, t_whole, m, m_mask, m_whole): the model's own encodings of clips and texts,
    the reference a hybrid search is checked against."""
    import torch

    from motion_retrieval.features import motion_to_input

    xs, bms = zip(*[motion_to_input(c.joints, STATS)[:2] for c in cs])
    with torch.inference_mode():
        m, mm, mw = model.encode_motion_whole(torch.tensor(np.stack(xs)),
                                              torch.tensor(np.stack(bms)))
        t, tm, _, tw = model.encode_text_whole(texts)
    return t, tm, tw, m, mm, mw


def make_checkpoint(path: Path) -> Path:
    from motion_retrieval.checkpoint import save_checkpoint

    return save_checkpoint(path, tiny_model(), STATS, {"random_init": True})


def make_gallery(path: Path, n: int = 12) -> Path:
    from motion_retrieval.dataset import write_dataset

    cs = clips(n)
    write_dataset(path, cs, {"test": [c.id for c in cs]})
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(tmp: Path, timeout: float = 120.0,
              env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`python app.py` on a free loopback port with a tiny checkpoint and gallery; (proc, url).

    SMPL_MODEL_DIR is cleared (no mesh view) unless `env` sets it.
    """
    from motion_retrieval.vocabulary import add_to_checkpoint, folder_vocabulary

    ckpt = make_checkpoint(tmp / "ckpt")
    gallery = make_gallery(tmp / "gallery")
    add_to_checkpoint(ckpt, folder_vocabulary([gallery], split="test"))  # "words new to it"
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if k != "SMPL_MODEL_DIR"},
           "MOTION_CACHE": str(tmp / "cache"), "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(env or {})}
    log = open(tmp / "app.log", "w")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--checkpoint", str(ckpt), "--gallery",
         str(gallery), "--port", str(port)], cwd=ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n"
                               + (tmp / "app.log").read_text()[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("app.py did not start in time:\n" + (tmp / "app.log").read_text()[-3000:])


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
