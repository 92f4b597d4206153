"""The plugin's tests run in vLLM's environment; what the `v2xum` package answers comes from the package's own
environment (`V2XUM_PYTHON`, default: the repository's `.venv`), through `reference.py`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGE_PYTHON = os.environ.get("V2XUM_PYTHON", str(REPOSITORY / ".venv" / "bin" / "python"))
DEMO_MODEL = REPOSITORY / "v2xum" / "storyboard_demo"
REFERENCE = Path(__file__).with_name("reference.py")

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB: these models are tiny
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_package(*args: str, timeout: float = 600) -> None:
    """A command of the package's environment, run in the repository (its packages import from there)."""
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    result = subprocess.run(
        [PACKAGE_PYTHON, *args], cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]


def package_reference(command: str, source, cases: list[dict], folder: Path) -> list:
    """`reference.py COMMAND` on `cases`, in the package's environment."""
    cases_file, out_file = folder / f"{command}-cases.json", folder / f"{command}-out.json"
    cases_file.write_text(json.dumps(cases))
    run_package(str(REFERENCE), command, str(source), str(cases_file), str(out_file))
    return json.loads(out_file.read_text())


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Path:
    """Three StoryBoard videos (shapes that move, with a story), made by the package's generator."""
    folder = tmp_path_factory.mktemp("media")
    code = (
        "import sys, numpy as np\n"
        "from v2xum.storyboard import make_video_example\n"
        "for seed in range(3):\n"
        "    rng = np.random.default_rng(100 + seed)\n"
        "    make_video_example(f'{sys.argv[1]}/story_{seed}.mp4', rng, f'story_{seed}')\n"
    )
    run_package("-c", code, str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Random tiny V2Xum checkpoints in both feature modes, with heads vLLM's CPU kernels accept (head_dim 32),
    whose frame tokens' output rows are scaled up so that they name frames (in and out of the rule)."""
    folder = tmp_path_factory.mktemp("tiny")
    models = {}
    for mode in ("image_embeds", "patch_pooled"):
        models[mode] = folder / mode
        run_package("-m", "v2xum.cli", "init-tiny", str(models[mode]), "--feature-mode", mode, "--head-dim", "32")
        run_package(str(REFERENCE), "boost", str(models[mode]), "1000")
    return models


def pytest_report_header(config):
    return f"v2xum package environment: {PACKAGE_PYTHON} (python {sys.version.split()[0]} here)"
