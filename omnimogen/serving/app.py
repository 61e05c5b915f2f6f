"""The studio's server: a JSON API (OpenAPI at ``/openapi.json``) and the page that uses it.

``omnimogen serve`` runs it with uvicorn on 127.0.0.1. Motions live in memory under short random ids
(uploads, and every answer), at most ``Limits.motions`` of them, the oldest dropped first. Uploads
are read by the same loaders as the command line (no pickle), within size and length limits.
Generation runs one request at a time on a worker thread; at most ``Limits.queue`` requests wait, and
more get 429 with Retry-After. A request may name a job id (``?job=``): ``GET /api/jobs/{id}`` says how
far it is, ``DELETE /api/jobs/{id}`` cancels it; a client that goes away cancels its own (waiting, or
running: the worker stops at its next token).
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from ..errors import OmnimogenError
from ..model.generate import Cancelled, watching
from ..model.pipeline import WINDOW_FRAMES
from ..model.understand import asks_for_words
from ..motion import FPS, Motion
from ..motion.motion import LOADABLE, file_kind

STATIC = Path(__file__).parent / "static"
LIBRARY = Path(__file__).parent / "library"  # sample clips of real takes (see its NOTICE.md)
PLACEHOLDER_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,39}$"


@dataclass(frozen=True)
class Limits:
    upload_bytes: int = 16 * 2**20  # a 30-minute 22-joint take at 30 fps is about 30 MB of BVH text
    seconds: float = 60.0  # longest motion accepted or asked for
    motions: int = 256  # motions kept in memory
    conversations: int = 64
    queue: int = 4  # generation requests waiting beyond the one running
    retry_after: int = 5  # seconds a busy client is told to wait


class MotionInfo(BaseModel):
    id: str
    frames: int
    fps: float
    caption: str | None = None
    warnings: list[str] = Field(default_factory=list, description="what reading an upload had to guess")


class GenerateRequest(BaseModel):
    instruction: str = Field(min_length=1, max_length=2000)
    motions: dict[Annotated[str, Field(pattern=PLACEHOLDER_NAME)], str] = Field(
        default_factory=dict, description="placeholder name (without <>) -> motion id")
    seconds: float | None = Field(default=None, gt=0)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    samples: int = Field(default=1, ge=1, le=4)
    think: bool = False


class Answer(BaseModel):
    text: str
    read_as: str | None = Field(default=None, description="the words the model was asked, when it read the request")
    kept: list[str] = Field(default_factory=list, description="body parts an edit kept from the motion it edited")
    composed: str | None = Field(default=None, description="how the answer was made from the given motions' parts")
    reasoning: str | None = None
    warnings: list[str] = []
    motions: list[MotionInfo] = []


class Turn(Answer):
    instruction: str
    bound: dict[str, str] = Field(default_factory=dict, description="the motions it named: placeholder -> id")


class Conversation(BaseModel):
    id: str
    turns: list[Turn] = []


class Segment(BaseModel):
    instruction: str = Field(min_length=1, max_length=2000)
    seconds: float = Field(gt=0)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="keep it to keep the segment")


class TimelineRequest(BaseModel):
    segments: list[Segment] = Field(min_length=1, max_length=12)


class TimelineAnswer(BaseModel):
    motion: MotionInfo
    starts: list[int] = Field(description="the frame where each segment's part begins")
    seeds: list[int] = Field(description="each segment's seed: send them back to regenerate one segment alone")


class MotionDoc(BaseModel):
    fps: float = Field(gt=0, le=1000)
    caption: str | None = None
    joints: list[list[list[float]]] = Field(description="(frames, 22, 3) metres, Y up")


class ConversationFile(BaseModel):
    """A whole conversation with its motions, as the page downloads it and loads it again."""

    format: Literal["omnimogen-conversation"] = "omnimogen-conversation"
    version: Literal[1] = 1
    turns: list[Turn]
    motions: dict[str, MotionDoc]


class _Store:
    """Up to ``size`` items under fresh random ids, the least recently used dropped first."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def add(self, item) -> str:
        key = secrets.token_hex(6)
        with self.lock:
            self.items[key] = item
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return key

    def get(self, key: str, what: str):
        with self.lock:
            if key not in self.items:
                raise HTTPException(404, f"no {what} with id {key!r} (ids last while the server runs; old ones "
                                         "are dropped when many are made).")  # fmt: skip
            self.items.move_to_end(key)
            return self.items[key]


JobId = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                    description="your id for this request, to read its progress or cancel it")]


def _passes(seconds: float | None, think: bool) -> int:
    """Generation passes a request of ``seconds`` likely needs: one per window of a long motion and one
    per join between windows; three times that in Think mode (an answer, a judgment of it, and another
    answer when it is judged wrong; more rounds may follow)."""
    frames = 1 if seconds is None else int(round(seconds * FPS)) + 1
    windows = 1 + max(0, -(-(frames - WINDOW_FRAMES) // (WINDOW_FRAMES - 1)))
    return (2 * windows - 1) * (3 if think else 1)


class JobInfo(BaseModel):
    id: str
    state: Literal["waiting", "running", "done", "cancelled", "failed"]
    ahead: int = Field(description="requests before this one (waiting or running)")
    passes: int = Field(description="generation passes started (a motion, a transition, a Think round...)")
    planned: int = Field(description="passes the request is likely to need")
    tokens: int = Field(description="tokens written in the current pass")
    expected: int = Field(description="tokens the current pass is likely to write")
    seconds: float = Field(description="since the request arrived")


@dataclass
class _Job:
    id: str
    planned: int
    arrived: float = field(default_factory=time.monotonic)
    state: str = "waiting"
    passes: int = 0
    tokens: int = 0
    expected: int = 0
    cancel: bool = False

    def step(self, index: int, expected: int) -> None:
        """The generation's watcher: counts passes and tokens; stops the pass when cancelled."""
        if self.cancel:
            raise Cancelled(f"request {self.id} was cancelled.")
        self.passes += index == 0
        self.tokens, self.expected = index + 1, expected


class _Queue:
    """One job at a time on a worker thread, at most ``waiting`` more waiting; the rest are refused.
    Jobs have ids (the client's, or fresh ones), so their progress can be read and they can be
    cancelled, waiting or running; a client that goes away cancels its job. The last ``keep``
    finished jobs stay readable."""

    def __init__(self, waiting: int, keep: int = 64):
        self.waiting, self.running = waiting, asyncio.Lock()
        self.order: list[_Job] = []  # waiting and running, in arrival order
        self.jobs: OrderedDict[str, _Job] = OrderedDict()
        self.keep = keep

    @property
    def pending(self) -> int:
        return len(self.order)

    def info(self, job_id: str) -> JobInfo:
        job = self.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no request with job id {job_id!r} (finished ones are kept for a while).")
        ahead = self.order.index(job) if job in self.order else 0
        return JobInfo(id=job.id, state=job.state, ahead=ahead, passes=job.passes, planned=max(job.planned, job.passes),
                       tokens=job.tokens, expected=job.expected, seconds=round(time.monotonic() - job.arrived, 2))  # fmt: skip

    def cancel(self, job_id: str) -> JobInfo:
        self.info(job_id)  # 404 for an unknown job
        self.jobs[job_id].cancel = True
        return self.info(job_id)

    async def run(self, request: Request, work, retry_after: int, job_id: str | None = None, planned: int = 1):
        if self.pending > self.waiting:
            raise HTTPException(429, "busy: other requests are being generated; try again shortly.",
                                headers={"Retry-After": str(retry_after)})  # fmt: skip
        job_id = job_id or secrets.token_hex(6)
        if job_id in self.jobs and self.jobs[job_id] in self.order:
            raise HTTPException(409, f"a request with job id {job_id!r} is already waiting or running.")
        job = _Job(job_id, planned)
        self.jobs[job_id] = job
        self.jobs.move_to_end(job_id)
        self.order.append(job)
        try:
            while True:  # wait for the worker, leaving if the client does or the job is cancelled
                try:
                    await asyncio.wait_for(self.running.acquire(), timeout=0.25)
                    break
                except TimeoutError:
                    if job.cancel or await request.is_disconnected():
                        job.state = "cancelled"
                        raise HTTPException(499, "cancelled before it started.") from None
            try:
                job.state = "running"
                return await self._work(request, job, work)
            finally:
                self.running.release()
        finally:
            self.order.remove(job)
            finished = [key for key, j in self.jobs.items() if j not in self.order]  # oldest first
            for key in finished[: max(0, len(finished) - self.keep)]:
                del self.jobs[key]

    @staticmethod
    async def _work(request: Request, job: _Job, work):
        def watched():
            with watching(job.step):
                return work()

        task = asyncio.ensure_future(asyncio.to_thread(watched))
        while not task.done():  # a client that goes away cancels the job; the worker stops at its next token
            await asyncio.wait({task}, timeout=0.25)
            if not task.done() and not job.cancel and await request.is_disconnected():
                job.cancel = True
        try:
            out = task.result()
        except Cancelled:
            job.state = "cancelled"
            raise HTTPException(499, "cancelled.") from None
        except BaseException:
            job.state = "failed"
            raise
        job.state = "done"
        return out


def create_app(model_path: str | None = None, limits: Limits = Limits(), model=None, device=None,
               dtype=None) -> FastAPI:  # fmt: skip
    """The studio app; ``model`` (an OmniMoGen) is used as given, else loaded from ``model_path`` (the
    shipped one by default) on first use, on ``device`` in ``dtype`` (``load_model``'s)."""
    app = FastAPI(title="omnimogen studio", version=__import__("omnimogen").__version__,
                  description="Direct motion by conversation: upload motions, generate and edit them, download them.")  # fmt: skip
    motions, conversations, queue = _Store(limits.motions), _Store(limits.conversations), _Queue(limits.queue)
    state = {"model": model}
    loading = threading.Lock()

    def get_model():
        with loading:
            if state["model"] is None:
                from ..model.pipeline import load_model

                state["model"] = load_model(model_path, device, dtype)
            return state["model"]

    def keep(motion: Motion) -> MotionInfo:
        return MotionInfo(id=motions.add(motion), frames=motion.num_frames, fps=motion.fps, caption=motion.caption)

    def bound(ids: dict[str, str]) -> dict[str, Motion]:
        return {name: motions.get(key, "motion") for name, key in ids.items()}

    def answer(result, instruction: str) -> Answer:
        read = result.reading.caption if result.reading is not None and result.reading.known else None
        kept = list(result.kept.kept) if result.kept is not None else []
        return Answer(text=result.text, read_as=read, kept=kept, composed=result.composed, reasoning=result.reasoning,
                      warnings=list(result.warnings),
                      motions=[keep(m.with_caption(m.caption or instruction)) for m in result.motions])  # fmt: skip

    @app.exception_handler(OmnimogenError)
    async def _bad_input(request: Request, error: OmnimogenError):
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str):
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}  # only the package's own files
        if name not in files:
            raise HTTPException(404, f"no file {name!r}.")
        return FileResponse(files[name])

    shelf: dict[str, str] = {}  # library clip -> its id in the store

    @app.get("/api/library")
    async def library() -> list[MotionInfo]:
        """Sample clips of real motion capture to start from (Bandai Namco, CC BY-NC 4.0)."""
        out = []
        for path in sorted(LIBRARY.glob("*.joints.npy")):
            name = path.name.removesuffix(".joints.npy")
            try:
                m = motions.get(shelf.get(name, ""), "motion")
                out.append(MotionInfo(id=shelf[name], frames=m.num_frames, fps=m.fps, caption=m.caption))
            except HTTPException:  # not loaded yet, or dropped from the store since
                caption = name.split("_", 1)[1].rsplit("_", 1)[0].replace("_", " ").replace("-", " ")
                info = keep(Motion.from_joints(np.load(path), 20, f"{caption} (real take)"))
                shelf[name] = info.id
                out.append(info)
        return out

    @app.get("/api/health")
    async def health() -> dict:
        return {"status": "ok", "model": "loaded" if state["model"] is not None else "loads on first use",
                "waiting": queue.pending, "motions": len(motions.items)}  # fmt: skip

    @app.post("/api/motions")
    async def upload(file: Annotated[UploadFile, File(description="a .bvh, .bvh.gz, .npy or .json motion")]) -> MotionInfo:
        kind = file_kind(file.filename or "")
        if kind not in LOADABLE:
            raise HTTPException(400, f"{file.filename!r}: not a motion file; upload one of {', '.join(LOADABLE)}.")
        data = await file.read(limits.upload_bytes + 1)
        if len(data) > limits.upload_bytes:
            raise HTTPException(413, f"{file.filename!r} is larger than {limits.upload_bytes // 2**20} MB.")

        def load() -> tuple[Motion, list[str]]:
            with tempfile.TemporaryDirectory() as tmp:  # the name is ours; only the suffix is the client's
                path = Path(tmp) / f"upload{kind}"
                path.write_bytes(data)
                name = file.filename or "upload"
                try:
                    with warnings.catch_warnings(record=True) as said:
                        warnings.simplefilter("always")
                        return Motion.load(path), [str(w.message).replace(str(path), name) for w in said]
                except OmnimogenError as e:  # say it of the client's file, not of our temporary one
                    raise HTTPException(400, str(e).replace(str(path), name)) from None

        motion, said = await asyncio.to_thread(load)
        if motion.duration > limits.seconds:
            raise HTTPException(413, f"{file.filename!r} lasts {motion.duration:.0f} s; the studio takes at most "
                                     f"{limits.seconds:.0f} s.")  # fmt: skip
        info = keep(motion.with_caption(motion.caption or Path(file.filename or "upload").name))
        return info.model_copy(update={"warnings": said})

    @app.get("/api/motions/{motion_id}", response_model=None)
    async def download(motion_id: str, format: Literal["bvh", "glb", "npy", "json", "gif"] = Query("json")) -> Response:
        motion: Motion = motions.get(motion_id, "motion")
        if format == "json":
            return JSONResponse({"id": motion_id, "fps": motion.fps, "caption": motion.caption,
                                 "joint_names": list(motion.skeleton.joint_names),
                                 "parents": list(motion.skeleton.parents),
                                 "joints": [[[round(float(v), 4) for v in p] for p in f] for f in motion.joints]})  # fmt: skip

        def render() -> bytes:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"motion.{format}"
                options = {"npy": {"npy": "joints"}, "bvh": {"clean_contacts": True}, "glb": {"clean_contacts": True}}
                motion.save(path, **options.get(format, {}))  # exports hold planted feet, as the command line's do
                return path.read_bytes()

        media = {"bvh": "text/plain", "glb": "model/gltf-binary", "npy": "application/octet-stream", "gif": "image/gif"}[format]
        return Response(await asyncio.to_thread(render), media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{motion_id}.{format}"'})  # fmt: skip

    def _options(req: GenerateRequest) -> dict:
        if req.seconds is not None and req.seconds > limits.seconds:
            raise HTTPException(400, f"seconds must be at most {limits.seconds:.0f}.")
        return {"seconds": req.seconds, "seed": req.seed, "think": req.think}

    @app.post("/api/generate")
    async def generate(req: GenerateRequest, request: Request, job: JobId = None) -> Answer:
        opts, given = _options(req), bound(req.motions)

        words = asks_for_words(req.instruction)  # as a conversation turn: a motion unless words are asked
        opts["motion_only"], opts["words_only"] = not words, words

        def work() -> Answer:
            model = get_model()
            results = [model(req.instruction, given, **{**opts, "seed": None if req.seed is None else req.seed + k})
                       for k in range(req.samples)]  # fmt: skip
            first = answer(results[0], req.instruction)
            first.motions += [info for r in results[1:] for info in answer(r, req.instruction).motions]
            return first

        return await queue.run(request, work, limits.retry_after, job, req.samples * _passes(req.seconds, req.think))

    @app.post("/api/timeline")
    async def timeline(req: TimelineRequest, request: Request, job: JobId = None) -> TimelineAnswer:
        total = sum(seg.seconds for seg in req.segments)
        if total > limits.seconds:
            raise HTTPException(400, f"the segments last {total:.0f} s together; the studio makes at most "
                                     f"{limits.seconds:.0f} s.")  # fmt: skip
        seeds = [seg.seed if seg.seed is not None else secrets.randbelow(2**31) for seg in req.segments]

        def work() -> TimelineAnswer:
            tl = get_model().timeline([(seg.instruction, seg.seconds) for seg in req.segments], seeds=seeds)
            return TimelineAnswer(motion=keep(tl.motion), starts=tl.starts, seeds=seeds)

        planned = sum(_passes(seg.seconds, False) for seg in req.segments) + len(req.segments) - 1
        return await queue.run(request, work, limits.retry_after, job, planned)

    @app.get("/api/jobs/{job_id}")
    async def job_progress(job_id: str) -> JobInfo:
        """How far a request sent with ``?job=ID`` is: waiting (and behind how many), running (passes and
        tokens), or finished."""
        return queue.info(job_id)

    @app.delete("/api/jobs/{job_id}")
    async def cancel_job(job_id: str) -> JobInfo:
        """Cancel a request sent with ``?job=ID``: a waiting one leaves the queue, a running one stops at its
        next token; either is answered 499."""
        return queue.cancel(job_id)

    @app.post("/api/conversations")
    async def new_conversation() -> Conversation:
        conv = {"session": None, "turns": []}
        return Conversation(id=conversations.add(conv))

    @app.get("/api/conversations/{conversation_id}")
    async def get_conversation(conversation_id: str) -> Conversation:
        return Conversation(id=conversation_id, turns=conversations.get(conversation_id, "conversation")["turns"])

    @app.post("/api/conversations/{conversation_id}/turns")
    async def turn(conversation_id: str, req: GenerateRequest, request: Request, job: JobId = None) -> Turn:
        conv = conversations.get(conversation_id, "conversation")
        opts, given = _options(req), bound(req.motions)

        def work() -> Turn:
            if conv["session"] is None:
                conv["session"] = get_model().chat()
                for t in conv["turns"]:  # a conversation loaded again: its turns become the history
                    conv["session"].replay(t.instruction, bound(t.bound), [motions.get(m.id, "motion") for m in t.motions])
            session = conv["session"]
            before = list(session.history)
            result = session(req.instruction, given, **opts)
            done = Turn(instruction=req.instruction, bound=req.motions, **answer(result, req.instruction).model_dump())
            for k in range(1, req.samples):  # alternatives to the same turn; the first answer is the one kept
                seed = None if req.seed is None else req.seed + k
                alt = session.model(req.instruction, given, history=before, **{**opts, "seed": seed,
                                    "motion_only": not asks_for_words(req.instruction)})  # fmt: skip
                done.motions += answer(alt, req.instruction).motions
            conv["turns"].append(done)
            return done

        return await queue.run(request, work, limits.retry_after, job, req.samples * _passes(req.seconds, req.think))

    @app.get("/api/conversations/{conversation_id}/export")
    async def export_conversation(conversation_id: str) -> ConversationFile:
        turns: list[Turn] = conversations.get(conversation_id, "conversation")["turns"]
        ids = {i for t in turns for i in [*t.bound.values(), *(m.id for m in t.motions)]}
        docs = {}
        for i in sorted(ids):
            m: Motion = motions.get(i, "motion")
            docs[i] = MotionDoc(fps=m.fps, caption=m.caption, joints=m.joints.round(5).tolist())
        return ConversationFile(turns=turns, motions=docs)

    @app.post("/api/conversations/import")
    async def import_conversation(doc: ConversationFile) -> Conversation:
        new = {}
        for old_id, m in doc.motions.items():
            new[old_id] = keep(Motion.from_joints(np.asarray(m.joints, dtype=np.float32), m.fps, m.caption)).id
        missing = {i for t in doc.turns for i in [*t.bound.values(), *(m.id for m in t.motions)]} - set(new)
        if missing:
            raise HTTPException(400, f"the conversation names motions it does not hold: {', '.join(sorted(missing))}.")
        turns = [t.model_copy(update={"bound": {k: new[v] for k, v in t.bound.items()},
                                      "motions": [m.model_copy(update={"id": new[m.id]}) for m in t.motions]})
                 for t in doc.turns]  # fmt: skip
        conv = {"session": None, "turns": turns}
        return Conversation(id=conversations.add(conv), turns=turns)

    return app


def serve(model: str | None = None, host: str = "127.0.0.1", port: int = 8000, device=None, dtype=None) -> None:
    import uvicorn

    from ..device import resolve_device, resolve_dtype

    resolve_device(device), resolve_dtype(dtype)  # a wrong --device fails now, not at the first request

    print(f"omnimogen studio on http://{host}:{port} (API: http://{host}:{port}/docs); Ctrl+C stops it.")
    uvicorn.run(create_app(model, device=device, dtype=dtype), host=host, port=port, log_level="warning")


__all__ = ["Limits", "create_app", "serve"]
