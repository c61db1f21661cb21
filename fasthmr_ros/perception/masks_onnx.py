"""Person masks from a user-supplied YOLOv8/YOLO11 segmentation model exported to ONNX (the paper uses
YOLO11n-seg), run with onnxruntime on the CPU.

Expected export layout (Ultralytics `yolo export model=yolo11n-seg.pt format=onnx imgsz=640`):
- input  (1, 3, S, S) float32, RGB in [0, 1], letterboxed (aspect kept, centred, grey 114 padding);
- output (1, 4 + nc + nm, A): per anchor cx, cy, w, h in input pixels, nc class scores (already sigmoid), nm mask
  coefficients;
- output (1, nm, S/4, S/4): mask prototypes. A person's mask is sigmoid(coefficients . prototypes), cut to its box.
Only the person class (COCO 0) is kept, and only where it is the anchor's best class.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from fasthmr_ros.perception.masks import PersonDetection, box_iou, check_image

_PAD_VALUE = 114
_EXPORT_HINT = "export one with `yolo export model=yolo11n-seg.pt format=onnx imgsz=640`"


class YoloSegOnnx:
    """YOLO-seg ONNX mask generator.

    model_path: the .onnx file (required). score_threshold: least person score. iou_threshold: NMS overlap.
    max_people: keep the best this many. person_class: class index of "person" (0 in COCO exports).
    mask_threshold: mask probability threshold. num_threads: onnxruntime intra-op threads (None = its default).
    device: "cpu" or "cuda[:N]" (CUDA when onnxruntime has its CUDA provider, else the CPU).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        score_threshold: float = 0.4,
        iou_threshold: float = 0.5,
        max_people: int = 10,
        person_class: int = 0,
        mask_threshold: float = 0.5,
        num_threads: int | None = None,
        device: str = "cpu",
    ) -> None:
        if not model_path:
            raise ValueError(f"the onnx mask backend needs model_path= a YOLO-seg .onnx file; {_EXPORT_HINT}")
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"YOLO-seg ONNX model not found at {path}: {_EXPORT_HINT} and pass its path")
        import onnxruntime as ort

        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        from fasthmr_ros.runtime.onnx_backend import ort_providers

        # on the encoder's GPU when onnxruntime has CUDA (onnxruntime-gpu), else the CPU
        self._session = ort.InferenceSession(str(path), options, providers=ort_providers(device))
        inputs = self._session.get_inputs()
        shape = inputs[0].shape if len(inputs) == 1 else []
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise ValueError(f"{path} is not a YOLO-seg export: expected one input (1, 3, S, S), got {shape}")
        self._input_name = inputs[0].name
        self.input_size = shape[2] if isinstance(shape[2], int) else 640
        outputs = self._session.get_outputs()
        ranks = sorted((len(o.shape), o.name) for o in outputs)
        if [r for r, _ in ranks] != [3, 4]:
            raise ValueError(f"{path} is not a YOLO-seg export: expected outputs of rank 3 and 4, got {ranks}")
        self._pred_name, self._proto_name = ranks[0][1], ranks[1][1]
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_people = max_people
        self.person_class = person_class
        self.mask_threshold = mask_threshold

    def letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float, int, int]:
        """(1,3,S,S) float32 input, scale, left and top padding, as the Ultralytics exporter expects."""
        size = self.input_size
        height, width = image.shape[:2]
        scale = min(size / height, size / width)
        new_w, new_h = max(round(width * scale), 1), max(round(height * scale), 1)
        left, top = round((size - new_w) / 2 - 0.1), round((size - new_h) / 2 - 0.1)
        canvas = np.full((size, size, 3), _PAD_VALUE, dtype=np.uint8)
        canvas[top : top + new_h, left : left + new_w] = cv2.resize(
            image, (new_w, new_h), interpolation=cv2.INTER_LINEAR
        )
        tensor = (canvas.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        return np.ascontiguousarray(tensor), scale, left, top

    def __call__(self, image_rgb: np.ndarray) -> list[PersonDetection]:
        image = check_image(image_rgb)
        height, width = image.shape[:2]
        tensor, scale, left, top = self.letterbox(image)
        pred, protos = self._session.run([self._pred_name, self._proto_name], {self._input_name: tensor})
        pred, protos = pred[0], protos[0]
        num_coeffs = protos.shape[0]
        num_classes = pred.shape[0] - 4 - num_coeffs
        if num_classes <= self.person_class:
            raise ValueError(f"model has {num_classes} classes, so person_class={self.person_class} does not exist")
        classes = pred[4 : 4 + num_classes]
        person = classes[self.person_class]
        keep = (person >= self.score_threshold) & (np.argmax(classes, axis=0) == self.person_class)
        if not keep.any():
            return []
        cxcywh = pred[:4, keep].T
        scores = person[keep]
        coeffs = pred[4 + num_classes :, keep].T
        boxes = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
        chosen = _nms(boxes, scores, self.iou_threshold)[: self.max_people]

        stride = self.input_size / protos.shape[1]
        flat_protos = protos.reshape(num_coeffs, -1)
        people = []
        for i in chosen:
            box = (boxes[i] - np.array([left, top, left, top])) / scale
            box = np.clip(box, 0, [width, height, width, height]).astype(np.float32)
            x0, y0 = math.floor(box[0]), math.floor(box[1])
            x1, y1 = math.ceil(box[2]), math.ceil(box[3])
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            logits = (coeffs[i] @ flat_protos).reshape(protos.shape[1:])
            probability = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
            # Frame pixel centre (u + 0.5) -> input px (u + 0.5) * scale + left -> prototype cell index / stride - 0.5.
            a = scale / stride
            warp = np.array([[a, 0, (x0 + 0.5) * a + left / stride - 0.5], [0, a, (y0 + 0.5) * a + top / stride - 0.5]])
            local = cv2.warpAffine(probability, warp, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
            mask = np.zeros((height, width), dtype=bool)
            mask[y0:y1, x0:x1] = local > self.mask_threshold
            people.append(PersonDetection(box=box, score=float(scores[i]), mask=mask, keypoints=None))
        return people


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices best first."""
    order = list(np.argsort(-scores, kind="stable"))
    kept: list[int] = []
    while order:
        best = order.pop(0)
        kept.append(int(best))
        if order:
            overlaps = box_iou(boxes[best], boxes[order])[0]
            order = [o for o, iou in zip(order, overlaps, strict=True) if iou <= iou_threshold]
    return kept
