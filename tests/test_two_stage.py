"""The released two-stage recipe: stage 1 (alignment on captions, projector and new rows only) and stage 2 from it."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

import train_sft
from modeling_v2xum.convert_v2xum_original import ConversionError, load_projector
from modeling_v2xum.projector_weights import (
    ProjectorWeightsError,
    load_released_projector,
    released_projector_state,
    save_released_projector,
)
from processing import decode_video
from v2xum.alignment_data import (
    alignment_rows_from_examples,
    decode_alignment_clip,
    load_alignment_examples,
    videoxum_alignment_rows,
)
from v2xum.cli import main as v2xum
from v2xum.collator import V2XumAlignmentCollator
from v2xum.storyboard import ALIGNMENT_FILE, FILLER_CAPTION, make_storyboard
from v2xum.testing import read_frame_number, write_numbered_video
from v2xum.tiny_models import write_tiny_checkpoint, write_tiny_parts
from v2xum.training import load_model_and_processor
from v2xum.validation import RowError


COMMON = [
    "--num_frames",
    "4",
    "--per_device_train_batch_size",
    "4",
    "--lr_scheduler_type",
    "constant",
    "--logging_steps",
    "1",
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
def align_file(tmp_path_factory):
    """12 captioned clips and frames of 3 numbered videos (10 fps)."""
    root = tmp_path_factory.mktemp("align")
    rows = []
    for i in range(3):
        write_numbered_video(root / f"v{i}.mp4", 30 + 5 * i, fps=10)
        rows += [
            {"video": f"v{i}.mp4", "start": 0.0, "end": 1.2, "caption": "A square appears."},
            {"video": f"v{i}.mp4", "start": 1.2, "end": 2.9, "caption": "It moves right."},
            {"video": f"v{i}.mp4", "frame": 0.55, "caption": "A square."},
            {"video": f"v{i}.mp4", "frame": 2.0 + i * 0.3, "caption": "It stops."},
        ]
    path = root / "align.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def language_model_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "multi_modal_projector" not in k}


@pytest.mark.parametrize("feature_mode, projector", [("image_embeds", "linear"), ("patch_pooled", "mlp2x_gelu")])
def test_stage1_trains_only_the_projector_and_new_rows(align_file, tmp_path, feature_mode, projector):
    base = write_tiny_checkpoint(tmp_path / "base", vision_feature_mode=feature_mode, projector_type=projector)
    before, _ = load_model_and_processor(str(base))
    start = language_model_state(before)
    out = tmp_path / "stage1"
    trainer = train_sft.run(
        [
            "--stage",
            "align",
            "--model_name_or_path",
            str(base),
            "--train_file",
            str(align_file),
            "--output_dir",
            str(out),
            "--learning_rate",
            "0.05",
            "--weight_decay",
            "0.1",
            "--max_steps",
            "4",
            *COMMON,
        ]
    )
    after = trainer.model
    ids = list(after.config.frame_token_ids)
    embedding_key = "model.language_model.embed_tokens.weight"
    for key, value in language_model_state(after).items():
        if key == embedding_key:
            others = torch.ones(len(value), dtype=torch.bool)
            others[ids] = False
            assert torch.equal(value[others], start[key][others]), "a frozen embedding row changed"
            assert not torch.equal(value[ids], start[key][ids]), "the [fNN] rows did not train"
        else:
            assert torch.equal(value, start[key]), f"{key} changed in stage 1"
    projector_before = before.model.multi_modal_projector.state_dict()
    projector_after = after.model.multi_modal_projector.state_dict()
    assert not torch.equal(projector_before["linear_1.weight"], projector_after["linear_1.weight"])

    # Saved: a full checkpoint, and the projector alone in the released layout (bin + safetensors, same tensors).
    saved = load_file(out / "model.safetensors")
    assert torch.equal(saved["model.multi_modal_projector.linear_1.weight"], projector_after["linear_1.weight"])
    released = released_projector_state(after.model.multi_modal_projector)
    from_bin = torch.load(out / "mm_projector.bin", weights_only=True)
    assert set(from_bin) == set(released) and all(torch.equal(from_bin[k], released[k]) for k in released)
    assert all(torch.equal(v, load_file(out / "mm_projector.safetensors")[k]) for k, v in from_bin.items())
    card = (out / "README.md").read_text()
    assert "stage 1 (alignment) on captions" in card and "4 steps" in card
    if projector == "linear":
        assert set(from_bin) == {"model.mm_projector.weight", "model.mm_projector.bias"}
        converted = load_projector(str(out / "mm_projector.bin"), *projector_after["linear_1.weight"].shape[::-1])
        assert torch.equal(converted["weight"], projector_after["linear_1.weight"])
    else:
        assert {"model.mm_projector.0.weight", "model.mm_projector.2.weight"} <= set(from_bin)
        with pytest.raises(ConversionError, match="not a single-Linear projector"):
            load_projector(str(out / "mm_projector.bin"), 64, 32)


def test_stage2_starts_from_the_stage1_projector(align_file, tiny_dir, tmp_path):
    stage1 = tmp_path / "stage1"
    train_sft.run(
        [
            "--stage",
            "align",
            "--model_name_or_path",
            str(tiny_dir),
            "--train_file",
            str(align_file),
            "--output_dir",
            str(stage1),
            "--learning_rate",
            "0.05",
            "--max_steps",
            "2",
            *COMMON,
        ]
    )
    aligned = load_released_projector(stage1)
    summaries = tmp_path / "train.jsonl"
    rows = [
        {
            "video": str(align_file.parent / f"v{i}.mp4"),
            "task": task,
            "sentences": [{"text": "A square appears.", "seconds": [0.5]}, {"text": "It moves.", "seconds": [2.0]}],
        }
        for i in range(3)
        for task in ("both", "video", "text")
    ]
    summaries.write_text("\n".join(json.dumps(r) for r in rows))

    # From the stage-1 folder, and from its projector file on the original base: the projector at step 0 is stage 1's.
    model, _ = load_model_and_processor(str(stage1))
    assert all(torch.equal(model.model.multi_modal_projector.state_dict()[k], v) for k, v in aligned.items())
    model, _ = load_model_and_processor(str(tiny_dir), projector_from=str(stage1 / "mm_projector.bin"))
    assert all(torch.equal(model.model.multi_modal_projector.state_dict()[k], v) for k, v in aligned.items())

    for extra in (["--use_peft", "--lora_r", "4"], []):  # LoRA, then full fine-tuning
        out = tmp_path / f"stage2-{len(extra)}"
        trainer = train_sft.run(
            [
                "--model_name_or_path",
                str(tiny_dir),
                "--projector_from",
                str(stage1),
                "--freeze_projector",
                "--train_file",
                str(summaries),
                "--output_dir",
                str(out),
                "--learning_rate",
                "0.05",
                "--max_steps",
                "3",
                *extra,
                *COMMON,
            ]
        )
        model = trainer.model.get_base_model() if extra else trainer.model
        state = model.model.multi_modal_projector.state_dict()
        assert all(torch.equal(state[k], v) for k, v in aligned.items()), "the frozen projector changed"
        assert "projector frozen" in (out / "README.md").read_text()
        if extra:
            adapter = load_file(out / "adapter_model.safetensors")
            assert not any("multi_modal_projector" in k for k in adapter)  # frozen: it lives in the base

    # Without --freeze_projector the projector trains on from stage 1's.
    trainer = train_sft.run(
        [
            "--model_name_or_path",
            str(stage1),
            "--train_file",
            str(summaries),
            "--output_dir",
            str(tmp_path / "stage2-free"),
            "--learning_rate",
            "0.05",
            "--max_steps",
            "2",
            *COMMON,
        ]
    )
    trained = trainer.model.model.multi_modal_projector.state_dict()
    assert not torch.equal(trained["linear_1.weight"], aligned["linear_1.weight"])


def test_stage1_composes_from_pretrained_parts_and_stage2_continues(align_file, tmp_path):
    """The documented recipe for a pretrained LM: stage 1 composes the CLIP and the LM (architecture flags) and
    aligns; stage 2 continues from its folder with LoRA. The LM is unchanged by stage 1, the projector is not."""
    vision_dir, text_dir = write_tiny_parts(tmp_path / "parts")
    stage1 = tmp_path / "stage1"
    compose = ["--vision_model", str(vision_dir), "--language_model", str(text_dir), "--vision_feature_mode"]
    compose += ["patch_pooled", "--projector_type", "mlp2x_gelu", "--frame_token_init", "spelled"]
    train = ["--train_file", str(align_file), "--learning_rate", "0.05", "--max_steps", "2", *COMMON]
    train_sft.run(["--stage", "align", *compose, "--output_dir", str(stage1), *train])
    model, _ = load_model_and_processor(str(stage1))
    assert model.config.vision_feature_mode == "patch_pooled" and model.config.projector_type == "mlp2x_gelu"
    pretrained = LlamaForCausalLM.from_pretrained(text_dir).model.state_dict()
    aligned = model.model.language_model.state_dict()
    own_rows = len(pretrained["embed_tokens.weight"])  # the LM's own rows; the new [fNN] rows follow
    assert torch.equal(aligned.pop("embed_tokens.weight")[:own_rows], pretrained.pop("embed_tokens.weight"))
    assert all(torch.equal(aligned[k], v) for k, v in pretrained.items())
    assert (stage1 / "mm_projector.bin").is_file()
    rows = [
        {
            "video": str(align_file.parent / "v0.mp4"),
            "task": "both",
            "sentences": [{"text": "A square.", "seconds": [0.5]}],
        }
    ]
    (tmp_path / "train.jsonl").write_text(json.dumps(rows[0]) + "\n")
    out = tmp_path / "stage2"
    argv = ["--model_name_or_path", str(stage1), "--use_peft", "--lora_r", "4", "--output_dir", str(out)]
    train_sft.run([*argv, "--train_file", str(tmp_path / "train.jsonl"), "--max_steps", "1", *COMMON])
    assert (out / "adapter_config.json").is_file()


def test_stage_options_are_checked(align_file, tiny_dir, tmp_path):
    common = ["--model_name_or_path", str(tiny_dir), "--train_file", str(align_file), "--output_dir", str(tmp_path)]
    with pytest.raises(ValueError, match="stage must be one of"):
        train_sft.run(["--stage", "pretrain", *common, *COMMON])
    with pytest.raises(ValueError, match="--use_peft: not for --stage align"):
        train_sft.run(["--stage", "align", "--use_peft", *common, *COMMON])
    with pytest.raises(ValueError, match="--freeze_projector --new_parts_learning_rate: not for --stage align"):
        train_sft.run(
            ["--stage", "align", "--freeze_projector", "--new_parts_learning_rate", "1e-3", *common, *COMMON]
        )
    with pytest.raises(ValueError, match="num_frames must be a positive number of frames, got 0"):
        train_sft.run([*common, *COMMON, "--num_frames", "0"])
    with pytest.raises(FileNotFoundError, match="holds neither mm_projector.safetensors nor mm_projector.bin"):
        train_sft.run([*common, *COMMON, "--projector_from", str(tmp_path)])


def test_alignment_clips_are_the_frames_of_their_span(tmp_path):
    """Against a plain sequential decode: a clip's frames lie in [start, end); a frame row is the frame on screen."""
    for fps, count in ((10, 37), (25, 61), (7, 20)):
        path = write_numbered_video(tmp_path / f"n{fps}.mp4", count, fps=fps, gop=9)
        every = decode_video(path, num_frames=count)
        rng = np.random.default_rng(fps)
        for _ in range(6):
            start = float(rng.uniform(0, count / fps * 0.7))
            end = float(rng.uniform(start + 1.5 / fps, count / fps))
            clip = decode_alignment_clip({"video": str(path), "start": start, "end": end, "frame": None}, 4)
            inside = [i for i, t in enumerate(every.timestamps) if start <= t < end]
            assert set(clip.frame_indices) <= set(inside) and clip.frame_indices[0] == inside[0]
            assert [read_frame_number(f) for f in clip.frames] == list(clip.frame_indices)
            moment = float(rng.uniform(0, count / fps))
            frame = decode_alignment_clip({"video": str(path), "start": None, "end": None, "frame": moment}, 4)
            shown = max(i for i, t in enumerate(every.timestamps) if t <= moment + 1e-9)
            assert list(frame.frame_indices) == [shown] and read_frame_number(frame.frames[0]) == shown


def test_alignment_collator_labels_only_the_caption(align_file, tiny_processor):
    rows = list(load_alignment_examples(align_file))[:4]
    batch = V2XumAlignmentCollator(tiny_processor, num_frames=4)(rows)
    assert batch["pixel_values_videos"].shape[:2] == (4, 4)
    assert batch["video_frame_mask"].sum(dim=1).tolist() == [4, 4, 1, 1]  # clips, then single frames
    tokenizer = tiny_processor.tokenizer
    for ids, labels, row in zip(batch["input_ids"], batch["labels"], rows):
        answer = [t for t, label in zip(ids.tolist(), labels.tolist()) if label != -100]
        assert tokenizer.decode(answer, skip_special_tokens=True).strip() == row["caption"]
        prompt = tokenizer.decode([t for t, label in zip(ids.tolist(), labels.tolist()) if label == -100])
        assert "USER" not in prompt and "summarization" not in prompt  # the plain template: frames only
        assert prompt.count("[f00]") == 1


BAD_ROWS = [
    ({"video": "a.mp4", "start": 0.0, "end": 1.0}, "caption", "must be a non-empty string"),
    ({"video": "a.mp4", "caption": "x"}, "start/end/frame", "give either 'start' and 'end'"),
    ({"video": "a.mp4", "start": 0.0, "end": 1.0, "frame": 0.5, "caption": "x"}, "start/end/frame", "give either"),
    ({"video": "a.mp4", "start": 1.0, "end": 1.0, "caption": "x"}, "end", "must be after 'start' (1.0)"),
    ({"video": "a.mp4", "start": 0.5, "caption": "x"}, "end", "must be a number"),
    ({"video": "a.mp4", "start": "0", "end": 1.0, "caption": "x"}, "start", "must be a number"),
    ({"video": "a.mp4", "frame": float("nan"), "caption": "x"}, "frame", "must be finite"),
    ({"video": "a.mp4", "frame": -1, "caption": "x"}, "frame", "must be in [0, None]"),
    ({"video": "a.mp4", "frame": True, "caption": "x"}, "frame", "must be a number"),
    ({"video": "a.mp4", "frame": 99.0, "caption": "x"}, "frame", "past the end of"),
    ({"video": "a.mp4", "start": 50.0, "end": 60.0, "caption": "x"}, "start", "past the end of"),
    ({"start": 0.0, "end": 1.0, "caption": "x"}, "video", "must be a non-empty string"),
    (["a.mp4", 0, 1], "(row)", "each row must be a JSON object"),
]


@pytest.mark.parametrize("row, field, problem", BAD_ROWS)
def test_bad_alignment_rows_name_file_line_and_field(tmp_path, row, field, problem):
    write_numbered_video(tmp_path / "a.mp4", 20, fps=10)
    good = {"video": "a.mp4", "start": 0.0, "end": 1.0, "caption": "A square."}
    path = tmp_path / "align.jsonl"
    path.write_text("\n".join(json.dumps(r, allow_nan=True) for r in (good, good, row)))
    with pytest.raises(RowError) as caught:
        load_alignment_examples(path)
    assert caught.value.where == f"{path} line 3" and caught.value.field == field and problem in str(caught.value)


def test_storyboard_writes_its_alignment_set(tmp_path):
    splits = make_storyboard(tmp_path, n_videos=10, seed=5)
    rows = [json.loads(line) for line in (tmp_path / ALIGNMENT_FILE).read_text().splitlines()]
    expected = [(e["video"], s["start"], s["end"], s["kind"], s) for e in splits["train"] for s in e["scenes"]]
    assert len(rows) == len(expected) and FILLER_CAPTION in {r["caption"] for r in rows}
    for row, (video, start, end, kind, scene) in zip(rows, expected):
        assert (row["video"], row["start"], row["end"]) == (video, start, end)
        sentence = f"A {scene['size']} {scene['colour']} {scene['shape']} {scene['motion']}."
        assert row["caption"] == (sentence if kind == "event" else FILLER_CAPTION)
    loaded = load_alignment_examples(tmp_path / ALIGNMENT_FILE)
    assert len(loaded) == len(rows) and all(v.startswith(str(tmp_path)) for v in loaded["video"])
    # What the clip shows is what its caption says: an event's object differs from the background, a filler not.
    for row in list(loaded)[:12]:
        clip = decode_alignment_clip(row, 3)
        middle = clip.frames[len(clip.frames) // 2].astype(int)
        spread = np.abs(middle - np.median(middle, axis=(0, 1))).max()
        assert (spread > 60) == (row["caption"] != FILLER_CAPTION), row


def test_converters_write_alignment_sets(tmp_path, capsys):
    videoxum = [
        {
            "video_id": "v_a",
            "duration": 20.0,
            "timestamps": [[0.0, 6.5], [6.5, 20.0]],
            "tsum": ["A man cuts onions.", " He fries them. "],
            "vsum_onehot": [[0] * 3 + [1] + [0] * 16] * 3,
        }
    ]
    assert videoxum_alignment_rows(videoxum, lambda vid: f"{vid}.mp4") == [
        {"video": "v_a.mp4", "start": 0.0, "end": 6.5, "caption": "A man cuts onions."},
        {"video": "v_a.mp4", "start": 6.5, "end": 20.0, "caption": "He fries them."},
    ]
    examples = [
        {"video": "b.mp4", "duration": 50.0, "task": task, "sentences": sentences}
        for task, sentences in (
            ("both", [{"text": "A dog runs.", "grid": [3, 4, 5]}, {"text": "It sleeps.", "grid": [99]}]),
            ("text", [{"text": "A dog runs.", "grid": []}]),
            ("video", [{"text": "", "grid": [3, 4]}]),
            ("both", [{"text": "A dog runs.", "grid": [3, 4, 5]}, {"text": "It eats.", "seconds": [7.0]}]),
        )
    ]
    assert alignment_rows_from_examples(examples) == [
        {"video": "b.mp4", "start": 1.5, "end": 3.0, "caption": "A dog runs."},
        {"video": "b.mp4", "start": 49.5, "end": 50.0, "caption": "It sleeps."},
        {"video": "b.mp4", "frame": 7.0, "caption": "It eats."},
    ]
    source = tmp_path / "videoxum.json"
    source.write_text(json.dumps(videoxum))
    assert (
        v2xum(
            [
                "convert-data",
                "videoxum",
                str(source),
                str(tmp_path / "train.jsonl"),
                "--alignment",
                str(tmp_path / "align.jsonl"),
            ]
        )
        == 0
    )
    assert "wrote 2 alignment captions (stage 1)" in capsys.readouterr().out
    assert len((tmp_path / "align.jsonl").read_text().splitlines()) == 2
    (tmp_path / "broken.json").write_text("{not json")
    assert v2xum(["convert-data", "v2xum", str(tmp_path / "broken.json"), str(tmp_path / "x.jsonl")]) == 2
    assert f"{tmp_path / 'broken.json'} is not JSON" in capsys.readouterr().err


def test_released_projector_files_round_trip_and_refuse_strangers(tmp_path):
    from modeling_v2xum.modeling_v2xum import V2XumMultiModalProjector

    base = write_tiny_checkpoint(tmp_path / "mlp", vision_feature_mode="patch_pooled", projector_type="mlp2x_gelu")
    model, _ = load_model_and_processor(str(base))
    projector = model.model.multi_modal_projector
    assert isinstance(projector, V2XumMultiModalProjector)
    save_released_projector(projector, tmp_path)
    for name in ("mm_projector.bin", "mm_projector.safetensors"):
        loaded = load_released_projector(tmp_path / name)
        assert set(loaded) == set(projector.state_dict())
        assert all(torch.equal(loaded[k], v) for k, v in projector.state_dict().items())
    torch.save(
        {"model.mm_projector.weight": torch.zeros(2, 2), "model.layers.0.weight": torch.zeros(1)}, tmp_path / "odd.bin"
    )
    with pytest.raises(ProjectorWeightsError, match="unexpected weights .*model.layers.0.weight"):
        load_released_projector(tmp_path / "odd.bin")
    torch.save({"model.mm_projector.weight": torch.zeros(2, 2)}, tmp_path / "small.bin")
    with pytest.raises(ProjectorWeightsError, match="does not fit this model's projector"):
        load_model_and_processor(str(base), projector_from=str(tmp_path / "small.bin"))


def test_stage1_refuses_lora_in_one_line(tiny_dir, align_file, capsys):
    argv = [
        "--stage",
        "align",
        "--use_peft",
        "--bf16",
        "false",
        "--model_name_or_path",
        str(tiny_dir),
        "--train_file",
        str(align_file),
    ]
    assert train_sft.cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --use_peft: not for --stage align") and "Traceback" not in err
