"""Dataset recipes: what to simulate, how many, which seed. Plain YAML or JSON, validated at load."""

from __future__ import annotations

import os
import re
from pathlib import Path


from kzoo.io import excerpt, read_config
from kzoo.sims import get_sky, skies
from kzoo.sims.params import ParamError

# key: (type(s), required)
SCHEMA = {
    "sky": (str, True),
    "seed": (int, False),
    "splits": (dict, True),
    "shards": (int, False),
    "block": (int, False),
    "features": (list, False),
    "params": (dict, False),
    "description": (str, False),
}


class RecipeError(ValueError):
    """A recipe that does not follow the schema; the message lists every problem."""


def recipe_files() -> dict[str, Path]:
    """``{name: path}`` of the built-in recipes: every family's ``recipes/*.yaml`` (see kzoo.families)."""
    from kzoo.families import families

    out: dict[str, Path] = {}
    for fam in families().values():
        for path in sorted((fam.folder() / "recipes").glob("*.yaml")):
            if path.stem in out:
                raise ImportError(f"recipe {path.stem!r} is declared twice: {out[path.stem]} and {path}")
            out[path.stem] = path
    return out


def list_recipes() -> list[str]:
    return sorted(recipe_files())


def load_recipe(name_or_path: str | os.PathLike | dict) -> dict:
    """A validated recipe from a built-in name (``"galactic_center"``), a YAML/JSON file, or a dict."""
    if isinstance(name_or_path, dict):
        raw, where = dict(name_or_path), "recipe"
    else:
        path = Path(name_or_path)
        if not path.is_file() and not path.suffix:  # a built-in name (a folder of that name is not a recipe)
            path = recipe_files().get(str(name_or_path))
            if path is None:
                from kzoo.errors import closest

                raise closest(str(name_or_path), list_recipes(), "recipe (or a path to a .yaml/.json file)")
        where = str(path)
        try:
            raw = read_config(path, "recipe")
        except OSError as e:
            raise RecipeError(f"{where}: cannot read the recipe: {e}") from None
        except ValueError as e:  # its size, a YAML alias, its syntax: the message names the file
            raise RecipeError(str(e) if str(e).startswith(where) else f"{where}: cannot read the recipe: {e}") from None
        if not isinstance(raw, dict):
            raise RecipeError(f"{where}: a recipe is a mapping with keys {sorted(SCHEMA)}, got {type(raw).__name__}")
    return validate_recipe(raw, where)


def validate_recipe(raw: dict, where: str = "recipe") -> dict:
    """Check ``raw`` against SCHEMA and the sky's own parameters; raise RecipeError listing all errors."""
    errors = []
    for key in sorted(set(raw) - set(SCHEMA), key=repr):  # keys may be of any type: 1, null, [a, b]
        what = "unknown key" if isinstance(key, str) else "key that is not a string:"
        errors.append(f"{what} {excerpt(key)} (known: {', '.join(sorted(SCHEMA))})")
    for key, (typ, required) in SCHEMA.items():
        if key not in raw:
            if required:
                errors.append(f"missing key {key!r}")
        elif not isinstance(raw[key], typ) or (typ is int and isinstance(raw[key], bool)):
            errors.append(f"{key!r} must be {typ.__name__}, got {type(raw[key]).__name__} {excerpt(raw[key])}")
    sky = raw.get("sky")
    module = None
    if isinstance(sky, str):
        if sky not in skies():
            errors.append(f"'sky' {excerpt(sky)} is not a simulator (known: {', '.join(sorted(skies()))})")
        else:
            module = get_sky(sky)
    splits = raw.get("splits")
    if isinstance(splits, dict):
        if not splits:
            errors.append("'splits' is empty: give counts such as {train: 8192, val: 1966, test: 3072}")
        for name, count in splits.items():
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]+", name):
                errors.append(f"split name {excerpt(name)} must be letters, digits or '_' (it names the shard files)")
            if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
                errors.append(f"'splits.{str(name)[:40]}' must be a positive integer, got {excerpt(count)}")
    for key in ("shards", "block"):
        if isinstance(raw.get(key), int) and raw[key] <= 0:
            errors.append(f"{key!r} must be a positive integer, got {excerpt(raw[key])}")
    if isinstance(raw.get("seed"), int) and raw["seed"] < 0:
        errors.append(f"'seed' must be >= 0, got {raw['seed']}")
    if module is not None:
        feats = raw.get("features", list(module.FEATURES))
        if isinstance(feats, list):
            for f in feats:
                if f not in module.FEATURES:
                    errors.append(f"'features' entry {excerpt(f)} is not produced by {sky} (it gives {', '.join(module.FEATURES)})")
            if not feats:
                errors.append("'features' is empty: store at least one image array")
        params = raw.get("params", {})
        if isinstance(params, dict):
            try:
                module.validate_params(params)
            except ParamError as e:
                errors.extend(f"'params.{name}' {text}" for name, text in e.problems)
            except ValueError as e:
                errors.append(f"'params': {e}")
    if errors:
        raise RecipeError(f"{where}: {len(errors)} problem(s):\n  - " + "\n  - ".join(errors))
    recipe = {"seed": 0, "shards": 8, "block": 16, "params": {}, "description": "", **raw}
    recipe.setdefault("features", list(module.FEATURES))
    recipe["splits"] = dict(raw["splits"])
    return recipe


def scale_splits(splits: dict[str, int], n: int) -> dict[str, int]:
    """Split ``n`` images in the proportions of ``splits`` (largest remainders, every split >= 1)."""
    if n < len(splits):
        raise ValueError(f"--n {n} is smaller than the number of splits ({len(splits)}: {', '.join(splits)})")
    total = sum(splits.values())
    exact = {k: n * v / total for k, v in splits.items()}
    out = {k: max(1, int(v)) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - int(exact[k]), reverse=True):
        if sum(out.values()) >= n:
            break
        out[k] += 1
    while sum(out.values()) > n:  # the max(1, .) floor can overshoot for tiny n
        k = max(out, key=out.get)
        out[k] -= 1
    return out


def load_recipe_param(recipe: str, key: str):
    """A parameter of a built-in recipe as its sky reads it (the sky's default where the recipe is silent)."""
    r = load_recipe(recipe)
    return get_sky(r["sky"]).validate_params(r.get("params", {}))[key]
