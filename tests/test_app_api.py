"""The `search` endpoint of the running app, called with gradio_client (and the mesh view's
files, served from the cache through `allowed_paths`)."""
from __future__ import annotations

import importlib.util

import pytest
from demo_fixtures import start_app, stop_app
from smpl_fixture import write_model_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    gradio_client = pytest.importorskip("gradio_client")
    tmp = tmp_path_factory.mktemp("api")
    env = {}
    if importlib.util.find_spec("smplx") and importlib.util.find_spec("trimesh"):
        env["SMPL_MODEL_DIR"] = str(write_model_dir(tmp / "smpl-model"))  # a tiny SMPL model
    proc, url = start_app(tmp, env=env)
    try:
        yield gradio_client.Client(url, verbose=False)
    finally:
        stop_app(proc)


def test_search_endpoint_returns_json(client):
    out = client.predict("a person waves the left hand", 3, api_name="/search")
    assert out["query"] == "a person waves the left hand"
    results = out["results"]
    assert [r["rank"] for r in results] == [1, 2, 3]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    words = results[0]["words"]
    assert [w["word"] for w in words] == ["a", "person", "waves", "the", "left", "hand"]
    for w in words:
        assert w["part"] and w["part_label"]
        s0, s1 = w["seconds"]
        assert 0 <= s0 < s1
    assert all(r["id"].startswith("clip") and r["caption"] for r in results)


def test_search_endpoint_is_documented(client):
    info = client.view_api(return_format="dict", print_info=False)
    assert "/search" in info["named_endpoints"]
    params = [p["parameter_name"] for p in info["named_endpoints"]["/search"]["parameters"]]
    assert params[:2] == ["query", "k"]


def test_search_endpoint_refuses_an_empty_query(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="type a description"):
        client.predict("   ", 3, api_name="/search")


def test_mesh_view_serves_a_posed_body(client, tmp_path):
    if not importlib.util.find_spec("smplx"):
        pytest.skip("needs smplx and trimesh (the mesh view's extras)")
    trimesh = pytest.importorskip("trimesh")
    ids = [r["id"] for r in client.predict("a person walks", 2, api_name="/search")["results"]]
    path, note = client.predict(ids[0], "film strip (5 frames)", api_name="/ui_mesh")
    assert ids[0] in note
    mesh = trimesh.load(path, force="mesh")  # downloaded from the app: allowed_paths works
    assert len(mesh.vertices) == 5 * 47 and len(mesh.faces) == 5 * 23
