"""ros2 launch fasthmr_ros hmr.launch.py [image_topic:=...] [camera_info_topic:=...] [params_file:=...] [device:=...]

For ROS installed from apt (the launch system is not on PyPI; pip users run `fasthmr run`). The node's parameters
live in config/hmr.yaml; launch arguments left empty keep the file's values.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

OVERRIDABLE = ("image_topic", "camera_info_topic", "device", "checkpoint", "smpl_model")


def _node(context):
    params_file = LaunchConfiguration("params_file").perform(context)
    overrides = {}
    for name in OVERRIDABLE:
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = value
    return [
        Node(
            package="fasthmr_ros",
            executable="hmr_node",
            name="fasthmr",
            output="screen",
            parameters=[params_file, overrides],
        )
    ]


def generate_launch_description() -> LaunchDescription:
    default_params = str(Path(get_package_share_directory("fasthmr_ros")) / "config" / "hmr.yaml")
    arguments = [DeclareLaunchArgument("params_file", default_value=default_params, description="node parameters")]
    arguments += [
        DeclareLaunchArgument(name, default_value="", description=f"override parameter {name} (empty: keep the file's)")
        for name in OVERRIDABLE
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_node)])
