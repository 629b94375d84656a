"""The `search` endpoint of the running app, called with gradio_client."""
from __future__ import annotations

import pytest
from demo_fixtures import start_app, stop_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    gradio_client = pytest.importorskip("gradio_client")
    proc, url = start_app(tmp_path_factory.mktemp("api"))
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
