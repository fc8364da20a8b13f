"""Run independent jobs in worker processes with a progress bar."""

import itertools
import multiprocessing
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field

from tqdm import tqdm

from radiounet.errors import Terminated

__all__ = ["run_jobs"]


def run_jobs(function, jobs, workers, *, total, done, unit, desc, progress=True):
    """Call ``function(*job)`` for every job, in ``workers`` processes (1: in this process).

    ``total`` and ``done`` set the progress bar, so a resumed run shows the
    jobs finished earlier. The first failing job's exception is raised after
    the pending jobs are cancelled. Ctrl-C (or the command line's SIGTERM)
    stops the run after the jobs in progress; a second Ctrl-C stops them too.
    """
    with tqdm(total=total, initial=done, unit=unit, desc=desc, disable=not progress) as bar:
        if workers == 1 or len(jobs) <= 1:
            with _interrupt_between_jobs() as stop:
                for k, job in enumerate(jobs):
                    if k:
                        stop.check()
                    function(*job)
                    bar.update()
            return
        # fork needs no importable __main__ (scripts without a main guard, stdin, notebooks).
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        with _interrupt_between_jobs(many=True) as stop, ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context(method),
                initializer=_worker_signals, initargs=(tuple(stop.deferred),)) as pool:
            waiting = iter(jobs)
            running = set()
            try:
                # One job per worker at a time: the pool would queue one more, which no signal could hold back.
                for job in itertools.islice(waiting, workers):
                    running.add(pool.submit(_run_in_worker, function, *job))
                while running:
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        future.result()
                        bar.update()
                        job = None if stop.received else next(waiting, None)
                        if job is not None:
                            running.add(pool.submit(_run_in_worker, function, *job))
                if next(waiting, None) is not None:
                    stop.check()  # stopped with jobs left
            except BaseException:
                pool.shutdown(cancel_futures=True)  # the jobs in progress end first
                stop.check()  # a signal noted: its exception, not what the stopping workers raised
                raise


#: In a worker process: whether it is running a job (:func:`_run_in_worker`).
_in_job = False


def _run_in_worker(function, *job):
    global _in_job
    _in_job = True
    try:
        return function(*job)
    finally:
        _in_job = False


def _worker_signals(deferred):
    """A worker's handlers for the signals its parent defers (``deferred``).

    Ctrl-C in a terminal reaches every process of the run: the first lets the job in progress end (the parent
    gives out no more), a second stops it; between jobs the parent does the stopping. SIGTERM (a batch system's
    time limit reaches every process too, the pool sends it to stop its workers) ends a worker at once.
    """
    pressed = []

    def interrupt(signum, frame):
        if pressed and _in_job:
            raise KeyboardInterrupt
        pressed.append(signum)

    for signum in deferred:
        signal.signal(signum, interrupt if signum == signal.SIGINT else signal.SIG_DFL)


@dataclass
class _Stop:
    """What :func:`_interrupt_between_jobs` yields: the signals it defers and the check of the loop."""

    deferred: dict
    received: list = field(default_factory=list)

    def check(self):
        """Raise the exception of the signal received, if any."""
        if self.received:
            raise self.received[0]


@contextmanager
def _interrupt_between_jobs(many=False):
    """Let Ctrl-C (and the command line's SIGTERM) stop a run of jobs after the job in progress (``many``: the
    jobs in progress).

    Raised inside a job, the interrupt can land in a callback (a weak reference's, as h5py's objects die), where
    Python prints it, drops it, and the run went on. So the first signal is noted (and said) and raised by the
    check the loop calls between jobs; a second one is raised at once. Yields a :class:`_Stop`.
    """
    stop = _Stop({})
    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            stop.deferred[signal.SIGINT] = KeyboardInterrupt
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
            stop.deferred[signal.SIGTERM] = Terminated  # the command line's: its handler raises it

    def note(signum, frame):
        stop.check()
        stop.received.append(stop.deferred[signum])
        print(f"\nradio-unet: stopping after the {'jobs' if many else 'job'} in progress (again to stop at once)",
              file=sys.stderr)

    previous = {signum: signal.signal(signum, note) for signum in stop.deferred}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
