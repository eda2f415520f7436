"""Data: recipes, TFRecord shards with a manifest, tf.data pipelines and a reader without TensorFlow, augmentation."""

from kzoo.data.recipes import RecipeError, list_recipes, load_recipe
from kzoo.data.shards import DataError, load_manifest, merge_shards, write_shards

__all__ = ["DataError", "RecipeError", "ShardReader", "dataset", "list_recipes", "load_arrays", "load_manifest",
           "load_recipe", "merge_shards", "write_shards"]


def __getattr__(name):  # the pipeline imports TensorFlow: load it only when asked for
    if name == "dataset":
        from kzoo.data import pipeline

        return pipeline.dataset
    if name in ("load_arrays", "ShardReader"):
        from kzoo.data import reader

        return getattr(reader, name)
    raise AttributeError(name)
