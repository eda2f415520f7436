"""Pretrained presets: shipped weights verified and usable, and the way a preset is made from a reproduce run."""

import json
import re
import shutil

import numpy as np
import pytest

import kzoo
from kzoo.cli import main
from kzoo.presets import PRESET_DIR, PresetError, add_preset, list_presets, manifest, preset_file


def test_every_shipped_preset_matches_its_manifest_and_card():
    entries = manifest()
    assert {"gc-dm", "gc-dm-nps", "gc-dae-gaussian"} <= set(entries)
    for name, e in entries.items():
        assert preset_file(name).stat().st_size == e["bytes"]
        assert (PRESET_DIR / e["card"]).exists() and e["train_commit"] and e["license"].startswith("MIT")
        # the same numbers as results/: the reproduce record of the experiment
        record = json.loads((PRESET_DIR.parent.parent / e.get("record", f"results/{e['experiment']}.json")).read_text())
        assert record["metrics"] == e["test_metrics"] and record.get("also_on") == e.get("also_on"), name
        card = (PRESET_DIR / e["card"]).read_text()
        for figure in re.findall(r"\]\(([^)]+\.png)\)", card):  # every plot the card shows ships beside it
            assert (PRESET_DIR / "cards" / figure).exists(), (name, figure)
    # a preset of more than ~5 MB is stored as float16 (presets add --half), and none is over 10 MB
    assert all(e["bytes"] < 6e6 or e.get("stored_as") == "float16" and e["bytes"] < 10e6 for e in entries.values())
    total = sum(e["bytes"] for e in entries.values())
    assert total < 40e6  # the package stays reasonable: nine families of presets in 40 MB


def test_the_gc_dm_preset_measures_dark_matter_on_fresh_maps(tmp_path):
    """A real check: maps it never saw, simulated with another seed, predicted from raw counts."""
    from kzoo.data import write_shards
    from kzoo.data.reader import load_arrays

    write_shards("galactic_center", tmp_path / "d", n=60, seed=123, shards=1, workers=1, progress=False)
    x, y = load_arrays(tmp_path / "d", "test", inputs="counts", targets=["A_dm"])
    model = kzoo.build("gc_cnn", weights="gc-dm")
    assert model.count_params() == manifest()["gc-dm"]["parameters"]
    mae = float(np.mean(np.abs(model.predict(x, verbose=0)[:, 0] - y[:, 0])))
    assert mae < 0.2  # the preset's test MAE is 0.0875; an untrained network is ~0.25-0.5
    np.save(tmp_path / "m.npy", x[0, ..., 0])
    from kzoo.predict import predict

    res = predict("gc-dm", [tmp_path / "m.npy"])
    assert res["targets"] == ["A_dm"] and abs(res["predictions"][str(tmp_path / "m.npy")][0] - y[0, 0]) < 0.5


def test_the_unet_preset_finds_point_sources_in_fresh_maps_and_writes_its_map(tmp_path, capsys):
    """kzoo predict with a model whose output is an image: the map goes to a file, and it finds the sources."""
    from kzoo.metrics import roc_auc
    from kzoo.families.gc import sky as galactic_center

    sim = galactic_center.simulate(np.random.default_rng(321), 4)  # the seed's sky, maps the preset never saw
    files = []
    for i in range(4):
        files.append(tmp_path / f"m{i}.npy")
        np.save(files[-1], sim["counts"][i])
    assert main(["predict", "gc-ps-unet", *map(str, files), "--out", str(tmp_path / "maps")]) == 0
    assert "ps_flux image (transform per_image_max)" in capsys.readouterr().out
    prob = np.stack([np.load(tmp_path / "maps" / f"m{i}.ps_flux.npy") for i in range(4)])
    assert prob.shape == (4, 64, 64) and prob.min() >= 0 and prob.max() <= 1
    truth = sim["ps_flux"] / sim["ps_flux"].max(axis=(1, 2), keepdims=True) > 0.02  # the seed's evaluation A cut
    assert roc_auc(truth.ravel(), prob.ravel()) > 0.85  # the preset's test AUC (A) is 0.91


def test_a_preset_with_scaled_targets_predicts_physical_units(tmp_path, capsys):
    np.save(tmp_path / "m.npy", np.full((64, 64), 30.0, np.float32))
    assert main(["predict", "gc-dm-nps", str(tmp_path / "m.npy"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    a_dm, n_ps = out["predictions"][str(tmp_path / "m.npy")]
    assert out["targets"] == ["A_dm", "n_ps_gc+n_ps_disk"] and n_ps > 10  # a count, not a number in [0, 1]


def test_the_deep_svdd_preset_scores_spirals_above_ellipticals_and_labels_their_zones(tmp_path):
    """The one-class preset on galaxies it never saw (another seed): its run's zones travel with it."""
    from kzoo.families.svdd.sky import simulate
    from kzoo.predict import predict

    paths = {}
    for k, cls in ((1, "elliptical"), (2, "spiral")):
        images = simulate(np.random.default_rng(123), 10, classes=(k, k))["image"]
        paths[cls] = [tmp_path / f"{cls}{i}.npy" for i in range(len(images))]
        for p, img in zip(paths[cls], images):
            np.save(p, img)
    out = predict("svdd-elliptical-oneclass-bin2", paths["elliptical"] + paths["spiral"])
    assert out["targets"] == ["anomaly_score", "zone_label"] and len(out["zones"]["thresholds"]) == 4
    score = {c: np.array([out["predictions"][str(p)] for p in ps]) for c, ps in paths.items()}
    assert np.median(score["spiral"][:, 0]) > 2 * np.median(score["elliptical"][:, 0])
    assert score["spiral"][:, 1].mean() > score["elliptical"][:, 1].mean()


def test_the_spectra_preset_draws_an_old_galaxys_4000_angstrom_break(capsys):
    """The card's usage line works: spectra generated for an old and a young galaxy; the old one's flux below 4000 A
    is a fraction of its flux above, more so than the young one's. kzoo predict refuses it in one line."""
    from kzoo.families.spectra.sky import rest_grid
    from kzoo.data.recipes import load_recipe

    model = kzoo.load("spectra-wgan-gaussian")
    s = model.generate([[11.0, 0.02, 11.0, 0.1], [0.3, 0.02, 9.0, 0.1]], seed=0)[..., 0]
    wave = rest_grid(load_recipe("spectra")["params"])
    assert s.shape == (2, len(wave)) and np.isfinite(s).all()
    blue, red = (wave > 3750) & (wave < 3950), (wave > 4050) & (wave < 4250)
    ratio = s[:, blue].mean(axis=1) / s[:, red].mean(axis=1)
    assert ratio[0] < 0.6 and ratio[0] < ratio[1]
    assert main(["predict", "spectra-wgan-gaussian", __file__]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "named inputs" in err[0]


def test_build_with_weights_refuses_another_model():
    with pytest.raises(ValueError, match="holds a gc_cnn, not a gc_unet"):
        kzoo.build("gc_unet", weights="gc-dm")
    with pytest.raises(PresetError, match="did you mean 'gc-dm'"):
        kzoo.build("gc_cnn", weights="gc-dn")


def test_a_damaged_preset_is_refused_before_loading(tmp_path):
    d = tmp_path / "presets"
    d.mkdir()
    e = manifest()["gc-dae-gaussian"]
    shutil.copy(PRESET_DIR / e["file"], d / e["file"])
    (d / "manifest.json").write_text(json.dumps({"gc-dae-gaussian": e}))
    loaded = kzoo.load("gc-dae-gaussian", directory=d)
    x = np.random.default_rng(0).poisson(5.0, (2, *loaded.input_shape[1:])).astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(kzoo.load("gc-dae-gaussian")(x)))
    with open(d / e["file"], "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(PresetError, match="sha256 differs"):
        kzoo.load("gc-dae-gaussian", directory=d)


def test_presets_are_listed_with_metrics_and_unknown_names_are_one_line(capsys):
    assert main(["list", "--presets"]) == 0
    out = capsys.readouterr().out
    assert "svdd-elliptical-oneclass-bin2" in out and "all auroc 0.9522 on morphology" in out  # a one-class model
    assert "gc-dm " in out and "A_dm mae_scaled" in out and "(0.0807)" in out
    assert main(["predict", "gc-dn", "x.npy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gc-dn: neither a preset nor" in err[0] and "'gc-dm'" in err[0]
    assert main(["info", "gc-dm"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["seed_title"].startswith('"Applying ML on simulations of the Milky Way"')


def test_a_preset_is_made_only_from_the_run_its_reproduce_record_reports(tmp_path, monkeypatch):
    from kzoo.reproduce import reproduce

    reproduce("gc-dm", tmp_path / "work", n=100, epochs=1, workers=1, results_dir=tmp_path / "res")
    d = tmp_path / "presets"
    e = add_preset(tmp_path / "res" / "gc-dm.json", directory=d, name="tiny")
    assert list_presets(directory=d) == ["tiny"] and e["experiment"] == "gc-dm"
    card = (d / "cards" / "tiny.md").read_text()
    assert "| A_dm | mae_scaled |" in card and "not on Fermi-LAT data" in card and "(tiny/loss_curves.png)" in card
    assert (d / "cards" / "tiny" / "loss_curves.png").exists()
    # smaller than the run's model: no optimizer state
    assert e["bytes"] < (tmp_path / "work" / "run" / "model.keras").stat().st_size
    record = json.loads((tmp_path / "res" / "gc-dm.json").read_text())
    record["metrics"]["A_dm"]["mae_scaled"] = 0.01  # a record that does not report this run
    (tmp_path / "res" / "forged.json").write_text(json.dumps(record))
    with pytest.raises(PresetError, match="metrics.json differs"):
        add_preset(tmp_path / "res" / "forged.json", directory=d, name="forged")
    assert list_presets(directory=d) == ["tiny"]
    before = sorted(p.relative_to(d) for p in d.rglob("*"))

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr("kzoo.presets.model_card", fail)  # a failure after the model is written: no trace of it
    with pytest.raises(OSError, match="disk full"):
        add_preset(tmp_path / "res" / "gc-dm.json", directory=d, name="broken")
    assert sorted(p.relative_to(d) for p in d.rglob("*")) == before
    monkeypatch.undo()
    # a large model's weights stored as float16: about half the file, loaded as float32, judged again
    h = add_preset(tmp_path / "res" / "gc-dm.json", directory=d, name="half", half=True)
    assert h["stored_as"] == "float16" and 0.45 < h["bytes"] / e["bytes"] < 0.6
    got = h["stored_test_metrics"]["A_dm"]["mae_scaled"]
    assert got == pytest.approx(e["test_metrics"]["A_dm"]["mae_scaled"], rel=0.02) and got != e["test_metrics"]["A_dm"]["mae_scaled"]
    from kzoo import load

    assert load("half", directory=d).weights[0].dtype == "float32"
    assert "weights stored as float16" in (d / "cards" / "half.md").read_text()


def _serve(folder, cut_after=None):
    """An HTTP server on 127.0.0.1 serving ``folder`` in a thread (``cut_after``: bytes sent before the
    connection drops, the full length announced); returns (server, base URL)."""
    import functools
    import http.server
    import threading

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def copyfile(self, source, outputfile):
            data = source.read()
            outputfile.write(data if cut_after is None else data[:cut_after])

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_a_preset_downloads_once_into_the_cache_is_checked_and_loads_offline(tmp_path, monkeypatch, capsys):
    from kzoo.presets import cache_dir, pack

    monkeypatch.setenv("KZOO_HOME", str(tmp_path / "home"))
    site = tmp_path / "site"
    site.mkdir()
    sha = pack("gc-dae-gaussian", site / "gc-dae-gaussian.tar.gz")
    assert pack("gc-dae-gaussian", tmp_path / "again.tar.gz") == sha  # the same preset, the same bytes
    good = site / "gc-dae-gaussian.tar.gz"
    (site / "bad.tar.gz").write_bytes(good.read_bytes()[:-200] + bytes(200))
    server, base = _serve(site)
    try:
        with pytest.raises(PresetError, match="a corrupted or replaced archive; nothing was kept"):
            kzoo.load(f"{base}/bad.tar.gz#sha256={sha}")
        with pytest.raises(PresetError, match="give the archive's sha256"):
            kzoo.load(f"{base}/gc-dae-gaussian.tar.gz")
        assert not any((cache_dir() / "presets").iterdir())  # nothing half-written, no temporary left
        url = f"{base}/gc-dae-gaussian.tar.gz#sha256={sha}"
        model = kzoo.load(url)
    finally:
        server.shutdown()
    assert sorted(p.name for p in (cache_dir() / "presets").iterdir()) == [sha]
    again = kzoo.load(url)  # the server is gone: from the cache
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]
    assert main(["predict", url, "--json", "--out", str(tmp_path), str(_npy(tmp_path))]) == 0  # any command takes it
    assert "outputs" in json.loads(capsys.readouterr().out)


def _npy(tmp_path):
    import numpy as np

    np.save(tmp_path / "map.npy", np.random.default_rng(0).poisson(3, (64, 64)).astype("float32"))
    return tmp_path / "map.npy"


def test_an_interrupted_download_leaves_nothing_and_a_folder_of_ones_own_loads(tmp_path, monkeypatch):
    import shutil

    from kzoo.presets import PRESET_DIR, cache_dir, pack

    monkeypatch.setenv("KZOO_HOME", str(tmp_path / "home"))
    site = tmp_path / "site"
    site.mkdir()
    sha = pack("gc-dae-gaussian", site / "p.tar.gz")
    server, base = _serve(site, cut_after=100_000)
    try:
        with pytest.raises(PresetError, match="nothing was kept"):
            kzoo.load(f"{base}/p.tar.gz#sha256={sha}")
    finally:
        server.shutdown()
    assert not (cache_dir() / "presets").exists() or not any((cache_dir() / "presets").iterdir())
    # a preset folder of one's own, as python -m kzoo.presets add --dir makes it
    mine = tmp_path / "my-preset"
    mine.mkdir()
    e = manifest()["gc-dae-gaussian"]
    shutil.copy(PRESET_DIR / e["file"], mine / e["file"])
    (mine / "manifest.json").write_text(json.dumps({"gc-dae-gaussian": e}))
    assert kzoo.load(str(mine)).count_params() == e["parameters"]
    assert kzoo.load(str(mine / "gc-dae-gaussian")).count_params() == e["parameters"]
    (mine / e["file"]).write_bytes((mine / e["file"]).read_bytes()[:-10] + bytes(10))
    with pytest.raises(PresetError, match="sha256 differs"):
        kzoo.load(str(mine))


def test_a_run_inside_a_datasets_folder_is_a_run_not_a_preset(tmp_path):
    from kzoo.presets import is_preset, locate

    (tmp_path / "data" / "run").mkdir(parents=True)
    (tmp_path / "data" / "manifest.json").write_text('{"format": "kzoo-shards/1", "splits": {}}')
    (tmp_path / "data" / "run" / "run.json").write_text("{}")
    assert locate(tmp_path / "data" / "run") is None and not is_preset(str(tmp_path / "data" / "run"))
