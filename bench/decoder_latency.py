"""Per-frame latency of StreamingDecoder.update vs window length and number of people (CPU; CUDA when present).

    python -m bench.decoder_latency [--decoder PATH] [--windows 8 16 32] [--people 1 2 4 8 16] [--threads 1]
    python -m bench.decoder_latency --untrained-window 64 --windows 64   # cost of a longer trained window

Windows are pre-filled, so each timed update is a steady-state frame (full window, every person present). The
One-Euro filter is timed in the same process for scale. Medians over --repeats updates.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from fasthmr_ros.model.decoder import DiffusionDecoder
from fasthmr_ros.model.decoder_net import DecoderConfig
from fasthmr_ros.perception.decoder_stream import StreamingDecoder
from fasthmr_ros.runtime.decoder_files import load_decoder
from fasthmr_ros.training.one_euro import OneEuroPoseFilter
from fasthmr_ros.training.synth.hmr_errors import HMRErrorModel
from fasthmr_ros.training.synth.motion import synthetic_motion_set


def _median_ms(update, frames: torch.Tensor, ids: list[int], warmup: int, repeats: int, sync) -> float:
    times = []
    for t in range(warmup + repeats):
        began = time.perf_counter()
        update(ids, frames[:, t % frames.shape[1]])
        sync()
        if t >= warmup:
            times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", help="decoder weights (default: the embedded decoder)")
    parser.add_argument("--windows", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--people", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--untrained-window",
        type=int,
        help="time a randomly initialised decoder of the default size with this trained window instead",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.untrained_window:
        model = DiffusionDecoder(DecoderConfig(window=args.untrained_window)).eval()  # same cost as trained weights
    else:
        model = load_decoder(args.decoder)
    params = sum(p.numel() for p in model.parameters())
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    clips = synthetic_motion_set(max(args.people), 4.0, 30.0, seed=7)
    true = torch.stack([c.rotmats()[:120] for c in clips])
    frames = HMRErrorModel().apply(true, 30.0, torch.Generator().manual_seed(0)).to(device)
    print(
        f"decoder: {params / 1e6:.2f} M parameters, d_model {model.config.d_model}, {model.config.layers} layers, "
        f"trained window {model.config.window}; device {device}, {args.threads} thread(s)"
    )
    print("\n| window | people | ms per frame (all people) | ms per person | One-Euro ms per frame |")
    print("|---|---|---|---|---|")
    for window in args.windows:
        if window > model.config.window:
            continue
        for people in args.people:
            ids = list(range(people))
            batch = frames[:people]
            decoder = StreamingDecoder(model, window=window, device=device)
            for t in range(window):  # fill the windows
                decoder.update(ids, batch[:, t])
            ms = _median_ms(decoder.update, batch, ids, 5, args.repeats, sync)
            euro = OneEuroPoseFilter()
            euro_ms = _median_ms(euro.update, batch.cpu(), ids, 5, args.repeats, lambda: None)
            print(f"| {window} | {people} | {ms:.2f} | {ms / people:.2f} | {euro_ms:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
