"""The YOLO-seg ONNX backend on a tiny model built here with the onnx helper API, in the Ultralytics export layout.

The model's mask prototypes are computed from the input image (4x4 average pool, then a 1x1 conv: prototype 0 is
"red", prototype 1 is "blue"); its box/score/coefficient output is a constant whose anchors are engineered from the
boxes we want back. So the decoded boxes test the letterbox round trip and the class/score/NMS filtering, and the
decoded masks test the prototype -> frame mapping against the rectangles painted into the frame.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fasthmr_ros.perception.masks import box_iou, create_mask_generator

SIZE = 640
NUM_CLASSES = 2
NUM_COEFFS = 32
ANCHORS = 8400


def letterbox_params(height: int, width: int) -> tuple[float, int, int]:
    scale = min(SIZE / height, SIZE / width)
    new_w, new_h = round(width * scale), round(height * scale)
    return scale, round((SIZE - new_w) / 2 - 0.1), round((SIZE - new_h) / 2 - 0.1)


def build_model(path, anchors: list[tuple[np.ndarray, list[float], int]], frame_hw: tuple[int, int]) -> None:
    """anchors: (frame box xyxy, class scores, prototype index) -> written as letterboxed cx, cy, w, h."""
    scale, left, top = letterbox_params(*frame_hw)
    pred = np.zeros((1, 4 + NUM_CLASSES + NUM_COEFFS, ANCHORS), dtype=np.float32)
    for k, (box, scores, proto) in enumerate(anchors):
        x1, y1, x2, y2 = box * scale + np.array([left, top, left, top])
        slot = 97 * k + 13  # spread across the anchor axis
        pred[0, :4, slot] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
        pred[0, 4 : 4 + NUM_CLASSES, slot] = scores
        pred[0, 4 + NUM_CLASSES + proto, slot] = 1.0
    # Prototype 0 = 10 * (R - 0.5), prototype 1 = 10 * (B - 0.5), others 0: positive exactly on red / blue paint.
    weight = np.zeros((NUM_COEFFS, 3, 1, 1), dtype=np.float32)
    bias = np.zeros(NUM_COEFFS, dtype=np.float32)
    weight[0, 0], weight[1, 2] = 10.0, 10.0
    bias[:2] = -5.0
    nodes = [
        helper.make_node("AveragePool", ["images"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Conv", ["pooled", "proto_w", "proto_b"], ["output1"]),
        helper.make_node("Constant", [], ["output0"], value=numpy_helper.from_array(pred, "pred")),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_yolo_seg",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [
            helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + NUM_CLASSES + NUM_COEFFS, ANCHORS]),
            helper.make_tensor_value_info("output1", TensorProto.FLOAT, [1, NUM_COEFFS, SIZE // 4, SIZE // 4]),
        ],
        initializer=[numpy_helper.from_array(weight, "proto_w"), numpy_helper.from_array(bias, "proto_b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.mark.parametrize("frame_hw", [(480, 800), (900, 500)])
def test_onnx_backend_decodes_boxes_masks_and_filters(tmp_path, frame_hw):
    height, width = frame_hw
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    red = (int(0.15 * width), int(0.2 * height), int(0.15 * width) + 130, int(0.2 * height) + 230)
    blue = (int(0.55 * width), int(0.3 * height), int(0.55 * width) + 110, int(0.3 * height) + 190)
    frame[red[1] : red[3], red[0] : red[2], 0] = 255
    frame[blue[1] : blue[3], blue[0] : blue[2], 2] = 255
    box_a = np.array(red, dtype=np.float32) + np.array([-12, -9, 15, 11])  # a box a bit larger than the paint
    box_b = np.array(blue, dtype=np.float32) + np.array([-8, -14, 10, 7])
    anchors = [
        (box_a, [0.91, 0.05], 0),  # person A
        (box_a + np.array([6, 4, 9, 2]), [0.83, 0.02], 0),  # overlapping duplicate of A: NMS removes it
        (box_b, [0.72, 0.10], 1),  # person B
        (np.array([20, 20, 90, 200], np.float32), [0.6, 0.95], 0),  # best class is not person: dropped
        (np.array([300, 30, 360, 150], np.float32), [0.2, 0.0], 0),  # below the score threshold: dropped
    ]
    model_path = tmp_path / "tiny-seg.onnx"
    build_model(model_path, anchors, frame_hw)

    generator = create_mask_generator("onnx", model_path=str(model_path), score_threshold=0.4, iou_threshold=0.5)
    people = generator(frame)

    assert [round(p.score, 2) for p in people] == [0.91, 0.72]
    for person, want_box, paint in zip(people, (box_a, box_b), (red, blue), strict=True):
        assert np.abs(person.box - want_box).max() < 1.0, (person.box, want_box)
        assert person.mask.shape == (height, width) and person.mask.dtype == bool
        painted = np.zeros((height, width), dtype=bool)
        painted[paint[1] : paint[3], paint[0] : paint[2]] = True
        iou = (person.mask & painted).sum() / (person.mask | painted).sum()
        assert iou > 0.9, iou
        ys, xs = np.nonzero(person.mask)
        assert xs.min() >= person.box[0] - 1 and xs.max() <= person.box[2] + 1  # cut to its box
        assert ys.min() >= person.box[1] - 1 and ys.max() <= person.box[3] + 1
    assert box_iou(people[0].box, people[1].box)[0, 0] == 0.0


def test_onnx_backend_frame_without_people_and_tiny_frame(tmp_path):
    model_path = tmp_path / "tiny-seg.onnx"
    build_model(model_path, [(np.array([40, 40, 120, 200], np.float32), [0.2, 0.1], 0)], (480, 640))
    generator = create_mask_generator("onnx", model_path=str(model_path))
    assert generator(np.zeros((480, 640, 3), np.uint8)) == []
    assert generator(np.zeros((1, 1, 3), np.uint8)) == []


def test_onnx_backend_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="model_path"):
        create_mask_generator("onnx")
    missing = tmp_path / "nowhere" / "yolo11n-seg.onnx"
    with pytest.raises(FileNotFoundError, match=r"yolo11n-seg\.onnx"):
        create_mask_generator("onnx", model_path=str(missing))
    with pytest.raises(ValueError, match="unknown mask backend"):
        create_mask_generator("yolo")
