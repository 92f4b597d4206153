"""train_sft.py end to end on a tiny model: LoRA and full fine-tuning, adapters, resume, merge, cached features."""

import json
import os
import shutil

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

import train_sft
from processing import SampledFrames, decode_video
from v2xum.cli import main as v2xum
from v2xum.collator import V2XumDataCollator
from v2xum.testing import write_numbered_video
from v2xum.training import load_adapter
from v2xum.training_data import load_training_examples, render_target


COMMON = [
    "--num_frames",
    "8",
    "--per_device_train_batch_size",
    "4",
    "--lr_scheduler_type",
    "constant",
    "--logging_steps",
    "4",
    "--bf16",
    "false",
    "--activation_checkpointing",
    "false",
    "--report_to",
    "none",
    "--max_length",
    "512",
    "--seed",
    "0",
    "--save_strategy",
    "no",
]


@pytest.fixture(scope="module")
def train_file(tmp_path_factory):
    """16 examples over the three tasks; each video's keyframes sit at 15%, 30% and 75% of its duration."""
    root = tmp_path_factory.mktemp("train")
    rows = []
    for i in range(16):
        write_numbered_video(root / f"v{i}.mp4", 40 + i, fps=10)
        duration = (40 + i) / 10
        rows.append(
            {
                "video": f"v{i}.mp4",
                "task": ("both", "video", "text")[i % 3],
                "sentences": [
                    {"text": "A square appears.", "seconds": [duration * 0.15, duration * 0.3]},
                    {"text": "It moves right.", "seconds": [duration * 0.75]},
                ],
            }
        )
    path = root / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def logged_losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def generate_answer(model, processor, example) -> str:
    video = decode_video(example["video"], num_frames=8)
    inputs = processor(text=processor.build_prompt(example["task"]), videos=[video], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=24, summary_task=example["task"], do_sample=False)
    return processor.decode_answer(out[0, inputs["input_ids"].shape[1] :]), render_target(
        example, SampledFrames.from_metadata(video)
    )


def test_lora_learns_saves_reloads_and_merges(tiny_dir, train_file, tmp_path):
    out = tmp_path / "lora"
    trainer = train_sft.run(
        [
            "--model_name_or_path",
            str(tiny_dir),
            "--train_file",
            str(train_file),
            "--output_dir",
            str(out),
            "--use_peft",
            "--lora_r",
            "8",
            "--lora_alpha",
            "16",
            "--lora_dropout",
            "0",
            "--learning_rate",
            "0.01",
            "--num_train_epochs",
            "12",
            *COMMON,
        ]
    )
    losses = logged_losses(trainer)
    assert losses[-1] <= losses[0] / 2, losses
    model = trainer.model.eval()
    processor = AutoProcessor.from_pretrained(out)
    example = load_training_examples(train_file)[1]  # a VIDEO example: "[fAA][fBB][fCC]"
    generated, target = generate_answer(model, processor, example)
    assert generated == target

    # The adapter on a fresh base gives the trained model's logits; its [fNN] input rows are the trained ones.
    reloaded = load_adapter(out).eval()
    batch = V2XumDataCollator(processor, num_frames=8)([example])
    with torch.no_grad():
        expected = model(**batch).logits
        assert torch.equal(reloaded(**batch).logits, expected)
    config = reloaded.get_base_model().config
    frames = torch.arange(config.frame_token_start_id, config.frame_token_start_id + 8)
    base_rows = AutoModelForImageTextToText.from_pretrained(tiny_dir).get_input_embeddings().weight[frames]
    trained_rows = reloaded.get_input_embeddings()(frames)
    assert not torch.allclose(trained_rows, base_rows)
    assert torch.equal(trained_rows, model.get_input_embeddings()(frames))
    card = (out / "README.md").read_text()
    assert "LoRA r=8, alpha=16" in card and "pipeline_tag: video-text-to-text" in card

    assert v2xum(["merge-adapter", str(out), str(tmp_path / "merged")]) == 0
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, expected, atol=1e-5, rtol=0)
    assert v2xum(["merge-adapter", str(out), str(tmp_path / "merged")]) == 2  # never overwritten silently


def test_full_fine_tuning_keeps_the_tower_frozen(tiny_dir, train_file, tmp_path):
    out = tmp_path / "full"
    trainer = train_sft.run(
        [
            "--model_name_or_path",
            str(tiny_dir),
            "--train_file",
            str(train_file),
            "--output_dir",
            str(out),
            "--learning_rate",
            "0.01",
            "--num_train_epochs",
            "6",
            *COMMON,
        ]
    )
    losses = logged_losses(trainer)
    assert losses[-1] <= losses[0] / 2, losses
    before = load_file(tiny_dir / "model.safetensors")
    after = load_file(out / "model.safetensors")
    tower = [k for k in before if ".vision_tower." in k]
    assert tower and all(torch.equal(before[k], after[k]) for k in tower)
    assert not torch.equal(before["lm_head.weight"], after["lm_head.weight"])
    assert (out / "processor_config.json").exists() and "full fine-tuning, vision tower frozen" in (
        out / "README.md"
    ).read_text()
    recorded = json.loads((out / "training_videos.json").read_text())
    assert recorded["num_videos"] == 16 and recorded["source"].endswith("train.jsonl")


def test_resume_continues_at_the_right_step(tiny_dir, train_file, tmp_path, capsys):
    out = tmp_path / "resume"
    args = [
        "--model_name_or_path",
        str(tiny_dir),
        "--train_file",
        str(train_file),
        "--output_dir",
        str(out),
        "--use_peft",
        "--lora_r",
        "4",
        "--learning_rate",
        "0.005",
        *COMMON[:-2],
        "--save_strategy",
        "steps",
        "--save_steps",
        "4",
    ]
    first = train_sft.run([*args, "--max_steps", "4"])  # stands for a run interrupted after step 4
    assert first.state.global_step == 4 and (out / "checkpoint-4").is_dir()
    # A newer checkpoint killed while saving (weights written, no trainer_state.json yet) is skipped, and said so.
    shutil.copytree(out / "checkpoint-4", out / "checkpoint-6")
    (out / "checkpoint-6" / "trainer_state.json").unlink()
    resumed = train_sft.run([*args, "--max_steps", "8", "--resume_from_checkpoint", "last"])
    assert "skipping the incomplete checkpoint" in capsys.readouterr().err
    assert resumed.state.global_step == 8
    steps = [entry["step"] for entry in resumed.state.log_history if "loss" in entry]
    assert steps == [4, 8]  # the log carried over from the checkpoint, then steps 5-8 only
    with pytest.raises(ValueError, match="holds no complete checkpoint"):
        train_sft.run([*args, "--output_dir", str(tmp_path / "empty"), "--resume_from_checkpoint", "last"])


def test_training_on_cached_features(tiny_dir, train_file, tmp_path):
    cache = tmp_path / "cache"
    assert (
        v2xum(
            [
                "cache-features",
                "--model",
                str(tiny_dir),
                "--data",
                str(train_file),
                "--out",
                str(cache),
                "--num-frames",
                "8",
            ]
        )
        == 0
    )
    args = [
        "--model_name_or_path",
        str(tiny_dir),
        "--train_file",
        str(train_file),
        "--use_peft",
        "--lora_r",
        "4",
        "--learning_rate",
        "0.005",
        "--max_steps",
        "4",
        *COMMON,
    ]
    pixels = train_sft.run([*args, "--output_dir", str(tmp_path / "p")])
    cached = train_sft.run([*args, "--output_dir", str(tmp_path / "c"), "--feature_cache", str(cache)])
    assert logged_losses(cached) == pytest.approx(logged_losses(pixels), abs=1e-4)
    with pytest.raises(ValueError, match="Stale feature cache"):
        train_sft.run([*args, "--output_dir", str(tmp_path / "s"), "--feature_cache", str(cache), "--num_frames", "6"])


def test_bad_data_gives_clear_errors(tiny_dir, train_file, tmp_path):
    rows = train_file.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([*rows, json.dumps({**json.loads(rows[0]), "video": "nowhere.mp4"})]))
    base = [
        "--model_name_or_path",
        str(tiny_dir),
        "--output_dir",
        str(tmp_path / "o"),
        "--video_root",
        str(train_file.parent),
        *COMMON,
    ]
    with pytest.raises(FileNotFoundError, match="1 video\\(s\\) named by the dataset are missing"):
        train_sft.run([*base, "--train_file", str(broken)])
    # An example longer than max_length is reported, never truncated (its frames would be cut).
    with pytest.raises(ValueError, match="longer than max_length=40"):
        train_sft.run([*base, "--train_file", str(train_file), "--max_length", "40", "--max_steps", "1"])


def test_composed_model_is_saved_as_the_adapter_base(train_file, tmp_path):
    from v2xum.tiny_models import write_tiny_parts

    vision_dir, text_dir = write_tiny_parts(tmp_path / "parts")
    out = tmp_path / "composed"
    trainer = train_sft.run(
        [
            "--vision_model",
            str(vision_dir),
            "--language_model",
            str(text_dir),
            "--train_file",
            str(train_file),
            "--output_dir",
            str(out),
            "--use_peft",
            "--lora_r",
            "4",
            "--learning_rate",
            "0.005",
            "--max_steps",
            "2",
            *COMMON,
        ]
    )
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(out / "base_model")
    processor = AutoProcessor.from_pretrained(out)
    batch = V2XumDataCollator(processor, num_frames=8)([load_training_examples(train_file)[0]])
    with torch.no_grad():
        torch.testing.assert_close(load_adapter(out).eval()(**batch).logits, trainer.model.eval()(**batch).logits)


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize(
    "name", ["paper_v2xum_llama7b_align.yaml", "paper_v2xum_llama7b_lora.yaml", "full_finetune_v2xum_llama7b.yaml"]
)
def test_gpu_configs_name_only_known_fields(name):
    import dataclasses

    import yaml

    config = yaml.safe_load(open(os.path.join(REPO, "configs", name)))
    known = {f.name for cls in train_sft.make_parser().dataclass_types for f in dataclasses.fields(cls)}
    assert set(config) <= known, set(config) - known


def test_paper_config_is_the_released_recipe():
    import yaml

    config = yaml.safe_load(open(os.path.join(REPO, "configs", "paper_v2xum_llama7b_lora.yaml")))
    assert (config["use_peft"], config["lora_r"], config["lora_alpha"], config["lora_dropout"]) == (
        True,
        64,
        128,
        0.05,
    )
    assert config["learning_rate"] == 1e-4 and config["lr_scheduler_type"] == "cosine"
    assert config["warmup_steps"] == 0.03 and config["num_train_epochs"] == 2
    assert config["per_device_train_batch_size"] * config["gradient_accumulation_steps"] == 128
    assert config["bf16"] and config["activation_checkpointing"] and config["max_length"] == 2048
    assert config["num_frames"] == 100 and config["language_model"] == "lmsys/vicuna-7b-v1.5"
    # stage 2 starts from the stage-1 projector and keeps it frozen
    align = yaml.safe_load(open(os.path.join(REPO, "configs", "paper_v2xum_llama7b_align.yaml")))
    assert config["projector_from"] == align["output_dir"] and config["freeze_projector"] is True
    assert (align["stage"], align["learning_rate"], align["num_train_epochs"]) == ("align", 1e-3, 1)
    assert align["language_model"] == config["language_model"] and align["vision_model"] == config["vision_model"]


def test_tiny_cpu_config_trains(tiny_dir, train_file, tmp_path):
    trainer = train_sft.run(
        [
            "--config",
            os.path.join(REPO, "configs", "tiny_cpu.yaml"),
            "--model_name_or_path",
            str(tiny_dir),
            "--train_file",
            str(train_file),
            "--output_dir",
            str(tmp_path / "tiny"),
            "--max_steps",
            "8",
        ]
    )
    losses = logged_losses(trainer)
    assert trainer.state.global_step == 8 and losses[-1] < losses[0]


def test_push_to_hub_makes_one_commit_with_remote_code_and_our_card(hub, tiny_dir, train_file, tmp_path):
    out = tmp_path / "pushed"
    train_sft.run(
        [
            "--model_name_or_path",
            str(tiny_dir),
            "--train_file",
            str(train_file),
            "--output_dir",
            str(out),
            "--use_peft",
            "--lora_r",
            "4",
            "--lora_alpha",
            "8",
            "--max_steps",
            "2",
            *COMMON,
            "--push_to_hub",
            "--hub_model_id",
            "org/v2xum-run",
            "--base_model_id",
            "org/tiny-base",  # the local base's Hub id: what the pushed adapter loads into
        ]
    )
    (commit,) = hub.commits  # the Trainer did not push on its own
    assert commit["path"] == "/api/models/org/v2xum-run/commit/main"
    files = commit["files"]
    assert json.loads(files["adapter_config.json"])["base_model_name_or_path"] == "org/tiny-base"
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "processor_config.json",
        "tokenizer.json",
        "README.md",
        "configuration_v2xum.py",
        "modeling_v2xum.py",
        "generation_v2xum.py",
        "pipeline_v2xum.py",
        "processing_v2xum.py",
        "video_processing_v2xum.py",
        "video_decoding.py",
        "summary.py",
    } <= set(files)
    assert not any(name.startswith(("checkpoint-", "training_args")) for name in files)
    card = ModelCard(files["README.md"].decode())
    assert card.data.pipeline_tag == "video-text-to-text" and "v2xum" in card.data.tags
    assert "LoRA r=4, alpha=8" in card.text and files["README.md"] == (out / "README.md").read_bytes()
