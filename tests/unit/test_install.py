"""``.ci/install.py`` (``make setup``): uv gets what pip's own configuration asks for."""

from __future__ import annotations

import importlib.util
import sys

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


def test_every_uv_install_compiles_its_bytecode() -> None:
    """uv does not compile modules as pip does, and its ``--compile-bytecode`` compiles only what
    that command installed; without it (and with PYTHONDONTWRITEBYTECODE, as on the build
    machine) every process compiles its imports again, seconds each."""
    cmds = _install().uv_commands(
        "/v/bin/uv",
        "/v/bin/python",
        ["--no-index"],
        [([], ["-e", ".[dev]"]), (["--no-deps"], ["b"])],
    )
    assert [c[-1] for c in cmds] == ["pip>=24", ".[dev]", "b"]
    assert all("--compile-bytecode" in c for c in cmds)
    assert all(c[:5] == ["/v/bin/uv", "pip", "install", "--python", "/v/bin/python"] for c in cmds)
    assert all("--no-index" in c and "requirements.lock" in c for c in cmds)
    assert cmds[-1][-2:] == ["--no-deps", "b"]
