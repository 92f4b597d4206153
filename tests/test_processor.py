import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from processing import SYSTEM_PROMPT, TASK_INSTRUCTIONS, V2XumProcessor, V2XumVideoProcessor, decode_video
from v2xum.testing import read_frame_number
from v2xum.tiny_models import tiny_tokenizer


@pytest.mark.parametrize("task", ["video", "text", "both"])
def test_prompt_text_for_each_task(tiny_processor, task):
    expected = f"{SYSTEM_PROMPT} USER: <video>\n {TASK_INSTRUCTIONS[task]} ASSISTANT:"
    assert tiny_processor.build_prompt(task) == expected


def test_query_and_custom_instruction(tiny_processor):
    prompt = tiny_processor.build_prompt("text", query="the cooking")
    assert prompt.endswith(f"{TASK_INSTRUCTIONS['text']} Focus on what the video shows about: the cooking ASSISTANT:")
    assert "USER: <video>\n Say what happens. ASSISTANT:" in tiny_processor.build_prompt(
        instruction="Say what happens."
    )
    with pytest.raises(ValueError, match="task must be one of"):
        tiny_processor.build_prompt("audio")


def test_expansion_special_style(tiny_processor, videos):
    batch = tiny_processor(text=tiny_processor.build_prompt("both"), videos=videos["short"])
    text = tiny_processor.tokenizer.decode(batch["input_ids"][0])
    frames = "".join(f"[f{i:02d}]<frame>" for i in range(7))
    assert f"USER: {frames}\n Please generate BOTH" in text


def test_expansion_text_style_matches_released_layout(videos):
    tokenizer = tiny_tokenizer()
    tokenizer.add_tokens(["<frame>"], special_tokens=True)
    processor = V2XumProcessor(
        video_processor=V2XumVideoProcessor(num_frames=4), tokenizer=tokenizer, temporal_prompt_style="text"
    )
    batch = processor(text=processor.build_prompt("video"), videos=videos["long"])
    text = tokenizer.decode(batch["input_ids"][0])
    assert "USER: [00]<frame>[01]<frame>[02]<frame>[03]<frame>\n Please generate a VIDEO" in text


def test_missing_tokens_are_reported():
    with pytest.raises(ValueError, match="no '<frame>' token"):
        V2XumProcessor(video_processor=V2XumVideoProcessor(), tokenizer=tiny_tokenizer())


def test_placeholders_match_model_features_and_left_padding(tiny_model, tiny_processor, videos):
    batch = tiny_processor(
        text=[tiny_processor.build_prompt("both"), tiny_processor.build_prompt("text")],
        videos=[videos["long"], videos["short"]],
        return_tensors="pt",
    )
    placeholders = (batch["input_ids"] == tiny_model.config.video_token_id).sum(1).tolist()
    assert placeholders == [8 * tiny_model.config.num_video_tokens_per_frame, 7]
    assert batch["video_frame_mask"].sum(1).tolist() == [8, 7]
    assert batch["pixel_values_videos"].shape == (2, 8, 3, 32, 32)
    assert batch["attention_mask"][1, 0] == 0 and batch["attention_mask"][:, -1].tolist() == [1, 1]  # left padding
    assert tiny_model(**batch).logits.shape[:2] == batch["input_ids"].shape


def test_decoded_frames_with_metadata(tiny_processor):
    frames = np.zeros((20, 40, 50, 3), dtype=np.uint8)
    batch = tiny_processor(
        text=tiny_processor.build_prompt("video"),
        videos=[frames],
        video_metadata=[{"total_num_frames": 20, "fps": 4.0}],
        return_metadata=True,
        return_tensors="pt",
    )
    meta = batch["video_metadata"][0]
    released = np.linspace(0, 19, 8).astype(int).tolist()  # the released code's truncated linspace
    assert list(meta.frames_indices) == released == [0, 2, 5, 8, 10, 13, 16, 19]
    assert meta.timestamps == pytest.approx([i / 4 for i in released])
    assert batch["pixel_values_videos"].shape == (1, 8, 3, 32, 32)


def test_video_processor_values_are_clip_normalised(videos):
    processor = V2XumVideoProcessor(num_frames=5)
    out = processor(videos["long"], return_tensors="pt")
    assert out["pixel_values_videos"].shape == (1, 5, 3, 224, 224)
    white = (1 - torch.tensor(processor.image_mean)) / torch.tensor(processor.image_std)
    # frame 0 has no bit set except the red marker; the last frame (299) has bit 0 set: a white left band
    assert torch.allclose(out["pixel_values_videos"][0, -1, :, 120, 0], white, atol=0.05)
    meta = processor(videos["long"], return_metadata=True)["video_metadata"][0]
    assert meta.frames_indices == np.linspace(0, 299, 5).astype(int).tolist() == [0, 74, 149, 224, 299]
    fast = processor(videos["long"], decode_mode="keyframes", return_metadata=True)["video_metadata"][0]
    assert fast.frames_indices == decode_video(videos["long"], num_frames=5, mode="keyframes").frame_indices


def test_apply_chat_template_with_video_block(tiny_processor, videos):
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "video", "path": videos["short"]},
                {"type": "text", "text": TASK_INSTRUCTIONS["both"]},
            ],
        }
    ]
    batch = tiny_processor.apply_chat_template(messages, tokenize=True, return_dict=True, add_generation_prompt=True)
    direct = tiny_processor(text=tiny_processor.build_prompt("both"), videos=videos["short"])
    assert batch["input_ids"][0] == direct["input_ids"][0]


def test_save_load_round_trip(tiny_processor, videos, tmp_path):
    tiny_processor.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(reloaded) is V2XumProcessor
    assert reloaded.video_processor.num_frames == 8 and reloaded.temporal_prompt_style == "special"
    text = reloaded.build_prompt("both")
    a = reloaded(text=text, videos=videos["medium"], return_tensors="pt")
    b = tiny_processor(text=text, videos=videos["medium"], return_tensors="pt")
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert torch.equal(a["pixel_values_videos"], b["pixel_values_videos"])


def test_sampled_frames_are_the_decoded_ones(videos):
    processor = V2XumVideoProcessor(
        num_frames=6, do_normalize=False, do_rescale=False, do_resize=False, do_center_crop=False
    )
    out = processor(videos["long"], return_metadata=True, return_tensors="pt")
    frames = out["pixel_values_videos"][0].permute(0, 2, 3, 1).numpy().astype(np.uint8)
    assert [read_frame_number(f) for f in frames] == out["video_metadata"][0].frames_indices


def test_fps_sampling_through_processor_and_chat_template(tiny_processor, videos):
    # long: 300 frames at 30 fps (10 s); 1 fps gives the frames at 0, 1, ..., 9 s; the processor caps at 8 frames
    direct = tiny_processor(
        text=tiny_processor.build_prompt("both"), videos=videos["long"], fps=1, num_frames=20, return_metadata=True
    )
    assert direct["video_metadata"][0].frames_indices == list(range(0, 300, 30))
    capped = tiny_processor(
        text=tiny_processor.build_prompt("both"), videos=videos["long"], fps=1, return_metadata=True
    )
    assert capped["video_metadata"][0].frames_indices == [
        list(range(0, 300, 30))[i] for i in np.linspace(0, 9, 8).astype(int)
    ]
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "video", "path": videos["long"]},
                {"type": "text", "text": TASK_INSTRUCTIONS["both"]},
            ],
        }
    ]
    templated = tiny_processor.apply_chat_template(
        messages, tokenize=True, return_dict=True, add_generation_prompt=True, fps=1, num_frames=20
    )
    assert templated["input_ids"][0] == direct["input_ids"][0]


def test_frames_are_decoded_at_the_resize_target(tmp_path):
    from v2xum.testing import write_numbered_video

    path = write_numbered_video(tmp_path / "big.mp4", 4, width=1280, height=720, gop=2)
    processor = V2XumVideoProcessor(num_frames=2)  # shortest edge 224: 720p is decoded straight to 398x224
    out = processor(path, return_metadata=True, return_tensors="pt")
    assert (out["video_metadata"][0].width, out["video_metadata"][0].height) == (398, 224)
    assert out["pixel_values_videos"].shape == (1, 2, 3, 224, 224)
    assert processor.resize_edge() == 224 and V2XumVideoProcessor(do_resize=False).resize_edge() is None
