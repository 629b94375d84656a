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
from demo.mesh import MeshError, mesh_file, mesh_status
from demo.search import MAX_K, QueryError
from demo.uploads import MAX_UPLOAD_BYTES, SUFFIXES, UploadError, read_upload

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
HYBRID = """<small>This model's score also counts how well the **whole clip** matches the whole
sentence (weight {w:g}; it reads quantities no single 0.8 s patch holds, such as how far a turn
goes). Each result shows both parts; the word maps explain the first, and hovering a word
also shows its exact share of the second.</small>"""


UPLOAD = "__upload__"  # the mesh view's choice for the last uploaded motion
MESH_VIEWS = {"one frame (the middle)": 0, "film strip (5 frames)": 5}


def _message(text: str) -> dict:
    return {"message": text}


def _mesh_choices(ids: list[str], upload: str | None = None) -> dict:
    choices = ([(f"{upload} (uploaded)", UPLOAD)] if upload else []) + [(i, i) for i in ids]
    return gr.update(choices=choices, value=None)


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
            return (_message(str(exc)), "", f"**Cannot search:** {exc}", gr.update(choices=[]),
                    gr.update())
        except Exception:  # never show a stack trace to the person using the app
            log.exception("search failed")
            return (_message("Something went wrong; the error was logged."), "",
                    "**Something went wrong** while searching; the error was logged.",
                    gr.update(choices=[]), gr.update())
        from demo.payload import summary_markdown

        ids = [r["id"] for r in payload["results"]]
        status = f"{len(ids)} results for *{payload['query']}*"
        return (payload, summary_markdown(payload), status, gr.update(choices=ids, value=ids[0]),
                _mesh_choices(ids))

    def reverse(file, k: float):
        path = getattr(file, "name", file)
        try:
            joints = read_upload(path)
            payload = engine.search_joints(joints, int(k), name=Path(path).name)
        except (UploadError, QueryError) as exc:
            gr.Warning(str(exc))
            return _message(str(exc)), f"**Cannot use this file:** {exc}", None, gr.update()
        except Exception:
            log.exception("reverse search failed for %s", path)
            return (_message("This file could not be used; the error was logged."),
                    "**This file could not be used**; the error was logged.", None, gr.update())
        name = payload["query"]
        ids = [r["id"] for r in payload["results"]]
        return (payload, f"Closest captions and motions for **{name}**",
                {"name": name, "joints": joints}, _mesh_choices(ids, name))

    def mesh(choice: str | None, view: str, uploaded: dict | None):
        """Pose SMPL from the chosen motion's joints; the file is cached per motion and view."""
        if not choice:
            return None, "Pick a motion: a search result or your upload."
        try:
            if choice == UPLOAD:
                if not uploaded:
                    return None, "Upload a motion first (Search by motion tab)."
                name, joints = uploaded["name"], uploaded["joints"]
            else:
                name, joints = choice, engine.clip_joints(choice)
            path = mesh_file(joints, engine.mesh_dir, name, strip=MESH_VIEWS.get(view, 0))
        except (MeshError, QueryError) as exc:
            gr.Warning(str(exc))
            return None, f"**No mesh:** {exc}"
        except Exception:
            log.exception("mesh failed for %s", choice)
            return None, "**No mesh**: something went wrong; the error was logged."
        return str(path), f"SMPL posed from the joints of **{name}** ({view})."

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
        if engine.whole_clip_weight > 0:
            gr.Markdown(HYBRID.format(w=engine.whole_clip_weight))
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
            if available:
                gr.Markdown("The SMPL body posed from a motion's joints (analytic IK, then a "
                            "short fit). Search first, then pick a result or your upload. "
                            f"<small>{mesh_note}</small>", elem_id="mesh-note")
                with gr.Row():
                    # Any gallery id may be typed (the handler checks it), not only results.
                    mesh_pick = gr.Dropdown(label="Motion", choices=[], elem_id="mesh-pick",
                                            allow_custom_value=True, scale=3)
                    mesh_view = gr.Radio(list(MESH_VIEWS), value=next(iter(MESH_VIEWS)),
                                         label="Show", scale=2)
                mesh_status_md = gr.Markdown(elem_id="mesh-status")
                # A dark background: the light grey body reads better than on white.
                mesh_out = gr.Model3D(label="SMPL mesh", elem_id="mesh", height=480,
                                      clear_color=(0.16, 0.17, 0.21, 1.0))
            else:  # no model: say how to enable it instead of offering a view that cannot work
                mesh_pick = mesh_view = None
                gr.Markdown(mesh_note, elem_id="mesh-note")
        with gr.Tab("API"):
            gr.Markdown((Path(__file__).parent / "docs" / "demo.md").read_text()
                        if (Path(__file__).parent / "docs" / "demo.md").is_file() else "")

        uploaded = gr.State(None)
        # Without the mesh view the handlers' mesh-choice output lands in an unused State.
        mesh_sink = mesh_pick if mesh_pick is not None else gr.State()
        outputs = [viewer, summary, status, pick, mesh_sink]
        # The UI's own events stay private (and named apart) so that "search" is the API's.
        go.click(search, [query, k], outputs, api_name="ui_search", api_visibility="private")
        query.submit(search, [query, k], outputs, api_name="ui_submit", api_visibility="private")
        pick.change(download, pick, files, api_name="ui_download", api_visibility="private")
        upload.upload(reverse, [upload, k2], [viewer2, status2, uploaded, mesh_sink],
                      api_name="ui_reverse", api_visibility="private")
        if mesh_pick is not None:
            mesh_io = ([mesh_pick, mesh_view, uploaded], [mesh_out, mesh_status_md])
            # Callable (undocumented) so that a client or a test can fetch a posed mesh.
            mesh_pick.change(mesh, *mesh_io, api_name="ui_mesh", api_visibility="undocumented")
            mesh_view.change(mesh, *mesh_io, api_name="ui_mesh_view", api_visibility="private")
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
    p.add_argument("--concurrency", type=int, default=2,
                   help="searches run at once (one per CPU core)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per search")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        engine = load_engine(args.checkpoint, args.gallery, args.gallery_size, args.seed,
                             progress=lambda m: print(m, flush=True),
                             search_threads=args.threads)
    except (FileNotFoundError, ValueError) as exc:  # a wrong path, an index of another model
        raise SystemExit(f"error: {exc}") from None
    ui = build_ui(engine)
    ui.queue(default_concurrency_limit=args.concurrency, max_size=64)
    ui.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD_BYTES,
              show_error=False, footer_links=["api"], allowed_paths=[str(engine.mesh_dir)])


if __name__ == "__main__":
    main()
