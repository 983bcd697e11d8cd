// Hash routes (`#/grid?class=a`, `#/image/12?class=a`, `#/health`, ...): the server serves one
// index.html, and the browser's history keeps every page and filter for back/forward/reload.
import { useEffect, useState } from "preact/hooks";

export type Route = { page: string; id: number | null; params: URLSearchParams };

export function parseRoute(hash: string = location.hash): Route {
  const body = hash.replace(/^#\/?/, "");
  const q = body.indexOf("?");
  const path = q < 0 ? body : body.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : body.slice(q + 1));
  const [page, id] = path.split("/");
  const n = id === undefined ? NaN : Number(id);
  return { page: page || "grid", id: Number.isInteger(n) ? n : null, params };
}

export function href(page: string, query = "", id: number | null = null): string {
  return `#/${page}${id === null ? "" : "/" + id}${query ? "?" + query : ""}`;
}

export function go(page: string, query = "", id: number | null = null, replace = false) {
  const h = href(page, query, id);
  if (replace) history.replaceState(null, "", h);
  else history.pushState(null, "", h);
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(parseRoute());
  useEffect(() => {
    const on = () => setRoute(parseRoute());
    window.addEventListener("hashchange", on);
    window.addEventListener("popstate", on);
    return () => {
      window.removeEventListener("hashchange", on);
      window.removeEventListener("popstate", on);
    };
  }, []);
  return route;
}
