"""The live viewer (Rerun): what it logs, that a real browser shows it, and that it costs nothing when it is off.

The browser test runs Debian's Chromium headless with SwiftShader (software GL, what a CI machine has) against the
web viewer the node serves while it runs on real footage, and looks for the track colours in the 3D panel's
pixels. The data tests read the recordings back through the Rerun SDK and compare them with what the node
published over ROS, not with anything the viewer computed.
"""

from __future__ import annotations

import colorsys
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, Collector, Proc, _fresh_domain, spin_until

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from headless_browser import HeadlessBrowser, chromium_path
from mesh_messages import people_from_seed
from rrd_contents import read_rrd

from fasthmr_ros import footage

WIDTH, FOCAL, FRAMES = 640, 640.0, 40
STAMP0 = 1_700_000_000_000_000_000


def require_viewer_extra() -> None:
    """`make test` installs the extra and Chromium first; a bare pytest run without them fails, it never skips."""
    try:
        import rerun  # noqa: F401
    except ImportError:
        pytest.fail("the viewer tests need the viewer extra: make viewer (or pip install -r requirements/viewer.txt)")


def free_port_pair() -> int:
    """A port P with P and P + 1 free (the viewer's page and its data stream)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 65534:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("0.0.0.0", port))
                b.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair")


def rgba32(rgb: tuple[int, int, int]) -> int:
    """Rerun's packed colour (0xRRGGBBAA)."""
    return (rgb[0] << 24) | (rgb[1] << 16) | (rgb[2] << 8) | 0xFF


def stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


# ---- the logger on its own: entities, static parts, clears, 2D scaling -------------------------------------------
def test_logged_entities_of_two_tracks(tmp_path: Path) -> None:
    require_viewer_extra()
    from fasthmr_ros.perception.viewer import IMAGE_WIDTH, LiveViewer, rgb8

    faces = np.arange(30, dtype=np.uint32).reshape(10, 3)
    k = np.array([[800.0, 0, 640], [0, 800.0, 360], [0, 0, 1]])
    viewer = LiveViewer(faces, save=tmp_path / "two.rrd", newest_first=False, capacity=2)
    frames = []
    for i in range(6):
        result = people_from_seed(i, count=2, num_vertices=30)
        ids = [101, 202] if i < 3 else [101]  # 202 leaves after frame 2
        for person, track_id in zip(result.people, ids, strict=False):
            person.track_id = track_id
        result.people = result.people[: len(ids)]
        result.people[0].landmarks_3d = np.ones((33, 3))
        result.timings_ms = {"masks": 10.0 + i, "encoder": 2.0}
        frames.append(result)
        viewer.submit(STAMP0 + i * 100_000_000, np.zeros((720, 1280, 3), np.uint8), k, result)
    viewer.close()
    assert viewer.skipped == 0 and viewer.errors == 0
    timed, static = read_rrd(tmp_path / "two.rrd")
    stamps = [STAMP0 + i * 100_000_000 for i in range(6)]
    assert sorted(timed["/rates/people"]) == stamps
    assert [timed["/rates/people"][s]["Scalars:scalars"] for s in stamps] == [[2.0]] * 3 + [[1.0]] * 3
    assert sorted(timed["/world/people/101/mesh"]) == stamps and sorted(timed["/world/people/202/mesh"]) == stamps[:3]
    # the triangle list and colour once per track, static; vertices per frame
    for track_id in (101, 202):
        mesh = static[f"/world/people/{track_id}/mesh"]
        assert np.array_equal(np.array(mesh["Mesh3D:triangle_indices"]), faces)
        assert mesh["Mesh3D:albedo_factor"] == [rgba32(rgb8(track_id))]
        assert timed[f"/world/people/{track_id}/joints"][stamps[0]]["Points3D:colors"] == [rgba32(rgb8(track_id))]
    assert "Mesh3D:triangle_indices" not in timed["/world/people/101/mesh"][stamps[1]]
    np.testing.assert_allclose(timed["/world/people/101/mesh"][stamps[1]]["Mesh3D:vertex_positions"],
                               frames[1].people[0].vertices, rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(timed["/world/people/101/joints"][stamps[4]]["Points3D:positions"],
                               frames[4].people[0].joints, rtol=1e-6)  # fmt: skip
    assert len(timed["/world/people/101/landmarks"][stamps[0]]["Points3D:positions"]) == 33
    assert len(timed["/world/people/101/bones"][stamps[0]]["LineStrips3D:strips"]) == 23
    # the track that left is cleared at the frame it is missing from, in 3D and in the image
    assert timed["/world/people/202"] == {stamps[3]: {"Clear:is_recursive": [True]}}
    assert timed["/world/camera/people/202"] == {stamps[3]: {"Clear:is_recursive": [True]}}
    # the image is downscaled to IMAGE_WIDTH, and K, boxes and keypoints with it
    scale = IMAGE_WIDTH / 1280
    pinhole = timed["/world/camera"][stamps[0]]
    assert pinhole["Pinhole:resolution"] == [[1280 * scale, 720 * scale]]
    assert np.allclose(np.array(pinhole["Pinhole:image_from_camera"][0]).reshape(3, 3).T, k * [[scale], [scale], [1]])
    keypoints = timed["/world/camera/people/101/keypoints"][stamps[0]]["Points2D:positions"]
    np.testing.assert_allclose(keypoints, frames[0].people[0].keypoints_2d * scale, rtol=1e-5)
    box = timed["/world/camera/people/101/box"][stamps[0]]
    x0, y0, x1, y1 = frames[0].people[0].box * scale
    np.testing.assert_allclose(box["Boxes2D:centers"], [[(x0 + x1) / 2, (y0 + y1) / 2]], rtol=1e-5)
    assert box["Boxes2D:labels"] == ["id 101"]
    assert [timed["/timings/masks"][s]["Scalars:scalars"][0] for s in stamps] == [10.0 + i for i in range(6)]
    assert timed["/timings/total"][stamps[0]]["Scalars:scalars"] == [12.0]
    assert len(timed["/world/camera/image"]) == 6


def test_a_taken_port_is_one_clear_error() -> None:
    require_viewer_extra()
    from fasthmr_ros.perception.viewer import open_output

    port = free_port_pair()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        with pytest.raises(OSError, match=f"port {port + 1} .*data stream.* is in use"):
            open_output(port=port)


def test_newest_first_drops_the_oldest_waiting_frame() -> None:
    require_viewer_extra()
    from fasthmr_ros.perception.viewer import ViewerFrame, _Mailbox

    box = _Mailbox(capacity=1, drop_oldest=True)
    for i in range(5):
        box.put(ViewerFrame(stamp_ns=i))
    assert box.dropped == 4 and box.take(0.1).stamp_ns == 4 and box.take(0.01) is None


# ---- the node without the viewer: nothing of Rerun is imported ----------------------------------------------------
def test_node_without_viewer_imports_no_rerun(spawn, ros_node) -> None:
    from fasthmr_ros.msg import HumanMeshArray

    video = footage.fetch(["sports2d_demo.mp4"])[0]
    meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
    node = spawn("test/helpers/node_probe.py", "--ros-args", "-p", "publish_overlay:=true", name="node")
    assert spin_until(ros_node, lambda: meshes.sub.get_publisher_count() > 0, 120, [node]), node.log()
    replay = spawn("-m", "fasthmr_ros.cli", "replay", str(video), "--width", str(WIDTH), "--rate", "10",
                   "--max-frames", "15", name="replay")  # fmt: skip
    assert replay.wait(timeout=120) == 0, replay.log()
    assert spin_until(ros_node, lambda: any(m.humans for m in meshes.messages), 30, [node]), node.log()[-3000:]
    assert node.stop(timeout=30) == 0
    line = [x for x in node.log().splitlines() if x.startswith("VIEWER_MODULES ")]
    assert line, node.log()[-3000:]
    assert json.loads(line[-1].split(" ", 1)[1]) == []


# ---- the node with the viewer, on real footage: one run, three checks ---------------------------------------------
@pytest.fixture(scope="module")
def viewer_run(tmp_path_factory):
    """The node with `viewer: true` (and `record`, so it also saves the viewer's .rrd) on 40 real frames at 10 Hz;
    it keeps running (serving the viewer) until the module's tests are done."""
    require_viewer_extra()
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from fasthmr_ros.msg import HumanMeshArray

    tmp = tmp_path_factory.mktemp("viewer")
    video = footage.fetch(["sports2d_demo.mp4"])[0]
    env = dict(
        os.environ,
        ROS_DOMAIN_ID=str(_fresh_domain()),
        PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    )
    port = free_port_pair()
    context = Context()
    rclpy.init(context=context, domain_id=int(env["ROS_DOMAIN_ID"]))
    test_node = rclpy.create_node(f"viewer_test_{os.getpid()}", context=context)
    test_node.test_executor = SingleThreadedExecutor(context=context)
    test_node.test_executor.add_node(test_node)
    meshes = Collector(test_node, HumanMeshArray, "/fasthmr/meshes")
    record = tmp / "out.mcap"
    node = Proc([sys.executable, "test/helpers/node_probe.py", "--ros-args", "-p", "viewer:=true",
                 "-p", f"viewer_port:={port}", "-p", f"record:={record}"], env, tmp / "node.log")  # fmt: skip
    procs = [node]
    try:
        assert spin_until(test_node, lambda: meshes.sub.get_publisher_count() > 0, 120, [node]), node.log()
        replay_args = ["replay", str(video), "--width", str(WIDTH), "--focal", str(FOCAL), "--rate", "10",
                       "--max-frames", str(FRAMES)]  # fmt: skip
        replay = Proc([sys.executable, "-m", "fasthmr_ros.cli", *replay_args], env, tmp / "replay.log")
        procs.append(replay)
        assert replay.wait(timeout=120) == 0, replay.log()
        spin_until(test_node, lambda: False, 5, [node])  # drain the last outputs
        assert any(m.humans for m in meshes.messages), node.log()[-3000:]
        lines = [x for x in node.log().splitlines() if "live viewer: http" in x]
        assert lines, node.log()[-3000:]
        url = lines[0].split("live viewer: ", 1)[1].split(" ", 1)[0]
        yield {"node": node, "meshes": meshes.messages, "url": url, "port": port, "tmp": tmp, "record": record}
    finally:
        for proc in procs:
            proc.stop(timeout=30)
        test_node.test_executor.shutdown()
        test_node.destroy_node()
        rclpy.shutdown(context=context)


def hue_mask(rgb: np.ndarray, track_id: int, tolerance: float = 0.03) -> np.ndarray:
    """Pixels of the track's colour under any shading: its hue, clearly saturated, not black."""
    from fasthmr_ros.perception.render import track_colour

    hue = colorsys.rgb_to_hsv(*track_colour(track_id))[0]
    image = rgb.astype(np.float32) / 255.0
    top, bottom = image.max(axis=2), image.min(axis=2)
    chroma = top - bottom
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    safe = np.where(chroma > 0, chroma, 1.0)
    h = np.where(top == r, ((g - b) / safe) % 6, np.where(top == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6.0
    distance = np.minimum(np.abs(h - hue), 1 - np.abs(h - hue))
    return (distance < tolerance) & (chroma / np.maximum(top, 1e-6) > 0.35) & (top > 0.2)


def test_browser_shows_the_people_in_their_track_colours(viewer_run) -> None:
    import cv2

    if chromium_path() is None:
        pytest.fail("the browser test needs Chromium: make chromium (apt-get install chromium)")
    node = viewer_run["node"]
    assert node.alive(), node.log()[-3000:]
    last = viewer_run["meshes"][-1]
    ids = sorted({h.track_id for h in last.humans})
    assert ids, "the clip's last frame has people in it"
    others = [t for t in range(1, 6) if t not in ids and all(abs(
        colorsys.rgb_to_hsv(*_colour(t))[0] - colorsys.rgb_to_hsv(*_colour(i))[0]) > 0.08 for i in ids)]  # fmt: skip
    shot = viewer_run["tmp"] / "viewer.png"
    counts: dict[int, int] = {}
    with HeadlessBrowser(1280, 800) as browser:
        browser.open(viewer_run["url"])
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            browser.pump(3.0)
            browser.screenshot(shot)
            rgb = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)
            height, width = rgb.shape[:2]
            panel = rgb[60 : height - 40, int(width * 0.42) : width - 4]  # the 3D view: the layout's right 3/5
            counts = {t: int(hue_mask(panel, t).sum()) for t in ids}
            camera = rgb[60:340, 5 : int(width * 0.38)]  # the camera panel, top left
            if min(counts.values()) >= 300 and camera.std() > 20:  # the JPEGs decode after the meshes show
                break
        console = browser.console
    target = os.environ.get("FASTHMR_VIEWER_SCREENSHOT")
    if target:  # how docs/viewer_demo.png is made
        Path(target).write_bytes(shot.read_bytes())
    errors = [line for line in console if "panic" in line.lower()]
    assert not errors, errors[:5]
    assert min(counts.values()) >= 300, f"track colours in the 3D panel: {counts} px (screenshot: {shot})"
    # and nothing of a colour no shown track has (beyond a few pixels of antialiasing)
    stray = {t: int(hue_mask(panel, t).sum()) for t in others}
    assert max(stray.values(), default=0) < 300, stray
    # the camera panel shows the image, not an empty canvas
    assert camera.std() > 20, camera.std()


def _colour(track_id: int):
    from fasthmr_ros.perception.render import track_colour

    return track_colour(track_id)


def check_frames_against_messages(timed, messages, every_frame: bool) -> int:
    """The recording's frames (one /rates/people row each) carry exactly the published people of their stamp."""
    published = {stamp_ns(m): m for m in messages}
    logged = sorted(timed["/rates/people"])
    assert set(logged) <= set(published), "a logged frame the node never published"
    if every_frame:
        assert logged == sorted(published)
    for stamp in logged:
        msg = published[stamp]
        ids = sorted(h.track_id for h in msg.humans)
        assert timed["/rates/people"][stamp]["Scalars:scalars"] == [float(len(ids))]
        shown = sorted(int(e.split("/")[3]) for e, rows in timed.items()
                       if e.startswith("/world/people/") and e.endswith("/joints") and stamp in rows)  # fmt: skip
        assert shown == ids, (stamp, shown, ids)
        for h in msg.humans:
            joints = np.array([[p.x, p.y, p.z] for p in h.joints])
            np.testing.assert_allclose(timed[f"/world/people/{h.track_id}/joints"][stamp]["Points3D:positions"],
                                       joints, rtol=1e-5, atol=1e-6)  # fmt: skip
            vertices = np.frombuffer(h.vertices, np.float32).reshape(-1, 3)
            np.testing.assert_allclose(timed[f"/world/people/{h.track_id}/mesh"][stamp]["Mesh3D:vertex_positions"],
                                       vertices, rtol=1e-6)  # fmt: skip
    return len(logged)


def test_logged_frames_match_the_published_people(viewer_run) -> None:
    node = viewer_run["node"]
    assert node.stop(timeout=30) == 0, node.log()[-3000:]  # a clean stop writes the .rrd's footer
    assert json.loads(node.log().split("VIEWER_MODULES ")[-1].splitlines()[0])  # the positive control: rerun ran
    messages = viewer_run["meshes"]
    timed, static = read_rrd(viewer_run["record"].with_suffix(".rrd"))
    logged = check_frames_against_messages(timed, messages, every_frame=False)
    # newest-first: frames the viewer thread had no time for are skipped and counted, never queued
    skipped = timed["/viewer/frames_skipped"][max(timed["/viewer/frames_skipped"])]["Scalars:scalars"][0]
    assert logged + skipped == len(messages), (logged, skipped, len(messages))
    assert logged >= len(messages) // 2
    # timelines: every frame entity on the `stamp` timeline; the faces are static, once per track
    ids = {h.track_id for m in messages for h in m.humans}
    assert {int(e.split("/")[3]) for e in static if e.startswith("/world/people/")} == ids
    for track_id in ids:
        assert len(static[f"/world/people/{track_id}/mesh"]["Mesh3D:triangle_indices"]) > 10000
    assert len(timed["/world/camera/image"]) == logged and len(timed["/world/camera"]) == logged
    k = np.array(timed["/world/camera"][max(timed["/world/camera"])]["Pinhole:image_from_camera"][0]).reshape(3, 3).T
    np.testing.assert_allclose(k[0, 0], FOCAL * 480 / WIDTH, rtol=1e-5)  # CameraInfo's K, downscaled with the image
    for stage in ("masks", "tracking", "total"):
        assert len(timed[f"/timings/{stage}"]) == logged


def test_view_replays_the_node_recording(viewer_run, tmp_path: Path) -> None:
    from fasthmr_ros.cli import main

    if viewer_run["node"].alive():
        viewer_run["node"].stop(timeout=30)
    out = tmp_path / "view.rrd"
    assert main(["view", str(viewer_run["record"]), "--save", str(out)]) == 0
    timed, _ = read_rrd(out)
    # the MCAP holds every published frame, so the replay shows every one
    check_frames_against_messages(timed, viewer_run["meshes"], every_frame=True)
    assert any(e.startswith("/rates/processed_rate") for e in timed) and any(e.endswith("_p50") for e in timed)
    # the frustum from the intrinsics the node used, recovered from its joints and their projections
    k = np.array(timed["/world/camera"][max(timed["/world/camera"])]["Pinhole:image_from_camera"][0]).reshape(3, 3).T
    np.testing.assert_allclose([k[0, 0], k[0, 2]], [FOCAL, WIDTH / 2], atol=1.0)


# ---- fasthmr video --viewer-save -----------------------------------------------------------------------------------
def test_video_tool_saves_every_frame(tmp_path: Path) -> None:
    require_viewer_extra()
    clip = footage.clip_path("pose2sim_single_cam01.mp4")
    out, rrd = tmp_path / "overlay.mp4", tmp_path / "video.rrd"
    run = subprocess.run(
        [sys.executable, "-m", "fasthmr_ros.cli", "video", str(clip), "--out", str(out), "--max-frames", "8",
         "--width", "640", "--max-people", "1", "--viewer-save", str(rrd)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    people = np.load(out.with_suffix(".npz"))
    timed, _ = read_rrd(rrd)
    stamps = sorted(timed["/rates/people"])
    assert len(stamps) == 8 and len(timed["/world/camera/image"]) == 8  # offline: no frame skipped
    frame_of = {s: i for i, s in enumerate(stamps)}
    logged = sorted((frame_of[s], int(e.split("/")[3])) for e, rows in timed.items()
                    if e.startswith("/world/people/") and e.endswith("/joints") for s in rows)  # fmt: skip
    assert logged == sorted(zip(people["frame"].tolist(), people["track_id"].tolist(), strict=True))
