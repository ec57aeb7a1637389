"""``.ci/install.py`` (``make setup``): uv gets what pip's own configuration asks for."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def _install():
    spec = importlib.util.spec_from_file_location("ci_install", ROOT / ".ci" / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pip_settings_become_uv_options(monkeypatch) -> None:
    install = _install()
    listed = (
        ":env:.find-links='/opt/wheels'\n"
        "global.find-links='/opt/wheels'\n"
        "global.extra-index-url='file:///a/simple file:///b/simple'\n"
        "global.constraint='/etc/xdg/pip/constraints.txt'\n"
        "global.cert='/etc/ssl/certs/ca-certificates.crt'\n"
        "global.index-url='https://mirror.example/simple'\n"
        "not a setting\n"
    )

    class Done:
        stdout = listed

    monkeypatch.setattr(install.subprocess, "run", lambda *a, **k: Done())
    settings = install.pip_settings("python")
    assert settings["find-links"] == ["/opt/wheels"]  # a file and a variable: once
    args, env = install.uv_arguments(settings)
    assert args == [
        "--index-strategy",
        "unsafe-best-match",  # pip's rule: the best version from any index
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
    assert install.uv_arguments({}) == (["--index-strategy", "unsafe-best-match"], {})


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
