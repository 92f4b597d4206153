"""A wheel built from the repository works on its own: installed (without dependencies) into a temporary folder and
used from outside the repository, the demo runs, a model card renders and every metric module loads."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]

USE_INSTALLED = r"""
import json, sys
from pathlib import Path

site = Path(sys.argv[1]).resolve()
import evaluate, evaluate_metrics, modeling_v2xum, processing, v2xum
for module in (evaluate_metrics, modeling_v2xum, processing, v2xum):
    assert Path(module.__file__).resolve().is_relative_to(site), module.__file__  # not the source tree

from transformers import AutoConfig
from modeling_v2xum.model_card import render_model_card
from v2xum.resources import demo_model_dir, metric_dir

card = render_model_card(AutoConfig.from_pretrained(demo_model_dir()), repo_id="org/storyboard-demo", num_frames=32)
assert 'pipeline("video-summarization", model="org/storyboard-demo")' in card.text, card.text
loaded = {}
for name in ("fclip", "cross_fclip", "video_summary_f1", "video_summary_text"):
    module = evaluate.load(str(metric_dir(name)))
    loaded[name] = type(module).__name__
scores = evaluate.load(str(metric_dir("fclip"))).compute(predictions=[[[1.0, 0.0]]], references=[[[1.0, 0.0]]])
print("RESULT", json.dumps({"metrics": loaded, "fclip": scores["fclip"]}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel, installed with `--no-deps` into a folder of its own."""
    root = tmp_path_factory.mktemp("wheel")
    # A clean copy: a build/ folder left in the checkout could carry stale modules into the wheel.
    source = shutil.copytree(
        ROOT,
        root / "source",
        ignore=shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (root / "dist").glob("v2xum-*.whl")
    site = root / "site"
    done = subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outside = root / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(root / "modules")}
    return site, outside, env


def test_installed_wheel_renders_cards_and_loads_every_metric(installed):
    site, outside, env = installed
    result = subprocess.run(
        [sys.executable, "-c", USE_INSTALLED, str(site)],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    report = json.loads(result.stdout.split("RESULT")[-1])
    assert report["metrics"] == {
        "fclip": "Fclip",
        "cross_fclip": "CrossFclip",
        "video_summary_f1": "VideoSummaryF1",
        "video_summary_text": "VideoSummaryText",
    }
    assert report["fclip"] == pytest.approx(1.0)


def test_installed_console_script_runs_the_demo(installed):
    site, outside, env = installed
    result = subprocess.run(
        [str(site / "bin" / "v2xum"), "demo", "--out", "demo"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "what the model says:" in result.stdout
    assert (outside / "demo" / "storyboard_sample" / "summary.json").is_file()
    assert (outside / "demo" / "storyboard_sample" / "highlights.mp4").is_file()
