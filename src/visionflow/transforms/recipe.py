"""A recipe is the unit of work: YAML or JSON, loaded and validated before any pixel moves.

    split: {ratios: [0.7, 0.2, 0.1], stratify: true}   # optional: re-split first
    min_visibility: 0.0        # objects keeping less of their area after a geometric op drop
    jpeg_quality: 95
    preprocess:                # applied to every split, in order
      - auto_orient
      - resize: {size: [640, 640], mode: fit}
    augment:                   # the train split (a dataset without splits is all training
                               # data: every image), `copies` outputs per image
      copies: 3
      keep_original: false
      splits: [train]          # '*' for every split
      ops:
        - rotate: {angle_range: 15}
        - brightness: {amount_range: 0.2}
        - flip: {direction: horizontal, p: 0.5}

Every mistake is a RecipeError naming the file and the step: "r.yaml: preprocess step 2
(resize): mode must be one of stretch, fit, letterbox, fill, got 'crop'". A parameter's old
name (`limit` before `angle_range`, ...) still works and is listed in `Recipe.notes`, which
`run` reports as a warning. `visionflow ops` lists every operation and parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from ..core.errors import ParseError, ValidationError, did_you_mean
from ..io.safe_load import parse_yaml
from .ops import OPS, InvalidStep, Op

_TOP_KEYS = ("preprocess", "augment", "split", "min_visibility", "jpeg_quality")
_AUGMENT_KEYS = ("ops", "copies", "splits", "keep_original")


class RecipeError(ValidationError):
    """A recipe that cannot run: unknown operation, bad parameter, wrong shape."""


@dataclass(frozen=True)
class Augment:
    ops: tuple[Op, ...] = ()
    copies: int = 1
    splits: tuple[str, ...] = ("train",)
    keep_original: bool = False

    def to_dict(self) -> dict:
        return {"copies": self.copies, "keep_original": self.keep_original,
                "splits": list(self.splits), "ops": [op.to_dict() for op in self.ops]}


@dataclass(frozen=True)
class SplitSpec:
    ratios: tuple[float, ...] = (0.7, 0.2, 0.1)
    stratify: bool = False

    def to_dict(self) -> dict:
        return {"ratios": list(self.ratios), "stratify": self.stratify}


@dataclass(frozen=True)
class Recipe:
    preprocess: tuple[Op, ...] = ()
    augment: Augment | None = None
    split: SplitSpec | None = None
    min_visibility: float = 0.0
    jpeg_quality: int = 95
    source: str = field(default="recipe", compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)  # deprecated spellings met

    @classmethod
    def load(cls, source: str | Path | dict) -> Recipe:
        """From a YAML/JSON file or an already parsed mapping.

        Examples:
            >>> from visionflow.transforms import Recipe
            >>> r = Recipe.load({"preprocess": [{"resize": {"size": [640, 640], "mode": "fit"}}]})
            >>> r.preprocess[0].size
            (640, 640)
            >>> Recipe.load({"preprocess": [{"resise": {}}]})
            Traceback (most recent call last):
            ...
            visionflow.transforms.recipe.RecipeError: recipe: preprocess step 1: unknown operation 'resise'; did you mean 'resize'? (known: ...)
        """
        if not isinstance(source, (str, Path)):
            return _parse(source, "recipe")
        path = Path(source)
        if not path.is_file():
            raise RecipeError(path, "recipe file not found")
        text = path.read_bytes()
        try:
            data = (orjson.loads(text) if path.suffix.lower() == ".json"
                    else parse_yaml(text, path))  # alias bombs refused
        except (orjson.JSONDecodeError, yaml.YAMLError) as e:
            line = getattr(getattr(e, "problem_mark", None), "line", None)
            where = f"{path}:{line + 1}" if line is not None else str(path)
            raise ParseError(where, f"not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'} "
                             f"({str(e).splitlines()[0]})") from None
        return _parse(data, str(path))

    def to_dict(self) -> dict:
        """Every parameter spelled out (defaults included), so a stored recipe means the same
        thing to later versions."""
        out: dict[str, Any] = {}
        if self.split is not None:
            out["split"] = self.split.to_dict()
        out["min_visibility"] = self.min_visibility
        out["jpeg_quality"] = self.jpeg_quality
        out["preprocess"] = [op.to_dict() for op in self.preprocess]
        if self.augment is not None:
            out["augment"] = self.augment.to_dict()
        return out

    def ops(self) -> list[Op]:
        return list(self.preprocess) + (list(self.augment.ops) if self.augment else [])

    def step_name(self, section: str, index: int) -> str:
        ops = self.preprocess if section == "preprocess" else self.augment.ops  # type: ignore[union-attr]
        return f"{section} step {index + 1} ({ops[index].name})"


def parse_step(step: Any, where: str, notes: list[str] | None = None) -> Op:
    """One step: {name: {params}}, {name: null} or a bare name. Old parameter names are
    renamed, with a line appended to `notes`."""
    if isinstance(step, str):
        name, params = step, {}
    elif isinstance(step, dict) and len(step) == 1:
        name, params = next(iter(step.items()))
        params = {} if params is None else params
    else:
        raise RecipeError(where, f"expected {{operation: {{parameters}}}} or an operation name, "
                          f"got {step!r}")
    if name not in OPS:
        raise RecipeError(where, f"unknown operation {name!r}{did_you_mean(name, OPS)} "
                          f"(known: {', '.join(sorted(OPS))})")
    cls = OPS[name]
    if not isinstance(params, dict):
        raise RecipeError(f"{where} ({name})", f"parameters must be a mapping, got {params!r}")
    known = [f for f in cls.__dataclass_fields__ if not f.startswith("_")]
    renamed = cls.renamed()
    spelled: dict[str, str] = {}  # new name -> the old one this step used
    if any(k in renamed for k in params):
        params = dict(params)
        for old, new in renamed.items():
            if old not in params:
                continue
            if new in params:
                raise RecipeError(f"{where} ({name})", f"give {new!r} or its old name {old!r}, not both")
            params[new] = params.pop(old)
            spelled[new] = old
            if notes is not None:
                notes.append(f"{where} ({name}): parameter {old!r} is deprecated, use {new!r} "
                             f"(same meaning)")
    for key in params:
        if key not in known:
            raise RecipeError(f"{where} ({name})", f"unknown parameter {key!r}"
                              f"{did_you_mean(key, known)} "
                              f"(parameters: {', '.join(known)})")
    try:
        return cls(**params)
    except InvalidStep as e:
        problem = e.problem
        for new, old in spelled.items():  # speak of the parameter as the recipe spells it
            if problem.startswith(f"{new} "):
                problem = f"{old}{problem[len(new):]} ({old!r} is now {new!r})"
        raise RecipeError(f"{where} ({name})", problem) from None


def _parse(data: Any, source: str) -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(source, f"a recipe is a mapping with {', '.join(_TOP_KEYS)}; got "
                          f"{type(data).__name__}")
    for key in data:
        if key not in _TOP_KEYS:
            raise RecipeError(source, f"unknown key {key!r}{did_you_mean(key, _TOP_KEYS)} "
                              f"(known: {', '.join(_TOP_KEYS)})")
    pre = data.get("preprocess") or []
    if not isinstance(pre, list):
        raise RecipeError(source, f"preprocess must be a list of steps, got {pre!r}")
    notes: list[str] = []
    preprocess = tuple(parse_step(s, f"{source}: preprocess step {i + 1}", notes)
                       for i, s in enumerate(pre))
    augment = _augment(data.get("augment"), source, notes)
    split = _split(data.get("split"), source)
    mv = data.get("min_visibility", 0.0)
    if isinstance(mv, bool) or not isinstance(mv, (int, float)) or not 0 <= mv <= 1:
        raise RecipeError(source, f"min_visibility must be a fraction between 0 and 1, got {mv!r}")
    q = data.get("jpeg_quality", 95)
    if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= 100:
        raise RecipeError(source, f"jpeg_quality must be a whole number from 1 to 100, got {q!r}")
    if not preprocess and augment is None and split is None:
        raise RecipeError(source, "recipe has nothing to do: add preprocess, augment or split")
    return Recipe(preprocess, augment, split, float(mv), int(q), source, tuple(notes))


def _augment(data: Any, source: str, notes: list[str]) -> Augment | None:
    if data is None:
        return None
    if isinstance(data, list):
        data = {"ops": data}
    if not isinstance(data, dict):
        raise RecipeError(source, f"augment must be a mapping with ops and copies, got {data!r}")
    for key in data:
        if key not in _AUGMENT_KEYS:
            raise RecipeError(f"{source}: augment", f"unknown key {key!r} (known: {', '.join(_AUGMENT_KEYS)})")
    ops = data.get("ops") or []
    if not isinstance(ops, list) or not ops:
        raise RecipeError(f"{source}: augment", "ops must be a non-empty list of steps")
    copies = data.get("copies", 1)
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= 1000:
        raise RecipeError(f"{source}: augment", f"copies must be a whole number from 1 to 1000, got {copies!r}")
    splits = data.get("splits", ["train"])
    splits = [splits] if isinstance(splits, str) else splits
    if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
        raise RecipeError(f"{source}: augment", f"splits must be a list of split names, got {splits!r}")
    keep = data.get("keep_original", False)
    if not isinstance(keep, bool):
        raise RecipeError(f"{source}: augment", f"keep_original must be true or false, got {keep!r}")
    parsed = tuple(parse_step(s, f"{source}: augment step {i + 1}", notes) for i, s in enumerate(ops))
    from ..core.images import canonical_split
    return Augment(parsed, copies, tuple(canonical_split(s) for s in splits), keep)


def _split(data: Any, source: str) -> SplitSpec | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: split", f"expected {{ratios: [0.7, 0.2, 0.1], stratify: true}}, got {data!r}")
    for key in data:
        if key not in ("ratios", "stratify"):
            raise RecipeError(f"{source}: split", f"unknown key {key!r} (known: ratios, stratify)")
    from .split import normalize_ratios
    try:
        ratios = normalize_ratios(data.get("ratios", (0.7, 0.2, 0.1)))
    except ValidationError as e:
        raise RecipeError(f"{source}: split", e.problem) from None
    stratify = data.get("stratify", False)
    if not isinstance(stratify, bool):
        raise RecipeError(f"{source}: split", f"stratify must be true or false, got {stratify!r}")
    return SplitSpec(ratios, stratify)
