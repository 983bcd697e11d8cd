"""`visionflow app`: a local web app over a workspace or any dataset folder. One process
(FastAPI + uvicorn) over the library: filtering and facets run on the columnar arrays, edits
are saved as new workspace revisions, the front end (TypeScript, built by Vite) ships in the
wheel under `static/`. Needs `visionflow[web]`."""
