"""The web server of ``hepatrial serve``: gunicorn, with the app loaded once in its master
process and forked into worker processes, each serving requests on a few threads.

Why processes: one Python process runs one thread of Python at a time (the GIL). With
every request in one process, two requests at the same moment took turns in 5 ms slices,
and each database call gave the turn away again: under the load benchmark's 32
coordinators a form save's p95 was about 100 ms on SQLite and 160 ms on PostgreSQL, for
20-30 ms of work (benchmarks/README.md). In separate processes the operating system
shares the CPUs between them instead.

A worker dies with its master: a server killed outright (SIGKILL, a crash) leaves no
worker behind still holding the port or half a request.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

#: prctl(2) option: the signal this process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1
#: What stops a server (SIGTERM: gracefully; SIGINT, SIGQUIT: at once).
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})


def die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies; False where it cannot
    (not Linux). Called in each worker as it is forked."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0


def _exit_now(signum: int, frame: Any) -> None:
    os._exit(0)


def _block_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _unblock_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _in_new_worker(master: int) -> None:
    """In a worker, at once after the fork. Until the worker sets up its own signal handlers
    it has the master's, which only queue a signal for the master's loop: a server stopped
    while this worker booted would wait out the whole graceful timeout for it. So the stop
    signals are held back over the fork, and a worker that has not started serving exits on
    one; and it dies with its master."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _exit_now)
    if not die_with_parent():
        sys.stderr.write("hepatrial serve: this system cannot tie a worker's life to the server's (prctl)\n")
    elif os.getppid() != master:  # the master died before the line above
        os._exit(1)
    _unblock_stop_signals()  # one that came meanwhile is delivered now


class Server(BaseApplication):
    """gunicorn serving ``app`` (already loaded) on ``host``:``port`` with ``workers``
    processes of ``threads`` threads each."""

    def __init__(self, app: Any, *, host: str, port: int, workers: int, threads: int) -> None:
        self.app = app
        self.options = {
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "preload_app": True,  # forked from the master's app: warmed up and frozen once (hepatrial.web.wsgi)
            "timeout": 120,  # a worker whose main loop is stuck this long is replaced (its threads may take longer)
            "graceful_timeout": 30,  # SIGTERM: requests under way get this long to finish
            "keepalive": 5,
            # gunicorn trusts no X-Forwarded-* header for the scheme or the client's address; behind
            # an HTTPS proxy Django reads X-Forwarded-Proto itself (HEPATRIAL_HTTPS=1, docs/security.md)
            "forwarded_allow_ips": "",
            "control_socket_disable": True,  # (gunicorn's control socket: one path per user, shared by all servers)
            "proc_name": "hepatrial",
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.app

    def run(self) -> None:
        master = os.getpid()
        os.register_at_fork(before=_block_stop_signals, after_in_parent=_unblock_stop_signals,
                            after_in_child=lambda: _in_new_worker(master))  # fmt: skip
        super().run()
