"""The package layout stays as docs/architecture.md draws it.

Every import in src/brushwork (module level or inside a function, since a lazy import is still
a dependency) is read with :mod:`ast`, and three rules are checked:

* no cycles between modules;
* ``core`` imports no job, and jobs import each other only along the allowed edges
  (video uses the gatys and fastnet stylizers); the front ends (cli, web) may use every job;
* nobody imports a private name (``_x``) from a module of another package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "brushwork"
JOBS = {"gatys", "harmonization", "fastnet", "video"}
FRONT_ENDS = {"cli", "web", "cluster"}  # cluster: the Ray front end of the batch jobs
#: Which job may import which other job, and why (see docs/architecture.md).
ALLOWED_JOB_EDGES = {("video", "gatys"), ("video", "fastnet")}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports() -> dict[str, list[tuple[str, str | None]]]:
    """module → [(imported brushwork module, imported name or None)]."""
    found: dict[str, list[tuple[str, str | None]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        edges: list[tuple[str, str | None]] = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges += [(a.name, None) for a in node.names if a.name.startswith("brushwork")]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, path.name == "__init__.py", node)
                if target.startswith("brushwork"):
                    edges += [(target, a.name) for a in node.names]
        found[module] = edges
    return found


def _owner(module: str) -> str:
    """The top-level part a module belongs to: core, a job, cli, web, assets or the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "brushwork"


def _targets(module: str, name: str | None, modules: set[str]) -> str:
    """``from pkg import mod`` imports the module pkg.mod; anything else imports pkg itself."""
    if name is not None and f"{module}.{name}" in modules:
        return f"{module}.{name}"
    return module


def _graph() -> dict[str, set[str]]:
    found = imports()
    modules = set(found)
    return {m: {_targets(t, n, modules) for t, n in edges if _targets(t, n, modules) != m} for m, edges in found.items()}


def test_the_layout_is_read():
    graph = _graph()
    assert {"brushwork.core.optim", "brushwork.gatys.stylizer", "brushwork.cli"} <= set(graph)
    assert "brushwork.core.optim" in graph["brushwork.gatys.stylizer"]


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if n not in graph:
                continue
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state and m != "brushwork":  # the package's own __init__ re-exports the jobs' API
            visit(m)


def test_core_imports_no_job_and_jobs_import_only_allowed_jobs():
    bad = []
    for module, targets in _graph().items():
        src = _owner(module)
        for target in targets:
            dst = _owner(target)
            if src == dst or dst in ("core", "assets"):
                continue
            if src == "core":
                bad.append(f"{module} (core) imports {target}")
            elif src in JOBS and dst in JOBS and (src, dst) not in ALLOWED_JOB_EDGES:
                bad.append(f"{module} ({src}) imports {target} ({dst})")
            elif src in JOBS and dst in FRONT_ENDS | {"brushwork"}:
                bad.append(f"{module} (a job) imports the front end or the package {target}")
    assert not bad, "\n".join(bad)


def test_no_private_names_across_packages():
    bad = []
    for module, edges in imports().items():
        for target, name in edges:
            if name and name.startswith("_") and not name.startswith("__") and _owner(target) != _owner(module):
                bad.append(f"{module} imports the private name {name} from {target}")
            private_module = any(p.startswith("_") and not p.startswith("__") for p in target.split("."))
            if private_module and _owner(target) != _owner(module):
                bad.append(f"{module} imports the private module {target}")
    assert not bad, "\n".join(bad)


def test_the_rules_can_fail(tmp_path, monkeypatch):
    """The checks see a planted violation (so a passing run means something)."""
    fake = tmp_path / "brushwork"
    (fake / "core").mkdir(parents=True)
    (fake / "gatys").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "core" / "__init__.py").write_text("")
    (fake / "gatys" / "__init__.py").write_text("")
    (fake / "core" / "a.py").write_text("from ..gatys.b import _secret\n")
    (fake / "gatys" / "b.py").write_text("from ..core import a\n_secret = 1\n")
    monkeypatch.setattr(__import__(__name__), "SRC", fake)
    with pytest.raises(AssertionError):
        test_core_imports_no_job_and_jobs_import_only_allowed_jobs()
    with pytest.raises(AssertionError):
        test_no_private_names_across_packages()
    with pytest.raises(pytest.fail.Exception):
        test_no_import_cycles()


def _heavy_after_importing(modules: str, heavy: tuple[str, ...]) -> list[str]:
    """Which of ``heavy`` a fresh interpreter holds after importing ``modules`` (comma-separated)."""
    import json
    import subprocess
    import sys

    code = f"import json, sys, {modules}; print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_package_and_the_settings_modules_import_without_torch():
    """``import brushwork`` and the settings every front end builds its options from stay cheap:
    no torch (about two seconds), no OpenCV; the public names still resolve on first use."""
    assert _heavy_after_importing("brushwork, brushwork.gatys.settings, brushwork.harmonization.settings, "
                                  "brushwork.fastnet.settings, brushwork.video.settings",
                                  ("torch", "cv2", "gradio", "av")) == []
    import brushwork

    assert callable(brushwork.stylize) and callable(brushwork.harmonize) and callable(brushwork.fast_stylize)
    assert brushwork.StylizeSettings().size == 512 and "stylize" in brushwork.__all__


def test_the_cli_and_the_onnx_fast_path_import_without_torch():
    """The CLI (its options, --help, usage errors) and everything `brushwork fast` runs on
    onnxruntime import no PyTorch (2 s) and no onnx package (1 s); tests/fastnet/test_onnx_cache.py
    runs the command itself."""
    assert _heavy_after_importing("brushwork.cli, brushwork.fastnet.infer, brushwork.fastnet.onnxcache, "
                                  "brushwork.core.color, brushwork.core.image, brushwork.core.device, "
                                  "brushwork.fastnet.modelfile",
                                  ("torch", "onnx", "skimage", "cv2", "gradio", "av")) == []
    assert "torch" in _heavy_after_importing("brushwork.gatys.stylizer", ("torch",))  # the check can fail


def test_ray_is_imported_only_with_ray():
    """``import brushwork``, the CLI without ``--ray`` and the cluster package itself load no Ray."""
    import subprocess
    import sys

    code = ("import sys, brushwork, brushwork.cli, brushwork.cluster; brushwork.cluster.ClusterOptions; "
            "brushwork.cluster.ImageJob; brushwork.cluster.VideoRecipe; "
            "print('ray' in sys.modules); sys.exit(1 if 'ray' in sys.modules else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
