#!/bin/sh
# The function's handler: the Lambda Web Adapter layer's /opt/bootstrap execs it
# (AWS_LAMBDA_EXEC_WRAPPER), and the adapter (an extension) forwards each invocation to the app on
# $PORT (8080 on Lambda). gunicorn with threads, not Flask's development server: a response streams
# from a generator while other requests are served, and no worker timeout cuts a long stream.
# PYTHON: the interpreter (a venv's, locally); on Lambda, python3 with the packages beside app.py.
cd "$(dirname "$0")" || exit 1
exec "${PYTHON:-python3}" -m gunicorn --bind "127.0.0.1:${PORT:-8080}" --workers 1 --threads 8 \
  --timeout 0 --access-logfile - app:app
