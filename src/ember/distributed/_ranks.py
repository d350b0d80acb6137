"""What a launcher sees of the ranks it started: their reports, their exits, and which one to name.

A spawned rank reports (its value, its exception, or its exit status) before it exits. When one
fails, the others usually fail next in a collective that lost its peer; this module decides which
failure is the cause: a rank that died without a word (killed, segfaulted, ``os._exit``) before
its peers' "Connection reset by peer", the rank that raised first otherwise, and, for a collective
that timed out, the ranks that never reached it.
"""

from __future__ import annotations

import datetime
import logging
import multiprocessing.connection
import pickle
import re
import signal
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from torch.multiprocessing.spawn import ProcessExitedException, ProcessRaisedException

logger = logging.getLogger("ember.distributed.launch")

# How long a collective waits for the other ranks in a job that Parallel or spawn starts or joins, unless
# timeout= says otherwise. torch's own default (30 minutes for gloo) leaves a stuck job hanging for half an
# hour; 10 minutes (torch's default for NCCL) still covers a rank-0 download behind a barrier.
_DEFAULT_TIMEOUT = datetime.timedelta(minutes=10)

# What a rank's error says when it failed only because a peer left: the peer is the one to report.
_PEER_LOST = re.compile(r"connection (closed|reset) by peer|broken pipe|connection refused|socket closed", re.I)
# What it says when a collective waited past the timeout: the ranks that never arrived are to be named.
_TIMED_OUT = re.compile(r"timed out|timeout", re.I)
# How long the launcher waits for the rest of the picture once a rank reported one of those errors.
_SETTLE_SECONDS = 3.0


class RankRaisedError(ProcessRaisedException):
    """A spawned rank raised: carries that rank's exception type, message and formatted traceback.

    It is torch's :class:`~torch.multiprocessing.ProcessRaisedException` (what ignite's launcher
    raises), with the failing rank named. When one rank fails, the others usually fail next because
    their peer left ("Connection closed by peer"); the launcher reports the rank that failed first.
    ``note`` is what the launcher adds from what it saw of the other ranks (e.g. which ranks never
    reached a collective that timed out); it is empty when there is nothing to add.
    """

    def __init__(
        self, rank: int, pid: int, exception_type: str, message: str, remote_traceback: str, note: str = ""
    ) -> None:
        self.rank = rank
        self.exception_type = exception_type
        self.exception_message = message
        self.remote_traceback = remote_traceback
        self.pid = pid
        self.note = note
        text = f"Rank {rank} (pid {pid}) raised {exception_type}: {message}\n"
        if note:
            text += f"{note}\n"
        text += f"\nTraceback in rank {rank}:\n"
        super().__init__(text + remote_traceback, rank, pid)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.rank, self.pid, self.exception_type, self.exception_message, self.remote_traceback, self.note),
        )


# Raised to users as ember.distributed.launch.RankRaisedError, the path the documentation gives.
RankRaisedError.__module__ = "ember.distributed.launch"


def _name_of(function: Callable[..., Any]) -> str:
    return str(getattr(function, "__qualname__", None) or type(function).__name__)


class _Ranks:
    """The launcher's view of the processes it started: what each reported and how each ended.

    A rank reports (its value, its error, or its exit status) before it exits, so a rank that
    exits with a failure and without a report died without a word: killed, segfaulted, or
    ``os._exit``. Its peers then fail in their next collective ("Connection reset by peer") and
    report that; the dead rank is the one to name, so the exit codes are judged before those reports.
    """

    def __init__(self, processes: Sequence[Any], reports: Any, first_rank: int, timeout: datetime.timedelta) -> None:
        self.processes = processes
        self.reports = reports
        self.first_rank = first_rank
        self.timeout = timeout
        self.values: dict[int, Any] = {}
        self.reported: set[int] = set()
        self.pending: list[tuple[Any, ...]] = []

    def wait(self, seconds: float, processes: Sequence[Any] | None = None) -> None:
        sentinels = [process.sentinel for process in (self.processes if processes is None else processes)]
        multiprocessing.connection.wait([*sentinels, self.reports._reader], timeout=seconds)

    def _drain(self) -> None:
        """Move the reports waiting in the pipe to ``pending``, noting which ranks have reported."""
        while not self.reports.empty():
            report = self.reports.get()
            self.reported.add(report[1] - self.first_rank)
            self.pending.append(report)

    def _died_without_report(self) -> int | None:
        for local_rank, process in enumerate(self.processes):
            if process.exitcode not in (None, 0) and local_rank not in self.reported:
                return local_rank
        return None

    def step(self) -> BaseException | None:
        """Take in what happened since the last step; the failure to raise, if one is known now."""
        self._drain()
        dead = self._died_without_report()
        if dead is not None:
            return _exit_without_report(self.first_rank + dead, self.processes[dead])
        while self.pending:
            kind, rank, pid, *rest = self.pending.pop(0)
            if kind == "ok":
                self.values[rank - self.first_rank] = pickle.loads(rest[0])
            elif kind == "exit":
                # e.g. PreemptionHandler's status 75 on every rank: this process exits with it too
                logger.warning("Rank %d (pid %d) exited with status %r; stopping the job.", rank, pid, rest[0])
                return SystemExit(rest[0])
            else:
                return self._judge_error(rank, pid, *rest)
        return None

    def _judge_error(self, rank: int, pid: int, exception_type: str, message: str, remote: str) -> BaseException:
        if _PEER_LOST.search(message):
            # The peer this rank lost may have died without a word an instant ago: give its exit a moment to show.
            deadline = time.monotonic() + _SETTLE_SECONDS
            while time.monotonic() < deadline:
                self._drain()
                dead = self._died_without_report()
                if dead is not None:
                    lost = f"Rank {rank} then lost its connection to it ({exception_type}: {message.strip()[:300]})."
                    return _exit_without_report(self.first_rank + dead, self.processes[dead], lost)
                silent = [p for local, p in enumerate(self.processes) if local not in self.reported]
                if not any(process.is_alive() for process in silent):
                    break
                self.wait(deadline - time.monotonic(), silent)
        elif _TIMED_OUT.search(message):
            return RankRaisedError(rank, pid, exception_type, message, remote, self._stragglers_note())
        return RankRaisedError(rank, pid, exception_type, message, remote)

    def _stragglers_note(self) -> str:
        """Which ranks never reached the collective that timed out: those still running without a report."""
        deadline = time.monotonic() + _SETTLE_SECONDS
        while time.monotonic() < deadline:
            self._drain()
            silent = [p for local, p in enumerate(self.processes) if local not in self.reported and p.is_alive()]
            if not silent:
                return ""
            self.wait(deadline - time.monotonic(), silent)
        stuck = [
            self.first_rank + local
            for local, process in enumerate(self.processes)
            if local not in self.reported and process.is_alive()
        ]
        if not stuck:
            return ""
        seconds = self.timeout.total_seconds()
        return (
            f"Rank(s) {stuck} never reached that collective within the timeout of {seconds:g} s: they were still "
            "running elsewhere (stuck in a loop or a long computation, or waiting in a collective that the other ranks "
            "never call, e.g. one inside code that only some ranks run), and were stopped. Make every rank call the "
            "same collectives in the same order; if the wait was legitimate, pass a longer timeout, e.g. "
            "Parallel(..., timeout=3600)."
        )

    def warn_about_exits(self) -> None:
        """After a successful job: say so when a rank finished its work but then died (e.g. aborted at exit)."""
        for local_rank, process in enumerate(self.processes):
            if process.exitcode not in (None, 0):
                how = _exit_description(process.exitcode)
                warnings.warn(
                    f"Rank {self.first_rank + local_rank} (pid {process.pid}) returned its result, then {how} while "
                    "exiting. The results are complete; the crash happened during its shutdown.",
                    RuntimeWarning,
                    stacklevel=4,
                )


def _exit_description(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


_SIGNAL_CAUSES = {
    "SIGABRT": "SIGABRT usually means native code aborted it: the backend, when ranks passed tensors of different "
    "sizes to one collective (set TORCH_DISTRIBUTED_DEBUG=DETAIL to have the mismatch named).",
    "SIGKILL": "SIGKILL usually means it ran out of memory (the kernel's OOM killer), or something killed it.",
    "SIGSEGV": "SIGSEGV means it crashed in native code (an extension, or memory used after it was freed); the "
    "Python traceback printed on its stderr shows where.",
}


def _exit_without_report(rank: int, process: Any, then: str = "") -> ProcessExitedException:
    code = process.exitcode
    tail = f" {then}" if then else ""
    if code < 0:
        name = signal.Signals(-code).name
        cause = _SIGNAL_CAUSES.get(name, "")
        text = f"Rank {rank} (pid {process.pid}) was killed by {name} before it could report an error.{tail} {cause}"
        return ProcessExitedException(
            text.rstrip(),
            rank,
            process.pid,
            code,
            name,
        )
    return ProcessExitedException(
        f"Rank {rank} (pid {process.pid}) exited with status {code} without reporting an error (os._exit, or a "
        f"library that ended the process).{tail}",
        rank,
        process.pid,
        code,
    )
