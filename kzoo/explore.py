"""``kzoo explore``: a local web page with a control per simulator parameter, the image it draws and a preset's reading.

Source notebooks 003 built a Streamlit app to watch a Sersic galaxy change as each parameter moves; this does the
same for every sky. Every sky declares its parameters with their types and ranges (``PARAMS``, see
:mod:`kzoo.sims.params`) and every recipe a set of values for them, so the page is made from those declarations:
pick a recipe, move a parameter (a slider where the range is finite) or the random seed, and the server simulates
one image with the sky's own ``simulate``, shows it (its channels and components where the sky has them), the
labels drawn for it, and, where a preset was trained on that sky, the preset's prediction beside the true values
(with its sigmas for a Gaussian-NLL preset, its probabilities for a classifier, its output image for a U-net or a
denoiser).

Why a small page over the standard library's HTTP server rather than Streamlit, Panel or Gradio: each of those
brings tens of packages (and a websocket server) for what is one form, one image and one table; this needs none
beyond kzoo's own, runs offline, starts in a second, and its bad-value messages are the recipes' own, from the
same validation (:func:`kzoo.data.recipes.validate_recipe`). It listens on 127.0.0.1 unless ``--host`` says
otherwise, and serves one request at a time (simulations and Keras models are not shared between threads).
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import json
import logging
import math
import threading
import time
import webbrowser
from urllib.parse import parse_qs, urlparse

import numpy as np

log = logging.getLogger("kzoo")

MAX_BODY = 1 << 16  # bytes of a render request: a few hundred parameters at most


class ExploreError(ValueError):
    """A request the page cannot serve: an unknown recipe or preset, or bad parameter values (the recipes' words)."""


def recipes_by_sky() -> dict[str, list[str]]:
    """``{sky: [recipe, ...]}`` for every packaged recipe."""
    import kzoo.data.recipes as recipes

    import kzoo.presets as presets

    used = {presets.preset_entry(n)["recipe"] for n in presets.list_presets()}
    out: dict[str, list[str]] = {}
    for name in recipes.list_recipes():
        out.setdefault(recipes.load_recipe(name)["sky"], []).append(name)
    for sky, names in out.items():  # a sky starts at the recipe a preset was trained on, or the one of its name
        names.sort(key=lambda n: (n not in used, n != sky, n))
    return out


def _number(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def controls(recipe: str) -> dict:
    """The page's form for a recipe: its sky, one control per declared parameter (type, range, value) and the
    presets trained on that sky."""
    import kzoo.data.recipes as recipes
    import kzoo.presets as presets
    import kzoo.sims as sims

    r = recipes.load_recipe(recipe)
    sky = sims.get_sky(r["sky"])
    values = {**sky.DEFAULTS, **r["params"]}
    params = []
    for name, spec in sky.PARAMS.items():
        kind = {bool: "bool", int: "int", float: "float", str: "choice" if spec.choices else "json",
                list: "json"}[spec.type]
        params.append({"name": name, "kind": kind,
                       "pair": bool(spec.pair), "low": _number(spec.low), "high": _number(spec.high),
                       "choices": list(spec.choices), "describe": spec.describe(),
                       "value": _jsonable(values.get(name))})
    avail = [(n, presets.preset_entry(n)) for n in presets.list_presets()]
    mine = [{"name": n, "recipe": e["recipe"], "experiment": e["experiment"], "model": e["model"]}
            for n, e in avail if e.get("sky") == r["sky"]]
    mine.sort(key=lambda p: (p["recipe"] != recipe, p["name"]))
    return {"recipe": recipe, "sky": r["sky"], "description": r.get("description", ""), "params": params,
            "presets": mine}


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _panels(name: str, arr: np.ndarray) -> list[dict]:
    """One picture per 2-D image (a channel, a component), or a line plot for a 1-D array (a spectrum, magnitudes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim <= 1:
        fig, ax = plt.subplots(figsize=(4.2, 2.6))
        ax.plot(np.arange(arr.size), arr.ravel(), lw=0.8)
        ax.set_xlabel("index")
        ax.set_title(name)
        return [{"name": name, "png": _png(fig)}]
    if arr.ndim == 3 and arr.shape[-1] <= 8:  # channels last (two-field maps)
        return [p for c in range(arr.shape[-1]) for p in _panels(f"{name}[{c}]", arr[..., c])]
    if arr.ndim == 3:  # components first (the gc sky's dm, pi0, ic, bubbles, point sources)
        return [p for c in range(arr.shape[0]) for p in _panels(f"{name}[{c}]", arr[c])]
    fig, ax = plt.subplots(figsize=(3.4, 3.0))
    im = ax.imshow(arr, origin="lower", cmap="magma", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(name)
    ax.set_xticks([])
    ax.set_yticks([])
    return [{"name": name, "png": _png(fig)}]


@functools.lru_cache(maxsize=4)
def _preset(name: str):
    import kzoo.presets as presets

    entry = presets.preset_entry(name)
    exp = entry["experiment_declaration"]
    exp = json.loads(exp) if isinstance(exp, str) else exp
    return entry, exp, presets.load(name)


def _truth(labels: dict, target: str):
    parts = target.split("+")
    return sum(labels[p] for p in parts) if all(p in labels for p in parts) else None


def _saliency(model, x, target: str) -> list[dict]:
    """Where the preset looks for its first output: the input gradient and Grad-CAM (kzoo.evaluate.saliency_maps)."""
    import kzoo.evaluate as evaluate

    grad, cam, layer = evaluate.saliency_maps(model, x, output=0)
    return _panels(f"|d {target} / d image|", grad[0]) + _panels(f"Grad-CAM of {target} ({layer})", cam[0])


def predict(preset: str, sim: dict, labels: dict, saliency: bool = False) -> dict:
    """The preset's reading of one simulated image: rows of target, prediction (sigma), truth; or its output image.
    With ``saliency``, also where it looks (for a model of image input and a value output)."""
    import kzoo.predict as kpredict
    from kzoo.export import infer

    entry, exp, model = _preset(preset)
    key = entry.get("inputs")
    if not isinstance(key, str) or key not in sim:
        return {"note": f"{preset} takes {key!r}, which this sky does not draw; no prediction"}
    x = np.asarray(sim[key][:1], dtype=np.float32)
    want = tuple(entry["input_shape"])
    if x.ndim == len(want):  # (1, H, W) -> (1, H, W, 1)
        x = x[..., None]
    if tuple(x.shape[1:]) != want:
        return {"note": f"{preset} takes inputs of shape {want}, this image is {tuple(x.shape[1:])}; "
                        f"set the parameters of its recipe {entry['recipe']!r} to see its prediction"}
    y = np.asarray(infer(model, x), dtype=np.float64)
    out = {"preset": preset, "experiment": entry["experiment"], "recipe": entry["recipe"]}
    if saliency and not isinstance(exp["targets"], str) and exp.get("evaluation") != "anomaly":
        if x.ndim == 4 and hasattr(model, "layers"):
            out["images"] = _saliency(model, x, exp["targets"][0])
        else:
            out["note"] = f"no saliency map: {preset} does not take an image"
    if isinstance(exp["targets"], str):  # an image out: a U-net's map, a denoised image
        out["images"] = out.get("images", []) + _panels(f"{preset}: {exp['targets']}", np.squeeze(y[0]))
        return out
    if exp.get("evaluation") == "anomaly":  # a one-class model (Deep SVDD): its score, no truth to set beside it
        out["rows"] = [{"target": "anomaly score", "prediction": float(np.ravel(y[0])[0])}]
        out["note"] = (f"higher: less like the class {preset} was trained on as normal; the drawn labels say which "
                       "class this image is")
        return out
    if exp.get("evaluation") == "classification":
        target = exp["targets"][0]
        p = y[0].ravel()
        truth = _truth(labels, target)
        out["rows"] = [{"target": target, "prediction": int(np.argmax(p)), "probability": float(p.max()),
                        "truth": None if truth is None else int(truth)}]
        return out
    names, values = kpredict.interpret(exp, entry.get("target_ranges"), y)
    k = len(exp["targets"])
    rows = []
    for i, t in enumerate(exp["targets"]):
        row = {"target": t, "prediction": float(values[0, i]), "truth": _truth(labels, t)}
        if len(names) == 2 * k:
            row["sigma"] = float(values[0, k + i])
        rows.append(row)
    out["rows"] = rows
    return out


_DRAWN: dict = {}  # the last few images drawn: (recipe, changed values, seed) -> (arrays, pictures, labels)


def _draw(r: dict, seed: int):
    """One image of the validated recipe ``r`` (the first of a group for skies that draw groups), its pictures and
    labels."""
    import inspect

    import kzoo.sims as sims

    sky = sims.get_sky(r["sky"])
    if hasattr(sky, "check_available"):
        sky.check_available()
    p = sky.validate_params(r["params"])
    kwargs = {"components": True} if "components" in inspect.signature(sky.simulate).parameters else {}
    n = sky.group_size(p) if hasattr(sky, "group_size") else 1  # a sky that draws maps in groups: the group's first
    sim = sky.simulate(np.random.default_rng(seed), n, **p, **kwargs)
    images = []
    for name in sky.FEATURES:
        if name in sim:
            images += _panels(name, np.asarray(sim[name][0]))
    for k, part in enumerate(sim.get("components", [[]])[0]):  # a sky's components, by their names where declared
        images += _panels(getattr(sky, "COMPONENTS", ())[k] if k < len(getattr(sky, "COMPONENTS", ())) else
                          f"component {k}", np.asarray(part))
    labels = {k: float(v) for k, v in zip(sky.LABELS, np.asarray(sim["labels"][0]).ravel())}
    return sim, images, labels


def render(recipe: str, changed: dict | None = None, seed: int = 0, preset: str | None = None,
           saliency: bool = False) -> dict:
    """Simulate one image of ``recipe`` with the parameters in ``changed`` set, at random seed ``seed``; with a
    ``preset``, its prediction (and, with ``saliency``, where it looks).

    Returns ``{"images": [{"name", "png"}], "labels": {name: value}, "prediction": {...} or None, "seconds"}``;
    raises ExploreError with the recipes' own message for bad values.
    """
    import kzoo.data.recipes as recipes

    t0 = time.time()
    if not isinstance(changed, dict):
        raise ExploreError("params must be a mapping of parameter names to values")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
        raise ExploreError(f"the random seed must be an integer in [0, 2**32 - 1], got {seed!r}")
    try:
        base = recipes.load_recipe(recipe)
        raw = {"sky": base["sky"], "splits": {"test": 1}, "params": {**base["params"], **changed}}
        r = recipes.validate_recipe(raw, where=f"explore {recipe}")
    except (KeyError, ValueError) as e:
        raise ExploreError(str(e).replace(":\n  - ", ": ").replace("\n  - ", "; ")) from None
    key = (recipe, json.dumps(changed, sort_keys=True, default=str), seed)
    if key not in _DRAWN:  # another preset for the same image draws nothing anew (a 21-cm box takes minutes)
        _DRAWN[key] = _draw(r, seed)
        while len(_DRAWN) > 8:
            _DRAWN.pop(next(iter(_DRAWN)))
    sim, images, labels = _DRAWN[key]
    pred = predict(preset, sim, labels, saliency=bool(saliency)) if preset else None
    return {"recipe": recipe, "sky": r["sky"], "images": images, "labels": labels, "prediction": pred,
            "seconds": round(time.time() - t0, 2)}


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kzoo explore</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;display:flex;min-height:100vh;color:#222}
#side{width:360px;padding:12px 16px;background:#f4f5f7;overflow-y:auto;max-height:100vh;box-sizing:border-box}
#main{flex:1;padding:12px 20px}
label{display:block;font-size:13px;margin-top:8px;font-weight:600}
.hint{font-weight:400;color:#666;font-size:11px}
input[type=range]{width:100%}
input[type=number],input[type=text],select{width:100%;box-sizing:border-box}
.pair{display:flex;gap:6px}
#images img{margin:4px;border:1px solid #ddd}
#error{color:#b00020;white-space:pre-wrap;font-weight:600}
table{border-collapse:collapse;margin-top:8px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}
</style></head>
<body><div id="side">
<h2 style="margin:4px 0">kzoo explore</h2>
<label>recipe <select id="recipe"></select></label>
<div class="hint" id="recipe-description"></div>
<label>random seed <input type="number" id="seed" value="0" min="0" step="1"></label>
<label>preset <select id="preset"></select></label>
<label><input type="checkbox" id="saliency"> saliency map of the preset</label>
<div id="params"></div>
</div>
<div id="main"><div id="status">loading...</div><div id="error"></div>
<div id="images"></div><div id="prediction"></div><div id="labels"></div></div>
<script>
let form = null, changed = {}, pending = null, busy = false, again = false, renders = 0;
const $ = id => document.getElementById(id);
async function get(url){ const r = await fetch(url); return r.json(); }
function control(p){
  const box = document.createElement('div');
  const lab = document.createElement('label'); lab.textContent = p.name + ' ';
  const hint = document.createElement('span'); hint.className = 'hint'; hint.textContent = p.describe;
  lab.appendChild(hint); box.appendChild(lab);
  const finite = p.low !== null && p.high !== null;
  const step = p.kind === 'int' ? 1 : (finite ? (p.high - p.low) / 200 : 'any');
  function numeric(value, onset){
    const w = document.createElement('div');
    if (finite){ const s = document.createElement('input'); s.type = 'range'; s.min = p.low; s.max = p.high;
      s.step = step; s.value = value; s.dataset.param = p.name; w.appendChild(s);
      const n = document.createElement('input'); n.type = 'number'; n.step = step; n.value = value;
      n.dataset.param = p.name; w.appendChild(n);
      s.oninput = () => { n.value = s.value; onset(Number(s.value)); };
      n.onchange = () => { s.value = n.value; onset(Number(n.value)); };
    } else { const n = document.createElement('input'); n.type = 'number'; n.step = step; n.value = value;
      n.dataset.param = p.name; n.onchange = () => onset(Number(n.value)); w.appendChild(n); }
    return w;
  }
  if ((p.kind === 'int' || p.kind === 'float') && p.pair && Array.isArray(p.value)){
    const v = p.value.slice(); const w = document.createElement('div'); w.className = 'pair';
    [0, 1].forEach(i => w.appendChild(numeric(v[i], x => { v[i] = x; set(p.name, v.slice()); })));
    box.appendChild(w);
  } else if ((p.kind === 'int' || p.kind === 'float') && !p.pair && p.value !== null){
    box.appendChild(numeric(p.value, x => set(p.name, x)));
  } else if (p.kind === 'bool'){
    const c = document.createElement('input'); c.type = 'checkbox'; c.checked = !!p.value; c.dataset.param = p.name;
    c.onchange = () => set(p.name, c.checked); box.appendChild(c);
  } else if (p.kind === 'choice'){
    const s = document.createElement('select'); s.dataset.param = p.name;
    p.choices.forEach(ch => { const o = document.createElement('option'); o.textContent = ch; s.appendChild(o); });
    s.value = p.value; s.onchange = () => set(p.name, s.value); box.appendChild(s);
  } else {
    const t = document.createElement('input'); t.type = 'text'; t.value = JSON.stringify(p.value);
    t.dataset.param = p.name;
    t.onchange = () => { try { set(p.name, JSON.parse(t.value)); } catch(e) { $('error').textContent =
      p.name + ': not JSON: ' + t.value; } }; box.appendChild(t);
  }
  return box;
}
function set(name, value){ changed[name] = value; schedule(); }
function schedule(){ clearTimeout(pending); pending = setTimeout(draw, 150); }
async function load(recipe){
  form = await get('/api/controls?recipe=' + encodeURIComponent(recipe)); changed = {};
  $('recipe-description').textContent = form.sky + ': ' + form.description;
  const ps = $('preset'); ps.innerHTML = '';
  const none = document.createElement('option'); none.value = ''; none.textContent = '(none)'; ps.appendChild(none);
  form.presets.forEach(p => { const o = document.createElement('option'); o.value = p.name;
    o.textContent = p.name + ' (' + p.model + ', trained on ' + p.recipe + ')'; ps.appendChild(o); });
  const same = form.presets.find(p => p.recipe === form.recipe); ps.value = same ? same.name : '';
  const box = $('params'); box.innerHTML = ''; form.params.forEach(p => box.appendChild(control(p)));
  draw();
}
function table(rows, cols){
  let h = '<table><tr>' + cols.map(c => '<th>' + c + '</th>').join('') + '</tr>';
  rows.forEach(r => { h += '<tr>' + cols.map(c => '<td>' + fmt(r[c]) + '</td>').join('') + '</tr>'; });
  return h + '</table>';
}
function fmt(v){ return v === undefined || v === null ? '-' : (typeof v === 'number' ? Number(v.toPrecision(4)) : v); }
async function draw(){
  if (busy){ again = true; return; } busy = true; $('status').textContent = 'simulating...';
  const body = {recipe: form.recipe, params: changed, seed: Number($('seed').value), preset: $('preset').value || null,
                saliency: $('saliency').checked};
  try {
    const r = await fetch('/api/render', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                          body: JSON.stringify(body)});
    const out = await r.json();
    if (!r.ok){ $('error').textContent = out.error; $('status').textContent = 'refused'; }
    else {
      renders += 1; $('error').textContent = '';
      $('status').textContent = out.sky + ', random seed ' + body.seed + ': simulated in ' + out.seconds + ' s';
      const imgs = out.images.concat(out.prediction && out.prediction.images ? out.prediction.images : []);
      $('images').innerHTML = imgs.map(i => '<img alt="' + i.name + '" title="' + i.name + '" src="' + i.png + '">').join('');
      $('labels').innerHTML = '<h3>drawn labels</h3>' + table(Object.entries(out.labels).map(
        ([k, v]) => ({label: k, value: v})), ['label', 'value']);
      const p = out.prediction; let h = '';
      if (p && p.rows){ h = '<h3>' + p.preset + ' (experiment ' + p.experiment + ')</h3>' +
        table(p.rows, Object.keys(p.rows[0])); }
      if (p && p.note){ h += '<p>' + p.note + '</p>'; }
      $('prediction').innerHTML = h;
      document.body.dataset.renders = renders;
    }
  } catch(e){ $('error').textContent = String(e); }
  busy = false; if (again){ again = false; draw(); }
}
(async () => {
  const skies = await get('/api/recipes'); const rs = $('recipe');
  Object.entries(skies.recipes).forEach(([sky, names]) => { const g = document.createElement('optgroup');
    g.label = sky; names.forEach(n => { const o = document.createElement('option'); o.textContent = n;
    g.appendChild(o); }); rs.appendChild(g); });
  rs.value = skies.start; rs.onchange = () => load(rs.value);
  $('seed').onchange = schedule; $('preset').onchange = schedule; $('saliency').onchange = schedule;
  load(skies.start);
})();
</script></body></html>
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "kzoo-explore"
    lock = threading.Lock()
    start = ""

    def log_message(self, fmt, *args):  # requests go to the debug log, not the terminal
        log.debug("explore: " + fmt, *args)

    def _send(self, status: int, body: bytes, kind: str):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj):
        self._send(status, json.dumps(obj).encode(), "application/json")

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/":
                self._send(200, PAGE.encode(), "text/html; charset=utf-8")
            elif url.path == "/api/recipes":
                self._json(200, {"recipes": recipes_by_sky(), "start": self.start})
            elif url.path == "/api/controls":
                with self.lock:
                    self._json(200, controls(q.get("recipe", "")))
            else:
                self._json(404, {"error": f"no such page: {url.path}"})
        except Exception as e:  # noqa: BLE001 - the page shows the one line
            self._json(400, {"error": str(e)})

    def do_POST(self):
        if urlparse(self.path).path != "/api/render":
            return self._json(404, {"error": f"no such page: {self.path}"})
        size = int(self.headers.get("Content-Length") or 0)
        if not 0 < size <= MAX_BODY:
            return self._json(400, {"error": f"a render request is 1 to {MAX_BODY} bytes of JSON, got {size}"})
        try:
            req = json.loads(self.rfile.read(size))
            if not isinstance(req, dict):
                raise ExploreError("a render request is a JSON object")
            with self.lock:
                out = render(str(req.get("recipe", "")), req.get("params") or {}, req.get("seed", 0),
                             req.get("preset") or None, req.get("saliency", False))
            self._json(200, out)
        except Exception as e:  # noqa: BLE001 - bad values (the recipes' words), an unknown preset, a simulator's error
            self._json(400, {"error": str(e)})


def start_server(start: str | None = None, host: str = "127.0.0.1", port: int = 8765):
    """A running explorer server (in a thread) starting at recipe or sky ``start`` (default: the first sky in
    alphabetical order); ``server.shutdown()`` stops it. ``port=0`` picks a free port."""
    import kzoo.data.recipes as recipes

    if start is None:
        start = sorted(recipes_by_sky())[0]
    if start not in recipes.list_recipes():  # a sky's name starts at its first recipe
        by_sky = recipes_by_sky()
        if start not in by_sky:
            from kzoo.errors import closest

            raise closest(start, sorted(set(recipes.list_recipes()) | set(by_sky)), "recipe or sky")
        start = by_sky[start][0]
    handler = type("Handler", (_Handler,), {"start": start})
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        raise ExploreError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); choose another port") \
            from None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve(start: str | None = None, host: str = "127.0.0.1", port: int = 8765, browser: bool = True) -> None:
    """Serve the explorer until Ctrl-C, opening it in the default browser unless ``browser`` is False."""
    server = start_server(start, host, port)
    url = f"http://{host}:{server.server_address[1]}/"
    log.info(f"the explorer is at {url} (Ctrl-C stops it)")
    if browser:
        webbrowser.open(url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
