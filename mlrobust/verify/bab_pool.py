"""One branch and bound on several cores: one process per sub-tree of the search.

Measured on this project's 2-core machines (``benchmarks/bab_threads.py``): two torch threads
bound ~1.2-1.5x the domains per second of one, because the batched passes are too small to
share well, while two single-thread processes searching side by side reach ~2x. So the open
domains are shared out: the calling process keeps one share and each helper process searches
another, all in lock-step rounds (:meth:`mlrobust.verify.bab._Search.step`). Between rounds a
search that ran empty takes half of the domains of the one with most (every other one in bound
order), so the shares stay busy until the whole box is closed.

The helpers never decide anything alone: a corner or LP optimum they find is sent to the calling
process, which re-checks it on the real model (the ``check`` it was given) and answers. Their
bounds come back as :class:`mlrobust.verify.bab._Tally`, summed with the caller's. A helper that
dies leaves its domains unclosed: the search then reports their last bound and cannot claim a
proof.

Helpers are fresh interpreters (``python -m mlrobust.verify.bab_pool``, talking over a socket
pair: forking a process that runs torch's thread pools can deadlock, and multiprocessing's spawn
would re-import the caller's script), started by :func:`start_helpers` (the verifier
calls it once the probe has left a spec open, or before its attack when there is no probe) or
else the first time a search has run
``BaBConfig.parallel_after_s``, and kept for later searches of the same process. Each imports
torch once (~3 s of one core), so no search waits for them: until a helper is ready the
calling process searches alone, and a search shares its domains only once it has run
``parallel_after_s`` (short searches are not worth the transfer). Domains travel as numpy
arrays (pickled by value); the network, bounds and clause are sent once per search.

The same helpers share the verifier's MIP refinement of intermediate bounds
(:func:`tighten_elsewhere`): per layer each process solves every P-th unstable neuron's MIPs
and the calling process takes the tighter of each bound; a helper that dies leaves its neurons'
bounds as they were (still sound), and one whose caller is gone stops between neurons.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import torch

from mlrobust.errors import SolverError
from mlrobust.verify.bab import Checker, Hit, _Bounder, _Domains, _Search, _Tally
from mlrobust.verify.bounds import LayerBounds
from mlrobust.verify.ir import Network
from mlrobust.verify.milp import TighteningConfig, tighten_neurons

log = logging.getLogger(__name__)


def search_in_parallel(
    local: _Search, setup: tuple[Any, ...], deadline: float
) -> tuple[Hit | None, _Tally, int]:
    """Run ``local`` (the whole search so far) with up to ``config.processes - 1`` helpers.
    ``setup``: ``(net, bounds, clause, config)``, what a helper needs to bound domains.
    Returns a re-checked counterexample (or None), the summed tally of all shares and the
    number of processes that searched a share."""
    config = local.config
    wanted = config.processes - 1
    local.cap = max(2 * config.batch, local.cap // config.processes)  # same memory in all
    started = time.monotonic()
    helpers: list[_Helper] = []
    joined: list[_Helper] = []
    payload = b""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core per process
    hit: Hit | None = None

    def shares() -> list[Any]:
        return [local, *(h for h in joined if not h.dead)]

    try:
        while time.monotonic() <= deadline:
            if any(s.capped for s in shares()) or not any(len(s) for s in shares()):
                break
            if time.monotonic() - started >= config.parallel_after_s and len(joined) < wanted:
                helpers = helpers or _helpers(wanted)  # replaces dead ones once per search
                for helper in helpers:
                    if helper not in joined and helper.is_ready():
                        payload = payload or pickle.dumps(setup)
                        helper.start_search(payload, local.cap)
                        joined.append(helper)
            _rebalance(shares(), config.batch)
            busy = [h for h in joined if len(h)]
            for helper in busy:  # time.monotonic is system-wide: one deadline for all
                helper.send(("round", deadline))
            hit = local.step(deadline)
            for helper in busy:
                found = helper.finish_round(local.check)
                hit = hit or found
            if hit is not None:
                break
    except BaseException:
        for helper in joined:  # possibly mid-round: not reusable
            helper.stop()
        raise
    finally:
        torch.set_num_threads(threads)
    for helper in joined:
        helper.end_search()
    tally = local.tally()
    for helper in joined:
        tally = tally + helper.tally
    return hit, tally, 1 + sum(h.searched for h in joined)


def start_helpers(count: int) -> None:
    """Start ``count`` helpers now without waiting for them (they import torch meanwhile), so
    that a search starting a few seconds later finds them ready."""
    _helpers(count)


def warm_up(count: int, timeout_s: float = 60.0) -> int:
    """Start ``count`` helpers now and wait until they are ready (or ``timeout_s``): later
    searches then share their domains from the first round. Returns how many are ready."""
    end = time.monotonic() + timeout_s
    helpers = _helpers(count)
    while not all(h.is_ready() or h.dead for h in helpers) and time.monotonic() < end:
        time.sleep(0.05)
    return sum(h.ready and not h.dead for h in helpers)


def tighten_elsewhere(
    net: Network,
    bounds: LayerBounds,
    k: int,
    unstable: list[int],
    relax: bool,
    config: TighteningConfig,
    deadline: float,
) -> list[tuple[_Helper, list[int]]]:
    """Hand every P-th neuron of ``unstable`` (P: the helpers ready now, plus the calling
    process) to a helper, to tighten with :func:`mlrobust.verify.milp.tighten_neurons` while the
    calling process tightens its own share (the neurons from index 0 on). Returns each helper
    that took a share with its neurons; :meth:`_Helper.collect_bounds` reads its answer."""
    ready = [h for h in _helpers(config.processes - 1) if h.is_ready()]
    count = 1 + len(ready)
    log.debug("tightening node %d: %d neurons over %d processes", k, len(unstable), count)
    shares = [(helper, unstable[p::count]) for p, helper in enumerate(ready, start=1)]
    for helper, neurons in shares:
        helper.send(("tighten", pickle.dumps((net, bounds, k, neurons, relax, config, deadline))))
    return shares


def _rebalance(shares: list[Any], batch: int) -> None:
    """Give each empty share half of the fullest one's domains, when that one has more than one
    round's worth (a smaller share is done in a round anyway)."""
    for share in shares:
        if len(share) or share.capped:
            continue
        richest = max(shares, key=len)
        if len(richest) <= batch:
            return
        given = richest.give(len(richest) // 2)
        if given is not None:
            share.add(given)


class _Helper:
    """The calling process's handle on one helper process, and that helper's current share."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # the caller's stdout may be parsed (sat/unsat lines)
            env=env,
        )
        theirs.close()
        self.conn = Connection(mine.detach())
        self.ready = False
        self.dead = False
        self.tally = _Tally()  # its share as last reported (or as handed over since)
        self.searched = False  # was given domains in the current search

    def __len__(self) -> int:
        return self.tally.open

    @property
    def capped(self) -> bool:
        return self.tally.capped

    def is_ready(self) -> bool:
        if not self.ready and not self.dead:
            try:
                if self.conn.poll():
                    self.ready = self.conn.recv() == ("ready",)
            except (EOFError, OSError):
                self._died()
        return self.ready

    def send(self, msg: tuple[Any, ...]) -> None:
        try:
            self.conn.send(msg)
        except OSError:
            self._died()

    def start_search(self, payload: bytes, cap: int) -> None:
        self.tally, self.searched = _Tally(), False
        self.send(("setup", payload, cap))

    def end_search(self) -> None:
        self.send(("drop",))

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.dead = True

    def add(self, dom: _Domains) -> None:
        self.searched = True
        self.send(("add", _pack(dom)))
        # until its next report, account for the domains as open with their bounds
        self.tally = self.tally + _Tally(open=len(dom), bound=float(dom.ub.max()))

    def give(self, count: int) -> _Domains | None:
        self.send(("give", count))
        kind, body = self._recv(None)
        if kind != "domains":
            return None  # died: its domains count as stuck
        dom = _unpack(body)
        self.tally = replace(self.tally, open=self.tally.open - len(dom))
        return dom

    def collect_bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Its tightened share's lower and upper bounds, or None when it died meanwhile."""
        kind, body = self._recv(None)
        return body if kind == "tightened" else None

    def finish_round(self, check: Checker) -> Hit | None:
        """Wait for the round's report, answering the helper's re-check requests meanwhile."""
        kind, body = self._recv(check)
        if kind != "done":
            return None  # died during the round
        self.tally, hit = body
        return None if hit is None else (torch.from_numpy(hit[0]), hit[1])

    def _recv(self, check: Checker | None) -> tuple[str, Any]:
        while not self.dead:
            try:
                kind, body = self.conn.recv()
            except (EOFError, OSError):
                self._died()
                break
            if kind == "error":
                raise RuntimeError(f"branch-and-bound helper process failed:\n{body}")
            if kind == "check" and check is not None:
                out = check(body)
                self.send(("checked", None if out is None else (out[0].numpy(), out[1])))
                continue
            return kind, body
        return "dead", None

    def _died(self) -> None:
        global _START_FAILED
        if not self.ready and not self.dead:
            _START_FAILED = True
            log.warning(
                "a branch-and-bound helper process exited before it was ready (code %s, its "
                "error above); this process searches alone from now on",
                self.proc.poll(),
            )
        elif not self.dead:
            log.warning(
                "a branch-and-bound helper process exited (code %s); its %d open domains stay "
                "unclosed, so this search cannot prove the clause",
                self.proc.poll(),
                self.tally.open,
            )
        self.dead = True
        # its domains are neither closed nor searched any more: they count as stuck
        self.tally = replace(self.tally, open=0, stuck=self.tally.stuck + self.tally.open)


_HELPERS: list[_Helper] = []
_START_FAILED = False  # a helper could not start: do not spawn more that fail the same way


def _helpers(count: int) -> list[_Helper]:
    """The process's helpers (spawned on first use, kept for later searches; dead ones
    replaced), none once one failed to start."""
    if _START_FAILED:
        return []
    _HELPERS[:] = [h for h in _HELPERS if not h.dead]
    while len(_HELPERS) < count:
        _HELPERS.append(_Helper())
    return _HELPERS[:count]


def _serve(conn: Connection) -> None:
    """A helper's loop: bound the share it is given, one round per request."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the calling process handles Ctrl-C
    torch.set_num_threads(1)
    conn.send(("ready",))
    search: _Search | None = None
    parent = os.getppid()

    def orphaned() -> bool:  # the calling process is gone (e.g. killed mid-tightening)
        return os.getppid() != parent

    def check(x: np.ndarray) -> Hit | None:
        conn.send(("check", x))
        kind, out = conn.recv()
        assert kind == "checked"
        return None if out is None else (torch.from_numpy(out[0]), out[1])

    while True:
        try:
            kind, *body = conn.recv()
        except (EOFError, OSError):
            return  # the calling process is gone
        try:
            if kind == "setup":
                net, bounds, clause, config = pickle.loads(body[0])
                search = _Search(_Bounder(net, bounds, clause), check, config, body[1])
            elif kind == "drop":
                search = None
            elif kind == "add":
                assert search is not None
                search.add(_unpack(body[0]))
            elif kind == "give":
                assert search is not None
                conn.send(("domains", _pack(search.give(body[0]))))
            elif kind == "tighten":
                net, bounds, k, neurons, relax, tcfg, deadline = pickle.loads(body[0])
                try:
                    out = tighten_neurons(net, bounds, k, neurons, relax, tcfg, deadline, orphaned)
                except SolverError:  # the caller's own share fails the same way and says so
                    out = (bounds.lower[k][neurons].numpy(), bounds.upper[k][neurons].numpy())
                conn.send(("tightened", out))
            elif kind == "round":
                assert search is not None
                hit = search.step(body[0])
                found = None if hit is None else (hit[0].numpy(), hit[1])
                conn.send(("done", (search.tally(), found)))
        except Exception:
            try:
                conn.send(("error", traceback.format_exc()))
            except OSError:
                return  # the calling process is gone (it was killed mid-round)


def _pack(dom: _Domains) -> tuple[Any, ...]:
    as_np = [[t.detach().numpy() for t in ts] for ts in (dom.splits, dom.alpha, dom.beta)]
    return (*as_np, dom.ub.numpy(), dom.branch.numpy())


def _unpack(body: tuple[Any, ...]) -> _Domains:
    splits, alpha, beta, ub, branch = body
    return _Domains(
        [torch.from_numpy(a) for a in splits],
        [torch.from_numpy(a) for a in alpha],
        [torch.from_numpy(a) for a in beta],
        torch.from_numpy(ub),
        torch.from_numpy(branch),
    )


if __name__ == "__main__":  # a helper: python -m mlrobust.verify.bab_pool FD
    _serve(Connection(int(sys.argv[1])))
