"""``.ci/install.py`` (``make setup``): uv gets what pip's own configuration asks for."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def _install():
    spec = importlib.util.spec_from_file_location("ci_install", ROOT / ".ci" / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_uv_options_ask_for_what_pip_asks_for() -> None:
    args, env = _install().uv_arguments(
        {
            "index-url": ["https://mirror.example/simple"],
            "extra-index-url": ["file:///a/simple", "file:///b/simple"],
            "find-links": ["/opt/wheels"],
            "constraint": ["/etc/xdg/pip/constraints.txt"],
            "cert": ["/etc/ssl/certs/ca-certificates.crt"],
            "no-index": True,
        }
    )
    assert args == [
        "--index-strategy",
        "unsafe-best-match",  # pip's rule: the best version from any index
        "--no-index",
        "--find-links",
        "/opt/wheels",
        "--index-url",
        "https://mirror.example/simple",
        "--extra-index-url",
        "file:///a/simple",
        "--extra-index-url",
        "file:///b/simple",
        "-c",
        "/etc/xdg/pip/constraints.txt",
    ]
    assert env == {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}
    assert _install().uv_arguments({}) == (["--index-strategy", "unsafe-best-match"], {})


def test_pip_settings_are_what_pip_itself_resolves(tmp_path, monkeypatch) -> None:
    """A configuration file with a multi-line value and an ``install`` section, and a variable
    that overrides the file: read as pip reads them (its own option parser)."""
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\n"
        "index-url = https://file.example/simple\n"
        "extra-index-url =\n    file:///a/simple\n    file:///b/simple\n"
        "[install]\n"
        "constraint = /tmp/c.txt\n"
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.example/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/a /opt/b")
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    settings = _install().pip_settings(sys.executable)
    assert settings["index-url"] == ["https://env.example/simple"]  # the variable wins
    assert settings["extra-index-url"] == ["file:///a/simple", "file:///b/simple"]
    assert settings["find-links"] == ["/opt/a", "/opt/b"]
    assert settings["constraint"] == ["/tmp/c.txt"]
    assert settings["no-index"] is False


def test_the_specs_split_into_installs() -> None:
    groups = _install().groups
    assert groups(["-e", ".[dev]", "--no-deps", "birdspotter==0.1.6b1"]) == [
        ([], ["-e", ".[dev]"]),
        (["--no-deps"], ["birdspotter==0.1.6b1"]),
    ]
    assert groups(["x"]) == [([], ["x"])]


def test_pip_installs_when_uv_fails(monkeypatch) -> None:
    install = _install()
    calls: list[list[str]] = []

    def run(cmd, env=None):
        calls.append(cmd)
        return "uv" not in " ".join(cmd)  # every uv step fails, pip's succeed

    monkeypatch.setattr(install, "run", run)
    assert install.main(["-e", ".[dev]"]) == 0
    assert any(c[-1] == "uv==0.13.9" for c in calls)
    assert calls[-1][-3:] == ["requirements.lock", "-e", ".[dev]"] and "pip" in calls[-1]
    calls.clear()
    monkeypatch.setattr(install, "run", lambda cmd, env=None: calls.append(cmd) or False)
    assert install.main(["x"]) == 1


def test_uv_installs_without_compiling_every_package() -> None:
    """uv's ``--compile-bytecode`` compiles all 22,600 modules (~35 s); the set-up compiles what
    the pipeline imports instead (``.ci/warm_bytecode.py``, below)."""
    cmds = _install().uv_commands(
        "/v/bin/uv",
        "/v/bin/python",
        ["--no-index"],
        [([], ["-e", ".[dev]"]), (["--no-deps"], ["b"])],
    )
    assert [c[-1] for c in cmds] == ["pip>=24", ".[dev]", "b"]
    assert not any("--compile-bytecode" in c for c in cmds)
    assert all(c[:5] == ["/v/bin/uv", "pip", "install", "--python", "/v/bin/python"] for c in cmds)
    assert all("--no-index" in c and "requirements.lock" in c for c in cmds)
    assert cmds[-1][-2:] == ["--no-deps", "b"]


def _make_dry_run(tmp_path: Path, target: str) -> str:
    """``make -n target`` with the Makefile over empty prerequisites and no .venv: the
    commands it would run from scratch."""
    (tmp_path / ".ci").mkdir(exist_ok=True)
    for name in ("pyproject.toml", "requirements.lock", ".ci/install.py", ".ci/warm_bytecode.py"):
        (tmp_path / name).touch()
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    proc = subprocess.run(
        ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_setup_warms_the_bytecode_and_make_test_leaves_it_to_the_tests(
    tmp_path: Path,
) -> None:
    """``make setup`` (and ``make reports``) compile what the pipeline imports, for processes
    run where ``PYTHONDONTWRITEBYTECODE`` is set; ``make test`` installs and runs the tests,
    whose processes write the bytecode of all they import (make unexports the variable)."""
    setup = _make_dry_run(tmp_path, "setup")
    assert ".ci/install.py" in setup and ".ci/warm_bytecode.py src" in setup
    test = _make_dry_run(tmp_path, "test")
    assert ".ci/install.py" in test and "pytest -n 2" in test
    assert "warm_bytecode" not in test
    assert "unexport PYTHONDONTWRITEBYTECODE" in (ROOT / "Makefile").read_text()


def _warm():
    spec = importlib.util.spec_from_file_location("ci_warm", ROOT / ".ci" / "warm_bytecode.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _package(root: Path) -> Path:
    """``analysis`` (a stand-in) whose stage imports one module at the top and one inside a
    function, and an ``__main__`` that must not run."""
    src = root / "src"
    (src / "analysis").mkdir(parents=True)
    (src / "analysis" / "__init__.py").write_text("")
    (src / "analysis" / "stage.py").write_text(
        "import top_dep\n\ndef run():\n    from lazy_dep.inner import f\n    return f()\n"
    )
    (src / "analysis" / "__main__.py").write_text("raise SystemExit('ran the program')\n")
    lib = root / "lib"
    (lib / "lazy_dep").mkdir(parents=True)
    (lib / "top_dep.py").write_text("X = 1\n")
    (lib / "lazy_dep" / "__init__.py").write_text("")
    (lib / "lazy_dep" / "inner.py").write_text("def f():\n    return 2\n")
    (lib / "torch").mkdir()
    (lib / "torch" / "__init__.py").write_text("")
    (src / "analysis" / "embed.py").write_text("def load():\n    import torch\n")
    return src


def test_the_names_are_read_from_the_source_lazy_imports_included(tmp_path: Path) -> None:
    warm = _warm()
    names = warm.imported_names(_package(tmp_path) / "analysis")
    assert {"top_dep", "lazy_dep.inner", "lazy_dep.inner.f", "torch"} <= names
    torch, rest = warm.split(sorted(names))
    assert torch == ["torch"] and "torch" not in rest and "top_dep" in rest


def test_the_warm_up_writes_the_bytecode_of_lazy_imports_and_runs_no_program(
    tmp_path: Path,
) -> None:
    src = _package(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(tmp_path / "lib")
    script = str(ROOT / ".ci" / "warm_bytecode.py")
    proc = subprocess.run(
        [sys.executable, script, str(src)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ran the program" not in proc.stdout + proc.stderr
    assert "warm_bytecode: compiled" in proc.stdout and "failed" not in proc.stdout, proc.stdout
    lib = tmp_path / "lib"
    for folder in (lib / "lazy_dep", lib, lib / "torch", src / "analysis"):
        assert list((folder / "__pycache__").glob("*.pyc")), folder
    assert {p.name.split(".")[0] for p in (lib / "lazy_dep" / "__pycache__").iterdir()} == {
        "__init__",
        "inner",
    }
    # where the variable is set nothing would be written: it says so and leaves the set-up be
    proc = subprocess.run(
        [sys.executable, script, str(src)],
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0 and "skipped" in proc.stdout, proc.stdout
