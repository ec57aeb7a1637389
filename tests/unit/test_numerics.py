"""The numeric kernels pinned to AVX2 (``analysis.numerics``): the same floats on any x86-64
machine with AVX2, set before numpy or torch load, never over a value the user chose."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from analysis.numerics import AVX2_PINS, apply, cpu_flags, pins_for

AVX2_CPU = {"fpu", "sse2", "avx", "avx2", "fma", "bmi2"}


def test_pins_only_on_x86_64_with_avx2_and_fma() -> None:
    assert pins_for("x86_64", AVX2_CPU) == AVX2_PINS
    assert pins_for("AMD64", AVX2_CPU | {"avx512f"}) == AVX2_PINS  # Windows' name; AVX-512 too
    assert pins_for("aarch64", AVX2_CPU) == {}  # ARM: nothing to pin to
    assert pins_for("x86_64", AVX2_CPU - {"avx2"}) == {}  # an older x86 has no AVX2 path
    assert pins_for("x86_64", AVX2_CPU - {"fma"}) == {}
    assert pins_for("x86_64", ()) == {}  # flags unknown: set nothing rather than guess


def test_a_value_the_user_set_is_kept() -> None:
    env = {"MKL_CBWR": "COMPATIBLE", "PATH": "/bin"}
    added = apply(env, AVX2_PINS)
    assert env["MKL_CBWR"] == "COMPATIBLE" and "MKL_CBWR" not in added
    assert added == {k: v for k, v in AVX2_PINS.items() if k != "MKL_CBWR"}
    assert {k: env[k] for k in added} == added and env["PATH"] == "/bin"
    assert apply(env, AVX2_PINS) == {}  # twice: nothing more


def test_cpu_flags_are_read_from_cpuinfo(tmp_path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma\n\n")
    assert cpu_flags(info) == {"fpu", "sse2", "avx2", "fma"}
    assert cpu_flags(tmp_path / "absent") == frozenset()
    (tmp_path / "noflags").write_text("processor\t: 0\n")
    assert cpu_flags(tmp_path / "noflags") == frozenset()


def test_importing_analysis_pins_before_numpy_and_torch_load() -> None:
    """A fresh process, as every DVC stage (``python -m analysis``): the pins are set before any
    numeric library has loaded, and torch then runs its AVX2 kernels."""
    env = {k: v for k, v in os.environ.items() if k not in AVX2_PINS}
    code = (
        "import json, analysis, torch; from analysis import numerics; "
        "print(json.dumps({**numerics.status(), "
        "'torch': torch.backends.cpu.get_cpu_capability()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["loaded_before_pin"] == []
    want = pins_for(os.uname().machine, cpu_flags())
    if not want:  # a machine without AVX2: nothing is set, nothing is claimed
        assert all(v is None for v in got["pins"].values())
        return
    assert got["pins"] == want
    assert got["torch"] == "AVX2"


def test_the_test_process_itself_is_pinned() -> None:
    """tests/conftest.py imports analysis before any test module imports numpy: the tests'
    own arithmetic is the pipelines' and the Dask workers' (it was not on AVX-512 machines)."""
    from analysis import numerics

    assert numerics.LOADED_BEFORE_PIN == ()
    want = pins_for(os.uname().machine, cpu_flags())
    assert {k: os.environ.get(k) for k in want} == want


def test_mkl_follows_the_pin_on_intel_only(tmp_path) -> None:
    """MKL honours the AVX2 branch on Intel only; elsewhere it picks its kernels by the CPU:
    one AMD Zen 3 wrote the AVX2 branch's bits, another Zen 3 and a Zen 4 did not."""
    from analysis.numerics import cpu_vendor, mkl_follows_pin

    avx2 = {"avx2", "fma"}
    assert mkl_follows_pin("GenuineIntel", avx2 | {"avx512f", "amx_bf16"})
    assert mkl_follows_pin("GenuineIntel", avx2)
    assert not mkl_follows_pin("AuthenticAMD", avx2)  # Zen 3: as the CPU has it
    assert not mkl_follows_pin("AuthenticAMD", avx2 | {"avx512f", "avx512_bf16"})  # Zen 4
    assert not mkl_follows_pin("", avx2 | {"avx512f"})
    assert not mkl_follows_pin("GenuineIntel", {"sse2"})  # nothing pinned there
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2\n\n")
    assert cpu_vendor(info) == "AuthenticAMD"
    assert cpu_vendor(tmp_path / "absent") == ""
