"""Shared fixtures, built through `v2xum.testing`: a tiny checkpoint and small numbered videos made with PyAV."""

import os


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import base64  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402

import httpx2  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from huggingface_hub.utils import set_client_factory  # noqa: E402

import modeling_v2xum  # noqa: E402,F401  (registers the Auto classes)
from v2xum.testing import write_numbered_video  # noqa: E402
from v2xum.tiny_models import write_tiny_checkpoint  # noqa: E402


# Tests press Ctrl+C (SIGINT) on the processes they start. A shell that starts the suite in the background ignores
# SIGINT, and an ignored signal stays ignored in every child process: restore it, so children get Ctrl+C as a user's
# programs do.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


class MockHub:
    """Answers the routes create_repo and upload_folder use; records each commit's files and contents."""

    def __init__(self):
        self.created, self.commits = [], []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path == "/api/agent-harnesses":
            return httpx2.Response(200, json={"standardEnvVars": [], "harnesses": {}})
        if path == "/api/repos/create":
            body = json.loads(request.content)
            self.created.append(body)
            prefix = "spaces/" if body.get("type") == "space" else ""
            repo = f"{body['organization']}/{body['name']}" if body.get("organization") else body["name"]
            return httpx2.Response(200, json={"url": f"https://huggingface.co/{prefix}{repo}"})
        if path == "/api/validate-yaml":
            return httpx2.Response(200, json={})
        if "/preupload/" in path:
            files = json.loads(request.content)["files"]
            return httpx2.Response(
                200,
                json={"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]},
            )
        if "/commit/" in path:
            lines = [json.loads(line) for line in request.content.decode().splitlines() if line.strip()]
            files = {}
            for line in lines:
                if line["key"] == "file":
                    files[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
            self.commits.append({"path": path, "files": files})
            kind, repo = path.split("/")[2], "/".join(path.split("/")[3:5])
            prefix = "spaces/" if kind == "spaces" else ""
            return httpx2.Response(
                200,
                json={
                    "commitUrl": f"https://huggingface.co/{prefix}{repo}/commit/" + "a" * 40,
                    "commitOid": "a" * 40,
                    "pullRequestUrl": None,
                },
            )
        return httpx2.Response(404, json={"error": f"unexpected {request.method} {path}"})


@pytest.fixture
def hub(monkeypatch, tmp_path):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_fake")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    mock = MockHub()
    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(mock), base_url="https://huggingface.co"))
    yield mock
    set_client_factory(lambda: httpx2.Client())


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt")


@pytest.fixture(scope="session")
def keyframe_model_dir(tiny_dir, tmp_path_factory):
    """The tiny checkpoint with a generation config that favours `[fNN]` tokens (`sequence_bias`, stored in the
    list form that survives JSON), so that a random model still names keyframes and they can be checked."""
    import shutil

    path = tmp_path_factory.mktemp("keyframe_model") / "ckpt"
    shutil.copytree(tiny_dir, path)
    config = json.loads((path / "config.json").read_text())
    generation = json.loads((path / "generation_config.json").read_text())
    start = config["frame_token_start_id"]
    generation["sequence_bias"] = [[[start + i], 8.0] for i in range(config["num_frame_tokens"])]
    (path / "generation_config.json").write_text(json.dumps(generation))
    return path


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    """A tiny random CLIPModel (image + text towers) with an image processor and tokenizer, saved like a Hub one."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from v2xum.tiny_models import tiny_tokenizer

    path = tmp_path_factory.mktemp("clip") / "tiny-clip"
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 77,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_dir):
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(tiny_dir).eval()


@pytest.fixture(scope="session")
def tiny_processor(tiny_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_dir)


@pytest.fixture(scope="session")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    return {
        "long": write_numbered_video(root / "long.mp4", 300, fps=30, gop=25),
        "short": write_numbered_video(root / "short.mp4", 7, fps=10),
        "medium": write_numbered_video(root / "medium.mp4", 40, fps=25, width=96, height=72),
        "audio": write_numbered_video(root / "audio.mp4", 30, fps=15, audio=True),
    }


@pytest.fixture
def seeded():
    torch.manual_seed(0)
