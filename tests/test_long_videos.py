"""Long videos: the frame-token guard, more than 100 frame tokens, and summaries merged from time windows."""

import json

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, pipeline

from processing import (
    Keyframe,
    SampledFrames,
    SummarySentence,
    VideoSummary,
    decode_video,
    parse_summary,
    render_answer,
)
from processing.summary import merge_window_summaries
from processing.timeline import uniform_frame_indices
from v2xum.cli import main as v2xum
from v2xum.testing import write_numbered_video
from v2xum.tiny_models import write_tiny_checkpoint


GUARD = r"150 frames asked for, but this model has 100 frame tokens: sample at most 100 frames .* time windows"


def test_more_frames_than_frame_tokens_is_a_clear_error_everywhere(tiny_dir, tiny_processor, videos, tmp_path, capsys):
    with pytest.raises(ValueError, match=GUARD):
        tiny_processor(text=tiny_processor.build_prompt("both"), videos=videos["long"], num_frames=150)
    messages = [
        {
            "role": "user",
            "content": [{"type": "video", "path": videos["long"]}, {"type": "text", "text": "Summarize."}],
        }
    ]
    with pytest.raises(ValueError, match=GUARD):
        tiny_processor.apply_chat_template(messages, tokenize=True, return_dict=True, num_frames=150)
    with pytest.raises(ValueError, match=GUARD):
        pipeline("video-summarization", model=str(tiny_dir))(videos["long"], num_frames=150)
    assert (
        v2xum(
            [
                "summarize",
                videos["long"],
                "--model",
                str(tiny_dir),
                "--out",
                str(tmp_path / "o"),
                "--num-frames",
                "150",
            ]
        )
        == 2
    )
    assert "this model has 100 frame tokens" in capsys.readouterr().err
    from v2xum.training import load_model_and_processor

    with pytest.raises(ValueError, match=GUARD):
        load_model_and_processor(str(tiny_dir), num_frames=150)


@pytest.fixture(scope="module")
def model_200(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("f200") / "ckpt", num_frames=170, num_frame_tokens=200)


def test_three_digit_frame_tokens_round_trip(model_200):
    processor = AutoProcessor.from_pretrained(model_200)
    config = AutoModelForImageTextToText.from_pretrained(model_200).config
    tokenizer = processor.tokenizer
    ids = tokenizer.convert_tokens_to_ids([f"[f{i:03d}]" for i in range(200)])
    assert ids == list(range(config.frame_token_start_id, config.frame_token_start_id + 200))
    assert processor.num_frame_tokens == 200 and tokenizer.convert_tokens_to_ids("[f00]") == tokenizer.unk_token_id
    assert processor.video_prompt(2) == "[f000]<frame>[f001]<frame>"
    sentences = [SummarySentence("A dog runs.", [150, 153]), SummarySentence("It sits.", [199])]
    answer = render_answer(sentences, task="both", num_frame_tokens=200)
    assert answer == "A dog runs[f150][f153]. It sits[f199]."
    timeline = SampledFrames(tuple(i / 10 for i in range(200)), tuple(range(200)), 20.0)
    parsed = parse_summary(answer, timeline)
    assert [s.keyframes for s in parsed.sentences] == [[150, 153], [199]]
    token_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    assert (
        processor.post_process(
            token_ids,
            timeline.__dict__ | {"frame_timestamps": timeline.timestamps, "frame_indices": timeline.frame_indices},
        ).text
        == "A dog runs. It sits."
    )


def test_a_200_token_model_trains_and_names_keyframes_past_100(model_200, tmp_path):
    import train_sft

    video = write_numbered_video(tmp_path / "long.mp4", 170, fps=10, gop=30)
    rows = [{"video": video, "task": "video", "sentences": [{"text": "", "seconds": [15.0, 15.5, 16.3]}]}] * 4
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    trainer = train_sft.run(
        [
            "--model_name_or_path",
            str(model_200),
            "--train_file",
            str(data),
            "--output_dir",
            str(tmp_path / "out"),
            "--num_frames",
            "170",
            "--learning_rate",
            "0.01",
            "--num_train_epochs",
            "12",
            "--per_device_train_batch_size",
            "4",
            "--lr_scheduler_type",
            "constant",
            "--bf16",
            "false",
            "--report_to",
            "none",
            "--save_strategy",
            "no",
            "--max_length",
            "1024",
            "--seed",
            "0",
            "--logging_steps",
            "4",
        ]
    )
    processor = AutoProcessor.from_pretrained(tmp_path / "out")
    inputs = processor(text=processor.build_prompt("video"), videos=video, return_tensors="pt", return_metadata=True)
    metadata = inputs.pop("video_metadata")[0]
    with torch.no_grad():
        out = trainer.model.eval().generate(**inputs, max_new_tokens=6, summary_task="video", do_sample=False)
    summary = processor.post_process(out[0, inputs["input_ids"].shape[1] :], metadata, task="video")
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses[-1] < losses[0] / 2, losses
    # The targets are [f150][f155][f163] (15.0, 15.5, 16.3 s at 10 fps); the trained model names keyframes there.
    assert summary.keyframes and {k.index for k in summary.keyframes} <= {150, 155, 163}, summary.raw_text
    assert all(k.seconds == k.index / 10 for k in summary.keyframes)


def window_summary(task, sentences, keyframes):
    return VideoSummary(task, " ".join(s.text for s in sentences), "raw", sentences, keyframes)


def test_merge_rules():
    first = window_summary("both", [SummarySentence("A cat.", [1, 3])], [Keyframe(1, 10, 1.0), Keyframe(3, 30, 3.0)])
    second = window_summary(
        "both",
        [SummarySentence("A dog.", [0]), SummarySentence("It runs.", [2, 4])],
        [Keyframe(0, 50, 5.0), Keyframe(2, 70, 7.0), Keyframe(4, 90, 9.0)],
    )
    merged = merge_window_summaries([first, second], [(0.0, 5.0, 5), (5.0, 10.0, 5)])
    assert [(k.index, k.frame_index, k.seconds) for k in merged.keyframes] == [
        (1, 10, 1.0),
        (3, 30, 3.0),
        (5, 50, 5.0),
        (7, 70, 7.0),
        (9, 90, 9.0),
    ]
    assert [(s.text, s.keyframes, s.window) for s in merged.sentences] == [
        ("A cat.", [1, 3], 0),
        ("A dog.", [5], 1),
        ("It runs.", [7, 9], 1),
    ]
    assert merged.text == "A cat. A dog. It runs."
    assert merged.windows == [{"start": 0.0, "end": 5.0, "frames": 5}, {"start": 5.0, "end": 10.0, "frames": 5}]
    # a budget of 3: windows take turns in time order (first, second, first), each keeping its share evenly spaced
    short = merge_window_summaries([first, second], [(0.0, 5.0, 5), (5.0, 10.0, 5)], max_keyframes=3)
    assert [k.frame_index for k in short.keyframes] == [10, 30, 50]
    assert [s.keyframes for s in short.sentences] == [[1, 3], [5], []]
    budget_4 = merge_window_summaries([first, second], [(0.0, 5.0, 5), (5.0, 10.0, 5)], max_keyframes=4)
    assert [k.frame_index for k in budget_4.keyframes] == [10, 30, 50, 90]  # 2 + 2: the second keeps its ends
    assert VideoSummary.from_dict(json.loads(json.dumps(merged.to_dict()))) == merged
    with pytest.raises(ValueError, match="2 window summaries for 1 windows"):
        merge_window_summaries([first, second], [(0.0, 5.0, 5)])


def test_windowed_pipeline_equals_each_window_alone(keyframe_model_dir, videos):
    summarize = pipeline("video-summarization", model=str(keyframe_model_dir))
    # long: 300 frames at 30 fps; windows of 4 s: [0, 4), [4, 8), [8, 10)
    merged = summarize(videos["long"], task="both", window_seconds=4, max_new_tokens=10)
    batched = summarize(videos["long"], task="both", window_seconds=4, max_new_tokens=10, batch_size=2)
    assert batched == merged
    assert merged["windows"] == [
        {"start": 0, "end": 4, "frames": 8},
        {"start": 4, "end": 8, "frames": 8},
        {"start": 8, "end": 10.0, "frames": 8},
    ]
    every = decode_video(videos["long"], num_frames=1000)
    alone, offset = [], 0
    for number, (start, end) in enumerate([(0, 4), (4, 8), (8, 10)]):
        clip = every.window(start, end)
        result = summarize(clip, task="both", max_new_tokens=10)
        sampled = [clip.frame_indices[i] for i in uniform_frame_indices(len(clip.frames), 8)]
        assert {k["frame_index"] for k in result["keyframes"]} <= set(sampled)
        alone += [(offset + k["index"], k["frame_index"], k["seconds"]) for k in result["keyframes"]]
        assert f"[{start:.1f}-{end:.1f} s] {result['raw_text']}" in merged["raw_text"]
        assert [s["text"] for s in merged["sentences"] if s["window"] == number] == [
            s["text"] for s in result["sentences"]
        ]
        offset += 8
    assert [(k["index"], k["frame_index"], k["seconds"]) for k in merged["keyframes"]] == alone
    frames = [k["frame_index"] for k in merged["keyframes"]]
    assert frames == sorted(set(frames)) and len(frames) > 3


def test_summarize_command_writes_a_merged_summary(keyframe_model_dir, videos, tmp_path):
    out = tmp_path / "out"
    assert (
        v2xum(
            [
                "summarize",
                videos["long"],
                "--model",
                str(keyframe_model_dir),
                "--out",
                str(out),
                "--window-seconds",
                "3",
                "--max-new-tokens",
                "8",
                "--highlights",
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    record = json.loads((out / "long" / "summary.json").read_text())
    assert [w["start"] for w in record["windows"]] == [0, 3, 6, 9] and record["settings"]["window_seconds"] == 3
    assert record["video"]["num_sampled_frames"] == sum(w["frames"] for w in record["windows"])
    seconds = [k["seconds"] for k in record["keyframes"]]
    assert seconds == sorted(set(seconds)) and seconds[-1] > 6  # keyframes from the later windows too
    assert {p.name for p in (out / "long").iterdir()} >= {
        "summary.json",
        "summary.srt",
        "summary.vtt",
        "contact_sheet.png",
        "timeline.png",
        "highlights.mp4",
    }
