"""Quick-look figures (matplotlib, no display needed)."""

from radiounet.plotting.quicklook import plot_field, save_field_quicklook

__all__ = ["plot_field", "save_field_quicklook"]
