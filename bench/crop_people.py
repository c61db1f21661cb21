"""Cost of HMR2.0 preprocessing (crop_people) on real frames, and what blurring only the read region saves.

    python -m bench.crop_people

Side by side in one process, medians: crop_people (blurs only the region each crop reads) against the reference
recipe (blur the whole image per person, then warp), which gives bit-identical crops. Boxes: a near person
(needs the anti-alias blur), a far person (no blur), and both together.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

from fasthmr_ros.footage import fetch
from fasthmr_ros.paths import footage_dir
from fasthmr_ros.perception.preprocess import _normalise, blur_sigma, crop_people, crop_transform, expand_boxes

CASES = {
    # clip: (near box needing blur, far box without blur)
    "sports2d_demo.mp4": ([560.0, 40.0, 760.0, 900.0], [1300.0, 600.0, 1360.0, 760.0]),
    "pose2sim_single_cam01.mp4": ([200.0, 300.0, 900.0, 1800.0], [100.0, 100.0, 160.0, 260.0]),
}


def whole_image_recipe(image: np.ndarray, boxes: np.ndarray) -> list[np.ndarray]:
    """The reference's way: blur the whole frame for each person that needs it, then warp and normalise."""
    centers, sizes = expand_boxes(boxes)
    crops = []
    for center, size in zip(centers, sizes, strict=True):
        sigma = blur_sigma(size)
        source = image
        if sigma is not None:
            source = gaussian_filter(image.astype(np.float64), (sigma, sigma, 0), mode="nearest", truncate=4.0)
        crop = cv2.warpAffine(source, crop_transform(center, size), (256, 256), flags=cv2.INTER_LINEAR)
        crops.append(_normalise(crop[None, :, 32:224].astype(np.float32)))
    return crops


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    fetch(list(CASES))
    print("| clip (frame size) | boxes | blur sigma | crop_people (ms) | whole-image blur recipe (ms) | ratio |")
    print("|---|---|---|---|---|---|")
    for clip, (near, far) in CASES.items():
        capture = cv2.VideoCapture(str(footage_dir() / clip))
        ok, bgr = capture.read()
        capture.release()
        if not ok:
            raise RuntimeError(f"cannot read a frame of {clip}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        for label, boxes in (("near", [near]), ("far", [far]), ("near + far", [near, far])):
            boxes_array = np.array(boxes)
            sigmas = [blur_sigma(s) for s in crop_people(rgb, boxes_array).sizes]
            ours = median_ms(partial(crop_people, rgb, boxes_array), args.repeats)
            reference = median_ms(partial(whole_image_recipe, rgb, boxes_array), args.repeats)
            sigma_text = ", ".join("-" if s is None else f"{s:.2f}" for s in sigmas)
            size = f"{rgb.shape[1]}x{rgb.shape[0]}"
            print(
                f"| {clip} ({size}) | {label} | {sigma_text} | {ours:.1f} | {reference:.1f} | {reference / ours:.1f}x |"
            )


if __name__ == "__main__":
    main()
