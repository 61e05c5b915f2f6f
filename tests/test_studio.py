"""The studio's server (omnimogen serve): its JSON API and page, on a tiny untrained model."""

import asyncio
import io
import threading
import time

import numpy as np
import pytest
import torch
from conftest import FIXTURES, TAKES
from fastapi import HTTPException
from fastapi.testclient import TestClient

from omnimogen.model.pipeline import OmniMoGen
from omnimogen.model.transformer import ModelConfig, OmniMoGenLM
from omnimogen.model.vocab import Vocab
from omnimogen.motion import Motion, Normalizer
from omnimogen.serving import Limits, create_app
from omnimogen.serving.app import _Queue
from omnimogen.tokenizer import PRESETS, MotionTokenizer

TAKE = TAKES / "dataset-1_walk_normal_001.bvh.gz"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    tok = MotionTokenizer(PRESETS["tiny"], Normalizer.load(FIXTURES)).eval()
    tok.encode(Motion.load(TAKE))  # an untrained codebook is set (k-means) on first use: not inside a test that compares runs
    L, K = tok.config.num_levels, tok.config.codebook_size
    vocab = Vocab.train_bpe(["a person walks", "make <SourceMotion> look happy"] * 10, 300, L, K, "grouped")
    return OmniMoGen(OmniMoGenLM(ModelConfig(hidden_size=32, layers=1, heads=2, intermediate_size=64), vocab), tok)


@pytest.fixture
def client(model):
    return TestClient(create_app(model=model, limits=Limits(upload_bytes=2 * 2**20, seconds=30)))


def test_health_page_and_openapi(client):
    assert client.get("/api/health").json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and "omnimogen studio" in page.text
    for name in ("studio.js", "viewer.js", "studio.css"):  # every asset ships with the package
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/..%2Fapp.py").status_code == 404 and client.get("/static/app.py").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/health", "/api/motions", "/api/motions/{motion_id}", "/api/generate", "/api/conversations",
            "/api/conversations/{conversation_id}/turns"} <= set(paths)  # fmt: skip


def test_upload_and_download_in_every_format(client, tmp_path):
    info = client.post("/api/motions", files={"file": (TAKE.name, TAKE.read_bytes())}).json()
    assert info["fps"] == 20 and info["frames"] > 100 and info["caption"] == TAKE.name
    assert any("spine2" in w and TAKE.name in w and "/tmp" not in w for w in info["warnings"])  # what it guessed
    doc = client.get(f"/api/motions/{info['id']}?format=json").json()
    joints = np.asarray(doc["joints"])
    assert joints.shape == (info["frames"], 22, 3) and doc["parents"][0] == -1
    bvh = client.get(f"/api/motions/{info['id']}?format=bvh")
    assert bvh.status_code == 200 and bvh.text.startswith("HIERARCHY")
    (tmp_path / "back.bvh").write_text(bvh.text)
    from omnimogen import Motion

    np.testing.assert_allclose(Motion.load(tmp_path / "back.bvh").joints, joints, atol=0.05)  # feet held on export
    npy = np.load(io.BytesIO(client.get(f"/api/motions/{info['id']}?format=npy").content))
    np.testing.assert_allclose(npy, joints, atol=1e-3)
    assert client.get(f"/api/motions/{info['id']}?format=gif").content[:3] == b"GIF"
    assert client.get(f"/api/motions/{info['id']}?format=glb").content[:4] == b"glTF"
    assert client.get(f"/api/motions/{info['id']}?format=exe").status_code == 422
    assert client.get("/api/motions/nope").status_code == 404


@pytest.mark.parametrize("name,content,code,words", [
    ("walk.bvh", b"HIERARCHY\nROOT Hips\n{", 400, "walk.bvh"),  # broken: the message names the client's file
    ("walk.exe", b"MZ", 400, "not a motion file"),
    ("big.npy", b"\0" * (2 * 2**20 + 1), 413, "larger than"),
    ("nan.npy", None, 400, "nan.npy"),
])  # fmt: skip
def test_bad_uploads_get_a_message_not_a_500(client, name, content, code, words):
    if content is None:
        buf = io.BytesIO()
        np.save(buf, np.full((10, 22, 3), np.nan, np.float32))
        content = buf.getvalue()
    r = client.post("/api/motions", files={"file": (name, content)})
    assert r.status_code == code and words in r.json()["detail"]
    assert "/tmp" not in r.json()["detail"]


def test_generate_and_a_conversation_that_keeps_its_history(client):
    r = client.post("/api/generate", json={"instruction": "a person walks", "seconds": 2, "seed": 1, "samples": 2})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert len(answer["motions"]) == 2 and all(m["frames"] == 41 for m in answer["motions"])
    conv = client.post("/api/conversations").json()["id"]
    first = client.post(f"/api/conversations/{conv}/turns", json={"instruction": "a person walks", "seconds": 3}).json()
    source = first["motions"][0]["id"]
    second = client.post(f"/api/conversations/{conv}/turns",
                         json={"instruction": "make <SourceMotion> look happy", "motions": {"SourceMotion": source}})
    assert second.status_code == 200, second.text
    assert second.json()["motions"][0]["frames"] == first["motions"][0]["frames"]  # an edit keeps the length
    three = client.post(f"/api/conversations/{conv}/turns", json={"instruction": "make it look sad", "samples": 3})
    assert len(three.json()["motions"]) == 3  # alternatives to one turn; the first goes on in the history
    turns = client.get(f"/api/conversations/{conv}").json()["turns"][:2]
    assert [t["instruction"] for t in turns] == ["a person walks", "make <SourceMotion> look happy"]
    for bad, code in (({"instruction": "make <SourceMotion> happy", "motions": {"SourceMotion": "gone"}}, 404),
                      ({"instruction": "a walk", "seconds": 600}, 400), ({"instruction": ""}, 422),
                      ({"instruction": "a walk", "motions": {"../x": source}}, 422)):  # fmt: skip
        assert client.post("/api/generate", json=bad).status_code == code


def test_the_queue_refuses_when_full_and_frees_a_place_when_a_client_leaves():
    class Client:
        def __init__(self, gone=False):
            self.gone = gone

        async def is_disconnected(self):
            return self.gone

    async def scenario():
        queue = _Queue(waiting=1)
        slow = asyncio.Event()

        def job():
            import time

            while not slow.is_set():
                time.sleep(0.01)
            return "done"

        first = asyncio.create_task(queue.run(Client(), job, 5))
        await asyncio.sleep(0.05)
        leaver = asyncio.create_task(queue.run(Client(gone=True), lambda: "never", 5))
        await asyncio.sleep(0.05)
        with pytest.raises(HTTPException) as busy:  # one running, one waiting: full
            await queue.run(Client(), lambda: "x", 5)
        assert busy.value.status_code == 429 and busy.value.headers["Retry-After"] == "5"
        with pytest.raises(HTTPException) as left:
            await leaver
        assert left.value.status_code == 499 and queue.pending == 1  # its place is free again
        slow.set()
        assert await first == "done" and queue.pending == 0

    asyncio.run(scenario())


def test_a_job_reports_its_progress_and_stops_when_cancelled_or_left():
    from omnimogen.model.generate import report

    class Client:
        def __init__(self):
            self.gone = False

        async def is_disconnected(self):
            return self.gone

    def tokens(forever: threading.Event):  # a generation pass that writes tokens until told otherwise
        def work():
            step = 0
            while not forever.is_set():
                report(step, 40)
                step += 1
                time.sleep(0.005)
            return "finished"

        return work

    async def until(predicate):
        for _ in range(400):
            try:
                if predicate():
                    return
            except HTTPException:  # not registered yet
                pass
            await asyncio.sleep(0.01)
        raise AssertionError("timed out")

    async def scenario():
        queue = _Queue(waiting=2)
        stop = threading.Event()
        running = asyncio.create_task(queue.run(Client(), tokens(stop), 5, "a", planned=3))
        waiting = asyncio.create_task(queue.run(Client(), lambda: "never", 5, "b"))
        await until(lambda: queue.info("a").tokens > 3)
        a, b = queue.info("a"), queue.info("b")
        assert (a.state, a.passes, a.planned, a.expected, a.ahead) == ("running", 1, 3, 40, 0)
        assert (b.state, b.ahead) == ("waiting", 1)
        with pytest.raises(HTTPException) as twice:  # one id, one request at a time
            await queue.run(Client(), lambda: "x", 5, "a")
        assert twice.value.status_code == 409
        assert queue.cancel("b").state == "waiting"  # leaves the queue at its next look
        with pytest.raises(HTTPException) as left:
            await waiting
        assert left.value.status_code == 499 and queue.info("b").state == "cancelled"
        queue.cancel("a")  # a running pass stops at its next token
        with pytest.raises(HTTPException) as stopped:
            await running
        assert stopped.value.status_code == 499 and queue.info("a").state == "cancelled" and queue.pending == 0
        client = Client()  # a client that goes away cancels its running job and frees the worker
        gone = asyncio.create_task(queue.run(client, tokens(stop), 5, "c"))
        await until(lambda: queue.info("c").tokens > 0)
        client.gone = True
        with pytest.raises(HTTPException):
            await gone
        assert queue.info("c").state == "cancelled"
        assert await queue.run(Client(), lambda: "next", 5) == "next"  # the worker is free
        with pytest.raises(HTTPException) as unknown:
            queue.info("zzz")
        assert unknown.value.status_code == 404

    asyncio.run(scenario())


def test_progress_and_cancel_over_http(client):
    assert client.post("/api/generate?job=mine", json={"instruction": "a person walks", "seconds": 1}).status_code == 200
    info = client.get("/api/jobs/mine").json()
    assert info["state"] == "done" and info["passes"] >= 1 and info["tokens"] == info["expected"] == 8  # 5 steps + 3
    assert client.delete("/api/jobs/mine").json()["state"] == "done"  # nothing left to cancel
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.post("/api/generate?job=../x", json={"instruction": "a person walks"}).status_code == 422


def test_a_conversation_saves_and_loads_again_and_goes_on(client):
    conv = client.post("/api/conversations").json()["id"]
    take = client.post("/api/motions", files={"file": (TAKE.name, TAKE.read_bytes())}).json()
    client.post(f"/api/conversations/{conv}/turns", json={"instruction": "a person walks", "seconds": 2})
    client.post(f"/api/conversations/{conv}/turns",
                json={"instruction": "make <SourceMotion> look happy", "motions": {"SourceMotion": take["id"]}})
    saved = client.get(f"/api/conversations/{conv}/export").json()
    assert saved["format"] == "omnimogen-conversation" and len(saved["turns"]) == 2
    assert take["id"] in saved["motions"]  # the uploaded take it named travels with it
    loaded = client.post("/api/conversations/import", json=saved)
    assert loaded.status_code == 200, loaded.text
    again = loaded.json()
    assert [t["instruction"] for t in again["turns"]] == ["a person walks", "make <SourceMotion> look happy"]
    first = again["turns"][0]["motions"][0]
    a = np.asarray(client.get(f"/api/motions/{first['id']}?format=json").json()["joints"])
    b = np.asarray(client.get(f"/api/motions/{saved['turns'][0]['motions'][0]['id']}?format=json").json()["joints"])
    np.testing.assert_allclose(a, b, atol=1e-4)
    # the loaded conversation goes on: its turns are the model's history, and a follow-up keeps the length
    more = client.post(f"/api/conversations/{again['id']}/turns", json={"instruction": "make it look sad"})
    assert more.status_code == 200, more.text
    assert more.json()["motions"][0]["frames"] == again["turns"][1]["motions"][0]["frames"]
    broken = {**saved, "motions": {}}
    r = client.post("/api/conversations/import", json=broken)
    assert r.status_code == 400 and "does not hold" in r.json()["detail"]


def test_a_timeline_is_one_motion_and_a_segment_regenerates_alone(client, model):
    segments = [{"instruction": "a person walks", "seconds": 2}, {"instruction": "make a happy motion", "seconds": 2}]
    first = client.post("/api/timeline", json={"segments": segments})
    assert first.status_code == 200, first.text
    tl = first.json()
    assert len(tl["seeds"]) == 2 and tl["starts"][0] == 0 and 0 < tl["starts"][1] < tl["motion"]["frames"]
    # the same seeds give the same motion; a new seed for the second segment keeps the first segment
    keep = [{**s, "seed": seed} for s, seed in zip(segments, tl["seeds"], strict=True)]
    again = client.post("/api/timeline", json={"segments": keep}).json()
    other = client.post("/api/timeline", json={"segments": [keep[0], {**keep[1], "seed": tl["seeds"][1] + 1}]}).json()
    joints = {k: np.asarray(client.get(f"/api/motions/{v['motion']['id']}?format=json").json()["joints"])
              for k, v in (("a", tl), ("b", again), ("c", other))}  # fmt: skip
    np.testing.assert_allclose(joints["a"], joints["b"], atol=1e-4)
    # before the join into the second segment: its start is at most 8 frames past the first segment's end,
    # and the join changes at most 13 - 2 + 6 frames before that end (stitch.bridged, _cut_in, settle)
    cut = tl["starts"][1] - 2 * 13
    np.testing.assert_allclose(joints["a"][:cut], joints["c"][:cut], atol=1e-4)
    assert client.post("/api/timeline", json={"segments": [{"instruction": "walk", "seconds": 50}] * 2}).status_code == 400


def test_the_model_in_betweens_the_joins(model):
    from omnimogen.model.stitch import speed_jumps

    tl = model.timeline([("a person walks", 2), ("a person walks", 2), ("a person walks", 2)], seed=0)
    assert tl.starts[0] == 0 and len(tl.starts) == 3 and [m.num_frames for m in tl.segments] == [41] * 3
    assert tl.motion.num_frames == 3 * 41 + 2 * 8  # every join adds its 0.4 s transition
    # the measure of a join: a body gliding at 1 m/s that jumps to 3 m/s at frame 50
    glide = np.cumsum(np.where(np.arange(100) < 50, 0.05, 0.15))[:, None, None] * np.array([1.0, 0, 0]) + np.zeros((1, 22, 3))
    seen = speed_jumps(glide, [50])
    assert seen["join_max"] == pytest.approx(2.0) and seen["inside_median"] == seen["inside_window_max"] == pytest.approx(0)


def test_the_library_offers_real_takes_to_start_from(client):
    items = client.get("/api/library").json()
    assert len(items) == 4 and all("real take" in m["caption"] for m in items)
    again = client.get("/api/library").json()
    assert [m["id"] for m in again] == [m["id"] for m in items]  # loaded once
    doc = client.get(f"/api/motions/{items[0]['id']}?format=json").json()
    assert np.asarray(doc["joints"]).shape[1:] == (22, 3)
