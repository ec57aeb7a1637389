"""Benchmarks of Resonance: ``python -m benchmarks`` (``make bench``) runs the size sweep.

Figures only, never gates. The scripts beside it (``ingest.py``, ``models.py``, ``embed.py``,
``topics.py``) still run on their own: ``python benchmarks/ingest.py``.
"""

# Before any benchmark module imports numpy or torch: the pipeline's stages run the kernels
# analysis.numerics pins (AVX2 on any x86-64), so a benchmark must time those, not the AVX-512
# ones an unpinned process takes on such a CPU. Worker processes inherit the pins' variables.
import analysis  # noqa: F401
