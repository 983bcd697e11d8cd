"""The FastAPI application: the API routers over one `AppState`, the token guard, and the
built front end (static/). `create_app` is what tests drive with a TestClient; `serve` is what
`visionflow app` runs under uvicorn."""

from __future__ import annotations

# Owners while this is being built (one module each, no one edits another's):
#   state.py, index.py, thumbs.py, routes_browse.py  -- dataset/workspace state, filters,
#                                                       facets, thumbnails, images, health
#   security.py, routes_edit.py, routes_versions.py  -- token guard, save/classes/workspace,
#                                                       versions/wizard/export; this file
#   routes_sam.py                                    -- SAM embedding + decoder routes
