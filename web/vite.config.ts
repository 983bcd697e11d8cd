// Builds the app into the Python package (src/visionflow/app/static/), which the server
// serves at / and /assets/*. Everything, onnxruntime-web's wasm included, is a local asset:
// the app must work offline (no CDN, no external fonts).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../src/visionflow/app/static",
    emptyOutDir: true,
    assetsDir: "assets",
    chunkSizeWarningLimit: 1000,
    // no inlining: the wasm must be a file the server sends with its own content type
    assetsInlineLimit: 0,
  },
  server: { proxy: { "/api": "http://127.0.0.1:8765" } },
});
