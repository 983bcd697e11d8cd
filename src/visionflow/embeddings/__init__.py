"""Embeddings shared by search, dedup, sampling and the web app.

    embed(ds, model)          -> Embeddings (computed once per image content and model; stored)
    load_embedder(model)      -> Embedder   ('phash' | 'dhash' | 'whash' | hub id | folder | .onnx)

Model embedders need the `embed` extra (transformers + torch, or onnxruntime); hashes need
nothing beyond the core.
"""

from .base import Embedder, EmbedderInfo, Embeddings

__all__ = ["Embedder", "EmbedderInfo", "Embeddings"]
