// Serves the page of the cross-origin example, on its own origin.
//
//   node examples/cross-origin/web.mjs      then open http://localhost:5173
//
// Environment: PORT (default 5173), API_URL (default http://localhost:3000).
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";

const apiUrl = process.env.API_URL ?? "http://localhost:3000";
const page = (await readFile(new URL("./index.html", import.meta.url), "utf8")).replaceAll("__API_URL__", apiUrl);

const http = createServer((req, res) => {
  if (req.url !== "/") {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(page);
});
http.listen(Number(process.env.PORT ?? 5173), () => {
  console.log(`Page on http://localhost:${http.address().port}, talking to ${apiUrl}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => http.close(() => process.exit(0)));
}
