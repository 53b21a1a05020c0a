// The web map is served by FastAPI (app/routers/web.py): index.html at `/`, built files under
// `/assets/`. `npm run dev` proxies the API to a running `locus serve` on port 8000.
import { defineConfig } from "vite";

const api = "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
    // MapLibre alone is ~1 MB minified; warn only above that.
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: Object.fromEntries(
      ["/collections", "/analysis", "/processes", "/jobs", "/postcodes"].map((p) => [p, api]),
    ),
  },
});
