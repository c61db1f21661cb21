"""The fasthmr ROS 2 node: wires camera topics to the pipeline and the pipeline to the output topics.

Threads: rclpy's executor runs the subscriptions and the diagnostics timer; the newest frame waits in a one-slot
mailbox; with `overlap_stages` one inference thread decodes it and runs the person masks while a second runs the
rest of the previous frame and publishes it (perception/staged.py), otherwise one thread does both. Callbacks never
wait for inference.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from fasthmr_ros.msg import HumanMeshArray, MeshFaces
from fasthmr_ros.perception.camera import default_camera_matrix
from fasthmr_ros.perception.staged import StagedRunner
from fasthmr_ros.perception.types import Frame, FrameProcessor
from fasthmr_ros.ros import images as ros_io
from fasthmr_ros.ros import messages as ros_messages
from fasthmr_ros.ros.frame_slot import LatestFrameSlot
from fasthmr_ros.ros.params import NodeParams, parameter_defaults
from fasthmr_ros.ros.stats import NodeStats, ProblemLog
from fasthmr_ros.runtime.os_threads import name_os_thread

NODE_NAME = "fasthmr"
RESULT_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
# Sensor-data QoS (best effort, volatile) with a slightly deeper history than qos_profile_sensor_data's 5, so a
# callback thread starved for a few frames on a loaded CPU doesn't lose frames inside DDS; the node still keeps
# only the newest frame for inference.
CAMERA_QOS = QoSProfile(
    depth=10, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST,
    durability=DurabilityPolicy.VOLATILE,
)  # fmt: skip
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
PROBLEM_LOG_PERIOD_S = 5.0
SEQUENCE_UNSUPPORTED = 2**64 - 1  # rmw's RMW_MESSAGE_INFO_SEQUENCE_NUMBER_UNSUPPORTED
# Fast DDS 2.14 reports each fragmented best-effort frame it drops twice: once as 1 lost, once as 2**31 - 1 (an
# int32 overflow; seen with 4K frames over UDP). No real gap between two events comes near this.
LOST_COUNT_OVERFLOW = 2**30


class StartupError(RuntimeError):
    """The node cannot start (bad parameter, missing file); the message is the one line the user sees."""


def build_processor(params: NodeParams, log) -> FrameProcessor:
    from fasthmr_ros.perception.types import NoModelProcessor

    if not params.models:
        return NoModelProcessor()
    from fasthmr_ros.perception.pipeline import Pipeline

    log.info("loading models (person masks, encoder, body model, decoder) ...")
    try:
        pipeline = Pipeline(params.pipeline, log.info)
    except (FileNotFoundError, ValueError) as err:
        raise StartupError(str(err)) from err
    for note in pipeline.startup_notes:  # e.g. the requested backend is missing here and another one runs
        log.warning(note)
    return pipeline


class HmrNode(Node):
    def __init__(self, processor_factory=build_processor) -> None:
        super().__init__(NODE_NAME)
        self.params = self._declare_parameters()
        self.stats = NodeStats()
        self._slot: LatestFrameSlot[tuple[object, str]] = LatestFrameSlot()
        self._camera_intrinsics: ros_io.Intrinsics | None = None  # the last valid CameraInfo
        self._camera_info_problem = ""  # why the latest CameraInfo was ignored ("" = it was valid)
        self._camera_info_mismatch = ""  # why the last frame could not use the valid CameraInfo
        self._camera_lock = threading.Lock()
        self._said_default_intrinsics = False
        self._problems = ProblemLog(PROBLEM_LOG_PERIOD_S)
        self._last_sequence: int | None = None  # the camera's publication sequence number of the last frame
        self._recent_headers: deque = deque(maxlen=64)
        self._last_notes: dict[str, str] = {}

        self.processor = processor_factory(self.params, self.get_logger())

        self.mesh_pub = self.create_publisher(HumanMeshArray, "~/meshes", RESULT_QOS)
        self.marker_pub = self.create_publisher(MarkerArray, "~/markers", RESULT_QOS)
        self.faces_pub = self.create_publisher(MeshFaces, "~/faces", LATCHED_QOS)
        self.overlay_pub = (
            self.create_publisher(Image, "~/overlay", RESULT_QOS) if self.params.publish_overlay else None
        )
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", RESULT_QOS)
        self.recorder = None
        if self.params.record:
            from fasthmr_ros.ros.recorder import McapRecorder

            self.recorder = McapRecorder(self.params.record)
            self.get_logger().info(f"recording outputs to {self.params.record}")
        self.viewer = self._start_viewer()
        self._publish_faces()

        p = self.params
        if p.image_transport == "compressed":
            topic = p.image_topic.rstrip("/") + "/compressed"
            self._image_sub = self._camera_subscription(CompressedImage, topic, self._on_compressed)
        elif p.image_transport == "raw":
            topic = p.image_topic
            self._image_sub = self._camera_subscription(Image, topic, self._on_image)
        else:
            raise StartupError(f"image_transport must be 'raw' or 'compressed', not '{p.image_transport}'")
        self.create_subscription(CameraInfo, p.camera_info_topic, self._on_camera_info, CAMERA_QOS)
        self.create_timer(max(p.diagnostics_period_s, 0.05), self._publish_diagnostics)

        self._stop = threading.Event()
        self._runner = StagedRunner(
            self._slot.take, self._stage_masks, self._stage_rest, self._on_frame_error, overlap=p.overlap_stages
        ).start()
        # Markers and the overlay are costly Python work (Point objects, rasterising): a second thread does them
        # for the newest result, overlapping the next inference; skipped results are counted, never queued.
        self._vis_slot: LatestFrameSlot[tuple] = LatestFrameSlot()
        self._pending_deletes: list[int] = []
        self._marker_faces = self._decimated_faces()
        self._vis_worker = None
        if p.publish_markers or self.overlay_pub is not None:
            self._vis_worker = threading.Thread(target=self._visual_loop, name="fasthmr-visual", daemon=True)
            self._vis_worker.start()
        self.get_logger().info(
            f"listening on {topic} ({p.image_transport}) + {p.camera_info_topic}; weights: {self.processor.weights}; "
            f"body model: {self.processor.body_model}; outputs on {self.get_fully_qualified_name()}/meshes"
        )

    # ---- parameters -------------------------------------------------------------------------------------------
    def _declare_parameters(self) -> NodeParams:
        values = {name: self.declare_parameter(name, default).value for name, default in parameter_defaults().items()}
        try:
            return NodeParams.from_values(values)
        except ValueError as err:
            raise StartupError(str(err)) from err

    def _camera_subscription(self, msg_type, topic: str, callback):
        # Best-effort frames that DDS drops (too large for the transport, a publisher outside our profile, an
        # overloaded host) never reach a callback: the message-lost event is the transport's own trace of them.
        events = SubscriptionEventCallbacks(message_lost=self._on_lost_in_transport)
        try:
            return self.create_subscription(msg_type, topic, callback, CAMERA_QOS, event_callbacks=events)
        except UnsupportedEventTypeError:
            self.get_logger().warning(f"this RMW does not report camera frames lost in transport on {topic}")
            return self.create_subscription(msg_type, topic, callback, CAMERA_QOS)

    # ---- callbacks (executor thread: cheap, never block) ---------------------------------------------------------
    def _on_lost_in_transport(self, status) -> None:
        change = int(status.total_count_change)
        if not 0 < change < LOST_COUNT_OVERFLOW:
            return
        total = self.stats.on_lost_in_transport(change)
        self._log_problem(
            "frames_lost:transport",
            f"DDS lost {total} camera frame(s) in transport so far (frames larger than the transport carries, a "
            "camera publishing outside the Fast DDS profile, or an overloaded host); frames_lost_in_transport on "
            "/diagnostics",
        )

    def _count_sequence_gap(self, info: dict) -> None:
        """Count frames the camera published that never reached this callback, whatever dropped them.

        The message-lost event misses frames that arrived but were pushed out of the subscription's queue while
        this thread was busy (each 4K frame costs ~15-30 ms to turn into Python objects); the camera's own
        publication sequence numbers show every gap between two frames that did arrive. They are per publisher and
        the message info does not say which publisher sent a frame, so gaps are counted only while exactly one
        camera publishes. Frames lost before the first one that arrives are left to the message-lost event (the
        camera may have published long before this node subscribed).
        """
        sequence = int(info.get("publication_sequence_number", SEQUENCE_UNSUPPORTED))
        if sequence in (0, SEQUENCE_UNSUPPORTED) or self._image_sub.get_publisher_count() != 1:
            self._last_sequence = None
            return
        last, self._last_sequence = self._last_sequence, sequence
        if last is None or sequence <= last + 1:  # the first frame, the next one, or a restarted camera
            return
        total = self.stats.on_lost(sequence - last - 1)
        self._log_problem(
            "frames_lost:sequence",
            f"{total} published camera frame(s) never reached the node so far: lost in transport, or pushed out of "
            f"the {CAMERA_QOS.depth}-frame subscription queue while the node's ROS thread was busy (DDS itself "
            f"reported {self.stats.lost_in_transport} lost in transport); frames_lost on /diagnostics",
        )

    def _on_image(self, msg: Image, info: dict) -> None:
        self._count_sequence_gap(info)
        self.stats.on_received()
        self._slot.put((msg, "raw"))

    def _on_compressed(self, msg: CompressedImage, info: dict) -> None:
        self._count_sequence_gap(info)
        self.stats.on_received()
        self._slot.put((msg, "compressed"))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        topic = self.params.camera_info_topic
        try:
            intrinsics = ros_io.camera_intrinsics(msg)
        except ros_io.CameraInfoError as err:
            self.stats.on_bad_camera_info()
            with self._camera_lock:
                self._camera_info_problem = str(err)
                have_valid = self._camera_intrinsics is not None
            fallback = (
                "keeping the last valid one" if have_valid else "using the default focal length until a valid one"
            )
            self._log_problem(f"camera_info:{err.kind}", f"ignoring CameraInfo on {topic}: {err}; {fallback}")
            return
        with self._camera_lock:
            first = self._camera_intrinsics is None
            self._camera_intrinsics = intrinsics
            self._camera_info_problem = ""
        if first:
            k = intrinsics.k
            self.get_logger().info(
                f"CameraInfo received: fx={k[0, 0]:.1f} fy={k[1, 1]:.1f} cx={k[0, 2]:.1f} cy={k[1, 2]:.1f} "
                f"for {intrinsics.size[0]}x{intrinsics.size[1]} images"
            )

    # ---- inference thread ----------------------------------------------------------------------------------------
    def _on_frame_error(self, err: BaseException) -> None:
        if isinstance(err, ros_io.ImageError):
            self.stats.on_bad_frame(str(err))
            self._log_problem(err.key, f"skipping a frame: {err}")
            return
        # the node must outlive any single bad frame
        self.stats.on_error(f"{type(err).__name__}: {err}")
        self._log_problem(type(err).__name__, f"frame failed: {type(err).__name__}: {err}")
        self.get_logger().debug("".join(traceback.format_exception(err)))

    def _stage_masks(self, item: tuple[object, str]) -> _Detected:
        """Stage 1: the message into pixels, its intrinsics, the person masks."""
        msg, kind = item
        t0 = time.perf_counter()
        rgb = ros_io.compressed_to_rgb(msg) if kind == "compressed" else ros_io.image_to_rgb(msg)
        height, width = rgb.shape[:2]
        k, known = self._intrinsics(width, height)
        t1 = time.perf_counter()
        stamp = capture_seconds(msg.header.stamp)
        detected = self.processor.detect(Frame(rgb=rgb, camera_matrix=k, intrinsics_known=known, stamp=stamp))
        t2 = time.perf_counter()
        return _Detected(msg, rgb, k, detected, t0, (t1 - t0) * 1e3, (t2 - t1) * 1e3, t2)

    def _stage_rest(self, item: _Detected) -> None:
        """Stage 2: the rest of the pipeline, then publishing, for frames in the order stage 1 saw them."""
        msg, rgb, k = item.msg, item.rgb, item.camera_matrix
        height, width = rgb.shape[:2]
        t1 = time.perf_counter()
        result = self.processor.finish(item.detected)
        t2 = time.perf_counter()
        header = msg.header
        if self.params.frame_id:
            header.frame_id = self.params.frame_id
        self._recent_headers.append(header)
        self._last_notes = result.notes
        if result.delay_frames:
            # decoder look-ahead: these people belong to an earlier processed frame, so carry that frame's stamp
            if len(self._recent_headers) <= result.delay_frames:
                return
            header = self._recent_headers[-1 - result.delay_frames]
        self._publish(
            self.mesh_pub,
            ros_messages.human_mesh_array(
                result,
                header,
                self.processor.weights,
                self.processor.body_model,
                (width, height),
                self.params.publish_vertices,
            ),
        )
        t3 = time.perf_counter()
        if self._vis_worker is not None:
            with self._camera_lock:
                self._pending_deletes.extend(result.ended_track_ids)
            self._vis_slot.put((header, rgb, k, result))
        if self.viewer is not None:  # a hand-over only: the viewer's own thread downscales, encodes and logs
            self.viewer.submit(_ns(header.stamp), rgb, k, result, image_stamp_ns=_ns(msg.header.stamp))
        stages = {"decode": item.decode_ms, "pipeline": item.detect_ms + (t2 - t1) * 1e3, "publish": (t3 - t2) * 1e3,
                  "stage_wait": (t1 - item.detected_at) * 1e3}  # fmt: skip
        stages.update(result.timings_ms)
        stages["total"] = (t3 - item.taken_at) * 1e3
        self.stats.on_processed(stages)

    def _intrinsics(self, width: int, height: int) -> tuple[np.ndarray, bool]:
        with self._camera_lock:
            intrinsics = self._camera_intrinsics
        if intrinsics is None:
            if not self._said_default_intrinsics:
                self._said_default_intrinsics = True
                focal = default_camera_matrix(width, height)[0, 0]
                self.get_logger().warning(
                    f"no CameraInfo on {self.params.camera_info_topic} yet: using the default focal length "
                    f"{focal:.0f} px (HMR2.0's 5000/256*max(W,H)); depths are not metric until CameraInfo arrives"
                )
            return default_camera_matrix(width, height), False
        try:
            k = intrinsics.for_image(width, height)  # scaled when the stream is a resized copy of the calibrated one
        except ros_io.CameraInfoError as err:
            with self._camera_lock:
                self._camera_info_mismatch = str(err)
            self._log_problem(
                f"camera_info:size-mismatch:{intrinsics.size}:{width}x{height}",
                f"not using CameraInfo on {self.params.camera_info_topic}: {err}; "
                "using the default focal length for these frames",
            )
            return default_camera_matrix(width, height), False
        if self._camera_info_mismatch:
            with self._camera_lock:
                self._camera_info_mismatch = ""
        return k, True

    # ---- visualisation thread -------------------------------------------------------------------------------------
    def _decimated_faces(self):
        rest = getattr(self.processor, "rest_vertices", None)
        if self.processor.faces is None or rest is None:
            return None
        from fasthmr_ros.perception.mesh_decimate import decimate

        return decimate(rest, self.processor.faces, self.params.marker_triangles)

    def _visual_loop(self) -> None:
        name_os_thread()
        while not self._stop.is_set():
            item = self._vis_slot.take(timeout=0.1)
            if item is None:
                continue
            header, rgb, k, result = item
            with self._camera_lock:
                ended, self._pending_deletes = self._pending_deletes, []
            try:
                if self.params.publish_markers:
                    from fasthmr_ros.perception.types import FrameResult
                    from fasthmr_ros.ros.markers import people_markers_cdr

                    shown = FrameResult(people=result.people, ended_track_ids=ended)
                    stamp = (header.stamp.sec, header.stamp.nanosec)
                    data = people_markers_cdr(shown, stamp, header.frame_id, self._marker_faces)
                    self._publish_cdr(self.marker_pub, data, "visualization_msgs/msg/MarkerArray")
                if self.overlay_pub is not None:
                    self._publish(self.overlay_pub, ros_io.rgb_to_image_msg(self._overlay(rgb, k, result), header))
            except Exception as err:  # a drawing problem must not stop inference
                self.stats.on_error(f"visualisation: {type(err).__name__}: {err}")
                self._log_problem("visual", f"markers/overlay failed: {type(err).__name__}: {err}")

    def _overlay(self, rgb, k, result) -> np.ndarray:
        from fasthmr_ros.perception.render import render_meshes, track_colour

        meshes = [
            (p.vertices, self.processor.faces, track_colour(p.track_id))
            for p in result.people
            if p.vertices is not None and self.processor.faces is not None
        ]
        image = render_meshes(np.ascontiguousarray(rgb), meshes, k) if meshes else np.array(rgb, copy=True)
        import cv2

        for p in result.people:
            x0, y0 = int(p.box[0]), int(p.box[1])
            cv2.putText(image, f"id {p.track_id}", (x0, max(y0 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                        tuple(int(c * 255) for c in track_colour(p.track_id)), 2, cv2.LINE_AA)  # fmt: skip
        return image

    # ---- outputs -------------------------------------------------------------------------------------------------
    def _publish_faces(self) -> None:
        if self.processor.faces is None:
            return
        header = Header()
        header.stamp = self.get_clock().now().to_msg()
        self._publish(
            self.faces_pub,
            ros_messages.mesh_faces(
                self.processor.faces, self.processor.num_vertices, self.processor.body_model, header
            ),
        )

    def _publish_diagnostics(self) -> None:
        try:
            self._publish_diagnostics_now()
        except Exception as err:  # diagnostics must never take the node down
            self._log_problem("diagnostics", f"diagnostics failed: {type(err).__name__}: {err}")

    def _publish_diagnostics_now(self) -> None:
        values: dict[str, object] = dict(self.stats.snapshot())
        values["frames_dropped"] = self._slot.dropped
        values["visual_frames_skipped"] = self._vis_slot.dropped
        values["weights"] = self.processor.weights
        values["body_model"] = self.processor.body_model
        values["camera_info"], camera_problem = self._camera_info_state()
        if camera_problem:
            values["camera_info_problem"] = camera_problem
        values.update(self.processor.settings)
        values.update(self._last_notes)
        level, message = DiagnosticStatus.OK, "running"
        if values["errors"]:
            level, message = DiagnosticStatus.WARN, f"frames failed: {values['last_problem']}"
        elif values["bad_frames"]:
            level, message = DiagnosticStatus.WARN, f"bad input frames: {values['last_problem']}"
        elif values["camera_info"] == "missing (default focal)":
            level, message = DiagnosticStatus.WARN, "no CameraInfo: using the default focal length"
        elif camera_problem:
            level, message = DiagnosticStatus.WARN, f"CameraInfo {values['camera_info']}: {camera_problem}"
        elif values["frames_lost"] or values["frames_lost_in_transport"]:
            level, message = DiagnosticStatus.WARN, "camera frames lost before reaching the node (frames_lost)"
        self._publish(
            self.diag_pub,
            ros_messages.diagnostics(values, level, message, self.get_clock().now().to_msg(), f"{NODE_NAME}: pipeline"),
        )

    def _camera_info_state(self) -> tuple[str, str]:
        """(camera_info state for /diagnostics, why the CameraInfo is not in use or "")."""
        with self._camera_lock:
            valid, problem, mismatch = (
                self._camera_intrinsics is not None,
                self._camera_info_problem,
                self._camera_info_mismatch,
            )
        if mismatch:
            return "size mismatch (default focal)", mismatch
        if valid:
            return ("received (newer ones invalid, last valid kept)", problem) if problem else ("received", "")
        return ("invalid (default focal)", problem) if problem else ("missing (default focal)", "")

    def _publish(self, publisher, msg) -> None:
        # the overlay is a view of the camera images, which bags usually hold already: keep recordings small
        if self.recorder is None or publisher is self.overlay_pub:
            publisher.publish(msg)
            return
        # the recording's CDR bytes go out on the topic too: one serialisation, not two (a mesh array is ~1 MB)
        publisher.publish(self.recorder.write(publisher.topic_name, msg, self.get_clock().now().nanoseconds))

    def _publish_cdr(self, publisher, data: bytes, type_name: str) -> None:
        """An already serialised message: to the topic as it is, and into the recording when one is made."""
        if self.recorder is not None:
            self.recorder.write_cdr(publisher.topic_name, type_name, data, self.get_clock().now().nanoseconds)
        publisher.publish(data)

    def _log_problem(self, key: str, text: str) -> None:
        """Log each distinct problem at once, then at most every few seconds, so bad streams don't flood the log."""
        if self._problems.should_log(key):
            self.get_logger().warning(text)

    def shutdown(self) -> None:
        self._stop.set()
        self._slot.close()
        self._runner.stop(timeout=5.0)
        self._vis_slot.close()
        if self._vis_worker is not None:
            self._vis_worker.join(timeout=5.0)
        if self.recorder is not None:
            self.recorder.close()
        if self.viewer is not None:
            self.viewer.close()

    def _start_viewer(self):
        """The live Rerun viewer (`viewer: true`); with `record` set it also saves what it shows beside the MCAP."""
        if not self.params.viewer:
            return None
        try:
            from fasthmr_ros.perception.viewer import LiveViewer

            save = Path(self.params.record).with_suffix(".rrd") if self.params.record else None
            viewer = LiveViewer(self.processor.faces, port=self.params.viewer_port, save=save,
                                log=self.get_logger().warning)  # fmt: skip
        except (ImportError, OSError, RuntimeError, ValueError) as err:
            raise StartupError(f"viewer: {err}") from err
        self.get_logger().info(
            f"live viewer: {viewer.url} (desktop viewer: rerun --connect {viewer.grpc_url})"
            + (f"; saving it to {save}" if save else "")
        )
        return viewer


@dataclass
class _Detected:
    """A frame between the node's two stages."""

    msg: object
    rgb: np.ndarray
    camera_matrix: np.ndarray
    detected: object  # the processor's detect() result
    taken_at: float  # perf_counter when stage 1 took the frame
    decode_ms: float
    detect_ms: float
    detected_at: float


def _ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def capture_seconds(stamp) -> float | None:
    """An image header's stamp as Frame.stamp: seconds, or None for an unset (zero) stamp, which carries no time
    (the translation filter then takes frames as evenly spaced)."""
    ns = _ns(stamp)
    return ns * 1e-9 if ns > 0 else None


def spin_node(args: list[str] | None) -> int:
    """Init rclpy with args, run the node until Ctrl-C/SIGTERM, shut down cleanly. Returns the exit code."""
    rclpy.init(args=args)
    node = None
    try:
        node = HmrNode()
    except (StartupError, FileNotFoundError, ValueError) as err:
        print(f"[fasthmr] cannot start: {err}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.shutdown()
        # the context may already be shut down by the signal handler: print, don't log to /rosout
        print(
            f"[fasthmr] stopped: {node.stats.received} frames received, {node.stats.processed} processed, "
            f"{node._slot.dropped} dropped, {node.stats.bad_frames} bad",
            file=sys.stderr,
        )
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `ros2 run fasthmr_ros hmr_node --ros-args ...` (plain ROS arguments)."""
    return spin_node(sys.argv if argv is None else argv)


# ---- `fasthmr run` -------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fasthmr_ros.paths import config_dir

    parser.add_argument("--params-file", default=str(config_dir() / "hmr.yaml"), help="node parameters (YAML)")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="override one parameter, e.g. -p device:=cuda (repeatable)",
    )
    parser.add_argument(
        "--dds",
        default="localhost",
        help="Fast DDS transport profile: localhost (shipped; one host), none, or an XML path",
    )
    parser.add_argument("--record", default="", metavar="OUT.mcap", help="record every output message to MCAP")
    parser.add_argument("--viewer", action="store_true", help="serve the live Rerun web viewer (needs `make viewer`)")
    parser.add_argument(
        "--viewer-port", type=int, default=0, metavar="P", help="the viewer's page port (default 9090); data on P + 1"
    )
    parser.add_argument("ros_args", nargs=argparse.REMAINDER, help="further arguments after --ros-args")


def run(args: argparse.Namespace) -> int:
    from fasthmr_ros.ros.dds import configure_dds

    configure_dds(args.dds)
    if not Path(args.params_file).is_file():
        print(f"[fasthmr] cannot start: parameter file not found: {args.params_file}", file=sys.stderr)
        return 2
    ros_args = ["fasthmr", "--ros-args", "--params-file", args.params_file]
    for item in args.param:
        ros_args += ["-p", item]
    if args.record:
        ros_args += ["-p", f"record:={Path(args.record).resolve()}"]
    if args.viewer:
        ros_args += ["-p", "viewer:=true"]
    if args.viewer_port:
        ros_args += ["-p", f"viewer_port:={args.viewer_port}"]
    extra = [a for a in args.ros_args if a != "--ros-args"]
    if extra:
        ros_args += extra
    return spin_node(ros_args)
