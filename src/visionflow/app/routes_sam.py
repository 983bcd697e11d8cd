"""SAM click-to-segment routes (web/API.md): the server computes an image's SAM embedding once
(cached by the file's content and the model, models/sam.py) and serves the prompt decoder as
ONNX; the browser runs that decoder per click with onnxruntime-web, so a click costs no round
trip. The model is the one named by `visionflow app PATH --sam HUB_ID_OR_FOLDER`
(`request.app.state.sam`, loaded by `load_sam`); without one both routes answer 404 with how
to configure it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from .errors import NotFound

router = APIRouter()

HINT = ("no SAM model is configured: start the app with one, e.g. 'visionflow app PATH --sam "
        "facebook/sam-vit-base' (a Hugging Face hub id, or a folder saved with "
        "save_pretrained)")


def load_sam(state: Any, name: str) -> Any:
    """The SAM model `name` (hub id or folder) for these routes; also tells /api/meta
    (state.sam) that click-to-segment is available. Called by server.prepare for --sam."""
    from ..models.sam import load_sam as load
    model = load(name)
    state.sam = {"configured": True, "model": model.info.name,
                 "hint": "click on an object (alt/right click: background, drag: a box)"}
    return model


def _model(request: Request) -> Any:
    model = getattr(request.app.state, "sam", None)
    if model is None:
        raise NotFound(HINT)
    return model


@router.post("/api/sam/embedding/{image_id}")
def embedding(image_id: str, request: Request) -> Response:
    """The image's SAM embedding: float32 little-endian bytes, C order; X-Shape, X-Scale,
    X-Input-Size, X-Image-Size and X-Pad-Size say how to use it (models/sam.py)."""
    model = _model(request)
    state = request.app.state.vf
    path = state.image_path(image_id)            # a bad id: 404 (UnknownImage)
    if not path.is_file():
        from .state import UnknownImage
        raise UnknownImage(f"image {image_id} ({path.name}): its file is missing")
    emb = model.embed_file(path)
    headers = {**emb.headers(), "X-Model": model.info.fingerprint,
               "Cache-Control": "no-store"}
    return Response(emb.array.astype("<f4", copy=False).tobytes(),
                    media_type="application/octet-stream", headers=headers)


@router.get("/api/sam/decoder.onnx")
def decoder(request: Request) -> Response:
    """The prompt decoder for the browser (exported once per model into the cache)."""
    from ..models.sam import decoder_file
    model = _model(request)
    return FileResponse(decoder_file(model), media_type="application/octet-stream",
                        headers={"Cache-Control": "no-cache", "X-Model": model.info.fingerprint})
