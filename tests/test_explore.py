"""kzoo explore: every sky drawn from its declared parameters, a preset's reading beside the truth, bad values
refused in the recipes' words, and the page itself in a real headless Chromium (skipped where none is installed)."""

import json
import os
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest

import kzoo.explore as explore

SMALL = {  # small images so that every sky draws in a second or two (21cm: the tiny box of its own tests)
    "clusters": {"npix": 32}, "cosmo_maps": {"npix": 16, "maps_per_set": 2}, "galactic_center": {"npix": 16},
    "galactic_center_noise": {"npix": 16},
    "morphology": {"npix": 32}, "photometry": {}, "rings": {}, "sersic": {"npix": 16}, "spectra": {},
    "reionization": {"npix": 16, "box_mpc": 32.0, "r_bubble_max_mpc": 10.0, "hires_factor": 1,
                     "redshift_range": [6.0, 10.0], "redshift_step": 4.0, "escape_fraction_range": [0.1, 0.1],
                     "escape_fractions": 1, "slices_per_box": 4},
}


def test_every_sky_of_the_nine_families_is_offered_and_draws_an_image_with_its_labels():
    by_sky = explore.recipes_by_sky()
    assert set(SMALL) == set(by_sky)  # every family's sky, nothing left out
    for sky, recipes in by_sky.items():
        if sky == "reionization" and os.environ.get("KZOO_REQUIRE_21CMFAST") != "1":
            pytest.importorskip("py21cmfast")
        form = explore.controls(recipes[0])
        assert form["sky"] == sky and form["params"], sky
        names = {p["name"] for p in form["params"]}
        small = {k: v for k, v in SMALL[sky].items() if k in names}
        out = explore.render(recipes[0], small, seed=3)
        assert out["images"] and all(i["png"].startswith("data:image/png;base64,") for i in out["images"]), sky
        assert out["labels"] and all(np.isfinite(v) for v in out["labels"].values()), sky


def test_a_parameter_and_the_seed_change_the_image_and_the_same_values_give_the_same_image():
    a = explore.render("rings", {}, seed=1)
    assert explore.render("rings", {}, seed=1)["images"] == a["images"]
    assert explore.render("rings", {}, seed=2)["images"] != a["images"]
    b = explore.render("rings", {"thickness_range": [3.0, 3.0]}, seed=1)
    assert b["images"] != a["images"] and b["labels"]["thickness"] == pytest.approx(3.0)


def test_a_presets_prediction_sits_beside_the_truth_with_sigmas_for_a_gaussian_nll_preset():
    out = explore.render("rings", {}, seed=5, preset="rings-regress")
    rows = {r["target"]: r for r in out["prediction"]["rows"]}
    assert set(rows) == {"cx", "cy", "r", "thickness", "deformation"}
    assert rows["cx"]["truth"] == pytest.approx(out["labels"]["cx"])
    assert abs(rows["cx"]["prediction"] - rows["cx"]["truth"]) < 0.1  # the preset reads a ring's centre (cx / 28)
    nll = explore.render("sersic_v1", {}, seed=5, preset="sersic-v1-nll")["prediction"]["rows"]
    assert all(r["sigma"] > 0 for r in nll) and [r["target"] for r in nll] == ["flux", "n", "re", "g1", "g2"]
    count = explore.render("rings_count", {}, seed=5, preset="rings-count")["prediction"]["rows"][0]
    assert 0 <= count["prediction"] <= 3 and 0 < count["probability"] <= 1 and count["truth"] in (0, 1, 2, 3)
    # another image size than the preset takes: a note, not an error
    note = explore.render("rings", {"npix": 40}, seed=5, preset="rings-regress")["prediction"]["note"]
    assert "(28, 28, 1)" in note and "(40, 40, 1)" in note


def test_bad_values_are_refused_with_the_recipes_messages():
    with pytest.raises(explore.ExploreError, match=r"'params.npix' must be an integer in \[8, 256\], got -3"):
        explore.render("rings", {"npix": -3})
    with pytest.raises(explore.ExploreError, match=r"unknown parameter of rings; did you mean 'npix'"):
        explore.render("rings", {"nipx": 3})
    with pytest.raises(explore.ExploreError, match="random seed"):
        explore.render("rings", {}, seed=-1)
    with pytest.raises(KeyError, match="did you mean 'rings'"):
        explore.controls("ringz")


def test_the_server_listens_on_127_0_0_1_refuses_bad_requests_and_a_port_in_use():
    server = explore.start_server("rings", port=0)
    try:
        host, port = server.server_address
        assert host == "127.0.0.1"
        base = f"http://{host}:{port}"
        assert json.load(urllib.request.urlopen(base + "/api/recipes"))["start"] == "rings"
        req = urllib.request.Request(base + "/api/render", data=json.dumps({"recipe": "rings", "params":
                                     {"npix": 0}}).encode(), headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 400 and "'params.npix' must be an integer" in json.load(e.value)["error"]
        with pytest.raises(explore.ExploreError, match=f"--port {port}: cannot listen"):
            explore.start_server("rings", port=port)
    finally:
        server.shutdown()
        server.server_close()


def chromium():
    """A headless Chromium driven by Selenium through Debian's chromedriver; skipped where they are not installed,
    except under KZOO_REQUIRE_BROWSER=1 (CI installs them), where their absence fails."""
    required = os.environ.get("KZOO_REQUIRE_BROWSER") == "1"
    webdriver = pytest.importorskip("selenium.webdriver") if not required else __import__("selenium.webdriver").webdriver
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        message = "no chromium and chromedriver (Debian: apt-get install chromium chromium-driver)"
        pytest.fail(message) if required else pytest.skip(message)
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=opts)


def test_the_page_in_a_headless_browser_redraws_when_a_parameter_moves(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser = chromium()
    server = explore.start_server("rings", port=0)
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        wait = WebDriverWait(browser, 60)
        wait.until(lambda b: b.execute_script("return document.body.dataset.renders") == "1")
        assert browser.title == "kzoo explore"
        first = browser.find_element(By.CSS_SELECTOR, "#images img").get_attribute("src")
        first_rows = browser.find_element(By.ID, "prediction").text
        assert "rings-regress" in first_rows and "truth" in first_rows  # the preset of the recipe, chosen at once
        # move one parameter: the ring thickness range's low end, through its slider as a user would
        slider = browser.find_element(By.CSS_SELECTOR, "input[type=range][data-param=thickness_range]")
        browser.execute_script("arguments[0].value = 1.4; arguments[0].dispatchEvent(new Event('input'))", slider)
        wait.until(lambda b: b.execute_script("return document.body.dataset.renders") == "2")
        assert browser.find_element(By.CSS_SELECTOR, "#images img").get_attribute("src") != first
        assert browser.find_element(By.ID, "prediction").text != first_rows
        assert browser.find_element(By.ID, "error").text == ""
        # a bad value is refused on the page with the recipes' words
        box = browser.find_element(By.CSS_SELECTOR, "input[type=number][data-param=r_min]")
        browser.execute_script("arguments[0].value = -1; arguments[0].dispatchEvent(new Event('change'))", box)
        wait.until(lambda b: "must be a number in (0, 128]" in b.find_element(By.ID, "error").text)
        browser.save_screenshot(str(tmp_path / "explore.png"))
        assert (tmp_path / "explore.png").stat().st_size > 10_000
    finally:
        browser.quit()
        server.shutdown()
        server.server_close()


def test_the_saliency_map_of_a_preset_shows_where_it_looks():
    out = explore.render("rings", {}, seed=5, preset="rings-regress", saliency=True)
    names = [i["name"] for i in out["prediction"]["images"]]
    assert names[0] == "|d cx / d image|" and names[1].startswith("Grad-CAM of cx")
    assert "rows" in out["prediction"]  # the prediction is still there
    note = explore.render("photometry", {}, seed=5, preset="photoz-mlp", saliency=True)["prediction"]["note"]
    assert "does not take an image" in note


def test_a_one_class_preset_shows_its_anomaly_score(monkeypatch):
    import keras

    inp = keras.Input((16, 16, 1))
    model = keras.Model(inp, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(inp)))
    entry = {"inputs": "image", "input_shape": [16, 16, 1], "experiment": "svdd-x-oneclass", "recipe": "morphology"}
    monkeypatch.setattr(explore, "_preset", lambda name: (entry, {"targets": ["morph_class"],
                                                                  "evaluation": "anomaly"}, model))
    out = explore.predict("svdd-x", {"image": np.ones((1, 16, 16), np.float32)}, {"morph_class": 1.0}, saliency=True)
    assert [r["target"] for r in out["rows"]] == ["anomaly score"] and "less like the class" in out["note"]
    assert np.isfinite(out["rows"][0]["prediction"]) and "images" not in out
