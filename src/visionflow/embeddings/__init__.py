"""Embeddings shared by search, dedup, sampling and the web app.

    embed(ds, model)          -> Embeddings (computed once per image content and model; stored)
    load_embedder(model)      -> Embedder   ('phash' | 'dhash' | 'whash' | hub id | folder | .onnx)
    embed_path(src, model)    -> Embeddings (`visionflow embed`: read a dataset, then embed)

Model embedders need the `embed` extra (transformers + torch, or onnxruntime); hashes need
nothing beyond the core.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import Embedder, EmbedderInfo, Embeddings
from .compute import embed, embed_path

HASHES = ("phash", "dhash", "whash")


def load_embedder(model: str | os.PathLike | Embedder | None = None) -> Embedder:
    """An Embedder for a model name: an Embedder passes through; None / 'phash' / 'dhash' /
    'whash' -> a perceptual hash; a .onnx file or a folder holding model.onnx -> ONNX Runtime;
    anything else a Hugging Face hub id or a folder saved with save_pretrained."""
    if model is not None and not isinstance(model, str | os.PathLike):
        if isinstance(model, Embedder):
            return model
        raise TypeError(f"a model is a name, a path or an Embedder, not {type(model).__name__}")
    name = "phash" if model is None else os.fspath(model)
    if name in HASHES:
        from .hashes import HashEmbedder
        return HashEmbedder(name)
    if not name.strip():
        from ..core.errors import Error
        raise Error("--model is empty; pass phash, dhash, whash, a Hugging Face model or a "
                    ".onnx file")
    path = Path(name).expanduser()
    if name.lower().endswith(".onnx") or (path.is_dir() and (path / "model.onnx").is_file()):
        from .models import OnnxEmbedder
        return OnnxEmbedder(path)
    from .models import TransformersEmbedder
    return TransformersEmbedder(name)


__all__ = ["HASHES", "Embedder", "EmbedderInfo", "Embeddings", "embed", "embed_path",
           "load_embedder"]
