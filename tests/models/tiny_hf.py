"""Tiny random Hugging Face models of every "bring your own" family, saved like real ones
(config.json, weights, processor and tokenizer files) so tests load them through the real
`from_pretrained` path offline. Random weights: shapes, frames, prompt mapping and determinism
are testable, quality is not."""

from __future__ import annotations

import string
from pathlib import Path

WORDS = ("raccoon", "dog", "cat", "a", "photo", "of", "bear", "person")


def _bpe_vocab() -> dict[str, int]:
    """A byte-level BPE vocabulary with every byte (alone and word-final) and the prompt
    words whole: CLIP's tokenizer format without its 49k merges."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    chars = list(bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(vocab)}


def clip_tokenizer(max_length: int = 32):
    from transformers import CLIPTokenizer
    tok = CLIPTokenizer(vocab=_bpe_vocab(), merges=[])
    tok.model_max_length = max_length
    return tok


def bert_tokenizer():
    from transformers import BertTokenizer
    letters = list(string.ascii_lowercase) + list(string.digits)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + list(WORDS) + letters \
        + [f"##{c}" for c in letters]
    return BertTokenizer(vocab={tok: i for i, tok in enumerate(dict.fromkeys(vocab))})


def _clip_parts(vocab_size: int, image_size: int, patch: int, projection: int = 16
                ) -> tuple[dict, dict]:
    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=37,
                num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=32,
                projection_dim=projection, bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1,
                pad_token_id=vocab_size - 1)
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                  num_attention_heads=2, image_size=image_size, patch_size=patch,
                  projection_dim=projection)
    return text, vision


def build_tiny_owl(folder: str | Path, *, v2: bool = True, seed: int = 0) -> Path:
    """OWLv2 (v2=True) or OWL-ViT: 64 px input, 16 px patches -> 16 box queries."""
    import torch
    import transformers as tf
    folder = Path(folder)
    tok = clip_tokenizer()
    text, vision = _clip_parts(len(tok), 64, 16, projection=32)   # OWL: = text width
    if v2:
        config = tf.Owlv2Config(text_config=text, vision_config=vision, projection_dim=32)
        model_cls, proc = tf.Owlv2ForObjectDetection, tf.Owlv2Processor(
            image_processor=tf.Owlv2ImageProcessor(size={"height": 64, "width": 64}),
            tokenizer=tok)
    else:
        config = tf.OwlViTConfig(text_config=text, vision_config=vision, projection_dim=32)
        model_cls, proc = tf.OwlViTForObjectDetection, tf.OwlViTProcessor(
            image_processor=tf.OwlViTImageProcessor(size={"height": 64, "width": 64},
                                                    crop_size={"height": 64, "width": 64}),
            tokenizer=tok)
    torch.manual_seed(seed)
    model_cls(config).eval().save_pretrained(folder)
    proc.save_pretrained(folder)
    return folder


def build_tiny_clip(folder: str | Path, *, seed: int = 0) -> Path:
    import torch
    import transformers as tf
    folder = Path(folder)
    tok = clip_tokenizer()
    text, vision = _clip_parts(len(tok), 32, 8)
    config = tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    torch.manual_seed(seed)
    tf.CLIPModel(config).eval().save_pretrained(folder)
    tf.CLIPProcessor(image_processor=tf.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tok).save_pretrained(folder)
    return folder


def build_tiny_grounding_dino(folder: str | Path, *, seed: int = 0) -> Path:
    """Grounding DINO with a tiny ResNet backbone and BERT text encoder, 8 queries."""
    import torch
    import transformers as tf
    folder = Path(folder)
    tok = bert_tokenizer()
    backbone = tf.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 16, 16],
                               depths=[1, 1, 1, 1], out_features=["stage2", "stage3", "stage4"])
    text = tf.BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=37,
                         max_position_embeddings=64)
    config = tf.GroundingDinoConfig(
        backbone_config=backbone.to_dict(), text_config=text.to_dict(), use_timm_backbone=False,
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=8,
        num_feature_levels=3, encoder_n_points=2, decoder_n_points=2, max_text_len=32)
    torch.manual_seed(seed)
    tf.GroundingDinoForObjectDetection(config).eval().save_pretrained(folder)
    proc = tf.GroundingDinoProcessor(
        image_processor=tf.GroundingDinoImageProcessor(
            size={"shortest_edge": 64, "longest_edge": 96}), tokenizer=tok)
    proc.save_pretrained(folder)
    return folder


def build_tiny_siglip(folder: str | Path, *, seed: int = 0) -> Path:
    """SigLIP (sigmoid scores, a learned logit bias). Its own tokenizer needs sentencepiece;
    the processor here carries the byte-level one above, which changes no code path of ours."""
    import torch
    import transformers as tf
    folder = Path(folder)
    tok = clip_tokenizer()
    text, vision = _clip_parts(len(tok), 32, 8)
    for part in (text, vision):
        part.pop("projection_dim", None)
    text.update(pad_token_id=len(tok) - 1, bos_token_id=None, eos_token_id=len(tok) - 1)
    config = tf.SiglipConfig(text_config=text, vision_config=vision)
    torch.manual_seed(seed)
    model = tf.SiglipModel(config).eval()
    with torch.no_grad():
        model.logit_bias.fill_(-1.5)          # not 0: the bias must be applied to count
    model.save_pretrained(folder)
    tf.SiglipProcessor(image_processor=tf.SiglipImageProcessor(
        size={"height": 32, "width": 32}), tokenizer=tok).save_pretrained(folder)
    return folder
