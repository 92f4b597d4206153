"""Publishing against an in-process mock Hub: the exact files and card metadata that are uploaded."""

import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from v2xum.cli import main as v2xum


@pytest.fixture
def results_dir(tmp_path, tiny_dir):
    """`v2xum evaluate`'s output for the tiny checkpoint (its weights fingerprint recorded)."""
    from modeling_v2xum.model_card import weights_fingerprint

    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"model_fingerprint": weights_fingerprint(tiny_dir)}))
    (folder / "model_index.json").write_text(
        json.dumps(
            [
                {
                    "task_type": "video-text-to-text",
                    "task_name": "Video summarization (BOTH)",
                    "dataset_type": "storyboard",
                    "dataset_name": "storyboard",
                    "dataset_split": "test",
                    "metric_type": "fclip",
                    "metric_name": "fclip (both)",
                    "metric_value": 0.8125,
                }
            ]
        )
    )
    (folder / "results.md").write_text("| system | fclip |\n|---|---|\n| model | 0.8125 |\n")
    return folder


def test_push_model_uploads_checkpoint_code_pipeline_and_card(hub, tiny_dir, results_dir):
    assert (
        v2xum(
            [
                "push",
                "model",
                str(tiny_dir),
                "org/v2xum-tiny",
                "--results",
                str(results_dir),
                "--base-model",
                "lmsys/vicuna-7b-v1.5",
                "--license",
                "apache-2.0",
            ]
        )
        == 0
    )
    assert len(hub.created) == 1 and hub.created[0]["name"] == "v2xum-tiny"
    assert hub.created[0]["organization"] == "org" and not hub.created[0].get("private")
    (commit,) = hub.commits
    assert commit["path"] == "/api/models/org/v2xum-tiny/commit/main"
    assert set(commit["files"]) == {
        "README.md",
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "processor_config.json",
        "chat_template.jinja",
        "configuration_v2xum.py",
        "modeling_v2xum.py",
        "generation_v2xum.py",
        "pipeline_v2xum.py",
        "processing_v2xum.py",
        "video_processing_v2xum.py",
        "video_decoding.py",
        "summary.py",
        "timeline.py",
        "remote_code.py",
    }
    config = json.loads(commit["files"]["config.json"])
    assert config["custom_pipelines"]["video-summarization"]["impl"] == "pipeline_v2xum.VideoSummarizationPipeline"
    assert config["auto_map"]["AutoModelForImageTextToText"] == "modeling_v2xum.V2XumForConditionalGeneration"
    card = ModelCard(commit["files"]["README.md"].decode())
    assert card.data.pipeline_tag == "video-text-to-text" and card.data.license == "apache-2.0"
    assert card.data.base_model == ["lmsys/vicuna-7b-v1.5"] and card.data.datasets == ["storyboard"]
    (result,) = card.data.eval_results
    assert (result.metric_type, result.metric_value, result.dataset_split) == ("fclip", 0.8125, "test")
    assert 'pipeline("video-summarization", model="org/v2xum-tiny")' in card.text
    assert "| model | 0.8125 |" in card.text


def test_push_metrics_as_spaces(hub):
    assert v2xum(["push", "metric", "all", "org"]) == 0
    assert [c["path"] for c in hub.commits] == [
        f"/api/spaces/org/{name}/commit/main"
        for name in ("fclip", "cross_fclip", "video_summary_f1", "video_summary_text")
    ]
    siblings = {
        "fclip": {"scoring.py", "clip_backends.py"},
        "cross_fclip": {"scoring.py", "clip_backends.py"},
        "video_summary_f1": {"scoring.py"},
        "video_summary_text": {"scoring.py", "text_scoring.py"},
    }
    for commit, name in zip(hub.commits, ("fclip", "cross_fclip", "video_summary_f1", "video_summary_text")):
        assert set(commit["files"]) == {"README.md", f"{name}.py", "app.py", "requirements.txt", *siblings[name]}
        assert b"v2xum" not in commit["files"]["requirements.txt"]  # the Space runs without this package
        card = ModelCard(commit["files"]["README.md"].decode())
        assert card.data.sdk == "gradio" and card.data.app_file == "app.py"
        assert "evaluate" in card.data.tags
        app = commit["files"]["app.py"].decode()
        compile(app, "app.py", "exec")
        assert f'evaluate.load("{name}.py")' in app and "gr.inputs" not in app
        assert b"evaluate==0.4.6" in commit["files"]["requirements.txt"]
    assert all(c["type"] == "space" and c["sdk"] == "gradio" for c in hub.created)


def test_push_refuses_what_is_not_a_v2xum_checkpoint(hub, tmp_path, capsys):
    assert v2xum(["push", "model", str(tmp_path), "org/x"]) == 2
    assert "not a saved checkpoint" in capsys.readouterr().err
    assert hub.commits == []


PIPELINE_SCRIPT = r"""
import json, sys
sys.modules["modeling_v2xum"] = sys.modules["processing"] = sys.modules["evaluate_metrics"] = None
from transformers import pipeline
summarize = pipeline(model=sys.argv[1], trust_remote_code=True)  # the task comes from custom_pipelines
assert type(summarize).__module__.startswith("transformers_modules"), type(summarize).__module__
print("RESULT", json.dumps(summarize(sys.argv[2], task="video", max_new_tokens=6)))
"""


def test_staged_repository_runs_the_pipeline_without_the_package(keyframe_model_dir, videos, tmp_path):
    import os
    import subprocess
    import sys

    from transformers import pipeline

    from v2xum.hub import stage_model

    staged = stage_model(keyframe_model_dir, tmp_path / "repo", "org/v2xum-tiny")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_MODULES_CACHE"] = str(tmp_path / "modules")
    result = subprocess.run(
        [sys.executable, "-c", PIPELINE_SCRIPT, str(staged), videos["short"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.split("RESULT")[-1])
    local = pipeline("video-summarization", model=str(keyframe_model_dir))(
        videos["short"], task="video", max_new_tokens=6
    )
    assert remote == local and remote["keyframes"]


def test_push_app_stages_a_space_for_the_model(hub):
    from v2xum.hub import GRADIO_VERSION

    assert v2xum(["push", "app", "org/v2xum-demo", "--model", "org/storyboard-demo"]) == 0
    (commit,) = hub.commits
    assert commit["path"] == "/api/spaces/org/v2xum-demo/commit/main"
    wheel = "wheels/v2xum-0.1.0.dev0-py3-none-any.whl"
    assert set(commit["files"]) == {"README.md", "app.py", "requirements.txt", wheel}
    card = ModelCard(commit["files"]["README.md"].decode())
    assert (card.data.sdk, card.data.sdk_version, card.data.app_file) == ("gradio", GRADIO_VERSION, "app.py")
    assert card.data.models == ["org/storyboard-demo"]
    app = commit["files"]["app.py"].decode()
    compile(app, "app.py", "exec")
    assert 'launch("org/storyboard-demo", host="0.0.0.0", port=7860)' in app
    assert commit["files"]["requirements.txt"].decode().splitlines() == [
        f"./{wheel}[app]",  # the package's own wheel: no index serves it
        f"gradio=={GRADIO_VERSION}",
    ]
    assert v2xum(["push", "app", "org/x", "--model", "./not-a-hub-id"]) == 2


@pytest.mark.parametrize(
    "command, staged, files",
    [
        (["model", "{tiny}", "org/tiny"], "org__tiny", {"README.md", "config.json", "pipeline_v2xum.py"}),
        (
            ["metric", "fclip", "org/fclip"],
            "org__fclip",
            {"README.md", "fclip.py", "app.py", "requirements.txt", "scoring.py", "clip_backends.py"},
        ),
        (["app", "org/demo", "--model", "org/m"], "org__demo", {"README.md", "app.py", "requirements.txt"}),
    ],
)
def test_dry_run_stages_and_lists_without_uploading(hub, tiny_dir, tmp_path, capsys, command, staged, files):
    out = tmp_path / "staging"
    args = ["push", *[part.format(tiny=tiny_dir) for part in command], "--dry-run", "--staging-dir", str(out)]
    assert v2xum(args) == 0
    assert hub.created == [] and hub.commits == []
    written = {p.relative_to(out / staged).as_posix() for p in (out / staged).rglob("*") if p.is_file()}
    assert files <= written
    printed = capsys.readouterr().out
    assert "dry run: would upload" in printed and all(f"  {name}  (" in printed for name in written)
    assert v2xum(args) == 2  # the staged folder is never overwritten silently
    assert "exists and is not empty" in capsys.readouterr().err


def test_push_without_network_is_one_line(tiny_dir, monkeypatch, capsys):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HF_TOKEN", "hf_fake")
    assert v2xum(["push", "model", str(tiny_dir), "org/tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot push to the model repository 'org/tiny' on the Hugging Face Hub: ")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_space_headers_pin_the_tested_gradio():
    import re
    from pathlib import Path

    from v2xum.hub import GRADIO_VERSION

    root = Path(__file__).resolve().parents[1]
    assert f'"gradio=={GRADIO_VERSION}"' in (root / "setup.py").read_text()
    for card in (root / "evaluate_metrics").glob("*/README.md"):
        assert re.search(r"^sdk_version: (.+)$", card.read_text(), re.M).group(1) == GRADIO_VERSION, card


def test_card_base_models_are_hub_ids_only(tmp_path):
    from modeling_v2xum.model_card import hub_base_models, source_name

    local = tmp_path / "llama"
    local.mkdir()
    assert hub_base_models(["openai/clip-vit-large-patch14", str(local), "lmsys/vicuna-7b-v1.5"]) == [
        "openai/clip-vit-large-patch14",
        "lmsys/vicuna-7b-v1.5",
    ]
    assert hub_base_models([str(local)]) is None and hub_base_models(None) is None
    assert hub_base_models("./runs/base") is None  # a path that reads as no Hub id
    assert source_name(str(local), "llama") == "llama (local folder)"
    assert source_name("lmsys/vicuna-7b-v1.5", "llama") == "lmsys/vicuna-7b-v1.5"


STANDALONE_METRIC = r"""
import json, sys
sys.modules.update({m: None for m in ("evaluate_metrics", "v2xum", "modeling_v2xum", "processing")})
import evaluate
from pathlib import Path
module = evaluate.load(str(Path(sys.argv[1]) / (sys.argv[2] + ".py")))
print("RESULT" + json.dumps(module.compute(**json.loads(sys.argv[3])), default=str))
"""


@pytest.mark.parametrize("name", ["fclip", "cross_fclip", "video_summary_f1", "video_summary_text"])
def test_metric_space_runs_without_this_package(name, tmp_path):
    """The staged Space folder, copied elsewhere, loads and computes with this package made unimportable; the
    result equals the package's own module."""
    import os
    import subprocess
    import sys

    import evaluate

    from v2xum.hub import APP_EXAMPLES, stage_metric
    from v2xum.resources import metric_dir

    space = stage_metric(name, tmp_path / "space")
    assert not any(p.is_symlink() for p in space.iterdir())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run(
        [sys.executable, "-c", STANDALONE_METRIC, str(space), name, json.dumps(APP_EXAMPLES[name])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    standalone = json.loads(result.stdout.split("RESULT")[-1])
    local = evaluate.load(str(metric_dir(name))).compute(**APP_EXAMPLES[name])
    assert standalone == json.loads(json.dumps(local, default=str))


def test_push_keeps_the_folders_card(tmp_path, tiny_dir, results_dir):
    """Pushing a folder keeps what its card says (training, results, model-index, datasets, base models), pushed
    again nothing is lost; results are added only to the model they were measured on."""
    folder = tmp_path / "trained"
    import shutil

    shutil.copytree(tiny_dir, folder)
    from modeling_v2xum.model_card import write_folder_card

    write_folder_card(folder, "Trained for 3 epochs on the cooking set.", base_model="lmsys/vicuna-7b-v1.5")
    own = ModelCard.load(folder / "README.md")
    own.data.datasets = ["org/cooking"]
    own.save(folder / "README.md")
    first = tmp_path / "first"
    assert (
        v2xum(
            [
                "push",
                "model",
                str(folder),
                "org/trained",
                "--dry-run",
                "--staging-dir",
                str(first),
                "--results",
                str(results_dir),
            ]
        )
        == 0
    )
    staged = ModelCard.load(first / "org__trained" / "README.md")
    assert "Trained for 3 epochs on the cooking set." in staged.text and "| model | 0.8125 |" in staged.text
    assert staged.data.base_model == ["lmsys/vicuna-7b-v1.5"] and set(staged.data.datasets) == {
        "org/cooking",
        "storyboard",
    }
    assert [r.metric_value for r in staged.data.eval_results] == [0.8125]
    assert 'pipeline(model="org/trained", trust_remote_code=True)' in staged.text
    again = tmp_path / "again"  # the pushed folder pushed again: the same card
    assert (
        v2xum(["push", "model", str(first / "org__trained"), "org/trained", "--dry-run", "--staging-dir", str(again)])
        == 0
    )
    second = ModelCard.load(again / "org__trained" / "README.md")
    assert second.text == staged.text and second.data.to_dict() == staged.data.to_dict()
    other = tmp_path / "other"  # another model's results are refused
    shutil.copytree(tiny_dir, other)
    (other / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    assert (
        v2xum(
            [
                "push",
                "model",
                str(other),
                "org/o",
                "--dry-run",
                "--staging-dir",
                str(tmp_path / "x"),
                "--results",
                str(results_dir),
            ]
        )
        == 2
    )


def test_an_adapter_on_a_local_base_needs_its_hub_id(tmp_path, tiny_dir, capsys):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    adapter = tmp_path / "adapter"
    model = get_peft_model(
        AutoModelForImageTextToText.from_pretrained(tiny_dir), LoraConfig(r=2, target_modules=["q_proj"])
    )
    model.save_pretrained(adapter)
    AutoProcessor.from_pretrained(tiny_dir).save_pretrained(adapter)
    staging = tmp_path / "staging"
    assert v2xum(["push", "model", str(adapter), "org/a", "--dry-run", "--staging-dir", str(staging)]) == 2
    err = capsys.readouterr().err
    assert "is a LoRA adapter on the local base" in err and "--base-model-id org/base" in err
    assert (
        v2xum(
            [
                "push",
                "model",
                str(adapter),
                "org/a",
                "--dry-run",
                "--staging-dir",
                str(staging),
                "--base-model-id",
                "org/tiny-base",
            ]
        )
        == 0
    )
    staged = staging / "org__a"
    assert json.loads((staged / "adapter_config.json").read_text())["base_model_name_or_path"] == "org/tiny-base"
    assert ModelCard.load(staged / "README.md").data.base_model == ["org/tiny-base"]


def test_a_staged_space_installs_from_its_files_and_imports(tmp_path):
    """The Space's requirements.txt installs into a fresh environment from the staged files alone (the package's
    wheel; everything else it names is already there: no index is asked), and its app.py imports."""
    import subprocess
    import sys

    staging = tmp_path / "staging"
    assert v2xum(["push", "app", "org/space", "--model", "org/m", "--dry-run", "--staging-dir", str(staging)]) == 0
    space = staging / "org__space"
    import sysconfig

    venv = tmp_path / "space-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)  # pip comes with them
    python = venv / "bin" / "python"
    # The libraries this environment already has stand in for the index (gradio, torch, transformers...).
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "-q", "-r", "requirements.txt"],
        cwd=space,
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    check = (
        "import importlib.util, sys, v2xum; spec = importlib.util.spec_from_file_location('app', 'app.py'); "
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
        "print(v2xum.__file__, callable(module.launch))"
    )
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([str(python), "-c", check], cwd=space, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    where, imported = result.stdout.split()
    assert str(venv) in where and imported == "True"  # the Space's own install, not this checkout
