"""One default per setting: the node's parameter table (built from the typed configs), config/hmr.yaml and the
README's parameter table agree, and the running node declares exactly that table."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
import yaml

from fasthmr_ros.perception.config import FLAT_NAMES, PipelineConfig, flat_defaults
from fasthmr_ros.ros.params import NodeParams, parameter_defaults

ROOT = Path(__file__).resolve().parents[1]


def readme_table() -> dict[str, str]:
    """{parameter: default as written} from README "Parameters" (rows like | `a` / `b` | `1` / `2` | ... |)."""
    section = (ROOT / "README.md").read_text().split("## Parameters", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        defaults = re.findall(r"`([^`]*)`", cells[1])
        assert len(names) == len(defaults), f"README row {cells[0]}: {len(names)} names, {len(defaults)} defaults"
        table.update(zip(names, defaults, strict=True))
    return table


def as_written(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return '""'
    return str(value)


def test_yaml_holds_every_parameter_with_its_default() -> None:
    data = yaml.safe_load((ROOT / "config" / "hmr.yaml").read_text())
    values = data["/**"]["ros__parameters"]
    assert values == parameter_defaults()


def test_readme_table_matches_the_defaults() -> None:
    table = readme_table()
    defaults = parameter_defaults()
    assert sorted(table) == sorted(defaults)
    for name, value in defaults.items():
        assert table[name] == as_written(value), f"README says {name} defaults to {table[name]}, code: {value!r}"


def test_every_pipeline_setting_has_a_flat_name() -> None:
    """A field added to a part of PipelineConfig must get a ROS parameter / CLI name."""
    base = PipelineConfig()
    paths = set()
    for f in fields(base):
        value = getattr(base, f.name)
        if is_dataclass(value):
            paths |= {f"{f.name}.{g.name}" for g in fields(value)}
        else:
            paths.add(f.name)
    assert paths == set(FLAT_NAMES.values())


def test_flat_names_round_trip_and_reject_bad_values() -> None:
    defaults = flat_defaults()
    assert PipelineConfig.from_flat(defaults) == PipelineConfig()
    changed = PipelineConfig.from_flat({"decoder": False, "token_budget": 100, "mask_model": "x.onnx"})
    assert not changed.decoder.enabled and changed.encoder.token_budget == 100 and changed.masks.model == "x.onnx"
    assert changed.flat()["token_budget"] == 100 and set(changed.flat()) == set(FLAT_NAMES)
    with pytest.raises(ValueError, match="unknown pipeline setting"):
        PipelineConfig.from_flat({"token_budgett": 90})
    with pytest.raises(ValueError, match="max_people must be an integer"):
        PipelineConfig.from_flat({"max_people": "4"})
    with pytest.raises(ValueError, match="decoder must be true or false"):
        PipelineConfig.from_flat({"decoder": 1})
    params = NodeParams.from_values({"image_topic": "/cam", "max_people": 2})
    assert params.image_topic == "/cam" and params.pipeline.max_people == 2


def test_running_node_declares_exactly_the_table(spawn, ros_node) -> None:
    """A real node in a second process; its parameters read back over the ROS parameter services."""
    from rcl_interfaces.srv import GetParameters, ListParameters
    from rclpy.parameter import parameter_value_to_python

    node = spawn("-m", "fasthmr_ros.cli", "run", "-p", "models:=false", "-p", "max_people:=3", name="node")
    lister = ros_node.create_client(ListParameters, "/fasthmr/list_parameters")
    getter = ros_node.create_client(GetParameters, "/fasthmr/get_parameters")
    assert lister.wait_for_service(timeout_sec=60), node.log()

    def call(client, request):
        future = client.call_async(request)
        ros_node.test_executor.spin_until_future_complete(future, timeout_sec=20)
        assert future.done(), node.log()
        return future.result()

    names = set(call(lister, ListParameters.Request()).result.names)
    assert names - {"use_sim_time", "start_type_description_service"} == set(parameter_defaults())
    reply = call(getter, GetParameters.Request(names=["max_people", "cpu_linear", "decoder"]))
    values = [parameter_value_to_python(v) for v in reply.values]
    assert values == [3, parameter_defaults()["cpu_linear"], parameter_defaults()["decoder"]]
