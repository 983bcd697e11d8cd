"""Preprocess, augment, tile and split datasets from a reproducible recipe.

    >>> import visionflow as vf
    >>> from visionflow.transforms import Recipe
    >>> Recipe.load({"preprocess": [{"resize": {"size": "640x640", "mode": "letterbox"}}]}).preprocess[0].mode
    'letterbox'

`run(ds, recipe, out_dir)` applies a recipe (local process pool or Ray Data) and returns the new
dataset; `split` / `rebalance` assign train/val/test. Operations are frozen dataclasses in
`ops` (registry `OPS`, by recipe name); their pure per-target math lives in `functional`.
"""

from .engine import ENGINES, run
from .ops import OPS, InvalidStep, Op
from .recipe import Augment, Recipe, RecipeError, SplitSpec
from .split import normalize_ratios, rebalance, split

__all__ = ["ENGINES", "OPS", "Augment", "InvalidStep", "Op", "Recipe", "RecipeError", "SplitSpec",
           "normalize_ratios", "rebalance", "run", "split"]
