// The article's Node.js relay, done properly: Lambda's native response streaming
// (awslambda.streamifyResponse + HttpResponseStream.from) relaying the one configured object URL
// (UPSTREAM_URL: a public S3 object, or any http(s) URL), with Range passed on.
//
// Unlike the article it forwards the upstream's status and its length and digest headers (so a
// client can tell a cut file from a whole one), and an upstream failure part-way ends the
// invocation with an error (the runtime sends it as HTTP trailers), never with a clean end.
import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';

const UPSTREAM_URL = process.env.UPSTREAM_URL;
// Response headers worth passing on: what the body is, how long, and how to verify it.
const PASS = [
  'content-type',
  'content-length',
  'content-range',
  'accept-ranges',
  'etag',
  'last-modified',
  'repr-digest',
  'x-amz-checksum-sha256',
  'x-amz-checksum-type',
];

function header(event, name) {
  const headers = event?.headers ?? {};
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

function get(url, headers) {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { headers }, resolve);
    req.on('error', reject);
  });
}

export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  if (!UPSTREAM_URL) {
    responseStream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 500,
      headers: { 'content-type': 'application/json' },
    });
    responseStream.end(JSON.stringify({ message: 'UPSTREAM_URL is not set' }));
    return;
  }
  // A range, of one version of the object (If-Range), is the upstream's to answer.
  const ask = {};
  for (const name of ['range', 'if-range']) {
    const value = header(event, name);
    if (value) ask[name] = value;
  }
  // Ask the upstream first: its status and headers become ours (the article answered 200 before
  // asking, so a missing object came back as "200 Upstream error: 404").
  const upstream = await get(UPSTREAM_URL, ask);
  const headers = {};
  for (const name of PASS) {
    if (upstream.headers[name] !== undefined) headers[name] = upstream.headers[name];
  }
  responseStream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: upstream.statusCode,
    headers,
  });
  // The prelude goes out with the first write; an empty body must still send it.
  responseStream.write('');
  // Copied by hand rather than with pipeline(): pipeline() destroys the response stream when the
  // upstream fails, which aborts the POST to the Runtime API; throwing instead lets the runtime
  // end the response with its error trailers.
  for await (const chunk of upstream) {
    if (!responseStream.write(chunk)) {
      await once(responseStream, 'drain');
    }
  }
  if (!upstream.complete) {
    throw new Error(`the upstream response ended early (${UPSTREAM_URL})`);
  }
  responseStream.end();
});
