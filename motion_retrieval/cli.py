"""`python -m motion_retrieval <command>`: one entry point, one module per command.

Each command module defines `add_arguments(parser)` and `run(args) -> int`; it is imported only
when its command runs, so `--help` stays fast and one command's dependencies never slow another.
"""
from __future__ import annotations

import argparse
import sys
from importlib import import_module

COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("motion_retrieval.prepare", "write a data set in the HumanML3D layout"),
    "train": ("motion_retrieval.train", "train a retrieval model"),
    "evaluate": ("motion_retrieval.evaluate", "evaluate a checkpoint on a prepared split"),
    "compare": ("motion_retrieval.compare",
                "paired test of two checkpoints on the same split (bootstrap, McNemar)"),
    "hybrid": ("motion_retrieval.hybrid",
               "choose a MaxSim model's whole-clip weight on validation; save it in a copy"),
    "index": ("motion_retrieval.index", "build or inspect a gallery index for the demo"),
    "render": ("motion_retrieval.render", "render motions to GIF/PNG for a person to look at"),
    "vocabulary": ("motion_retrieval.vocabulary",
                   "store the words of a checkpoint's training captions in it (for the demo)"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; only `command`'s module is imported (all of them when it is None)."""
    parser = argparse.ArgumentParser(prog="python -m motion_retrieval", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if command is not None and name != command:
            continue
        try:
            import_module(module).add_arguments(p)
        except ImportError as exc:  # a command whose module is missing still shows in --help
            p.set_defaults(_missing=str(exc))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(command or "").parse_args(argv)
    if getattr(args, "_missing", None):
        print(f"error: the '{args.command}' command is not available: {args._missing}",
              file=sys.stderr)
        return 2
    try:
        return int(import_module(args._module).run(args) or 0)
    except (FileNotFoundError, ValueError) as exc:  # MotionFormatError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 1
