"""Which model classes (or text prompts) become which of the dataset's classes.

A model knows "bear", the dataset wants "raccoon": the ontology says so, several sources to
one target allowed ("raccoon" <- "bear", "dog", "cat"), so autolabel never writes a class the
dataset did not ask for. Written three ways:

- text: `raccoon=bear,dog,cat` (a target, then every source after `=` up to the next
  `target=` or `;`); `person,car` (bare names map to themselves); both mixed:
  `raccoon=bear,dog; person` ( `;` ends a source list, so `person` is its own class);
- a mapping (YAML or JSON file, or a dict): `{raccoon: [bear, dog, cat], person: person}`;
- None: every model class as itself.

For a closed-vocabulary model (CenterNet's 80 COCO classes) a source must be one of its
classes: an unknown one is one line with "did you mean". For an open-vocabulary model (OWL,
Grounding DINO) the sources are the text prompts it is built with (`prompts()`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import Error, ValidationError, did_you_mean


@dataclass(frozen=True)
class Ontology:
    """targets: the dataset classes, in order; sources[i]: what maps to targets[i]. Empty
    targets: every model class as itself (`resolve` fills them in)."""

    targets: tuple[str, ...] = ()
    sources: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if len(self.targets) != len(self.sources):
            raise ValueError("one source list per target")
        seen: dict[str, str] = {}
        for t, srcs in zip(self.targets, self.sources):
            if not srcs:
                raise Error(f"class {t!r}: maps from nothing (write {t}=MODEL_CLASS)")
            for s in srcs:
                if s in seen and seen[s] != t:
                    raise Error(f"model class {s!r} is mapped to both {seen[s]!r} and {t!r}; "
                                "a model class can become one dataset class only")
                seen[s] = t
        if len(set(self.targets)) != len(self.targets):
            dup = next(t for i, t in enumerate(self.targets) if t in self.targets[:i])
            raise Error(f"class {dup!r} is listed twice; put all its sources in one entry "
                        f"({dup}=a,b)")

    @property
    def everything(self) -> bool:
        return not self.targets

    def prompts(self) -> tuple[str, ...]:
        """Every source, once, in order: the text prompts for an open-vocabulary model."""
        return tuple(dict.fromkeys(s for srcs in self.sources for s in srcs))

    def resolve(self, model_classes: tuple[str, ...] | list[str], model: str = "the model"
                ) -> tuple[tuple[str, ...], np.ndarray]:
        """(dataset classes, lut): lut[k] is the index in dataset classes of model class k,
        -1 for a model class the ontology does not ask for. An unknown source is one line
        naming the model, with "did you mean"."""
        names = list(model_classes)
        if self.everything:
            return tuple(names), np.arange(len(names), dtype=np.int64)
        index = {n: k for k, n in enumerate(names)}
        lowered = {n.lower(): k for k, n in enumerate(names)}
        lut = np.full(len(names), -1, np.int64)
        for t_i, srcs in enumerate(self.sources):
            for s in srcs:
                k = index.get(s, lowered.get(s.lower()))
                if k is None:
                    raise Error(f"{model} has no class {s!r}{did_you_mean(s, names)} "
                                f"(`visionflow models info` lists its {len(names)} classes)")
                lut[k] = t_i
        return self.targets, lut


def parse(spec: Any) -> Ontology:
    """An Ontology from text, a YAML/JSON file path, a dict, an Ontology or None (see the
    module docstring). Every mistake is one line."""
    if spec is None:
        return Ontology()
    if isinstance(spec, Ontology):
        return spec
    if isinstance(spec, dict):
        return _from_mapping(spec, "classes")
    if isinstance(spec, list | tuple):
        return _from_mapping({str(s): str(s) for s in spec}, "classes")
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and
                                        spec.lower().endswith((".yaml", ".yml", ".json"))):
        return _from_file(Path(spec))
    if not isinstance(spec, str):
        raise Error(f"classes must be text like 'raccoon=bear,dog', a mapping or a file, not "
                    f"{type(spec).__name__}")
    return _from_text(spec)


def _from_text(text: str) -> Ontology:
    targets: list[str] = []
    sources: list[list[str]] = []
    for group in text.split(";"):
        current: int | None = None
        for token in group.split(","):
            token = token.strip()
            if not token:
                if group.strip():
                    raise Error(f"classes {text!r}: an empty name between commas")
                continue
            if "=" in token:
                target, _, first = (p.strip() for p in token.partition("="))
                if not target or not first:
                    raise Error(f"classes {text!r}: {token!r} needs a name on both sides of "
                                "'=' (dataset_class=model_class)")
                if "=" in first:
                    raise Error(f"classes {text!r}: {token!r} has two '='; separate entries "
                                "with ';'")
                current = _target(targets, sources, target)
                sources[current].append(first)
            elif current is not None:
                sources[current].append(token)
            else:
                sources[_target(targets, sources, token)].append(token)
    if not targets:
        raise Error("classes: no class given (e.g. --classes 'raccoon=bear' or 'person,car')")
    return Ontology(tuple(targets), tuple(tuple(dict.fromkeys(s)) for s in sources))


def _target(targets: list[str], sources: list[list[str]], name: str) -> int:
    if name in targets:
        return targets.index(name)
    targets.append(name)
    sources.append([])
    return len(targets) - 1


def _from_mapping(mapping: dict, where: str) -> Ontology:
    if not mapping:
        raise Error(f"{where}: the mapping is empty")
    targets, sources = [], []
    for target, value in mapping.items():
        if not isinstance(target, str) or not target.strip():
            raise ValidationError(where, f"class name {target!r} must be non-empty text")
        if value is None:
            value = [target]
        elif isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip()
                                                          for v in value):
            raise ValidationError(where, f"class {target!r}: sources must be a name or a list "
                                  f"of names, got {value!r}")
        targets.append(target.strip())
        sources.append(tuple(dict.fromkeys(v.strip() for v in value)))
    return Ontology(tuple(targets), tuple(sources))


def _from_file(path: Path) -> Ontology:
    if not path.is_file():
        raise Error(f"{path}: no such classes file")
    from ..io.safe_load import load_yaml
    data = load_yaml(path)  # JSON is YAML; bounded, one ParseError line when malformed
    if not isinstance(data, dict):
        raise ValidationError(path, "a classes file is a mapping: dataset class -> model "
                              "class or list of model classes / prompts")
    return _from_mapping(data, str(path))
