"""`v2xum serve`: the command started as a user starts it (a local Ray on loopback), the demo model, StoryBoard
videos; every answer compared with the package's own pipeline called on the same file."""

import base64
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from requests.adapters import HTTPAdapter
from transformers import pipeline
from urllib3.util.retry import Retry

from processing import TASK_INSTRUCTIONS, VideoSummary
from processing.processing_v2xum import QUERY_TEMPLATE
from v2xum.resources import demo_model_dir
from v2xum.serve import RequestError, chat_options, instruction_options, request_options
from v2xum.storyboard import make_video_example
from v2xum.testing import truncate_file, write_numbered_video


TASKS = ("video", "text", "both")
START_TIMEOUT = 240  # Ray, Serve's controller and proxy, and a replica loading the model, on a loaded 2-core machine


# Requests, parsed without a server.


@pytest.mark.parametrize(
    "values, message",
    [
        ({"task": "poem"}, "field 'task' must be one of video, text, both, got 'poem'"),
        ({"num_frames": "eight"}, "field 'num_frames' must be a positive integer, got 'eight'"),
        ({"num_frames": 2.5}, "field 'num_frames' must be a positive integer, got 2.5"),
        ({"num_frames": True}, "field 'num_frames' must be a positive integer, got True"),
        ({"fps": -1}, "field 'fps' must be a positive number, got -1"),
        ({"max_new_tokens": 10**6}, "field 'max_new_tokens' must be an integer from 1 to 1024, got 1000000"),
        ({"query": "x" * 501}, "field 'query' must be a text of 1 to 500 characters"),
    ],
)
def test_a_wrong_field_is_named_with_its_value(values, message):
    with pytest.raises(RequestError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        request_options(values)


def test_form_strings_are_converted():
    form = {"task": "text", "num_frames": "16", "fps": "0.5", "max_keyframes": "3", "window_seconds": ""}
    assert request_options(form) == {"task": "text", "num_frames": 16, "fps": 0.5, "max_keyframes": 3}


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("query", [None, "the red circle", "what happens at the end?"])
def test_chat_text_is_the_processors_instruction(task, query):
    text = TASK_INSTRUCTIONS[task] + (QUERY_TEMPLATE.format(query=query) if query else "")
    assert instruction_options(text) == ({"task": task, "query": query} if query else {"task": task})


def test_chat_requests_refuse_what_they_cannot_get():
    video = {"type": "video_url", "video_url": {"url": "https://example.org/a.mp4"}}

    def body(text="", **extra):
        return {"messages": [{"role": "user", "content": [video, {"type": "text", "text": text}]}], **extra}

    url, options = chat_options(body(TASK_INSTRUCTIONS["video"], max_tokens=64, vllm_xargs={"max_keyframes": 2}))
    assert (url, options) == ("https://example.org/a.mp4", {"task": "video", "max_new_tokens": 64, "max_keyframes": 2})
    for wrong, message in [
        (body("Describe this video."), "the text part must be a task instruction"),
        (body(temperature=0.7), "field 'temperature' must be 0"),
        (body(stream=True), "field 'stream' is not supported"),
        (body(n=2), "field 'n' must be 1"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "exactly one video_url content part, got 0"),
        (body(vllm_xargs={"max_keyframes": 0}), "field 'max_keyframes' must be a positive integer, got 0"),
    ]:
        with pytest.raises(RequestError, match=message):
            chat_options(wrong)


# The server.


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    for seed in range(3):
        make_video_example(str(folder / f"story_{seed}.mp4"), np.random.default_rng(100 + seed), f"story_{seed}")
    truncate_file(folder / "story_0.mp4", folder / "truncated.mp4", 0.3)
    (folder / "notes.mp4").write_text("not a video\n")
    write_numbered_video(folder / "long.mp4", 200, fps=1, width=64, height=48)  # 3.3 minutes
    return folder


@pytest.fixture(scope="module")
def server(media):
    port = _free_port()
    command = [sys.executable, "-m", "v2xum.cli", "serve", "--device", "cpu", "--port", str(port)]
    command += ["--allow-local-media", str(media), "--max-minutes", "2", "--max-queued-requests", "4"]
    process = subprocess.Popen(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{url}/readyz", timeout=30).status_code == 200:
                break
        except requests.RequestException:  # not listening yet, or the replica still loading
            pass
        time.sleep(2)
    else:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"v2xum serve did not become ready in {START_TIMEOUT} s (exit code {process.poll()})")
    yield url, process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def reference(media):
    """The package's pipeline on the same files: what the server must answer (its `VideoSummary`)."""
    pipe = pipeline("video-summarization", model=str(demo_model_dir()), device="cpu")
    return {
        (v, t): VideoSummary.from_dict(pipe(str(media / f"story_{v}.mp4"), task=t)).to_dict()
        for v in range(3)
        for t in TASKS
    }


def _post(url: str, route: str, **kwargs) -> requests.Response:
    return requests.post(url + route, timeout=120, **kwargs)


def test_served_summaries_equal_the_pipeline(server, media, reference):
    url, _ = server
    assert requests.get(f"{url}/readyz", timeout=10).json() == {"status": "ready", "model": "storyboard_demo"}
    for (video, task), expected in reference.items():
        answer = _post(url, "/v1/summarize", json={"video": str(media / f"story_{video}.mp4"), "task": task})
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected, (video, task)
        assert expected["text"] or expected["keyframes"]


def test_uploads_and_data_urls_equal_the_pipeline(server, media, reference):
    url, _ = server
    path = media / "story_1.mp4"
    with open(path, "rb") as f:
        answer = _post(url, "/v1/summarize", files={"video": ("clip.mp4", f, "video/mp4")}, data={"task": "video"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == reference[(1, "video")]
    data_url = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
    answer = _post(url, "/v1/summarize", json={"video": data_url, "task": "text"})
    assert answer.json() == reference[(1, "text")]


def test_openai_chat_completions_with_a_video_part(server, media, reference):
    url, _ = server
    content = [
        {"type": "video_url", "video_url": {"url": (media / "story_2.mp4").as_uri()}},
        {"type": "text", "text": TASK_INSTRUCTIONS["both"]},
    ]
    body = {"model": "storyboard_demo", "messages": [{"role": "user", "content": content}], "temperature": 0}
    answer = _post(url, "/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    completion, expected = answer.json(), reference[(2, "both")]
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"] == expected["raw_text"]
    assert completion["v2xum"] == expected
    assert requests.get(f"{url}/v1/models", timeout=10).json()["data"][0]["id"] == "storyboard_demo"


def test_concurrent_requests_are_all_answered_alike(server, media, reference):
    """8 clients at once, each retrying a 503 after its Retry-After (Serve may refuse part of a burst before its
    queue of 4 is full): every answer equals the pipeline's for its own video and task."""
    url, _ = server
    jobs = [(i % 3, TASKS[i % 3]) for i in range(8)]
    retry = Retry(total=10, status_forcelist=[503], allowed_methods=None, respect_retry_after_header=True)

    def send(job):
        body = {"video": str(media / f"story_{job[0]}.mp4"), "task": job[1]}
        with requests.Session() as session:
            session.mount("http://", HTTPAdapter(max_retries=retry))
            return session.post(f"{url}/v1/summarize", json=body, timeout=120)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, jobs))
    assert [a.status_code for a in answers] == [200] * 8
    assert [a.json() for a in answers] == [reference[job] for job in jobs]


def test_a_full_queue_answers_503_at_once(server, media, reference):
    """8 requests in work and 4 waiting: of 40 sent together, those beyond are refused with 503 and told when to
    retry (how many depends on how fast the first ones finish; the first 4 always get in), the others answered
    correctly."""
    url, _ = server
    together = threading.Barrier(40)

    def send(_):
        together.wait()
        return _post(url, "/v1/summarize", json={"video": str(media / "story_0.mp4")})

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(send, range(40)))
    codes = [a.status_code for a in answers]
    assert set(codes) == {200, 503} and codes.count(200) >= 4, codes
    assert {a.headers.get("Retry-After") for a in answers if a.status_code == 503} == {"1"}
    assert all(a.json() == reference[(0, "both")] for a in answers if a.status_code == 200)


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"video": "notes.mp4"}, 400, "'notes.mp4': not a readable video container"),
        ({"video": "truncated.mp4"}, 400, "truncated.mp4"),
        ({"video": "missing.mp4"}, 404, "missing.mp4: file not found"),
        ({"video": "long.mp4"}, 413, "3.3 minutes of video asked for; the limit is at most 2"),
        ({"video": "story_0.mp4", "task": "poem"}, 400, "field 'task' must be one of video, text, both"),
        ({"video": "story_0.mp4", "fps": 50}, 413, "50 frames per second asked for; the limit is at most 10"),
        ({"video": "/etc/hostname"}, 403, "hostname: only videos inside the allowed media folder are read"),
        ({"video": "ftp://example.org/a.mp4"}, 400, "only http(s), data: and file: URLs are read"),
        ({"video": "data:video/mp4,abc"}, 400, "a data: URL must be base64"),
    ],
)
def test_bad_input_is_a_4xx_with_the_message(server, media, body, status, message):
    url, _ = server
    if not body["video"].startswith(("/", "ftp:", "data:")):
        body = {**body, "video": str(media / body["video"])}
    answer = _post(url, "/v1/summarize", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error
    assert str(media) not in error and tempfile.gettempdir() + os.sep not in error  # no server path


def test_bad_bodies_are_a_4xx(server):
    url, _ = server
    assert (
        _post(url, "/v1/summarize", data=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    )
    answer = _post(url, "/v1/summarize", files={"other": ("a.txt", b"x")})
    assert answer.status_code == 400 and "file field named 'video'" in answer.json()["error"]
    answer = _post(url, "/v1/summarize", files={"video": ("../notes.txt", b"not a video")})
    assert answer.status_code == 400 and "'notes.txt': not a readable video container" in answer.json()["error"]
    answer = _post(url, "/v1/chat/completions", json={"messages": []})
    assert answer.status_code == 400 and "exactly one video_url content part" in answer.json()["error"]


def test_the_server_stops_cleanly(server):
    """Ctrl+C (or SIGTERM) stops Serve and the local Ray it started: exit 0, the port closed."""
    url, process = server
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/healthz", timeout=5)
