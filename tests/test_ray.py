"""Ray Data: a local Ray instance (2 CPUs) started and stopped by the test summarizes like the plain command, and
a worker that dies mid-run is restarted without losing or repeating a video."""

import json

import pytest


ray = pytest.importorskip("ray", reason="Ray is in the dev extra; the ray engine needs pip install 'v2xum[ray]'")

from v2xum.cli import main as v2xum  # noqa: E402
from v2xum.collection import output_names  # noqa: E402
from v2xum.ray_summarize import summarize_dataset  # noqa: E402
from v2xum.summarize import SummarizeSettings  # noqa: E402
from v2xum.testing import CrashOnceSummarizer, write_numbered_video  # noqa: E402


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    marker = tmp_path_factory.mktemp("ray") / "crashed-once"
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"V2XUM_CRASH_ONCE": str(marker), "HF_HUB_OFFLINE": "1"}},
    )
    yield marker
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    for i in range(5):
        (root / f"c{i}").mkdir()
    return [write_numbered_video(root / f"c{i}" / "clip.mp4", 12 + i, fps=10, gop=5) for i in range(5)]


def summaries(out):
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/summary.json")}


def test_ray_gives_the_plain_commands_summaries_and_survives_a_dying_worker(
    local_ray, keyframe_model_dir, clips, tmp_path
):
    plain = tmp_path / "plain"
    assert (
        v2xum(
            [
                "summarize",
                *clips,
                "--model",
                str(keyframe_model_dir),
                "--out",
                str(plain),
                "--max-new-tokens",
                "6",
                "--max-keyframes",
                "2",
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    out = tmp_path / "ray"
    settings = SummarizeSettings(max_new_tokens=6, max_keyframes=2, batch_size=2)
    dataset = ray.data.from_items([{"video": c} for c in clips])
    report = summarize_dataset(
        dataset, str(keyframe_model_dir), out, settings, device="cpu", actor_class=CrashOnceSummarizer
    )
    assert local_ray.exists()  # a worker did die, and was replaced
    assert report.failures == {} and len(report.records) == len(clips)
    lines = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert sorted(line["output"] for line in lines) == sorted(output_names(clips))  # each video exactly once
    assert {k: v["keyframes"] for k, v in summaries(out).items()} == {
        k: v["keyframes"] for k, v in summaries(plain).items()
    }
    assert {k: v["text"] for k, v in summaries(out).items()} == {k: v["text"] for k, v in summaries(plain).items()}
    # the same frames were seen: the model's own frame count (8 of 12-16), at the same size
    assert {k: (v["video"]["num_sampled_frames"], v["video"]["width"]) for k, v in summaries(out).items()} == {
        k: (v["video"]["num_sampled_frames"], v["video"]["width"]) for k, v in summaries(plain).items()
    }
