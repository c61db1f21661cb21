"""The `fasthmr` command line. Each subcommand lives in its own module, imported only when it is used, so that
`fasthmr replay` does not pay for importing torch."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). A module provides add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("fasthmr_ros.ros.node", "start the ROS 2 node (pip users' substitute for ros2 launch)"),
    "replay": ("fasthmr_ros.ros.replay", "publish a video or image folder as sensor_msgs/Image + CameraInfo"),
    "demo": ("fasthmr_ros.ros.demo", "the node on real footage: overlay video + MCAP of every output (make demo)"),
    "video": ("fasthmr_ros.cli.video", "the pipeline on a video file (no ROS): overlay video + .npz of every person"),
    "view": ("fasthmr_ros.cli.view", "a node recording (MCAP) in the live Rerun viewer, or saved as .rrd (--save)"),
    "fetch-footage": ("fasthmr_ros.footage", "fetch real footage of people from the package registries"),
    "convert-smpl": ("fasthmr_ros.runtime.smpl_io", "convert an official (chumpy) SMPL .pkl into a plain .npz"),
    "predict": (
        "fasthmr_ros.cli.predict",
        "HMR2.0 on one image and one person box -> SMPL parameters and camera (.npz)",
    ),
    "train": (
        "fasthmr_ros.training.train_hmr",
        "train the HMR model on rendered synthetic people (makes the embedded demo model)",
    ),
    "label-footage": (
        "fasthmr_ros.training.pseudo_labels",
        "pseudo-labelled person crops from real videos (the landmark pose source as labeller), for fine-tuning",
    ),
    "train-decoder": (
        "fasthmr_ros.training.train_decoder",
        "train the streaming diffusion decoder (AMASS .npz or synthetic)",
    ),
    "train-lift": (
        "fasthmr_ros.training.train_lift",
        "train the landmark lift (BlazePose landmarks -> body pose) on the body model",
    ),
    "calibrate": (
        "fasthmr_ros.training.calibrate",
        "ECLM layer-merge search on your footage or labels -> merge plan (+ plot)",
    ),
    "export": ("fasthmr_ros.cli.export", "encoder + head to ONNX (Mask-ToMe inside) [+ TensorRT engines]"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = argparse.ArgumentParser(prog="fasthmr", description="FastHMR: fast 3D human meshes for ROS 2.")
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        for name, (_, text) in COMMANDS.items():
            sub.add_parser(name, help=text)
        parser.parse_args(argv or ["--help"])
        return 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"fasthmr {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
