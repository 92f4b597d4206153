"""Ray Data: a local Ray instance (2 CPUs) started and stopped by the test summarizes like the plain command, and
a worker that dies mid-run is restarted without losing or repeating a video."""

import json
import os
import sys

import pytest


ray = pytest.importorskip("ray", reason="Ray is in the dev extra; the ray engine needs pip install 'v2xum[ray]'")

from v2xum.cli import main as v2xum  # noqa: E402
from v2xum.outputs import output_names  # noqa: E402
from v2xum.ray_summarize import SummarizerActor, summarize_dataset  # noqa: E402
from v2xum.summarize import SummarizeSettings  # noqa: E402
from v2xum.testing import write_numbered_video  # noqa: E402


class CrashOnceSummarizer(SummarizerActor):
    """A model stage whose process dies (as a killed worker does) on its first batch when the file named by
    `V2XUM_CRASH_ONCE` does not exist yet, creating it."""

    def __call__(self, batch):
        marker = os.environ.get("V2XUM_CRASH_ONCE")
        if marker and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        return super().__call__(batch)


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
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


def test_every_option_is_honoured_or_refused(local_ray, keyframe_model_dir, clips, tmp_path, capsys):
    """Windows, dtype and the rest reach the model stage (same summaries as the local engine); what only the local
    engine does is refused by name, never dropped."""
    common = [
        "--model",
        str(keyframe_model_dir),
        "--max-new-tokens",
        "6",
        "--max-keyframes",
        "2",
        "--dtype",
        "fp32",
        "--window-seconds",
        "0.5",
        "--batch-size",
        "2",
    ]
    assert v2xum(["summarize", *clips[:2], "--out", str(tmp_path / "plain"), *common]) == 0
    assert v2xum(["summarize", *clips[:2], "--out", str(tmp_path / "ray"), "--engine", "ray", *common]) == 0
    plain, ray_out = summaries(tmp_path / "plain"), summaries(tmp_path / "ray")
    assert {k: (v["text"], v["keyframes"], v["windows"]) for k, v in ray_out.items()} == {
        k: (v["text"], v["keyframes"], v["windows"]) for k, v in plain.items()
    }
    assert all(v["windows"] and v["settings"]["window_seconds"] == 0.5 for v in ray_out.values())
    assert all(v["settings"]["dtype"] == "float32" for v in ray_out.values())
    capsys.readouterr()
    for flag in (["--stream"], ["--prefetch", "3"], ["--retry-failed"]):
        assert v2xum(["summarize", clips[0], "--out", str(tmp_path / "x"), "--engine", "ray", *common, *flag]) == 2
        assert f"{flag[0]}: not for --engine ray" in capsys.readouterr().err
    assert (
        v2xum(["summarize", clips[0], "--out", str(tmp_path / "q"), "--engine", "ray", "--load-in-4bit", *common]) == 2
    )
    assert "--load-in-4bit needs the bitsandbytes package" in capsys.readouterr().err
