"""The demo's inference core: load a checkpoint and a gallery index, search both ways, and build
the payloads the browser draws (explanations, animations). No Gradio here: app.py is the UI.
"""
from .engine import Engine, load_engine
from .search import QueryError, Searcher
from .uploads import UploadError, read_upload

__all__ = ["Engine", "load_engine", "QueryError", "Searcher", "UploadError", "read_upload"]
