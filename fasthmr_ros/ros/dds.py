"""Process-level ROS 2 settings that must be in place before rclpy starts."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from fasthmr_ros.paths import config_dir

PROFILE_VARS = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
SHM_DIR = Path("/dev/shm")
# Fast DDS 2.14 allocates its shared-memory segment plus ~4.7% bookkeeping (a 128 MiB segment was a 140.5 MB file)
SHM_OVERHEAD = 1.05


def configure_dds(profile: str = "localhost") -> str | None:
    """Point Fast DDS at a transport profile, unless the user already chose one.

    "localhost" is the shipped profile (large shared-memory segment + loopback UDP), without which best-effort
    camera images between processes are dropped; "none" leaves Fast DDS alone (multi-host graphs); anything else
    is a path to the user's own XML. Jazzy (Fast DDS 2.14) reads only FASTRTPS_*, Kilted reads FASTDDS_*: set both.
    Returns the profile in effect, or None. Says once, on stderr, when /dev/shm cannot hold its segment.
    """
    if profile == "none":
        return None
    path = config_dir() / "fastdds_localhost.xml" if profile == "localhost" else Path(profile)
    if not path.is_file():
        raise FileNotFoundError(f"Fast DDS profile not found: {path} (use --dds localhost, none or an XML path)")
    for var in PROFILE_VARS:
        os.environ.setdefault(var, str(path))
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    in_effect = os.environ[PROFILE_VARS[0]]
    problem = shared_memory_problem(Path(in_effect))
    if problem:
        print(f"[fasthmr] {problem}", file=sys.stderr)
    return in_effect


def shm_segment_size(profile: Path) -> int:
    """The largest shared-memory segment_size (bytes) a Fast DDS XML profile asks for; 0 when it sets none."""
    try:
        root = ET.parse(profile).getroot()
    except (OSError, ET.ParseError):
        return 0  # Fast DDS reports unreadable profiles itself
    sizes = [0]
    for descriptor in root.findall(".//{*}transport_descriptor"):
        if (descriptor.findtext("{*}type") or "").strip() == "SHM":
            text = (descriptor.findtext("{*}segment_size") or "").strip()
            if text.isdigit():
                sizes.append(int(text))
    return max(sizes)


def shared_memory_problem(profile: Path, shm_dir: Path = SHM_DIR) -> str | None:
    """A sentence when `shm_dir` has too little free space for the profile's segment, else None.

    Fast DDS then refuses its shared-memory transport (three red lines naming neither the cause nor the effect)
    and carries camera frames over UDP, where best-effort frames of more than a few fragments are mostly lost.
    Docker's default /dev/shm (64 MB) is the usual cause.
    """
    segment = shm_segment_size(profile)
    if segment == 0 or not shm_dir.is_dir():
        return None
    stat = os.statvfs(shm_dir)
    free = stat.f_bavail * stat.f_frsize
    needed = int(segment * SHM_OVERHEAD)
    if free >= needed:
        return None
    return (
        f"{shm_dir} has {free / 1e6:.0f} MB free but the Fast DDS profile {profile} gives each process a "
        f"{segment / 1e6:.0f} MB shared-memory segment ({needed / 1e6:.0f} MB in {shm_dir}): Fast DDS will run "
        "without shared memory and lose most large camera frames over UDP. Give it room (docker run --shm-size=1g "
        "or --ipc=host) or pass --dds with a profile of a smaller segment_size."
    )
