"""The SLURM examples of examples/slurm/: the job array segments every image of its list exactly once, and
the same array submitted again resumes."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from radiounet.sky import FieldConfig, field_rng, get_survey, simulate_field
from radiounet.sky.batch import write_field

SLURM_EXAMPLES = Path(__file__).parents[1] / "examples" / "slurm"
N_IMAGES = 5

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the SLURM examples are bash scripts")


def run_array_task(image_list, out_dir, task_id, task_count, task_min=0, task_step=1, radio_unet=None):
    """Run predict_array.sh as task ``task_id`` of a SLURM array, with the venv's ``radio-unet`` on the PATH."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SLURM_")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               SLURM_ARRAY_TASK_ID=str(task_id), SLURM_ARRAY_TASK_COUNT=str(task_count),
               SLURM_ARRAY_TASK_MIN=str(task_min), SLURM_ARRAY_TASK_STEP=str(task_step))
    if radio_unet:
        env["RADIO_UNET"] = radio_unet
    result = subprocess.run(["bash", str(SLURM_EXAMPLES / "predict_array.sh"), str(image_list), str(out_dir)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def image_list(tmp_path_factory):
    """A list of five simulated 128-pixel LoTSS 6" images, with a blank line and a comment."""
    directory = tmp_path_factory.mktemp("images")
    config = FieldConfig(get_survey("lotss-dr2-6"), shape=(128, 128))
    paths = []
    for index in range(N_IMAGES):
        write_field(simulate_field(config, field_rng(seed=3, index=index)), directory, f"image_{index}",
                    quicklook=False)
        paths.append(str(directory / f"image_{index}.fits"))
    image_list = directory / "images.txt"
    image_list.write_text("\n".join(paths[:2] + ["", "# the rest"] + paths[2:]) + "\n")
    return image_list


@pytest.fixture(scope="module")
def array_outputs(image_list, tmp_path_factory):
    """The output folders of tasks 0 and 1 of an array of two, each task writing into its own."""
    out = tmp_path_factory.mktemp("array")
    for task in (0, 1):
        run_array_task(image_list, out / f"task{task}", task, 2)
    return out / "task0", out / "task1"


def predicted_stems(out_dir):
    return {path.name.removesuffix(".prob.fits") for path in Path(out_dir).glob("*.prob.fits")}


def test_every_image_is_segmented_by_exactly_one_task(array_outputs):
    first, second = (predicted_stems(out_dir) for out_dir in array_outputs)
    assert first == {"image_0", "image_2", "image_4"}
    assert second == {"image_1", "image_3"}
    for out_dir, stems in zip(array_outputs, (first, second)):
        for stem in stems:
            for suffix in (".mask.fits", ".classes.fits", ".sources.ecsv", ".reg", ".png"):
                assert (out_dir / f"{stem}{suffix}").is_file()


def test_the_same_task_again_rewrites_nothing(image_list, array_outputs):
    out_dir = array_outputs[0]
    before = {path.name: path.stat().st_mtime_ns for path in out_dir.iterdir()}
    run_array_task(image_list, out_dir, 0, 2)
    assert {path.name: path.stat().st_mtime_ns for path in out_dir.iterdir()} == before


@pytest.mark.parametrize("task_ids, task_min, task_step", [
    ([0, 1, 2], 0, 1),      # --array=0-2
    ([1, 2, 3], 1, 1),      # --array=1-3
    ([10, 14, 18], 10, 4),  # --array=10-18:4
])
def test_the_shares_cover_the_list_whatever_the_array_numbering(image_list, tmp_path, task_ids, task_min,
                                                                task_step):
    shares = []
    for task_id in task_ids:
        stdout = run_array_task(image_list, tmp_path, task_id, len(task_ids), task_min, task_step, radio_unet="echo")
        command = [line for line in stdout.splitlines() if line.startswith("predict ")]
        shares.append([word for word in command[0].split() if word.endswith(".fits")] if command else [])
    listed = [line for line in image_list.read_text().splitlines() if line and not line.startswith("#")]
    assert sorted(sum(shares, [])) == sorted(listed)
    assert [len(share) for share in shares] == [2, 2, 1]


def test_the_torchrun_example_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(SLURM_EXAMPLES / "train_torchrun.sh")], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
