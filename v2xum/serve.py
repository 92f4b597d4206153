# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""`v2xum serve`: the package's pipeline as an HTTP service on Ray Serve (`pip install "v2xum[ray]"`).

Routes (JSON in and out; errors are `{"error": message}` with a 4xx status, never a traceback):
- `POST /v1/summarize`: a video as a multipart upload (`video` file field, the other fields as form fields) or as
  JSON `{"video": URL}` (http(s), a `data:` URL, or a local path / `file://` URL inside `--allow-local-media`),
  with `task`, `query`, `num_frames`, `fps`, `max_keyframes`, `max_new_tokens`, `window_seconds`; returns
  `VideoSummary.to_dict()`.
- `POST /v1/chat/completions`: OpenAI's chat format with a `video_url` content part and a text part that is one of
  the task instructions (`processing.TASK_INSTRUCTIONS`, optionally followed by the query template); the answer keeps
  its `[fNN]` tokens and the parsed summary is under `"v2xum"`. The same fields as above may be given at the top
  level or in `vllm_xargs`.
- `GET /v1/models`, `GET /healthz` (the server answers), `GET /readyz` (a replica holds the loaded model).

Every request goes through the one engine (`v2xum.summarize.VideoSummarizer`): decoded as `pipe(video)` decodes it,
under the public limits (`v2xum.limits.PUBLIC_LIMITS`), then generated in batches gathered across concurrent
requests (`@serve.batch`) that ask for the same generation options. Each replica holds `max_ongoing_requests`
requests; beyond `max_queued_requests` waiting ones, Serve answers 503 at once, with a `Retry-After` header.
Serve counts a request as waiting until it is routed to a replica, so a sudden burst can be refused before the
queue holds that many; a client retries after `Retry-After` seconds.
"""

import asyncio
import base64
import binascii
import os
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import unquote, urlparse

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from ray import serve

from processing import SUMMARY_TASKS, TASK_INSTRUCTIONS
from processing.processing_v2xum import QUERY_TEMPLATE
from processing.video_decoding import check_plain_media, is_url

from .limits import PUBLIC_LIMITS, LimitError, Limits
from .outputs import safe_name
from .summarize import SummarizeSettings, VideoSummarizer, load_pipeline
from .uploads import RequestFolders, model_name, without_paths


MAX_NEW_TOKENS = 1024  # the most one request may ask to generate
UPLOAD_CHUNK = 1 << 20


class RequestError(ValueError):
    """What a request got wrong, with the HTTP status that says so."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class ServerOptions:
    """How `v2xum serve` serves: the model and where it runs, the replicas, batching and queue bounds, what a
    request may read (`allow_local_media`: a folder whose videos requests may name by path; None: none), and the
    limits a request is held to."""

    model: str
    host: str = "127.0.0.1"
    port: int = 8000
    replicas: int = 1
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    device: str = "auto"
    dtype: str = "auto"
    max_batch_size: int = 8
    batch_wait_ms: float = 20.0
    max_ongoing_requests: int = 8
    max_queued_requests: int = 32
    retry_after_s: float = 1.0
    allow_local_media: str | None = None
    max_minutes: float = 60.0
    max_upload_mb: float = 1024.0

    @property
    def limits(self) -> Limits:
        return PUBLIC_LIMITS.with_overrides(max_video_minutes=self.max_minutes, max_upload_mb=self.max_upload_mb)


@dataclass(frozen=True)
class SummaryRequest:
    """One request's video (a local file of this server, or an http(s) URL) and what is asked of it."""

    video: str
    task: str = "both"
    query: str | None = None
    num_frames: int | None = None
    fps: float | None = None
    max_keyframes: int | None = None
    max_new_tokens: int = 256
    window_seconds: float | None = None

    def settings(self) -> SummarizeSettings:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "video"}
        return SummarizeSettings(**values, decode_threads=1)


# Request fields: name -> (type, check, what it must be). Checked here, so a wrong value is named, never a 500.
_FIELDS = {
    "task": (str, lambda v: v in SUMMARY_TASKS, f"one of {', '.join(SUMMARY_TASKS)}"),
    "query": (str, lambda v: 0 < len(v) <= 500, "a text of 1 to 500 characters"),
    "num_frames": (int, lambda v: v > 0, "a positive integer"),
    "fps": (float, lambda v: v > 0, "a positive number"),
    "max_keyframes": (int, lambda v: v > 0, "a positive integer"),
    "max_new_tokens": (int, lambda v: 0 < v <= MAX_NEW_TOKENS, f"an integer from 1 to {MAX_NEW_TOKENS}"),
    "window_seconds": (float, lambda v: v > 0, "a positive number"),
}


def request_options(values: dict) -> dict:
    """The summary options of a JSON body or form (strings from a form are converted), checked one by one."""
    options = {}
    for name, (kind, valid, what) in _FIELDS.items():
        value = values.get(name)
        if value is None or value == "":
            continue
        try:
            if isinstance(value, bool) or (kind is not str and isinstance(value, str) and not value.strip()):
                raise ValueError
            converted = kind(value) if kind is not int or float(value).is_integer() else None
            if converted is None or not valid(converted):
                raise ValueError
        except (TypeError, ValueError):
            raise RequestError(f"field '{name}' must be {what}, got {value!r}") from None
        options[name] = converted
    return options


def chat_options(body: dict) -> tuple[str, dict]:
    """The video URL and the summary options of an OpenAI chat request: one user message with one `video_url` part
    and, optionally, a text part that is a task instruction (followed by the query template, for a query)."""
    if body.get("stream"):
        raise RequestError("field 'stream' is not supported: the summary is returned whole")
    if body.get("n", 1) != 1:
        raise RequestError(f"field 'n' must be 1 (one greedy answer), got {body.get('n')!r}")
    if body.get("temperature") not in (None, 0, 0.0):
        raise RequestError(f"field 'temperature' must be 0: this server decodes greedily, got {body['temperature']!r}")
    videos, texts = [], []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "video_url":
                videos.append((part.get("video_url") or {}).get("url"))
            elif isinstance(part, dict) and part.get("type") == "text" and message.get("role") == "user":
                texts.append(part.get("text", ""))
    if len(videos) != 1 or not isinstance(videos[0], str):
        raise RequestError(f"a chat request needs exactly one video_url content part, got {len(videos)}")
    options = instruction_options(" ".join(texts).strip())
    extra = {**{k: body[k] for k in _FIELDS if k in body}, **(body.get("vllm_xargs") or {})}
    if body.get("max_tokens") is not None or body.get("max_completion_tokens") is not None:
        extra.setdefault("max_new_tokens", body.get("max_completion_tokens") or body.get("max_tokens"))
    return videos[0], {**options, **request_options(extra)}


def instruction_options(text: str) -> dict:
    """The task (and query) a chat text asks for: empty (the default task), an instruction, or an instruction
    followed by the query template."""
    if not text:
        return {}
    prefix, _, suffix = QUERY_TEMPLATE.partition("{query}")
    for task, instruction in TASK_INSTRUCTIONS.items():
        if text == instruction:
            return {"task": task}
        if text.startswith(instruction + prefix) and text.endswith(suffix) and len(text) > len(instruction + prefix):
            return {"task": task, "query": text[len(instruction + prefix) : len(text) - len(suffix) or None].strip()}
    accepted = "; ".join(f"'{text}'" for text in TASK_INSTRUCTIONS.values())
    raise RequestError(f"the text part must be a task instruction ({accepted}), got {text[:200]!r}")


class SummaryService:
    """The server's work, without Ray: a loaded pipeline, the request folders for uploads, the limits, and the
    videos requests may name (`allow_local_media`)."""

    def __init__(self, options: ServerOptions, work_dir: str | os.PathLike | None = None):
        self.options, self.limits = options, options.limits
        self.pipe = load_pipeline(options.model, device=options.device, dtype=options.dtype)
        self.folders = RequestFolders(work_dir or Path(tempfile.gettempdir()) / "v2xum-serve")
        self.local_media = Path(options.allow_local_media).resolve() if options.allow_local_media else None

    @property
    def model_name(self) -> str:
        return model_name(self.options.model)

    def video_source(self, url: str, folder: Path) -> str:
        """A request's video as this server reads it: http(s) URLs as they are; `data:` URLs written into the
        request's folder; local paths (and `file://` URLs) only inside `allow_local_media`."""
        if not isinstance(url, str) or not url:
            raise RequestError(f"field 'video' must be a URL or path, got {url!r}")
        if url.startswith("data:"):
            return self.save_data_url(url, folder)
        if is_url(url) and not url.startswith("file://"):
            if not url.lower().startswith(("http://", "https://")):
                raise RequestError(f"only http(s), data: and file: URLs are read, got {url[:100]!r}")
            return url
        return self.local_path(unquote(urlparse(url).path) if url.startswith("file://") else url)

    def local_path(self, path: str) -> str:
        name = Path(path).name
        if self.local_media is None:
            raise RequestError(f"{name}: this server reads no local paths (start it with --allow-local-media)", 403)
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.local_media):
            raise RequestError(f"{name}: only videos inside the allowed media folder are read", 403)
        if not resolved.is_file():
            raise RequestError(f"{name}: file not found", 404)
        check_plain_media(resolved)
        return str(resolved)

    def save_data_url(self, url: str, folder: Path) -> str:
        header, _, data = url.partition(",")
        if not header.endswith(";base64"):
            raise RequestError("a data: URL must be base64 (data:video/mp4;base64,...)")
        self.limits.check_upload(len(data) * 3 // 4)
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as error:
            raise RequestError(f"the data: URL is not valid base64 ({error})") from None
        path = folder / "video"
        path.write_bytes(content)
        check_plain_media(path)
        return str(path)

    async def save_upload(self, upload, folder: Path) -> str:
        """A multipart upload, copied into the request's folder (under its own file name, made safe, so messages
        name it) while its size stays within the limit."""
        path, size = folder / safe_name(Path(upload.filename or "").name), 0
        with open(path, "wb") as out:
            while chunk := await upload.read(UPLOAD_CHUNK):
                size += len(chunk)
                self.limits.check_upload(size)
                out.write(chunk)
        check_plain_media(path)
        return str(path)

    def summarizer(self, request: SummaryRequest) -> VideoSummarizer:
        return VideoSummarizer(self.pipe, request.settings(), self.limits)

    def generate(self, batch: list[tuple[VideoSummarizer, object]]) -> list[dict | Exception]:
        """Summaries of decoded videos, one `pipe` call per group of equal generation options."""
        groups: dict[tuple, list[int]] = {}
        for index, (summarizer, _) in enumerate(batch):
            groups.setdefault(_generation_key(summarizer), []).append(index)
        results: list[dict | Exception] = [None] * len(batch)
        for indices in groups.values():
            summarizer = batch[indices[0]][0]
            summarizer.settings.batch_size = len(indices)
            try:
                summaries = summarizer.summarize([batch[i][1] for i in indices])
            except (ValueError, RuntimeError) as error:
                summaries = [error] * len(indices)
            for index, summary in zip(indices, summaries):
                results[index] = summary if isinstance(summary, Exception) else summary.to_dict()
        return results

    def error_response(self, error: Exception, folder: Path | None) -> JSONResponse:
        """A request's error as the person who sent it should read it: status and message, no server path."""
        status = 413 if isinstance(error, LimitError) else getattr(error, "status", 400)
        folders = [folder, self.local_media, self.folders.work_dir]
        return JSONResponse({"error": without_paths(str(error), *[f for f in folders if f])}, status_code=status)


def _generation_key(summarizer: VideoSummarizer) -> tuple:
    s = summarizer.settings
    return (s.task, s.query, s.max_keyframes, s.max_new_tokens, s.num_frames)


async def _json_body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError as error:
        raise RequestError(f"the body is not JSON ({error})") from None
    if not isinstance(body, dict):
        raise RequestError(f"the body must be a JSON object, got {type(body).__name__}")
    return body


REQUEST_ERRORS = (RequestError, ValueError, OSError)  # LimitError and VideoDecodingError are ValueErrors
api = FastAPI(title="V2Xum", description="Cross-modal video summarization (V2Xum-LLM)")


@serve.deployment
@serve.ingress(api)
class V2XumServer:
    """One replica: the model, loaded once; requests decoded concurrently, generated in shared batches."""

    def __init__(self, options: ServerOptions):
        self.service = SummaryService(options)
        self.batched.set_max_batch_size(options.max_batch_size)
        self.batched.set_batch_wait_timeout_s(options.batch_wait_ms / 1000)

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @api.get("/readyz")
    async def readyz(self) -> dict:
        return {"status": "ready", "model": self.service.model_name}

    @api.get("/v1/models")
    async def models(self) -> dict:
        return {"object": "list", "data": [{"id": self.service.model_name, "object": "model", "owned_by": "v2xum"}]}

    @api.post("/v1/summarize")
    async def summarize(self, request: Request) -> JSONResponse:
        folder = self.service.folders.new()
        try:
            video, options = await self._read_summarize(request, folder)
            return JSONResponse(await self.run(SummaryRequest(video, **options)))
        except REQUEST_ERRORS as error:
            return self.service.error_response(error, folder)
        finally:
            self.service.folders.release(folder)

    @api.post("/v1/chat/completions")
    async def chat(self, request: Request) -> JSONResponse:
        folder = self.service.folders.new()
        try:
            url, options = chat_options(await _json_body(request))
            video = self.service.video_source(url, folder)
            summary = await self.run(SummaryRequest(video, **options))
            return JSONResponse(self._completion(summary))
        except REQUEST_ERRORS as error:
            return self.service.error_response(error, folder)
        finally:
            self.service.folders.release(folder)

    async def _read_summarize(self, request: Request, folder: Path) -> tuple[str, dict]:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            declared = int(request.headers.get("content-length") or 0)
            self.service.limits.check_upload(declared)  # before reading a byte of an announced over-size body
            form = await request.form()
            upload = form.get("video")
            if upload is None or isinstance(upload, str):
                raise RequestError("a multipart request needs the video as a file field named 'video'")
            return await self.service.save_upload(upload, folder), request_options(dict(form))
        body = await _json_body(request)
        return self.service.video_source(body.get("video"), folder), request_options(body)

    async def run(self, request: SummaryRequest) -> dict:
        summarizer = self.service.summarizer(request)
        if request.window_seconds:
            summary, _ = await asyncio.to_thread(summarizer.summarize_windows, request.video, progress=False)
            return summary.to_dict()
        decoded = await asyncio.to_thread(summarizer.decode, request.video)
        result = await self.batched((summarizer, decoded))
        if isinstance(result, Exception):
            raise result
        return result

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
    async def batched(self, batch: list[tuple[VideoSummarizer, object]]) -> list[dict | Exception]:
        return await asyncio.to_thread(self.service.generate, batch)

    def _completion(self, summary: dict) -> dict:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.service.model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": summary["raw_text"]},
                    "finish_reason": "stop",
                }
            ],
            "v2xum": summary,
        }


def deployment(options: ServerOptions):
    """The Serve application for `options` (replicas, resources, queue bounds), ready for `serve.run`."""
    return V2XumServer.options(
        num_replicas=options.replicas,
        ray_actor_options={"num_cpus": options.cpus_per_replica, "num_gpus": options.gpus_per_replica},
        max_ongoing_requests=options.max_ongoing_requests,
        max_queued_requests=options.max_queued_requests,
        backpressure_config={"status_code": 503, "retry_after_s": options.retry_after_s},
    ).bind(options)


def start(options: ServerOptions, address: str | None = None) -> str:
    """Starts Ray (a local instance, or joins `address`), Serve on `host:port`, and the deployment; returns the
    base URL once every replica has loaded the model."""
    import ray

    if options.gpus_per_replica and options.device == "cpu":
        raise ValueError("--gpus-per-replica asks for GPUs but --device is cpu")
    ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    serve.start(http_options={"host": options.host, "port": options.port})
    serve.run(deployment(options), name="v2xum", route_prefix="/")
    return f"http://{options.host}:{options.port}"


def stop(address: str | None = None) -> None:
    """Stops what `start` started: on a cluster that was joined (`address`), only this application (other Serve
    applications there keep running); on the local Ray it started, Serve and Ray."""
    import ray

    if not ray.is_initialized():  # stopped before it started (serve.shutdown would start a Ray to find nothing)
        return
    if address:
        serve.delete("v2xum")
    else:
        serve.shutdown()
    ray.shutdown()


def serve_forever(options: ServerOptions, address: str | None = None) -> None:
    """`v2xum serve`: starts, prints the URL, serves until Ctrl+C or SIGTERM, then stops Serve and Ray. A stop that
    comes while it is still starting (the replicas can answer before `start` returns) stops it the same way."""
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        url = start(options, address)
        print(
            f"V2Xum server on {url} (model {model_name(options.model)}, {options.replicas} replica(s)); Ctrl+C to stop"
        )
        print(f"  POST {url}/v1/summarize, POST {url}/v1/chat/completions, GET {url}/readyz", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        stop(address)


__all__ = [
    "ServerOptions",
    "SummaryRequest",
    "SummaryService",
    "V2XumServer",
    "chat_options",
    "deployment",
    "request_options",
    "serve_forever",
    "start",
    "stop",
]
