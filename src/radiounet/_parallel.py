"""Run independent jobs in worker processes with a progress bar."""

import multiprocessing
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager

from tqdm import tqdm

from radiounet.errors import Terminated

__all__ = ["run_jobs"]


def run_jobs(function, jobs, workers, *, total, done, unit, desc, progress=True):
    """Call ``function(*job)`` for every job, in ``workers`` processes (1: in this process).

    ``total`` and ``done`` set the progress bar, so a resumed run shows the
    jobs finished earlier. The first failing job's exception is raised after
    the pending jobs are cancelled.
    """
    with tqdm(total=total, initial=done, unit=unit, desc=desc, disable=not progress) as bar:
        if workers == 1 or len(jobs) <= 1:
            with _interrupt_between_jobs() as check:
                for k, job in enumerate(jobs):
                    if k:
                        check()
                    function(*job)
                    bar.update()
            return
        # fork needs no importable __main__ (scripts without a main guard, stdin, notebooks).
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
            futures = [pool.submit(function, *job) for job in jobs]
            try:
                for future in as_completed(futures):
                    future.result()
                    bar.update()
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise


@contextmanager
def _interrupt_between_jobs():
    """Let Ctrl-C (and the command line's SIGTERM) stop a run of jobs after the job in progress.

    Raised inside a job, the interrupt can land in a callback (a weak reference's, as h5py's objects die), where
    Python prints it, drops it, and the run went on. So the first signal is noted (and said) and raised by the
    check the loop calls between jobs; a second one is raised at once. Yields that check.
    """
    received = []

    def check():
        if received:
            raise received[0]

    deferred = {}
    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            deferred[signal.SIGINT] = KeyboardInterrupt
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
            deferred[signal.SIGTERM] = Terminated  # the command line's: its handler raises it

    def note(signum, frame):
        if received:
            raise received[0]
        received.append(deferred[signum])
        print("\nradio-unet: stopping after the job in progress (again to stop at once)", file=sys.stderr)

    previous = {signum: signal.signal(signum, note) for signum in deferred}
    try:
        yield check
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
