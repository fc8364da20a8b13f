import matplotlib.image as mpimg

from radiounet.plotting import save_field_quicklook
from radiounet.sky import field_rng, simulate_field


def test_quicklook_png_is_written(tmp_path, nearby_diffuse_config):
    field = simulate_field(nearby_diffuse_config, field_rng(1, 0))
    path = tmp_path / "f.png"
    save_field_quicklook(field, path)
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 400 and pixels.shape[1] > 400
    # Not a blank canvas: the image area varies.
    assert pixels[..., :3].std() > 0.05


def test_importing_the_plotting_modules_leaves_the_users_matplotlib_backend_alone():
    # A notebook's backend must survive `import radiounet...`: the figures are drawn without pyplot.
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); "
            "import radiounet.cli, radiounet.plotting, radiounet.detect.report, radiounet.evaluate.curves, "
            "radiounet.inference.outputs, radiounet.evaluate.injection; print(matplotlib.get_backend())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "svg"
