"""Every folder the package writes loads as its card says, in fresh processes: the Auto classes (incl. `AutoModel`)
and the pipeline with the package imported and no trust_remote_code, and with trust_remote_code=True without the
package; the exact Python snippets of each rendered card run as printed."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import train_sft
from modeling_v2xum.convert_v2xum_original import main as convert_main
from v2xum.cli import main as v2xum
from v2xum.resources import demo_model_dir
from v2xum.testing import write_numbered_video
from v2xum.tiny_models import write_tiny_parts


BLOCK_PACKAGE = 'import sys; sys.modules.update({m: None for m in ("modeling_v2xum", "processing", "v2xum")})\n'

LOAD_SCRIPT = r"""
import json, os, sys
folders, video, with_package = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3] == "with"
if with_package:
    import modeling_v2xum
from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText, AutoProcessor, pipeline
remote = {} if with_package else {"trust_remote_code": True}
results = {}
for folder in folders:
    # An adapter folder has no config.json (AutoConfig is not for adapters): its model's config stands in.
    autos = (AutoModel, AutoModelForImageTextToText, AutoProcessor)
    loaded = [type(auto.from_pretrained(folder, **remote)) for auto in autos]
    adapter = os.path.exists(os.path.join(folder, "adapter_config.json"))
    if adapter:
        config = AutoModel.from_pretrained(folder, **remote).config
    else:
        config = AutoConfig.from_pretrained(folder, **remote)
    loaded = [type(config).__name__] + [cls.__name__ for cls in loaded]
    # With the package the task is named (the card's snippet); without it, the folder declares its pipeline.
    pipe = pipeline("video-summarization", model=folder) if with_package else pipeline(model=folder, **remote)
    from_remote_code = type(pipe).__module__.startswith("transformers_modules")
    results[folder] = {"classes": loaded, "remote_code": from_remote_code,
                       "summary": pipe(video, task="both", num_frames=8, max_new_tokens=8,
                                       generate_kwargs={"do_sample": False})}  # the converted model samples
print("RESULTS" + json.dumps(results))
"""


def _run(code: str, args: list[str], cwd: Path, env_extra: dict | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(cwd / "modules"), **(env_extra or {})}
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One folder of each kind the package writes, side by side in one working directory."""
    root = tmp_path_factory.mktemp("written")
    for i in range(4):
        write_numbered_video(root / f"v{i}.mp4", 40 + i, fps=10)
    rows = [
        {"video": f"v{i}.mp4", "task": "both", "sentences": [{"text": "A square appears.", "seconds": [1.0]}]}
        for i in range(4)
    ]
    (root / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    vision_dir, text_dir = write_tiny_parts(root / "parts")
    train = [
        "--train_file",
        str(root / "train.jsonl"),
        "--num_frames",
        "8",
        "--per_device_train_batch_size",
        "4",
        "--bf16",
        "false",
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--max_steps",
        "1",
        "--learning_rate",
        "0.01",
    ]
    cwd = os.getcwd()
    os.chdir(root)  # relative output folders, as a user types them
    try:
        assert v2xum(["init-tiny", "tiny"]) == 0
        train_sft.run(["--model_name_or_path", "tiny", "--output_dir", "full", *train])
        train_sft.run(
            [
                "--vision_model",
                str(vision_dir),
                "--language_model",
                str(text_dir),
                "--output_dir",
                "lora",
                "--use_peft",
                "--lora_r",
                "4",
                *train,
            ]
        )
        assert v2xum(["merge-adapter", "lora", "merged"]) == 0
        from transformers import pipeline

        pipeline("video-summarization", model="tiny").save_pretrained("pipe")
        from peft import LoraConfig, get_peft_model
        from transformers import LlamaForCausalLM

        get_peft_model(
            LlamaForCausalLM.from_pretrained(text_dir), LoraConfig(r=2, target_modules=["q_proj"])
        ).save_pretrained("stage2")
        import torch

        torch.save(
            {"model.mm_projector.weight": torch.zeros(32, 24), "model.mm_projector.bias": torch.zeros(32)},
            "mm_projector.bin",
        )
        assert (
            convert_main(
                [
                    "--base",
                    str(text_dir),
                    "--projector",
                    "mm_projector.bin",
                    "--lora",
                    "stage2",
                    "--clip",
                    str(vision_dir),
                    "--out",
                    "converted",
                    "--dtype",
                    "float32",
                ]
            )
            == 0
        )
    finally:
        os.chdir(cwd)
    # The committed demo under its card's name, copied as a user copies a folder (links would stay links).
    subprocess.run(["cp", "-r", str(demo_model_dir()), str(root / "storyboard-demo")], check=True)
    align = [{"video": f"v{i}.mp4", "start": 0.0, "end": 2.0, "caption": "A square appears."} for i in range(4)]
    (root / "align.jsonl").write_text("\n".join(json.dumps(r) for r in align) + "\n")
    os.chdir(root)
    try:  # a stage-1 (alignment) output
        train_sft.run(
            [
                "--stage",
                "align",
                "--model_name_or_path",
                "tiny",
                "--output_dir",
                "aligned",
                *train[2:],
                "--train_file",
                str(root / "align.jsonl"),
            ]
        )
    finally:
        os.chdir(cwd)
    return root


FOLDERS = ["tiny", "full", "lora", "merged", "pipe", "converted", "aligned", "storyboard-demo"]


def test_every_folder_loads_with_and_without_the_package(written):
    runs = {}
    for mode in ("with", "without"):
        out = _run(LOAD_SCRIPT, [json.dumps(FOLDERS), "v0.mp4", mode], written)
        runs[mode] = json.loads(out.split("RESULTS")[-1])
    for folder in FOLDERS:
        with_package, without = runs["with"][folder], runs["without"][folder]
        assert (
            with_package["classes"]
            == without["classes"]
            == ["V2XumConfig", "V2XumModel", "V2XumForConditionalGeneration", "V2XumProcessor"]
        ), folder
        assert not with_package["remote_code"] and without["remote_code"], folder
        assert with_package["summary"] == without["summary"], folder  # the same model either way


def test_copied_folders_load_anywhere(written, tmp_path):
    """`cp -r` of every kind of folder to another place: real files only (no link to the repository), and each
    loads there without the package."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for folder in FOLDERS:
        subprocess.run(["cp", "-r", str(written / folder), str(elsewhere / folder)], check=True)
    links = [str(p) for p in elsewhere.rglob("*") if p.is_symlink()]
    assert links == []
    shutil.copyfile(written / "v0.mp4", elsewhere / "v0.mp4")
    out = _run(LOAD_SCRIPT, [json.dumps(FOLDERS), "v0.mp4", "without"], elsewhere)
    copied = json.loads(out.split("RESULTS")[-1])
    assert all(copied[f]["remote_code"] for f in FOLDERS)
    assert all(copied[f]["classes"][0] == "V2XumConfig" for f in FOLDERS)


CONFIG_SCRIPT = r"""
import sys
from transformers import AutoConfig
AutoConfig.from_pretrained(sys.argv[1], trust_remote_code=True).save_pretrained(sys.argv[2])
"""


def test_saved_config_is_the_same_whatever_is_imported(written, tmp_path):
    """config.json is plain data: saved with the package imported or through remote code, it is the same file,
    declaring its remote code and pipeline and naming no local path."""
    _run("import modeling_v2xum\n" + CONFIG_SCRIPT, [str(written / "tiny"), str(tmp_path / "with")], written)
    _run(BLOCK_PACKAGE + CONFIG_SCRIPT, [str(written / "tiny"), str(tmp_path / "without")], written)
    saved = (tmp_path / "with" / "config.json").read_text()
    assert saved == (tmp_path / "without" / "config.json").read_text()
    config = json.loads(saved)
    assert config["custom_pipelines"]["video-summarization"]["impl"] == "pipeline_v2xum.VideoSummarizationPipeline"
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_v2xum.V2XumForConditionalGeneration"
    assert "/" not in json.dumps({k: v for k, v in config.items() if k not in ("auto_map", "custom_pipelines")})


def test_peft_auto_class_loads_an_adapter(written):
    from peft import AutoPeftModelForCausalLM

    model = AutoPeftModelForCausalLM.from_pretrained(str(written / "lora"))
    assert type(model.get_base_model()).__name__ == "V2XumForConditionalGeneration"


def _python_blocks(card: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", card, flags=re.S)


SNIPPETS_SCRIPT = r"""
import contextlib, io, json, sys
for name, code in json.loads(sys.argv[1]):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"{name}/README.md", "exec"), {"__name__": "__main__"})
    print("SNIPPET", json.dumps([name, printed.getvalue()]))
"""


def test_card_snippets_run_as_printed(written):
    """Each card's Python blocks, exactly as rendered, from the folder's parent (the card names the folder as its
    repo id): the package's blocks in one fresh process, the remote-code blocks in another with the package made
    unimportable."""
    names = ("tiny", "full", "lora", "merged", "storyboard-demo")
    cards = {name: (written / name / "README.md").read_text() for name in names}
    assert "library_name: peft" in cards["lora"] and "library_name: transformers" in cards["full"]
    # Composed from local folders: no base_model metadata, no temporary paths anywhere in the card.
    assert "base_model" not in cards["lora"].split("---")[1] and str(written) not in cards["lora"]
    assert "Frames: 8 per video" in cards["lora"] and "Frames: 32 per video" in cards["storyboard-demo"]
    with_package, without = [], []
    for name, card in cards.items():
        blocks = _python_blocks(card)
        assert len(blocks) == 2 and all(f'model="{name}"' in block for block in blocks), name
        for block in blocks:
            code = block.replace('"my_video.mp4"', '"v1.mp4"')
            (without if "trust_remote_code=True" in block else with_package).append((name, code))
    assert len(with_package) == len(without) == len(names)
    for snippets, prefix in ((with_package, ""), (without, BLOCK_PACKAGE)):
        out = _run(prefix + SNIPPETS_SCRIPT, [json.dumps(snippets)], written)
        printed = dict(json.loads(line.split(" ", 1)[1]) for line in out.splitlines() if line.startswith("SNIPPET"))
        assert set(printed) == set(names)
        assert all("'task': 'both'" in text for text in printed.values()), printed


def test_written_configs_and_cards_name_no_local_path(written):
    """Folders travel (copied, pushed): no config, card or processor file names the machine's folders. A LoRA on a
    local base is the one exception the user's own machine needs (`adapter_config.json`'s base, for `PeftModel`)."""
    local = re.compile(r"(/tmp/|/home/|/root/|/private/var/|[A-Za-z]:\\\\|" + re.escape(str(written)) + ")")
    found = []
    for folder in FOLDERS:
        for path in sorted((written / folder).glob("*")):
            if path.suffix not in (".json", ".md", ".jinja") or path.name == "training_videos.json":
                continue
            text = path.read_text()
            if path.name == "adapter_config.json":
                text = json.dumps({k: v for k, v in json.loads(text).items() if k != "base_model_name_or_path"})
            found += [f"{folder}/{path.name}: {m.group(0)}" for m in local.finditer(text)]
    assert not found, found


def test_init_tiny_head_dim_for_serving_kernels(tmp_path, capsys):
    """`init-tiny --head-dim 32` makes a checkpoint whose attention heads vLLM's CPU kernels accept; it loads and
    summarizes like any other. An odd size is one error line."""
    from transformers import pipeline

    assert v2xum(["init-tiny", str(tmp_path / "tiny32"), "--head-dim", "32"]) == 0
    config = json.loads((tmp_path / "tiny32" / "config.json").read_text())["text_config"]
    assert (config["head_dim"], config["hidden_size"], config["num_attention_heads"]) == (32, 64, 2)
    video = write_numbered_video(tmp_path / "clip.mp4", 24, width=64, height=48)
    summary = pipeline("video-summarization", model=str(tmp_path / "tiny32"), device="cpu")(str(video), task="both")
    assert summary["task"] == "both" and isinstance(summary["keyframes"], list)
    assert v2xum(["init-tiny", str(tmp_path / "odd"), "--head-dim", "31"]) == 2
    assert "error: head_dim must be a positive even number" in capsys.readouterr().err
