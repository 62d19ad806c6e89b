// Node's `http` answering GET /health with the same JSON body as `buildnet serve`.
import http from 'node:http';
const port = Number(process.argv[2] || 7892);
const body = JSON.stringify({ status: 'ok', version: process.argv[3] || '0.1.0' });
http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } else {
    res.writeHead(404);
    res.end();
  }
}).listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
