// Bun.serve answering GET /health with the same JSON body as `buildnet serve`.
const port = Number(Bun.argv[2] || 7893);
const body = JSON.stringify({ status: 'ok', version: Bun.argv[3] || '0.1.0' });
Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(req) {
    if (new URL(req.url).pathname === '/health') {
      return new Response(body, { headers: { 'content-type': 'application/json' } });
    }
    return new Response(null, { status: 404 });
  },
});
console.log(`listening on http://127.0.0.1:${port}`);
