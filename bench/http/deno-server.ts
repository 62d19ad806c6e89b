// Deno.serve answering GET /health with the same JSON body as `buildnet serve`.
const port = Number(Deno.args[0] || 7894);
const body = JSON.stringify({ status: 'ok', version: Deno.args[1] || '0.1.0' });
Deno.serve({ hostname: '127.0.0.1', port, onListen: () => console.log(`listening on http://127.0.0.1:${port}`) }, (req) => {
  if (new URL(req.url).pathname === '/health') {
    return new Response(body, { headers: { 'content-type': 'application/json' } });
  }
  return new Response(null, { status: 404 });
});
