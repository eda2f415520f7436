"""The Galactic-centre page's tables of the source notebooks' numberless scans, from records."""

from kzoo.experiments import get_experiment
from kzoo.families.gc.page import gc_scans_section


def record(name, metrics, val=None):
    return {"experiment": get_experiment(name).to_dict(), "metrics": metrics, "epochs_run": 3,
            "validation": {"val_loss": val} if val else None, "settings": {"precision": "float32"},
            "machine": {"cpu": "AMD EPYC"}}


def test_the_latent_and_cut_factor_scans_are_tables_in_order_of_the_scanned_value():
    seg = {a: {"auc_mean": 0.9, "accuracy_mean": 0.8} for a in ("A", "B")}
    records = [record("gc-dae-gaussian-latent10", {"denoised": {"mse": 0.0016}}, 0.0015),
               record("gc-dae-gaussian", {"denoised": {"mse": 0.0014}}, 0.0013),
               record("gc-ps-unet-cut120", seg), record("gc-ps-unet", seg), record("gc-dm", {"A_dm": {}})]
    text = "\n".join(gc_scans_section(records))
    assert text.index("| 6 | [gc-dae-gaussian]") < text.index("| 10 | [gc-dae-gaussian-latent10]")
    assert "| 0.001400 | 0.001300 | 3 | float32 | AMD EPYC |" in text
    assert text.index("| 108 % | [gc-ps-unet]") < text.index("| 120 % | [gc-ps-unet-cut120]")
    assert gc_scans_section(records[-1:]) == []  # no scan recorded: no table
