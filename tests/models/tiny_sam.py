"""A tiny random SAM saved like a real one (config.json, model.safetensors, processor
config), for tests that need a SAM model without downloading one: the model tests, the web
app's API tests and its browser test (`build_tiny_sam(folder)`). Random weights: its masks
mean nothing, only their shapes, frames and determinism are tested."""

from __future__ import annotations

from pathlib import Path

SIDE = 64          # the model's input square (real SAM: 1024)


def build_tiny_sam(folder: str | Path, *, seed: int = 0) -> Path:
    """Save a tiny random transformers SamModel + SamProcessor into `folder` (created);
    returns the folder. The same seed gives the same weights."""
    import torch
    from transformers import SamConfig, SamImageProcessor, SamModel, SamProcessor
    from transformers.models.sam.configuration_sam import (SamMaskDecoderConfig,
                                                           SamPromptEncoderConfig,
                                                           SamVisionConfig)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vision = SamVisionConfig(hidden_size=32, output_channels=16, num_hidden_layers=2,
                             num_attention_heads=2, image_size=SIDE, patch_size=8, mlp_dim=64,
                             global_attn_indexes=[1], window_size=4, num_pos_feats=8)
    prompt = SamPromptEncoderConfig(hidden_size=16, image_size=SIDE, patch_size=8,
                                    mask_input_channels=4, num_point_embeddings=4)
    decoder = SamMaskDecoderConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                   mlp_dim=32, iou_head_hidden_dim=16,
                                   num_multimask_outputs=3)
    config = SamConfig(vision_config=vision.to_dict(), prompt_encoder_config=prompt.to_dict(),
                       mask_decoder_config=decoder.to_dict())
    torch.manual_seed(seed)
    model = SamModel(config).eval()
    with torch.no_grad():
        # Unit-scale weights (fan-in init) and no offset in the mask head: with transformers'
        # default init (std 0.02) the masks are all or nothing, and their logits ~1e-5, too
        # flat to test frames, polygons or the ONNX export against.
        for name, p in model.named_parameters():
            if p.dim() >= 2 and "norm" not in name:
                p.normal_(0.0, 1.0 / float(p[0].numel()) ** 0.5)
            elif name.endswith("bias") and ("upscale_conv" in name or "hypernetworks" in name):
                p.zero_()
    model.save_pretrained(folder)
    processor = SamProcessor(image_processor=SamImageProcessor(
        size={"longest_edge": SIDE}, pad_size={"height": SIDE, "width": SIDE}))
    processor.save_pretrained(folder)
    return folder


if __name__ == "__main__":   # python tests/models/tiny_sam.py FOLDER (the browser test's set-up)
    import sys
    print(build_tiny_sam(sys.argv[1] if len(sys.argv) > 1 else "tiny-sam"))
