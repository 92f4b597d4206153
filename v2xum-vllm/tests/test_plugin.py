"""vLLM with the V2Xum plugin gives what the `v2xum` package gives: token for token on the demo model, the keyframe
rule wherever it changes an answer, the same pixels, and the same keyframes through the OpenAI server."""

import gc
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from itertools import product

import numpy as np
import pytest
from conftest import DEMO_MODEL, REFERENCE, package_reference, run_package
from transformers import AutoProcessor
from vllm import LLM, SamplingParams

from v2xum_vllm import register
from v2xum_vllm.processing import pixel_values


register()  # in this process too: the tests build requests with the plugin's processor
TASKS = ("video", "text", "both")
RULE_VARIANTS = ({}, {"max_keyframes": 1}, {"min_keyframes": 2})
TIE = 1e-3  # two best scores closer than this: float rounding may pick either


@pytest.fixture(scope="module")
def processor():
    return AutoProcessor.from_pretrained(DEMO_MODEL)


def _llm(model) -> LLM:
    return LLM(model=str(model), dtype="float32", enforce_eager=True, max_model_len=1024, seed=0)


def _generate(llm: LLM, processor, cases: list[dict]) -> list[dict]:
    requests = [processor.video_request(case["video"], case["task"], case["num_frames"]) for case in cases]
    params = [
        SamplingParams(temperature=0, max_tokens=case["max_tokens"], skip_special_tokens=False, extra_args=_rule(case))
        for case in cases
    ]
    outputs = llm.generate(requests, params, use_tqdm=False)
    return [{"prompt_ids": list(o.prompt_token_ids), "answer_ids": list(o.outputs[0].token_ids)} for o in outputs]


def _rule(case: dict) -> dict:
    """The keyframe rule's per-request arguments (`extra_args`; `vllm_xargs` on the server) for a case."""
    rule = {key: case[key] for key in ("max_keyframes", "min_keyframes") if key in case}
    return rule | ({"constrain_keyframes": False} if case.get("constrain") is False else {})


def _shutdown(llm: LLM) -> None:
    llm.llm_engine.engine_core.shutdown()
    del llm
    gc.collect()


def test_greedy_answers_equal_the_package_token_for_token(media, processor, tmp_path):
    """3 videos x 3 tasks x (no limit, max_keyframes=1, min_keyframes=2) x (8, 32 frames), on the demo model."""
    cases = [
        {"video": str(media / f"story_{v}.mp4"), "task": task, "num_frames": frames, "max_tokens": 64, **rule}
        for v, task, rule, frames in product(range(3), TASKS, RULE_VARIANTS, (8, 32))
    ]
    expected = package_reference("answers", DEMO_MODEL, cases, tmp_path)
    llm = _llm(DEMO_MODEL)
    try:
        served = _generate(llm, processor, cases)
    finally:
        _shutdown(llm)
    prompts_equal = sum(s["prompt_ids"] == e["prompt_ids"] for s, e in zip(served, expected))
    answers_equal = sum(s["answer_ids"] == e["answer_ids"] for s, e in zip(served, expected))
    print(f"equal prompts {prompts_equal}/{len(cases)}, equal answers {answers_equal}/{len(cases)}")
    assert prompts_equal == answers_equal == len(cases) == 54


def _first_difference(ours: list[int], theirs: list[int]) -> int | None:
    """The first step where two answers differ (one ending earlier counts), or None."""
    for step, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            return step
    return None if len(ours) == len(theirs) else min(len(ours), len(theirs))


def test_the_keyframe_rule_equals_the_package_where_it_changes_the_answer(media, tiny_models, tmp_path):
    """Random tiny models (both feature modes) whose frame tokens are made likely: with the rule, vLLM's answers
    equal the package's constrained ones (and without it, the unconstrained ones); the cases where the rule changed
    the answer are counted and must exist. A random model's scores can tie to float precision, where two correct
    implementations may pick differently: an answer may leave the package's only at a step whose two best scores
    are within `TIE` of each other (how often is printed)."""
    base = [
        {"video": str(media / f"story_{v}.mp4"), "task": task, "num_frames": 8, "max_tokens": 24, **rule}
        for v, task, rule in product(range(3), TASKS, RULE_VARIANTS)
    ]
    for mode, model in tiny_models.items():
        cases = base + [{**case, "constrain": False} for case in base]
        expected = package_reference("answers", model, cases, tmp_path)
        tiny_processor = AutoProcessor.from_pretrained(model)
        llm = _llm(model)
        try:
            served = _generate(llm, tiny_processor, cases)
        finally:
            _shutdown(llm)
        constrained, free = expected[: len(base)], expected[len(base) :]
        changed = [i for i in range(len(base)) if constrained[i]["answer_ids"] != free[i]["answer_ids"]]
        differences = [_first_difference(s["answer_ids"], e["answer_ids"]) for s, e in zip(served, expected)]
        at_ties = [(i, p, expected[i]["margins"][p]) for i, p in enumerate(differences) if p is not None]
        print(f"{mode}: the rule changed {len(changed)}/{len(base)} answers; equal {differences.count(None)}/"
              f"{len(cases)}; left at a tie: {at_ties}")  # fmt: skip
        assert all(margin < TIE for _, _, margin in at_ties), at_ties
        assert len(changed) >= 6, mode


def test_pixels_equal_the_package_video_processor(processor, tmp_path):
    """Frames of several sizes (resized, cropped, padded when smaller than the crop), natural-looking content."""
    rng = np.random.default_rng(0)
    sizes = {"square": (32, 32), "wide": (48, 80), "tall": (75, 41), "odd": (37, 61), "small": (20, 26)}
    videos = {}
    for name, (height, width) in sizes.items():
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([np.sin(x / 7.0 + t) * 60 + np.cos(y / 5.0) * 50 + 120 for t in range(4)])
        noisy = base[..., None] + rng.normal(0, 12, (4, height, width, 3))
        videos[name] = np.clip(noisy, 0, 255).astype(np.uint8)
    np.savez(tmp_path / "frames.npz", **videos)
    run_package(str(REFERENCE), "pixels", str(DEMO_MODEL), str(tmp_path / "frames.npz"), str(tmp_path / "pixels.npz"))
    expected = dict(np.load(tmp_path / "pixels.npz"))
    for name, frames in videos.items():
        ours = pixel_values(frames, processor.video_config).numpy()
        assert ours.shape == expected[name].shape, name
        assert np.array_equal(ours, expected[name]), (name, float(np.abs(ours - expected[name]).max()))


def test_too_many_frames_is_a_clear_error(processor):
    with pytest.raises(ValueError, match="101 frames given, but this model has 100 frame tokens"):
        processor.video_prompt_ids(101)
    with pytest.raises(ValueError, match="task must be one of video, text, both, got 'poem'"):
        processor.prompt("poem")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(media):
    port = _free_port()
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(DEMO_MODEL),
        "--host", "127.0.0.1", "--port", str(port), "--allowed-local-media-path", str(media),
        "--dtype", "float32", "--enforce-eager", "--max-model-len", "1024",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5):
                break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(1)
    else:
        process.kill()
        pytest.fail(f"the vLLM server did not start: {process.stderr.read()[-3000:]}")
    yield url
    process.terminate()
    process.wait(timeout=60)


def test_the_openai_server_gives_the_pipelines_keyframes(server, media, tmp_path):
    """Chat requests with a `file://` video part and the task's instruction (the rule inferred from it, or set per
    request through `vllm_xargs`), parsed by the package's client, give the package pipeline's keyframes."""
    cases = [
        {"video": str(media / f"story_{v}.mp4"), "task": task, "num_frames": 32, **rule}
        for v, task, rule in [(0, "both", {}), (1, "both", {}), (2, "video", {}), (1, "both", {"max_keyframes": 1})]
    ]
    expected = package_reference("pipeline", DEMO_MODEL, cases, tmp_path)
    served = package_reference("client", server, cases, tmp_path)
    for case, ours, theirs in zip(cases, served, expected):
        assert [k["frame_index"] for k in ours["keyframes"]] == [k["frame_index"] for k in theirs["keyframes"]], case
        assert [k["seconds"] for k in ours["keyframes"]] == [k["seconds"] for k in theirs["keyframes"]], case
        assert [s["text"] for s in ours["sentences"]] == [s["text"] for s in theirs["sentences"]], case
    assert len(served[-1]["keyframes"]) == 1


def _refusal(server: str, content: list[dict], **extra) -> tuple[int, str]:
    body = {"model": str(DEMO_MODEL), "messages": [{"role": "user", "content": content}], **extra}
    request = urllib.request.Request(
        f"{server}/v1/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    return refused.value.code, refused.value.read().decode()


def test_the_server_refuses_bad_requests_with_a_message(server, media):
    text = [{"type": "text", "text": "hello"}]
    code, message = _refusal(server, text, vllm_xargs={"max_keyframes": -1})
    assert code == 400 and "max_keyframes must be a whole number >= 0, got -1" in message
    code, message = _refusal(server, text, vllm_xargs={"v2xum_task": "poem"})
    assert code == 400 and "v2xum_task must be one of video, text, both, got 'poem'" in message
    (media / "notes.mp4").write_text("not a video\n")
    video = {"type": "video_url", "video_url": {"url": (media / "notes.mp4").as_uri()}}
    code, message = _refusal(server, [video, *text])
    assert code == 400 and "not a readable video container" in message, message


def test_the_gpu_check_script_runs_on_the_cpu(media, tmp_path):
    """`gpu_check.py`, kept ready for GPU machines, on the demo model in float32: vLLM's log-probabilities equal the
    package model's on the same tokens."""
    out = tmp_path / "check.json"
    command = [
        sys.executable, str(REFERENCE.parents[1] / "gpu_check.py"), "--model", str(DEMO_MODEL),
        "--video", str(media / "story_0.mp4"), "--cpu", "--requests", "4", "--max-tokens", "32", "--out", str(out),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    results = json.loads(out.read_text())
    assert results["throughput"]["videos_per_s"] > 0 and results["parity"]["tokens"] > 0
    assert results["parity"]["argmax_agreement"] == 1.0 and results["parity"]["max_abs_logprob_diff"] < 1e-3
