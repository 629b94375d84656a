"""`render` command: stick-figure PNG strips and GIFs of motions, for a person to look at.

    python -m motion_retrieval render DIR_OR_FILE [--ids a b] [--out renders/] [--gif]

The person's left side is drawn in blue, the right in red, the spine in grey.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .skeleton import FPS, KINEMATIC_CHAINS, NUM_JOINTS

# chain index -> colour: right leg, left leg, spine, right arm, left arm
_COLOURS = ("#d62728", "#1f77b4", "#555555", "#d62728", "#1f77b4")


def _check(joints: np.ndarray) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3) or len(joints) == 0:
        raise ValueError(f"expected joints of shape (T, {NUM_JOINTS}, 3), got {joints.shape}")
    return joints


def _draw(ax, pose: np.ndarray, lims) -> None:
    ax.cla()
    (x0, x1), (y0, y1), (z0, z1) = lims
    floor = np.array([[x0, 0, z0], [x1, 0, z0], [x1, 0, z1], [x0, 0, z1], [x0, 0, z0]])
    ax.plot(floor[:, 0], floor[:, 2], floor[:, 1], color="#bbbbbb", lw=0.8)
    for chain, colour in zip(KINEMATIC_CHAINS, _COLOURS):
        p = pose[list(chain)]
        # matplotlib's 3D z axis is up: plot (x, z, y)
        ax.plot(p[:, 0], p[:, 2], p[:, 1], color=colour, lw=2.2, solid_capstyle="round")
    ax.set_xlim(x0, x1)
    ax.set_ylim(z0, z1)
    ax.set_zlim(y0, y1)
    ax.set_box_aspect((x1 - x0, z1 - z0, y1 - y0))
    ax.view_init(elev=12, azim=-60)
    ax.set_axis_off()


def _limits(joints: np.ndarray, frames: np.ndarray):
    sel = joints[frames]
    lo, hi = sel.min((0, 1)), sel.max((0, 1))
    centre = (lo + hi) / 2
    half = max(0.6, 0.55 * float(np.max((hi - lo)[[0, 2]])))
    return ((centre[0] - half, centre[0] + half), (0.0, max(1.9, hi[1] + 0.1)),
            (centre[2] - half, centre[2] + half))


def render_strip(joints: np.ndarray, path, title: str | None = None, n_frames: int = 6,
                 dpi: int = 60) -> Path:
    """Save `n_frames` evenly spaced poses side by side as a PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joints = _check(joints)
    frames = np.linspace(0, len(joints) - 1, min(n_frames, len(joints))).round().astype(int)
    fig = plt.figure(figsize=(2.0 * len(frames), 2.9), dpi=dpi)
    for k, f in enumerate(frames):
        ax = fig.add_subplot(1, len(frames), k + 1, projection="3d")
        # each panel follows the body, so a figure that walks away stays large
        _draw(ax, joints[f], _limits(joints, np.array([f])))
        ax.set_title(f"{f / FPS:.1f} s", fontsize=9, pad=-4)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.88 if title else 0.95, wspace=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def render_gif(joints: np.ndarray, path, fps: int = 10, dpi: int = 60) -> Path:
    """Save the motion as an animated GIF (subsampled to `fps`); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    joints = _check(joints)
    step = max(1, round(FPS / fps))
    frames = np.arange(0, len(joints), step)
    lims = _limits(joints, frames)
    fig = plt.figure(figsize=(3, 3.4), dpi=dpi)
    ax = fig.add_subplot(projection="3d")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    anim = FuncAnimation(fig, lambda f: _draw(ax, joints[f], lims), frames=frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    anim.save(path, writer=PillowWriter(fps=FPS / step))
    plt.close(fig)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a prepared data folder, or a .npy/.bvh motion file")
    parser.add_argument("--ids", nargs="*", default=None,
                        help="clip ids to render from a folder (default: the first --limit)")
    parser.add_argument("--limit", type=int, default=4, help="clips to render from a folder")
    parser.add_argument("--out", default="renders", help="output folder")
    parser.add_argument("--gif", action="store_true", help="write GIFs instead of PNG strips")
    parser.add_argument("--frames", type=int, default=6, help="poses per PNG strip")


def _load_items(args) -> list[tuple[str, np.ndarray, str | None]]:
    src = Path(args.source)
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist")
    if src.is_file():
        from . import load_motion

        return [(src.name.split(".")[0], load_motion(src), None)]
    from .dataset import read_dataset

    clips = read_dataset(src).clips
    if args.ids:
        wanted = set(args.ids)
        clips = [c for c in clips if c.id in wanted]
        missing = wanted - {c.id for c in clips}
        if missing:
            raise FileNotFoundError(f"no clip with id {', '.join(sorted(missing))} in {src}")
    else:
        clips = clips[: args.limit]
    return [(c.id, c.joints, c.captions[0] if c.captions else None) for c in clips]


def run(args) -> int:
    out = Path(args.out)
    for name, joints, caption in _load_items(args):
        if args.gif:
            path = render_gif(joints, out / f"{name}.gif")
        else:
            path = render_strip(joints, out / f"{name}.png", title=caption, n_frames=args.frames)
        print(path)
    return 0
