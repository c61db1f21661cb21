"""The embedded default decoder: it loads without arguments, says what it was trained on, and refines simulated
HMR estimates of held-out synthetic motion online (smoother than the input, not less accurate)."""

import torch

from fasthmr_ros.paths import data_dir
from fasthmr_ros.perception.decoder_stream import StreamingDecoder
from fasthmr_ros.runtime.decoder_files import EMBEDDED_DECODER, load_decoder
from fasthmr_ros.training.decoder_eval import make_eval_set, motion_metrics, run_online
from fasthmr_ros.training.synth.motion import synthetic_motion_set


def test_embedded_decoder_loads_and_describes_itself():
    path = data_dir() / EMBEDDED_DECODER
    assert path.is_file() and path.stat().st_size < 3_000_000
    model = load_decoder()
    assert "synthetic" in model.description
    assert model.metadata["fps"] == 30.0
    assert model.config.inference_steps == 1
    decoder = StreamingDecoder()  # no arguments: the embedded decoder
    assert decoder.model is not None and decoder.model.description == model.description


def test_embedded_decoder_refines_held_out_motion():
    torch.set_num_threads(1)
    clips = synthetic_motion_set(8, 4.0, 30.0, seed=424_242)  # a seed range training never used
    test = make_eval_set(clips, seed=424_242)
    before = motion_metrics(test.estimate, test.true)
    refined = run_online(StreamingDecoder(seed=0).update, test.estimate)
    after = motion_metrics(refined, test.true)
    assert after["accel"] < before["accel"] / 2
    assert after["mpjpe"] < before["mpjpe"]
    # The very first frames of every track (empty window) already come out close to the input, not garbage.
    first = motion_metrics(refined[:, :3], test.true[:, :3])
    assert first["mpjpe"] < 1.2 * motion_metrics(test.estimate[:, :3], test.true[:, :3])["mpjpe"]
