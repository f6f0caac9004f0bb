"""The article's Python relay, done properly: a Flask app streaming a `requests` download of the one
configured object URL (UPSTREAM_URL), run on Lambda behind the Lambda Web Adapter in response
streaming mode (AWS_LWA_INVOKE_MODE=response_stream).

Unlike the article it passes Range on and forwards the upstream's status and its length and digest
headers, so a client can tell a cut file from a whole one. An upstream that fails part-way makes the
generator raise: the web server then drops the connection, and the adapter ends the stream with the
Lambda runtime's error text instead of a clean end.
"""

import os

import requests
from flask import Flask, Response, request, stream_with_context

app = Flask(__name__)

UPSTREAM_URL = os.environ.get("UPSTREAM_URL", "")
# Response headers worth passing on: what the body is, how long, and how to verify it.
PASS = (
    "content-type",
    "content-length",
    "content-range",
    "accept-ranges",
    "etag",
    "last-modified",
    "repr-digest",
    "x-amz-checksum-sha256",
    "x-amz-checksum-type",
)
CHUNK = 64 * 1024


@app.get("/healthz")
def healthz():
    # The adapter's readiness check (AWS_LWA_READINESS_CHECK_PATH).
    return "ok\n"


@app.get("/")
@app.get("/<path:_anything>")
def relay(_anything=None):
    if not UPSTREAM_URL:
        return {"message": "UPSTREAM_URL is not set"}, 500
    # A range, of one version of the object (If-Range), is the upstream's to answer.
    headers = {h: request.headers[h] for h in ("Range", "If-Range") if h in request.headers}
    # Ask the upstream first: its status and headers become ours.
    upstream = requests.get(UPSTREAM_URL, headers=headers, stream=True, timeout=(10, 60))
    out = {name: upstream.headers[name] for name in PASS if name in upstream.headers}

    def body():
        # iter_content raises when the upstream breaks off (requests checks Content-Length and
        # chunk framing), and the exception aborts the response mid-body.
        try:
            yield from upstream.iter_content(chunk_size=CHUNK)
        finally:
            upstream.close()

    return Response(stream_with_context(body()), status=upstream.status_code, headers=out)


if __name__ == "__main__":
    # Local runs and `run.sh`: Flask's own server, threaded, on the adapter's port.
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8080")), threaded=True)
