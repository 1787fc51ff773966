"""Entry point of ``innerear-seg``: argparse subcommands, exit codes 0 ok, 1 runtime error,
2 usage error, 130 on Ctrl-C, 143 on SIGTERM, 129 on SIGHUP (SIGTERM and SIGHUP are handled like
Ctrl-C: partial outputs are removed before the process ends).

Each subcommand lives in its own module ``InnerEarSegLib.cli.<name>`` that defines
``add_parser(subparsers) -> argparse.ArgumentParser`` (which calls ``set_defaults(func=run)``) and
``run(args) -> int``. Heavy imports (torch, vtk) happen inside ``run`` so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys
import threading
from importlib.metadata import PackageNotFoundError, version

from ..errors import EXIT_NO_EAR, InnerEarSegError, NoEarFound
from ..progress import Cancelled

#: Subcommand name -> module under InnerEarSegLib.cli
SUBCOMMANDS = {
    "segment": "segment",
    "batch": "batch",
    "phantom": "phantom",
    "train": "train",
    "evaluate": "evaluate",
    "assess": "assess",
    "import-mpunet": "import_mpunet",
    "bench": "bench",
}


def _package_version() -> str:
    try:
        return version("InnerEarSegLib")
    except PackageNotFoundError:  # running from a source tree without installation
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="innerear-seg",
        description="Segment both inner ears (cochlea, vestibule, three canals) in temporal-bone CT.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in SUBCOMMANDS.items():
        importlib.import_module(f"{__package__}.{module}").add_parser(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that every ``finally`` and context manager cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def _termination_like_interrupt():
    """Handle SIGTERM and SIGHUP like Ctrl-C while a command runs (main thread only); restore after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {s: signal.signal(s, _raise_terminated) for s in signums}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        with _termination_like_interrupt():
            return int(args.func(args) or 0)
    except Terminated as exc:
        print(f"innerear-seg: stopped by {exc}; no partial outputs were kept", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("innerear-seg: interrupted; no partial outputs were kept", file=sys.stderr)
        return 130
    except Cancelled as exc:
        print(f"innerear-seg: {exc}; no partial outputs were kept", file=sys.stderr)
        return 130
    except NoEarFound as exc:
        print(f"innerear-seg {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_NO_EAR
    except InnerEarSegError as exc:
        print(f"innerear-seg {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
