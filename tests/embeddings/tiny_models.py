"""Tiny randomly initialised CLIP, SigLIP and DINOv2 models, saved with save_pretrained (the
folder layout a real model has), plus a word-level tokenizer: what the embedding tests load
through the same from_pretrained path real models use, with HF_HUB_OFFLINE=1."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'visionflow[embed]')")
transformers = pytest.importorskip("transformers",
                                   reason="transformers is not installed (pip install 'visionflow[embed]')")

WORDS = "a photo of the cat dog raccoon at night red green blue coffee rocket".split()
SIDE = 32  # input side: patch 8 -> 16 patches


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    vocab = {"[PAD]": 0, "[UNK]": 1, "[BOS]": 2, "[EOS]": 3,
             **{w: i + 4 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    # like CLIP's tokenizer: BOS text EOS (CLIP pools the text at its EOS token)
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", 2), ("[EOS]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   bos_token="[BOS]", eos_token="[EOS]")


def _vision(**extra):
    return dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                image_size=SIDE, patch_size=8, **extra)


def _text():
    return dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                vocab_size=len(WORDS) + 4, max_position_embeddings=16, bos_token_id=2,
                eos_token_id=3, pad_token_id=0)


def save_tiny(kind: str, folder: Path, seed: int = 0) -> Path:
    """Build a tiny `kind` ('clip', 'siglip', 'dinov2') model with weights from `seed` and save
    it (model, image processor and, for text models, tokenizer) into `folder`."""
    from transformers import (BitImageProcessor, CLIPConfig, CLIPImageProcessor, CLIPModel,
                              Dinov2Config, Dinov2Model, SiglipConfig, SiglipImageProcessor,
                              SiglipModel)
    torch.manual_seed(seed)
    if kind == "clip":
        model = CLIPModel(CLIPConfig(vision_config=_vision(), text_config=_text(),
                                     projection_dim=24))
        processor = CLIPImageProcessor(size={"shortest_edge": SIDE},
                                       crop_size={"height": SIDE, "width": SIDE})
    elif kind == "siglip":
        model = SiglipModel(SiglipConfig(vision_config=_vision(), text_config=_text()))
        processor = SiglipImageProcessor(size={"height": SIDE, "width": SIDE})
    elif kind == "dinov2":
        model = Dinov2Model(Dinov2Config(**_vision()))
        processor = BitImageProcessor(size={"shortest_edge": SIDE + 4},
                                      crop_size={"height": SIDE, "width": SIDE})
    else:
        raise ValueError(kind)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    if kind != "dinov2":
        _tokenizer().save_pretrained(folder)
    return folder


DIMS = {"clip": 24, "siglip": 32, "dinov2": 32}
