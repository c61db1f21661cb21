"""The house rules of the package layout (README "Repository layout"), checked on the source itself:
imports run one way, model <- runtime <- perception <- ros / cli, training on top; nothing imports training."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fasthmr_ros"
README = Path(__file__).resolve().parents[1] / "README.md"

# group -> rank; a module may import its own group and groups of lower rank only
RANKS = {"paths": 0, "footage": 0, "model": 1, "runtime": 2, "perception": 3, "ros": 4, "cli": 4, "training": 5}
LEAF_IMPORTS = {"paths": set(), "footage": {"paths"}}  # the two leaf modules
GENERATED = {"msg": {"ros"}}  # the generated message package: only ros/ uses it


def group_of(module: str) -> str:
    """fasthmr_ros.perception.pipeline -> perception; fasthmr_ros -> "" (the package root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imported_modules(path: Path, module: str) -> set[str]:
    """Every fasthmr_ros module `path` imports, lazily inside functions too; `from fasthmr_ros import x` -> x."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "fasthmr_ros"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            if name.split(".")[0] != "fasthmr_ros":
                continue
            if name == "fasthmr_ros":
                found |= {f"fasthmr_ros.{alias.name}" for alias in node.names}
            else:
                found.add(name)
    return found


def violations(package_dir: Path) -> list[str]:
    problems = []
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        source = group_of(module)
        if source and source not in RANKS:
            problems.append(f"{module}: not in any group of the layout ({', '.join(RANKS)})")
            continue
        for target_module in sorted(imported_modules(path, module)):
            target = group_of(target_module)
            if not target or target == source:
                continue
            if not source:
                problems.append(f"{module} (package root) imports {target_module}")
            elif target in GENERATED:
                if source not in GENERATED[target]:
                    problems.append(f"{module} imports the generated {target_module} (only {GENERATED[target]})")
            elif target not in RANKS:
                problems.append(f"{module} imports {target_module}, which is in no group")
            elif target == "training":
                problems.append(f"{module} imports {target_module}: nothing imports training/")
            elif source in LEAF_IMPORTS:
                if target not in LEAF_IMPORTS[source]:
                    problems.append(f"leaf module {module} imports {target_module}")
            elif RANKS[target] >= RANKS[source]:
                problems.append(f"{module} ({source}) imports {target_module} ({target}): against the direction")
    return problems


def test_imports_run_one_way() -> None:
    assert violations(PACKAGE) == []


def test_the_check_catches_a_backward_import(tmp_path: Path) -> None:
    root = tmp_path / "fasthmr_ros"
    for group in ("model", "perception", "training", "ros", "cli"):
        (root / group).mkdir(parents=True)
        (root / group / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "model" / "net.py").write_text("def f():\n    from fasthmr_ros.perception import pipeline\n")
    (root / "perception" / "pipeline.py").write_text("from ..training import train\n")
    (root / "ros" / "node.py").write_text("from fasthmr_ros.cli import video\nfrom fasthmr_ros import msg\n")
    (root / "cli" / "video.py").write_text("from fasthmr_ros.msg import HumanMesh\n")
    (root / "stray.py").write_text("")
    problems = violations(root)
    assert any("fasthmr_ros.model.net (model) imports fasthmr_ros.perception" in p for p in problems)
    assert any("nothing imports training" in p for p in problems)
    assert any("fasthmr_ros.ros.node (ros) imports fasthmr_ros.cli" in p for p in problems)
    assert any("fasthmr_ros.cli.video imports the generated" in p for p in problems)
    assert any("stray: not in any group" in p for p in problems)
    assert not any("ros.node imports the generated" in p for p in problems)  # ros may use msg


def test_readme_layout_names_every_package() -> None:
    text = README.read_text()
    section = text.split("## Repository layout", 1)[1].split("\n## ", 1)[0]
    packages = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    for name in packages:
        assert f"`fasthmr_ros/{name}/`" in section, f"README layout table lacks fasthmr_ros/{name}/"
    for sub in (p for p in PACKAGE.rglob("*") if p.is_dir() and (p / "__init__.py").is_file()):
        if sub.parent != PACKAGE:
            relative = sub.relative_to(PACKAGE.parent).as_posix()
            assert f"`{relative}/`" in section, f"README layout table lacks {relative}/"
