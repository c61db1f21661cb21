"""Score the runs of bench/masks_footage.py against a hand-made reference of who is visible when.

    python -m bench.masks_footage --clips sports2d_demo.mp4 pose2sim_single_cam01.mp4 pose2sim_multi_cam01.mp4
    python -m bench.masks_footage_score [--runs /tmp/masks_footage]

How the reference was made (by eye, docs/masks.md has the details):
- Visibility ranges: frames stepped through at 2-frame spacing around each entry/exit/occlusion (crops of the
  frame edges and the tree trunk), "fully visible" = whole body inside the frame and not hidden behind an object.
- Identity: each reported box is given to a person by a location gate per clip (e.g. Sports2D: the woman walks
  on the grass, feet low in the frame; the man is on the roof, then lands on the grass right of her). The gates
  were checked against contact sheets of every 5th frame with masks, boxes and ids drawn. A box that fits no
  gate is a false positive.
Counts: a person is "found" in a frame when a confirmed track (an id from the Tracker) covers them; the first
frames of a track, before the tracker confirms it (birth hysteresis), therefore count as misses. An id switch is
a change of the id on a person between frames where they are found (CLEAR-MOT style, so a person lost and found
again under a new id counts one switch).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Person:
    name: str
    visible: tuple[int, int]  # first, last frame (inclusive) in which the person is fully visible
    gate: Callable[[int, list[float]], bool]  # (frame, box xyxy) -> is this box this person?
    note: str = ""


def _h(box: list[float]) -> float:
    return box[3] - box[1]


def _cx(box: list[float]) -> float:
    return 0.5 * (box[0] + box[2])


SPORTS2D_W = 1768


def _sports2d_woman(frame: int, box: list[float]) -> bool:
    # Until the man lands (frame 186) she is the one on the grass; after it she is the one leaving on the left.
    if frame < 186:
        return box[3] > 795 and _h(box) > 200
    return _cx(box) < 0.4 * SPORTS2D_W


REFERENCE: dict[str, list[Person]] = {
    "sports2d_demo": [
        Person(
            "woman (walks right to left)",
            (50, 191),  # out from behind the tree trunk at 50; front foot leaves the frame at 192
            lambda f, b: _sports2d_woman(f, b),
        ),
        Person(
            "man (roof, flip, runs off)",
            (0, 222),  # behind the tree trunk from 223
            lambda f, b: _h(b) > 120 and not _sports2d_woman(f, b),
            "frames 164-190: mid-air dive and flip through the sun glare",
        ),
    ],
    "pose2sim_single_cam01": [
        Person("man (on the platform)", (0, 99), lambda f, b: _h(b) > 500 and b[3] > 1000),
        Person(
            "woman (background, left edge)",
            (0, 99),
            lambda f, b: _cx(b) < 250 and b[3] < 900 and _h(b) > 300,
            "stands at the left frame edge, one arm cut by it",
        ),
    ],
    "pose2sim_multi_cam01": [
        Person("man (on the platform)", (0, 99), lambda f, b: _h(b) > 500 and 1000 < b[3] <= 1450),
        Person("rendered woman (front, back to camera)", (0, 99), lambda f, b: _h(b) > 600 and b[3] > 1450),
        Person("woman (background, left edge)", (0, 99), lambda f, b: _cx(b) < 250 and b[3] < 900 and _h(b) > 300),
    ],
}


def score_clip(frames: list[dict], people: list[Person]) -> dict:
    found = {p.name: 0 for p in people}
    switches = {p.name: 0 for p in people}
    last_id: dict[str, int] = {}
    false_positives = 0
    duplicates = 0
    for frame in frames:
        index = frame["frame"]
        claimed: dict[str, int] = {}
        for det in frame["people"]:
            if det["id"] is None:
                continue  # tentative: not reported by the tracker
            owners = [p for p in people if p.gate(index, det["box"])]
            if not owners:
                false_positives += 1
                continue
            person = owners[0]
            if person.name in claimed:
                duplicates += 1
                continue
            claimed[person.name] = det["id"]
        for person in people:
            if person.name not in claimed:
                continue
            if person.visible[0] <= index <= person.visible[1]:
                found[person.name] += 1
            tid = claimed[person.name]
            if person.name in last_id and last_id[person.name] != tid:
                switches[person.name] += 1
            last_id[person.name] = tid
    rows = []
    for person in people:
        visible = person.visible[1] - person.visible[0] + 1
        rows.append(
            {
                "person": person.name,
                "visible_frames": visible,
                "found": found[person.name],
                "found_pct": 100.0 * found[person.name] / visible,
                "id_switches": switches[person.name],
                "note": person.note,
            }
        )
    return {"people": rows, "false_positive_boxes": false_positives, "duplicate_boxes": duplicates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("/tmp/masks_footage"))
    args = parser.parse_args()
    for clip, people in REFERENCE.items():
        path = args.runs / f"{clip}.json"
        if not path.is_file():
            print(f"{clip}: no run at {path}")
            continue
        frames = json.loads(path.read_text())
        result = score_clip(frames, people)
        times = sorted(f["mask_ms"] for f in frames)
        print(f"{clip}: {len(frames)} frames, mask median {times[len(times) // 2]:.1f} ms")
        for row in result["people"]:
            print(
                f"  {row['person']}: found {row['found']}/{row['visible_frames']} ({row['found_pct']:.1f}%),"
                f" id switches {row['id_switches']}"
            )
        print(f"  false-positive boxes {result['false_positive_boxes']}, duplicates {result['duplicate_boxes']}")


if __name__ == "__main__":
    main()
