"""Re-create the bundled example field (examples/simulated_cluster.*).

    python examples/make_example.py

A 1024x1024 LoTSS-DR2 6" field of a cluster at z = 0.117 with a faint radio halo (2 x rms),
a relic, a 720 kpc head-tail radio galaxy and a small wide-angle tail: field 7 of seed 2026
of the configuration below.
"""

from pathlib import Path

from radiounet.sky import FieldConfig, SkyConfig, field_rng, get_survey, simulate_field
from radiounet.sky.batch import write_field

config = FieldConfig(get_survey("lotss-dr2-6"), shape=(1024, 1024),
                     sky=SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, redshift=(0.1, 0.25),
                                   halo_snr=(2, 5), relic_snr=(4, 10)))
field = simulate_field(config, field_rng(2026, 7))
here = Path(__file__).parent
write_field(field, here, "simulated_cluster")
(here / "simulated_cluster.labels.fits").unlink()
