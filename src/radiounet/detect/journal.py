"""The journal of a detect run: each measured cluster's row, appended as soon as it is known.

A run that is stopped (killed, out of time on a cluster node) and started
again with the same settings takes the clusters already in its journal as
they are and measures only the others. The first line records the settings
(model, aperture, threshold, beam, the network's precision); a journal
written with other settings is not used. Each row records its image's size
and modification time: a cluster whose image changed, or that another image
now holds better, is measured again. A line cut short by a kill is ignored.
"""

import json
import os
from pathlib import Path

import numpy as np

from radiounet.io.atomic import atomic_path
from radiounet.io.tables import plain_value

__all__ = ["DetectionJournal", "file_stamp"]


def file_stamp(path):
    """``[size, modification time in ns]`` of a file: what tells a journaled result that its input changed."""
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


class DetectionJournal:
    """Rows of measured clusters in a JSON-lines file.

    Parameters
    ----------
    path : str or Path
    settings : dict
        What the rows depend on; rows written with other settings are not reused.
    """

    def __init__(self, path, settings):
        self.path = Path(path)
        self.settings = {key: plain_value(value) for key, value in settings.items()}
        self.rows = self._read()

    def _read(self):
        if not self.path.is_file():
            return {}
        lines = self.path.read_text(encoding="utf-8").splitlines()
        try:
            if not lines or json.loads(lines[0]) != {"settings": self.settings}:
                return {}
        except json.JSONDecodeError:
            return {}
        rows = {}
        for line in lines[1:]:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # the last line of a killed run
                continue
            rows[row["name"]] = row
        return rows

    def get(self, row, image):
        """The journaled row of the cluster of ``row`` (same name, position, redshift and R500) measured on
        ``image`` as it is now (same path, size and modification time), or None; also None for a row journaled by
        an earlier version that lacks a column of ``row`` (measured again rather than left blank)."""
        done = self.rows.get(row["name"])
        if done is None or done.get("image") != str(image) or done.get("image_stamp") != file_stamp(image) \
                or not set(row) <= set(done):
            return None
        # The redshift too: with R500 given in arcsec, a corrected redshift changes the sizes in kpc only.
        same = all(np.isclose(done[key], row[key], equal_nan=True)
                   for key in ("ra", "dec", "z", "r500_arcsec", "r500_kpc"))
        return {key: value for key, value in done.items() if key != "image_stamp"} if same else None

    def start(self):
        """Begin the file with the settings, keeping the rows already in it that were written with them."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"settings": self.settings})] + [json.dumps(row) for row in self.rows.values()]
        with atomic_path(self.path) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def add(self, row):
        """Append one measured cluster's row (flushed to disk before returning)."""
        row = {key: plain_value(value) for key, value in row.items()}
        row["image_stamp"] = file_stamp(row["image"])
        self.rows[row["name"]] = row
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
