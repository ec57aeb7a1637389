"""``resonance`` / ``python -m analysis``: one subcommand per pipeline stage, plus helpers.

No business logic lives here: each subcommand loads typed params and calls ``run`` of its
module in ``analysis.stages`` (the I/O edge), which calls the pure functions of the package.
Stage modules are imported lazily, so ``resonance audit`` never pays for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from analysis.config import DEFAULT_PARAMS, load_params

log = logging.getLogger("analysis")

#: subcommand -> (module in analysis.stages, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "generate the simulated demo dump with planted ground truth"),
    "inputs": (
        "inputs",
        "record the key fingerprint and source manifest (re-runs ingest on change)",
    ),
    "ingest": ("ingest", "read the dump(s), validate, pseudonymise and scrub into data/interim"),
    "embed": ("embed", "embed scrubbed post texts (content-addressed cache)"),
    "topic_fit": ("topic_fit", "cluster the embeddings into topics (freeze it to keep topics)"),
    "topics": ("topics", "assign posts to the fitted topics and attribute topics to accounts"),
    "topic_eval": (
        "topic_eval",
        "check the topics attributed against ground truth (demo subjects, answer tags)",
    ),
    "score": ("score", "score every model of models.scored (or only those named)"),
    "validate": ("validate", "validity of every model (out-of-time, planted roles, reputation)"),
    "divergence": ("divergence", "where reach and conversation part, account by account"),
    "compare": ("compare", "agreement, weekend-off and gaming tests, the recommendation"),
    "report": ("report", "render reports/index.html and reports/methodology.md"),
    "explain": (
        "explain",
        "explain every model's score of one account: resonance explain PSEUDONYM",
    ),
    "forget": (
        "forget",
        "erase an account on the next run: resonance forget ID_OR_HANDLE_OR_NAME",
    ),
    "audit": ("audit", "scan every output for raw identifiers of the current input"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="resonance", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="params.yaml to use")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == "score":
            p.add_argument(
                "models", nargs="*", metavar="MODEL", help="only these models (default: all)"
            )
        elif name == "explain":
            p.add_argument("account", help="pseudonym (acct_...) of a participant")
        elif name == "forget":
            p.add_argument(
                "identity", help="raw platform id, handle or display name of the account"
            )
            p.add_argument(
                "--purge-cache",
                action="store_true",
                help="then delete DVC cache entries the workspace does not use (dvc gc -w)",
            )
        elif name == "audit":
            p.add_argument("--root", type=Path, default=Path("."), help="project root to scan")
    return parser


def configure_logging(verbose: bool) -> None:
    """Log to stderr and to logs/resonance.log (the audit scans logs too)."""
    Path("logs").mkdir(exist_ok=True)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    handlers.append(logging.FileHandler("logs/resonance.log", encoding="utf-8"))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format=fmt, handlers=handlers, force=True
    )
    for noisy in ("urllib3", "filelock", "fsspec", "matplotlib", "numba", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``resonance`` console script."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    module = importlib.import_module(f"analysis.stages.{COMMANDS[args.command][0]}")
    params = load_params(args.params) if args.params.exists() else {}
    started = time.perf_counter()
    try:
        code = module.run(params, args) or 0
    except Exception as exc:  # one clear line for users; the traceback goes to the log file
        from analysis.schema import SchemaError
        from analysis.sources.base import SourceError

        if isinstance(
            exc, SourceError | SchemaError | ValueError | FileNotFoundError | RuntimeError
        ):
            log.debug("traceback", exc_info=True)
            log.error("%s failed: %s", args.command, exc)
            return 2
        raise
    log.info("%s finished in %.1f s", args.command, time.perf_counter() - started)
    return int(code)


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` at once: stdio and the log handlers flushed, then
    ``os._exit``, without the interpreter's teardown.

    The teardown collects and frees every object still alive, and a stage's caches can be
    large: after ingest at 1M posts the name redactor and its vectorised matcher (~920,000
    objects, held by the cache of ``scrub_names.vector_names``) took 1.2-1.5 s to collect and
    free after the last output was written (wall 8.66 s against 7.13 s of imports and work;
    the other stages 0.1-0.3 s). Every stage writes and closes its outputs, leaves no work on
    a thread (idle pool workers only) and closes any cluster before it returns, so nothing is
    left for the teardown to finish; the exit handler that matters (logging's) runs here. Only
    ``python -m analysis`` exits this way: :func:`main` returns as any function does, so tests
    and notebooks can call it.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
