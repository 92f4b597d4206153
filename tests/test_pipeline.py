"""The `video-summarization` pipeline on tiny checkpoints."""

import numpy as np
import pytest
from transformers import pipeline
from transformers.pipelines import PIPELINE_REGISTRY

import modeling_v2xum
from modeling_v2xum.pipeline_v2xum import _chat_request
from processing import VideoDecodingError, decode_video, uniform_frame_indices


SCHEMA = {"task", "text", "raw_text", "sentences", "keyframes", "warnings", "windows", "generated_text"}


@pytest.fixture(scope="module")
def summarize(keyframe_model_dir):
    return pipeline("video-summarization", model=str(keyframe_model_dir))


def test_task_is_registered_without_a_made_up_default():
    _, info, _ = PIPELINE_REGISTRY.check_task("video-summarization")
    assert info["impl"] is modeling_v2xum.VideoSummarizationPipeline
    assert "default" not in info  # no V2Xum checkpoint is published under a fixed id: `model=` is required


def test_each_task_gives_its_modality(summarize, videos):
    decoded = decode_video(videos["long"], num_frames=8)
    for task in ("video", "both"):
        result = summarize(videos["long"], task=task, max_new_tokens=12, max_keyframes=3)
        assert set(result) == SCHEMA and result["task"] == task
        assert result["generated_text"] == result["raw_text"]  # the answer, keyframe tokens kept
        # The biased tiny model always names frames; the constraint caps them at 3, in order.
        assert [k["index"] for k in result["keyframes"]] == [0, 1, 2]
        for keyframe in result["keyframes"]:
            assert keyframe["seconds"] == pytest.approx(decoded.timestamps[keyframe["index"]])
            assert keyframe["frame_index"] == decoded.frame_indices[keyframe["index"]]
    text = summarize(videos["long"], task="text", max_new_tokens=12)
    assert text["keyframes"] == [] and "[f" not in text["raw_text"] and text["text"]


def test_list_input_and_batching_equal_one_by_one(summarize, videos):
    # 8, 7 and 8 sampled frames: the batch pads frames and left-pads the prompts.
    inputs = [videos["long"], videos["short"], videos["medium"]]
    one_by_one = [summarize(v, task="both", max_new_tokens=12) for v in inputs]
    batched = summarize(inputs, task="both", max_new_tokens=12, batch_size=2)
    assert isinstance(batched, list) and len(batched) == 3
    assert batched == one_by_one
    assert one_by_one[0]["keyframes"] != one_by_one[1]["keyframes"]  # the videos really differ


def test_decoded_inputs_match_paths(summarize, videos):
    from_path = summarize(videos["long"], task="both", max_new_tokens=12)
    decoded = decode_video(videos["long"], num_frames=8)
    assert summarize(decoded, task="both", max_new_tokens=12) == from_path
    as_dict = {
        "frames": decoded.frames,
        "timestamps": decoded.timestamps,
        "frame_indices": decoded.frame_indices,
        "duration": decoded.duration,
    }
    assert summarize(as_dict, task="both", max_new_tokens=12) == from_path


def test_decoded_frames_are_sampled_like_files(summarize, videos):
    frames = decode_video(videos["long"], num_frames=20).frames
    result = summarize({"frames": frames, "fps": 10.0}, task="video", num_frames=8, max_new_tokens=12)
    kept = uniform_frame_indices(20, 8)
    assert [k["frame_index"] for k in result["keyframes"]] == [kept[k["index"]] for k in result["keyframes"]]
    assert [k["seconds"] for k in result["keyframes"]] == [kept[k["index"]] / 10.0 for k in result["keyframes"]]


def test_num_frames_and_query_reach_the_prompt(summarize, videos):
    (inputs,) = summarize.preprocess(videos["long"], task="both", num_frames=5, query="the red square")
    prompt = summarize.tokenizer.decode(inputs["input_ids"][0])
    assert "[f04]" in prompt and "[f05]" not in prompt
    assert "Focus on what the video shows about: the red square" in prompt
    assert inputs["pixel_values_videos"].shape[1] == 5


def test_save_pretrained_keeps_the_processor(summarize, videos, tmp_path):
    summarize.save_pretrained(tmp_path)
    assert (tmp_path / "processor_config.json").exists() or (tmp_path / "video_preprocessor_config.json").exists()
    # The folder declares its pipeline for remote-code users, yet with the package imported the registered task
    # loads it as it is, without trust_remote_code.
    assert (tmp_path / "pipeline_v2xum.py").is_file()
    reloaded = pipeline("video-summarization", model=str(tmp_path))
    assert type(reloaded) is type(summarize)
    assert reloaded.processor.chat_template == summarize.processor.chat_template
    assert reloaded(videos["short"], max_new_tokens=12) == summarize(videos["short"], max_new_tokens=12)


def test_bad_inputs_have_clear_errors(summarize, videos, tmp_path):
    with pytest.raises(ValueError, match="No videos given"):
        summarize([])
    with pytest.raises(ValueError, match="task must be one of"):
        summarize(videos["short"], task="audio")
    with pytest.raises(ValueError, match="'timestamps' .* or 'fps'"):
        summarize({"frames": decode_video(videos["short"], num_frames=8).frames})
    with pytest.raises(ValueError, match="'frames'"):
        summarize({"fps": 10})
    with pytest.raises(ValueError, match="num_frames must be a positive integer"):
        summarize(videos["short"], num_frames=0)
    with pytest.raises(TypeError, match="Unknown video-summarization parameters: \\['tsk'\\]"):
        summarize(videos["short"], tsk="video")
    with pytest.raises(VideoDecodingError, match="missing.mp4.*file not found"):
        summarize(str(tmp_path / "missing.mp4"))


def test_fps_sampling(summarize, videos):
    # long: 10 s at 30 fps; 2 fps gives 20 frames (0, 15, ..., 285), capped to 8 by the uniform rule
    sampled = [list(range(0, 300, 15))[i] for i in np.linspace(0, 19, 8).astype(int)]
    result = summarize(videos["long"], task="video", fps=2, num_frames=8, max_new_tokens=6)
    assert result["keyframes"] and {k["frame_index"] for k in result["keyframes"]} <= set(sampled)
    assert all(k["seconds"] == pytest.approx(k["frame_index"] / 30) for k in result["keyframes"])
    with pytest.raises(ValueError, match="fps must be a positive number"):
        summarize(videos["long"], fps=0)


def test_datasets_and_generators_with_any_batch_size(summarize, videos):
    """transformers' conventions: a `KeyDataset` over a `datasets.Dataset`, or a generator, streams results."""
    from datasets import Dataset
    from transformers.pipelines.pt_utils import KeyDataset

    paths = [videos["long"], videos["short"], videos["medium"]]
    one_by_one = [summarize(v, task="both", max_new_tokens=12) for v in paths]
    dataset = Dataset.from_dict({"video": paths})
    for batch_size in (1, 2, 3):
        assert (
            list(summarize(KeyDataset(dataset, "video"), task="both", max_new_tokens=12, batch_size=batch_size))
            == one_by_one
        )
        assert list(summarize((p for p in paths), task="both", max_new_tokens=12, batch_size=batch_size)) == one_by_one


def test_generation_options_at_call_time(summarize, videos):
    greedy = summarize(videos["long"], task="both", max_new_tokens=12)
    assert summarize(videos["long"], task="both", generate_kwargs={"max_new_tokens": 12}) == greedy
    assert summarize(videos["long"], task="both", max_new_tokens=12, num_beams=1, do_sample=False) == greedy
    beams = summarize(videos["long"], task="both", max_new_tokens=12, num_beams=3)
    assert beams["keyframes"] and beams["task"] == "both"  # beam search under the keyframe rule
    shorter = summarize(videos["long"], task="both", max_new_tokens=3)
    assert len(shorter["raw_text"]) < len(greedy["raw_text"])


def test_chat_messages_with_a_video_part(summarize, videos):
    from processing import TASK_INSTRUCTIONS

    def chat(video, text):
        return [{"role": "user", "content": [{"type": "video", "video": video}, {"type": "text", "text": text}]}]

    for task in ("video", "text", "both"):  # a released instruction sets the task
        conversation = chat(videos["long"], TASK_INSTRUCTIONS[task])
        result = summarize(conversation, max_new_tokens=12)
        plain = summarize(videos["long"], task=task, max_new_tokens=12)
        assert {k: v for k, v in result.items() if k != "generated_text"} == {
            k: v for k, v in plain.items() if k != "generated_text"
        }
        assert result["generated_text"] == [*conversation, {"role": "assistant", "content": plain["raw_text"]}]
    # Any other text is the instruction itself (in the prompt), under the task given (default both).
    (inputs,) = summarize.preprocess(_chat_request(chat(videos["long"], "Describe the squares.")), task="both")
    assert "Describe the squares." in summarize.tokenizer.decode(inputs["input_ids"][0])
    batch = summarize(
        [chat(videos["long"], TASK_INSTRUCTIONS["text"]), chat(videos["short"], TASK_INSTRUCTIONS["text"])],
        max_new_tokens=12,
        batch_size=2,
    )
    assert [b["task"] for b in batch] == ["text", "text"]
    with pytest.raises(ValueError, match="must ask for one task"):
        summarize([chat(videos["long"], TASK_INSTRUCTIONS["text"]), chat(videos["short"], TASK_INSTRUCTIONS["video"])])
    with pytest.raises(ValueError, match="exactly one video part"):
        summarize([{"role": "user", "content": [{"type": "text", "text": "hello"}]}])
