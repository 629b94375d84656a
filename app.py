"""Interactive, interpretable text-to-motion retrieval (Gradio UI only; the work is in demo/).

    python app.py [--checkpoint DIR] [--gallery DIR_OR_INDEX] [--port 7860]

Type a description, get the closest motions; hover a word to see which body parts and moments
it matched (drawn in the browser from the returned token x patch maps, no server round trip).
Upload a motion (.npy / .bvh / .bvh.gz) for the reverse search. See docs/demo.md.
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

import gradio as gr

from demo.engine import Engine, load_engine
from demo.export import export_motion
from demo.mesh import mesh_status
from demo.search import MAX_K, QueryError
from demo.uploads import MAX_UPLOAD_BYTES, SUFFIXES, UploadError

ASSETS = Path(__file__).resolve().parent / "assets"
log = logging.getLogger("motion-retrieval-app")

EXAMPLES = [
    "a person waves the left hand",
    "a person waves the right hand",
    "someone raises the right arm above the head",
    "a person walks forward and turns left",
    "a person squats down twice",
    "a person jumps, then claps",
]
INTRO = """# Fine-grained motion retrieval you can inspect
Describe a motion. Each result is scored by **MaxSim**: every word finds its best-matching
patch (one body part during ~0.8 s) of the motion's joint-angle image. **Hover a word** to see
its 14 x 14 map (time x body part), the joints it matched and when."""


def _message(text: str) -> dict:
    return {"message": text}


def build_ui(engine: Engine) -> gr.Blocks:
    css = (ASSETS / "viewer.css").read_text()
    js = (ASSETS / "viewer.js").read_text()
    available, mesh_note = mesh_status()
    n_max = min(MAX_K, 20, len(engine.index))

    def search(query: str, k: float):
        try:
            payload = engine.search_text(query, int(k))
        except QueryError as exc:
            gr.Warning(str(exc))
            return _message(str(exc)), "", f"**Cannot search:** {exc}", gr.update(choices=[])
        except Exception:  # never show a stack trace to the person using the app
            log.exception("search failed")
            return (_message("Something went wrong; the error was logged."), "",
                    "**Something went wrong** while searching; the error was logged.",
                    gr.update(choices=[]))
        from demo.payload import summary_markdown

        ids = [r["id"] for r in payload["results"]]
        status = f"{len(ids)} results for *{payload['query']}*"
        return payload, summary_markdown(payload), status, gr.update(choices=ids, value=ids[0])

    def reverse(file, k: float):
        path = getattr(file, "name", file)
        try:
            payload = engine.search_upload(path, int(k))
        except (UploadError, QueryError) as exc:
            gr.Warning(str(exc))
            return _message(str(exc)), f"**Cannot use this file:** {exc}"
        except Exception:
            log.exception("reverse search failed for %s", path)
            return (_message("This file could not be used; the error was logged."),
                    "**This file could not be used**; the error was logged.")
        return payload, f"Closest captions and motions for **{payload['query']}**"

    def download(clip_id: str | None):
        if not clip_id:
            return None
        try:
            joints = engine.clip_joints(clip_id)
            npy, bvh = export_motion(joints, clip_id, tempfile.mkdtemp(prefix="motion-"))
        except Exception:
            log.exception("export failed for %s", clip_id)
            gr.Warning("The motion could not be exported; the error was logged.")
            return None
        return [str(npy), str(bvh)]

    def api_search(query: str, k: int = 5) -> dict:
        """Text -> motion search. Returns JSON: query, model and, per result, rank, id, score,
        caption and each word's best body part and time span (seconds)."""
        try:
            return engine.api_search(query, int(k))
        except QueryError as exc:
            raise gr.Error(str(exc)) from None

    with gr.Blocks(title="Motion retrieval") as ui:
        gr.Markdown(INTRO)
        if engine.random_model:
            gr.Markdown(f"> ⚠️ **{engine.model_label}**")
        gr.Markdown(f"<small>Model: {engine.model_label} · Gallery: {engine.gallery_label}"
                    "</small>")
        with gr.Tab("Search by text"):
            with gr.Row():
                query = gr.Textbox(label="Describe a motion", placeholder=EXAMPLES[0], scale=5,
                                   elem_id="query")
                k = gr.Slider(1, n_max, value=min(5, n_max), step=1, label="Results", scale=1,
                              elem_id="topk")
                go = gr.Button("Search", variant="primary", scale=1, elem_id="search-btn")
            gr.Examples(EXAMPLES, inputs=query, label="Try")
            status = gr.Markdown(elem_id="status")
            viewer = gr.HTML(value=None, html_template='<div class="mr-root"></div>',
                             css_template=css, js_on_load=js, elem_id="viewer")
            summary = gr.Markdown(elem_id="summary")
            with gr.Accordion("Download a result (.npy HumanML3D joints, .bvh)", open=False):
                pick = gr.Dropdown(label="Result", choices=[], elem_id="pick")
                files = gr.File(label="Files", file_count="multiple", interactive=False)
        with gr.Tab("Search by motion"):
            gr.Markdown(f"Upload a motion: `.npy` ((T, 22, 3) HumanML3D joints, (T, 21, 3) KIT, "
                        f"(T, 24, 3) SMPL joints or (T, 263) HumanML3D features) or "
                        f"`.bvh` / `.bvh.gz`; at most {MAX_UPLOAD_BYTES // 2**20} MB.")
            with gr.Row():
                upload = gr.File(label="Motion file", file_types=list(SUFFIXES) + [".gz"],
                                 elem_id="upload", scale=3)
                k2 = gr.Slider(1, n_max, value=min(5, n_max), step=1, label="Results", scale=1)
            status2 = gr.Markdown(elem_id="status2")
            viewer2 = gr.HTML(value=None, html_template='<div class="mr-root"></div>',
                              css_template=css, js_on_load=js, elem_id="viewer2")
        with gr.Tab("Mesh view"):
            gr.Markdown(mesh_note if not available else
                        f"{mesh_note}\n\nPosing SMPL from joints is not implemented yet in this "
                        "version; the skeleton view shows the motion.")
        with gr.Tab("API"):
            gr.Markdown((Path(__file__).parent / "docs" / "demo.md").read_text()
                        if (Path(__file__).parent / "docs" / "demo.md").is_file() else "")

        outputs = [viewer, summary, status, pick]
        # The UI's own events stay private (and named apart) so that "search" is the API's.
        go.click(search, [query, k], outputs, api_name="ui_search", api_visibility="private")
        query.submit(search, [query, k], outputs, api_name="ui_submit", api_visibility="private")
        pick.change(download, pick, files, api_name="ui_download", api_visibility="private")
        upload.upload(reverse, [upload, k2], [viewer2, status2], api_name="ui_reverse",
                      api_visibility="private")
        gr.api(api_search, api_name="search")
    return ui


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint folder (default: $MOTION_CHECKPOINT, then weights/default)")
    p.add_argument("--gallery", default=None, help="prepared data folder or gallery index file "
                   "(default: $MOTION_GALLERY, then the procedural test split)")
    p.add_argument("--gallery-size", type=int, default=None,
                   help="procedural corpus size (its test split is the default gallery)")
    p.add_argument("--seed", type=int, default=None, help="procedural corpus seed")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--concurrency", type=int, default=2, help="searches run at once")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    engine = load_engine(args.checkpoint, args.gallery, args.gallery_size, args.seed,
                         progress=lambda m: print(m, flush=True))
    ui = build_ui(engine)
    ui.queue(default_concurrency_limit=args.concurrency, max_size=64)
    ui.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD_BYTES,
              show_error=False, footer_links=["api"])


if __name__ == "__main__":
    main()
