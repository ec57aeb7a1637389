"""One arithmetic on every x86-64 machine: the numeric libraries' SIMD kernels pinned to AVX2.

Results must be a function of the data and the params, never of the machine. Float results
are not, by default: torch (its own ATen kernels, MKL's GEMM, oneDNN's linear layers), numpy
(its AVX-512 loops for ``exp`` and ``log``) and OpenBLAS each pick their kernels by the CPU they
run on, and kernels of another width add in another order. Measured on this project's machine
(AVX2, no AVX-512): MiniLM's vectors of 64 texts change bit-wise when any one of the three torch
libraries is sent down another path (``ATEN_CPU_CAPABILITY=default``: up to 9.7e-8;
``MKL_CBWR=COMPATIBLE``; ``ONEDNN_MAX_CPU_ISA=SSE41``), and a last-bit change in the vectors
moves k-means' stability refits (the committed demo run of 2026-11-30 and the same code run on
2026-12-01 on another machine of the same pool: topic stability ARI 0.7929 then 0.7999).

So every process that imports :mod:`analysis` first sets, where the user has not, the variables
that make these libraries take their AVX2 path on any x86-64 CPU that has AVX2 and FMA (every
x86 server since 2013-2015): an AVX-512 machine then computes what an AVX2 machine computes.
MKL's AVX2 branch splits a matrix product over threads in a way that rounds long texts
differently at 1 and 2 threads (beer comments of ~94 tokens or more: 44 of 400 vectors differ,
measured 2026-12-03), so the embedding runs every forward pass on one thread and uses the cores
by running several passes at once (``embed_models.TorchEncoder``): ``embed.threads`` is a
matter of speed only (tests/unit/test_embed.py). MKL's ``STRICT`` mode, pinned from 2026-12-03
to 2026-12-05 for the same end, is not used: it made the bits depend on the CPU model (a cold
``dvc repro`` on an Intel Xeon with AMX did not reproduce the embeddings of the lock made with
it on an Intel AVX-512 machine; without it the AMX machine writes the demo's vectors bit for
bit as an AMD Zen 3 wrote them: 13,272 of 13,272 posts whose text is unchanged).
Nothing is set on other CPUs (ARM, or x86 without AVX2), whose results may differ in the last
bits.

**Where the pin does not hold: MKL on a non-Intel CPU.** MKL takes the branch ``MKL_CBWR``
names on Intel CPUs only: on an AMD CPU its verbose log reads ``CNR:AUTO`` for ``AVX2`` (and
``AVX``, ``SSE4_2``, ``AVX512``), and it picks its kernels by the CPU. One AMD Zen 3 (AVX2, no
AVX-512) wrote the bits Intel's AVX2 branch writes (the demo's vectors, above); an AMD Zen 4
(AVX-512) did not (of the 5 texts of ``tests/unit/test_embed.py``'s cross-machine check, 4 in a
process of their own and all 5 inside the test suite, measured 2026-12-06); **nor did another
AMD Zen 3** (an EPYC virtual machine of 2 cores, no AVX-512, measured 2026-12-07: 4 of the 5,
whatever ``MKL_CBWR``, ``MKL_NUM_THREADS`` or the encoder's threads, and a cold ``dvc repro`` of
the demo differed from the lock from the embeddings on). So the vendor decides, not the width:
what MKL picks on an AMD CPU is not known before it runs. Neither ``MKL_ENABLE_INSTRUCTIONS=AVX2``
nor ``MKL_DEBUG_CPU_TYPE=5`` changes the Zen 4's bits; only ``MKL_CBWR=COMPATIBLE`` is honoured
there, a third arithmetic (SSE2) that no machine's results are recorded in. :func:`mkl_follows_pin`
says which case a CPU is; :func:`status` reports it and the embed stage warns where it does not
hold.

The variables are read when the libraries load, so :mod:`analysis` must be imported before
numpy, torch or scikit-learn: ``python -m analysis`` (every DVC stage) does; a notebook should
import ``analysis`` in its first cell (:func:`status` says whether the pin took).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable, MutableMapping
from pathlib import Path

#: The variable of each library's kernel choice, and the value of its AVX2 path.
AVX2_PINS: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorised kernels (GELU, softmax, layer norm)
    # MKL's conditional numerical reproducibility, for torch's matrix products (not STRICT: that
    # mode's bits depend on the CPU model; the thread count is fixed by the encoder instead)
    "MKL_CBWR": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN: torch's linear layers on the CPU
    "DNNL_MAX_CPU_ISA": "AVX2",  # oneDNN's former name for the same switch
    "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS (numpy, scipy, scikit-learn): AVX2 kernels
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's AVX-512 loops
}

#: The libraries whose kernels are chosen when they load: pinning after them is too late.
NUMERIC_MODULES = ("numpy", "torch", "sklearn", "scipy")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo is absent or unreadable."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_vendor(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's vendor id (``GenuineIntel``, ``AuthenticAMD``; Linux); "" where unknown."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if line.startswith("vendor_id"):
            return line.partition(":")[2].strip()
    return ""


def mkl_follows_pin(vendor: str, flags: Iterable[str]) -> bool:
    """Whether MKL computes with the AVX2 kernels of :data:`AVX2_PINS` on this CPU: on Intel
    it takes the branch it is asked for; on another vendor it chooses by the CPU (two AMD Zen 3
    machines wrote different bits, one of them the lock's). See the module docstring."""
    return vendor == "GenuineIntel" and {"avx2", "fma"} <= set(flags)


def pins_for(machine: str, flags: Iterable[str]) -> dict[str, str]:
    """The variables to set on a CPU of this architecture and these flags (none off x86-64/AVX2)."""
    if machine.lower() not in {"x86_64", "amd64"} or not {"avx2", "fma"} <= set(flags):
        return {}
    return dict(AVX2_PINS)


def apply(environ: MutableMapping[str, str], pins: dict[str, str]) -> dict[str, str]:
    """Set each pin the environment does not already set; returns what was set."""
    added = {k: v for k, v in pins.items() if k not in environ}
    environ.update(added)
    return added


def pin() -> dict[str, str]:
    """Pin this process's kernels (see the module docstring); returns the variables it set."""
    return apply(os.environ, pins_for(platform.machine(), cpu_flags()))


#: The numeric libraries already loaded when this module was first imported (by ``analysis``).
LOADED_BEFORE_PIN = tuple(m for m in NUMERIC_MODULES if m in sys.modules)


def status() -> dict[str, object]:
    """What is pinned in this process, and which numeric libraries had loaded before the pin."""
    return {
        "pins": {k: os.environ.get(k) for k in AVX2_PINS},
        "loaded_before_pin": list(LOADED_BEFORE_PIN),
        "mkl_follows_pin": mkl_follows_pin(cpu_vendor(), cpu_flags()),
    }
