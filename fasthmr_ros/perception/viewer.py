"""The live viewer (Rerun): what the pipeline saw and found, in a browser, without RViz.

Per processed frame, on the frame's own timeline (`stamp`, its header stamp): the camera image (downscaled, JPEG)
with each person's box, 2D keypoints and 2D bones; in 3D (the camera optical frame) the meshes, joints, bones,
BlazePose landmarks and the camera frustum (pinhole from K); stage latencies and rates as time series. Colours are
the RViz markers' (`render.track_colour`). The default layout (blueprint) puts the image beside the 3D view and the
time series.

Rerun is an optional extra (`pip install .[viewer]`, ~500 MB with its native viewer): nothing imports this module
unless a viewer was asked for (the node's `viewer` parameter, `fasthmr video --viewer`, `fasthmr view`). It lives in
perception/, not ros/, because the ROS-free `fasthmr video` and `fasthmr view` (cli/) share it with the node.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np

from fasthmr_ros.model.skeleton import BONES
from fasthmr_ros.perception.render import track_colour
from fasthmr_ros.perception.types import FrameResult, Person
from fasthmr_ros.runtime.os_threads import name_os_thread

try:
    import rerun as rr
    import rerun.blueprint as rrb
except ImportError as _err:  # one line for the user instead of a traceback
    raise ImportError(
        "the live viewer needs the optional Rerun SDK: `make viewer` or `pip install '.[viewer]'` "
        f"(rerun-sdk, see requirements/viewer.txt); import failed: {_err}"
    ) from _err

APP_ID = "fasthmr"
TIMELINE = "stamp"
IMAGE_WIDTH = 480  # the logged camera image is downscaled to this width: the viewer is for looking, not measuring
JPEG_QUALITY = 80
# The gRPC server keeps this much of the stream for viewers that connect late, dropping the oldest first (static
# data, like each track's triangle list, is never dropped): ~2,500 frames of two people with images.
SERVER_MEMORY_LIMIT = "512MiB"
FRUSTUM_DEPTH_M = 0.5  # where the image plane is drawn in 3D
BONE_INDEX = np.asarray(BONES, dtype=np.int64)


@dataclass
class ViewerFrame:
    """One processed frame as the viewer logs it. Times are nanoseconds on the `stamp` timeline."""

    stamp_ns: int  # the people's stamp
    people: list[Person] = field(default_factory=list)
    rgb: np.ndarray | None = None  # (H, W, 3) uint8
    camera_matrix: np.ndarray | None = None  # (3, 3) K of rgb (or of the people's image when rgb is None)
    image_size: tuple[int, int] | None = None  # (W, H) when there is no rgb but K is known
    image_stamp_ns: int | None = None  # the image's stamp when it differs (decoder look-ahead); None = stamp_ns
    ended_track_ids: list[int] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)


def rgb8(track_id: int) -> tuple[int, int, int]:
    """The track's colour as the RViz markers and the overlay use it, in 0-255."""
    return tuple(round(c * 255) for c in track_colour(track_id))  # type: ignore[return-value]


def blueprint() -> rrb.Blueprint:
    """The default layout: camera image with 2D overlays | 3D view of the camera frame | latencies and rates."""
    # The eye sits behind and above the camera looking down the optical axis, so people at a few metres fill the
    # view the way they fill the image (optical frame: y points down, so "up" is -y).
    eye = rrb.archetypes.EyeControls3D(position=[0.0, -1.0, -1.5], look_target=[0.0, 0.4, 8.0], eye_up=[0.0, -1.0, 0.0])
    return rrb.Blueprint(
        rrb.Horizontal(
            rrb.Vertical(
                rrb.Spatial2DView(origin="world/camera", name="camera"),
                rrb.TimeSeriesView(origin="timings", name="stage latency (ms)"),
                rrb.TimeSeriesView(origin="rates", name="rates"),
                row_shares=[3, 2, 2],
            ),
            # the frustum without the image and the 2D overlays: the camera panel shows those, and a 3D view of only
            # people keeps their colours unambiguous
            rrb.Spatial3DView(
                origin="world",
                contents=["+ world/**", "- world/camera/image", "- world/camera/people/**"],
                name="3D (camera frame)",
                eye_controls=eye,
            ),
            column_shares=[2, 3],
        ),
        collapse_panels=True,
    )


class _VertexNormals:
    """Area-weighted vertex normals through a fixed sparse vertex-face incidence (the triangle list never changes)."""

    def __init__(self, faces: np.ndarray, num_vertices: int) -> None:
        from scipy.sparse import csr_matrix

        self.faces = np.asarray(faces, np.int64)
        rows = self.faces.reshape(-1)
        cols = np.repeat(np.arange(len(self.faces)), 3)
        self._incidence = csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(num_vertices, len(faces)))

    def __call__(self, vertices: np.ndarray) -> np.ndarray:
        v = vertices[self.faces]
        face_normals = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        normals = self._incidence @ face_normals
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        return normals.astype(np.float32)


class FrameLogger:
    """Logs ViewerFrames into one Rerun recording stream, synchronously (callers pick the thread)."""

    def __init__(self, recording: rr.RecordingStream, faces: np.ndarray | None, image_width: int = IMAGE_WIDTH) -> None:
        self.recording = recording
        self.faces = None if faces is None else np.asarray(faces, np.uint32).reshape(-1, 3)
        self.image_width = image_width
        self._normals: _VertexNormals | None = None
        self._static_sent: set[int] = set()
        self._shown: set[int] = set()
        self.frames = 0
        recording.log("world", rr.ViewCoordinates.RDF, static=True)

    def _set_time(self, stamp_ns: int) -> None:
        self.recording.set_time(TIMELINE, timestamp=np.datetime64(int(stamp_ns), "ns"))

    def log(self, frame: ViewerFrame) -> None:
        rec = self.recording
        scale = 1.0
        size = frame.image_size
        image_stamp = frame.stamp_ns if frame.image_stamp_ns is None else frame.image_stamp_ns
        self._set_time(image_stamp)
        if frame.rgb is not None:
            height, width = frame.rgb.shape[:2]
            size = (width, height)
            scale = min(1.0, self.image_width / width)
            small = frame.rgb
            if scale < 1.0:
                new_size = (round(width * scale), round(height * scale))
                small = cv2.resize(frame.rgb, new_size, interpolation=cv2.INTER_LINEAR)
            bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
            ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                rec.log("world/camera/image", rr.EncodedImage(contents=jpeg.tobytes(), media_type="image/jpeg"))
        if frame.camera_matrix is not None and size is not None:
            # the 2D space is the downscaled image's: K, boxes and keypoints scale with it
            k = np.asarray(frame.camera_matrix, np.float64).copy()
            k[:2] *= scale
            rec.log(
                "world/camera",
                rr.Pinhole(image_from_camera=k, resolution=[size[0] * scale, size[1] * scale],
                           camera_xyz=rr.ViewCoordinates.RDF, image_plane_distance=FRUSTUM_DEPTH_M),
            )  # fmt: skip
        self._set_time(frame.stamp_ns)
        present = {int(p.track_id) for p in frame.people}
        # a track out of view (or ended) vanishes now instead of lingering at its last pose; its static triangle
        # list survives the clear, so it comes back when the track does
        for track_id in sorted((self._shown - present) | (set(frame.ended_track_ids) & self._shown)):
            rec.log(f"world/people/{track_id}", rr.Clear(recursive=True))
            rec.log(f"world/camera/people/{track_id}", rr.Clear(recursive=True))
        self._shown = present
        for person in frame.people:
            self._log_person(person, scale)
        for stage, ms in frame.timings_ms.items():
            rec.log(f"timings/{stage}", rr.Scalars(float(ms)))
        if frame.timings_ms:
            rec.log("timings/total", rr.Scalars(float(sum(frame.timings_ms.values()))))
        for name, value in frame.rates.items():
            rec.log(f"rates/{name}", rr.Scalars(float(value)))
        rec.log("rates/people", rr.Scalars(float(len(frame.people))))
        self.frames += 1

    def _log_person(self, person: Person, scale: float) -> None:
        rec = self.recording
        track_id = int(person.track_id)
        colour = rgb8(track_id)
        base = f"world/people/{track_id}"
        if person.vertices is not None and self.faces is not None:
            vertices = np.asarray(person.vertices, np.float32).reshape(-1, 3)
            if track_id not in self._static_sent:
                # the triangle list once per track, static: every frame then carries only the vertices
                rec.log(f"{base}/mesh", rr.Mesh3D.from_fields(triangle_indices=self.faces, albedo_factor=colour),
                        static=True)  # fmt: skip
                self._static_sent.add(track_id)
            if self._normals is None:
                self._normals = _VertexNormals(self.faces, len(vertices))
            normals = self._normals(vertices)
            rec.log(f"{base}/mesh", rr.Mesh3D.from_fields(vertex_positions=vertices, vertex_normals=normals))
        joints = np.asarray(person.joints, np.float32).reshape(-1, 3)
        rec.log(f"{base}/joints", rr.Points3D(joints, colors=colour, radii=0.03))
        rec.log(f"{base}/bones", rr.LineStrips3D(joints[BONE_INDEX], colors=colour, radii=0.012))
        if person.landmarks_3d is not None:
            rec.log(f"{base}/landmarks", rr.Points3D(np.asarray(person.landmarks_3d, np.float32), colors=colour,
                                                    radii=0.018))  # fmt: skip
        box = np.asarray(person.box, np.float32) * scale
        keypoints = np.asarray(person.keypoints_2d, np.float32).reshape(-1, 2) * scale
        base2d = f"world/camera/people/{track_id}"
        rec.log(f"{base2d}/box", rr.Boxes2D(array=box, array_format=rr.Box2DFormat.XYXY, colors=colour,
                                            labels=f"id {track_id}"))  # fmt: skip
        rec.log(f"{base2d}/keypoints", rr.Points2D(keypoints, colors=colour, radii=2.0))
        rec.log(f"{base2d}/bones", rr.LineStrips2D(keypoints[BONE_INDEX], colors=colour, radii=1.0))

    def log_series(self, stamp_ns: int, values: Mapping[str, float]) -> None:
        """Scalars at a time, e.g. {"rates/processed_hz": 9.8}: what a recording's diagnostics carry."""
        self._set_time(stamp_ns)
        for path, value in values.items():
            self.recording.log(path, rr.Scalars(float(value)))


class _Mailbox:
    """A bounded hand-over to the viewer thread: newest-first drops the oldest waiting frame (live), otherwise the
    producer waits (offline tools, where every frame should reach the recording)."""

    def __init__(self, capacity: int, drop_oldest: bool) -> None:
        self._items: deque[ViewerFrame] = deque()
        self._capacity = max(1, capacity)
        self._drop_oldest = drop_oldest
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, item: ViewerFrame) -> None:
        with self._cond:
            while not self._drop_oldest and len(self._items) >= self._capacity and not self._closed:
                self._cond.wait()
            if self._closed:
                return
            if len(self._items) >= self._capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()

    def take(self, timeout: float) -> ViewerFrame | None:
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            item = self._items.popleft() if self._items else None
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def empty(self) -> bool:
        with self._cond:
            return not self._items


def _rate_hz(times: deque[float]) -> float:
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return (len(times) - 1) / span if span > 0 else 0.0


@dataclass
class ViewerOutput:
    """A recording stream and where it goes: url = the web viewer's page, grpc_url = the data stream ("" = not
    served)."""

    recording: rr.RecordingStream
    url: str = ""
    grpc_url: str = ""

    def close(self, timeout: float = 10.0) -> None:
        """Flush the sinks (an .rrd gets its footer) and stop serving the data stream."""
        self.recording.flush(timeout_sec=timeout)
        self.recording.disconnect()


def _check_free(port: int, host: str, what: str) -> None:
    """Fail with one line when a port is taken: Rerun's gRPC server only logs that from its own thread and serves
    nothing."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as err:
            raise OSError(f"port {port} (the viewer's {what}) is in use: choose another viewer_port ({err})") from err


def open_output(port: int | None = None, save: str | Path | None = None) -> ViewerOutput:
    """A recording with the default layout, served on port (page) and port + 1 (data, 127.0.0.1 only) and/or saved
    to an .rrd."""
    if port is None and save is None:
        raise ValueError("a viewer needs a port to serve on or a file to save to")
    if port is not None and not 1 <= int(port) <= 65534:
        raise ValueError(f"viewer_port must be in 1..65534 (the data stream uses port + 1), not {port}")
    if port is not None:
        _check_free(int(port), "0.0.0.0", "page")  # where serve_web_viewer binds: it takes no host
        _check_free(int(port) + 1, "127.0.0.1", "data stream")
    output = ViewerOutput(rr.RecordingStream(APP_ID, recording_id=uuid.uuid4()))
    sinks: list = []
    if port is not None:
        server = rr.GrpcServerSink(
            bind_ip="127.0.0.1", port=int(port) + 1, server_memory_limit=SERVER_MEMORY_LIMIT, newest_first=True
        )
        sinks.append(server)
        output.grpc_url = server.uri
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        sinks.append(rr.FileSink(str(save)))
    output.recording.set_sinks(*sinks, default_blueprint=blueprint())
    if port is not None:
        # the page is static HTML/JS/Wasm shipped inside the wheel; the data only flows over the gRPC stream
        rr.serve_web_viewer(web_port=int(port), open_browser=False, connect_to=output.grpc_url)
        output.url = f"http://localhost:{int(port)}/?url={quote(output.grpc_url, safe='')}"
    return output


class LiveViewer:
    """A FrameLogger on its own thread, fed through a bounded mailbox, writing to a served web viewer and/or an .rrd.

    port: the web viewer's HTTP port (its page: `url`); the data stream (gRPC, what the page and a desktop
    `rerun --connect` read) listens on port + 1, on 127.0.0.1 only. None = not served (save only).
    The frame path pays only `submit` (a few microseconds); downscaling, encoding and logging run here.
    """

    def __init__(
        self,
        faces: np.ndarray | None,
        port: int | None = None,
        save: str | Path | None = None,
        newest_first: bool = True,
        capacity: int = 1,
        log=print,
    ) -> None:
        self.output = open_output(port, save)
        self.url, self.grpc_url = self.output.url, self.output.grpc_url
        self.logger = FrameLogger(self.output.recording, faces)
        self._mailbox = _Mailbox(capacity, drop_oldest=newest_first)
        self._submitted: deque[float] = deque(maxlen=30)
        self._log = log
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fasthmr-viewer", daemon=True)
        self._thread.start()

    @property
    def skipped(self) -> int:
        """Frames dropped because the viewer thread was still busy with an older one."""
        return self._mailbox.dropped

    def submit(
        self,
        stamp_ns: int,
        rgb: np.ndarray | None,
        camera_matrix: np.ndarray | None,
        result: FrameResult,
        image_stamp_ns: int | None = None,
    ) -> None:
        self._submitted.append(time.monotonic())
        self.put(
            ViewerFrame(
                stamp_ns=int(stamp_ns), people=list(result.people), rgb=rgb,
                camera_matrix=None if camera_matrix is None else np.array(camera_matrix, np.float64),
                image_stamp_ns=image_stamp_ns, ended_track_ids=list(result.ended_track_ids),
                timings_ms=dict(result.timings_ms), rates={"processed_hz": _rate_hz(self._submitted)},
            )
        )  # fmt: skip

    def put(self, frame: ViewerFrame) -> None:
        self._mailbox.put(frame)

    def _run(self) -> None:
        name_os_thread()
        while not (self._stop.is_set() and self._mailbox.empty()):
            frame = self._mailbox.take(timeout=0.1)
            if frame is None:
                continue
            try:
                self.logger.log(frame)
                self.logger.log_series(frame.stamp_ns, {"viewer/frames_skipped": self.skipped})
            except Exception as err:  # the viewer must never take the node down
                self.errors += 1
                if self.errors == 1:
                    self._log(f"viewer: logging a frame failed ({type(err).__name__}: {err}); further failures counted")

    def close(self, timeout: float = 10.0) -> None:
        """Log what is still waiting, then flush the sinks (an .rrd gets its footer)."""
        self._stop.set()
        self._thread.join(timeout=timeout)
        self._mailbox.close()
        self.output.close(timeout)
