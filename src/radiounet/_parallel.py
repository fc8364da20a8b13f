"""Run independent jobs in worker processes with a progress bar."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed

from tqdm import tqdm

__all__ = ["run_jobs"]


def run_jobs(function, jobs, workers, *, total, done, unit, desc, progress=True):
    """Call ``function(*job)`` for every job, in ``workers`` processes (1: in this process).

    ``total`` and ``done`` set the progress bar, so a resumed run shows the
    jobs finished earlier. The first failing job's exception is raised after
    the pending jobs are cancelled.
    """
    with tqdm(total=total, initial=done, unit=unit, desc=desc, disable=not progress) as bar:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
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
