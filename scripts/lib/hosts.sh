# Sourced by scripts that run `streamscope serve` instances and the three backends' real runtimes
# under `serve --function`. Expects BIN (the streamscope binary), TOOLS (what install-test-deps.sh
# installed), tmp (a scratch directory) and an array pids (killed by the caller's trap).

start() { # name args... ; sets BASE and SPID
  local name=$1; shift
  "$BIN" serve --port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.log" &
  SPID=$!; pids+=("$SPID")
  for _ in $(seq 200); do [ -s "$tmp/$name.out" ] && break; sleep 0.05; done
  BASE=$(sed -n 's/^listening on //p' "$tmp/$name.out")
  [ -n "$BASE" ] || { echo "streamscope serve ($name) did not start: $(tail -n 3 "$tmp/$name.log")" >&2; return 1; }
}
stop() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null || true; }

# Whether a backend's runtime is installed here (bootstrap built, node_modules, the venv and LWA).
has_runtime() {
  case $1 in
    rust) [ -x "$PWD/target/release/bootstrap" ] ;;
    node) [ -e src/backend/node/node_modules/aws-lambda-ric/dist/rapid-client.node ] && command -v node >/dev/null ;;
    python) [ -x "$TOOLS/venv/bin/python" ] && [ -x "$TOOLS/lwa/bin/lambda-adapter" ] ;;
  esac
}

function_args() { # backend upstream
  case $1 in
    rust) echo "--function $PWD/target/release/bootstrap --function-env STREAMSCOPE_UPSTREAM_URL=$2" ;;
    node) echo "--function ./node_modules/.bin/aws-lambda-ric|index.handler --function-dir $PWD/src/backend/node --function-handler index.handler --function-env UPSTREAM_URL=$2" ;;
    python) echo "--function ./run.sh --function-extension $TOOLS/lwa/bin/lambda-adapter --function-dir $PWD/src/backend/python --function-handler run.sh --function-env PYTHON=$TOOLS/venv/bin/python --function-env AWS_LWA_INVOKE_MODE=response_stream --function-env AWS_LWA_READINESS_CHECK_PATH=/healthz --function-env PORT={port} --function-env UPSTREAM_URL=$2" ;;
  esac
}
path_of() { [ "$1" = rust ] && echo /relay || echo /file; }

host() { # name backend upstream extra...
  local name=$1 backend=$2 upstream=$3; shift 3
  local args=()
  # Split on spaces, then put back the one space inside the Node command.
  for a in $(function_args "$backend" "$upstream"); do args+=("${a//|/ }"); done
  start "$name" "${args[@]}" --function-memory 1024 --function-concurrency 1 "$@"
}
