"""The node (plain ROS arguments, like `ros2 run`), then one line saying which viewer modules the process imported.

The line comes after a clean stop (SIGINT), so it covers everything the node did while it ran.
"""

from __future__ import annotations

import json
import sys

from fasthmr_ros.ros.node import main

VIEWER_MODULES = ("rerun", "rerun_bindings", "rerun_cli", "fasthmr_ros.perception.viewer")

if __name__ == "__main__":
    code = main(sys.argv)
    loaded = sorted(name for name in sys.modules if name in VIEWER_MODULES or name.split(".")[0] in VIEWER_MODULES)
    print("VIEWER_MODULES " + json.dumps(loaded), flush=True)
    sys.exit(code)
