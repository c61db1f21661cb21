"""Process-level ROS 2 settings that must be in place before rclpy starts."""

from __future__ import annotations

import os
from pathlib import Path

from fasthmr_ros.paths import config_dir

PROFILE_VARS = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


def configure_dds(profile: str = "localhost") -> str | None:
    """Point Fast DDS at a transport profile, unless the user already chose one.

    "localhost" is the shipped profile (large shared-memory segment + loopback UDP), without which best-effort
    camera images between processes are dropped; "none" leaves Fast DDS alone (multi-host graphs); anything else
    is a path to the user's own XML. Jazzy (Fast DDS 2.14) reads only FASTRTPS_*, Kilted reads FASTDDS_*: set both.
    Returns the profile in effect, or None.
    """
    if profile == "none":
        return None
    path = config_dir() / "fastdds_localhost.xml" if profile == "localhost" else Path(profile)
    if not path.is_file():
        raise FileNotFoundError(f"Fast DDS profile not found: {path} (use --dds localhost, none or an XML path)")
    for var in PROFILE_VARS:
        os.environ.setdefault(var, str(path))
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    return os.environ[PROFILE_VARS[0]]
