#!/usr/bin/env bash
# Starts nginx (Debian's package) on 127.0.0.1 with a throwaway CA, serving DIR/www, for
# benchmarks: plain HTTP, HTTPS with HTTP/1.1 only, and HTTPS with h2 (ALPN), three ports.
#   source scripts/local-nginx.sh; nginx_start DIR
# sets NGINX_HTTP, NGINX_HTTPS1, NGINX_H2 (base URLs), NGINX_CA (the CA's PEM) and NGINX_PID.
# nginx_stop stops it. Needs: nginx, openssl.

nginx_certs() { # dir
  local d=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=streamscope-throwaway-ca -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=localhost -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/ext" -out "$d/server.pem" 2>/dev/null
}

nginx_start() { # dir
  local d=$1 try p1 p2 p3
  mkdir -p "$d/www" "$d/tmp"
  [ -f "$d/server.pem" ] || nginx_certs "$d"
  for try in 1 2 3 4 5 6 7 8; do
    # Random high ports; nginx itself binds them, and a port already taken makes it fail at once,
    # so another set is tried (no port is ever bound, released and reused).
    p1=$((20000 + RANDOM % 20000)); p2=$((p1 + 1)); p3=$((p1 + 2))
    cat >"$d/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $d/error.log warn;
pid $d/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  ssl_certificate $d/server.pem;
  ssl_certificate_key $d/server.key;
  server { listen 127.0.0.1:$p1; root $d/www; }
  server { listen 127.0.0.1:$p2 ssl; root $d/www; }
  server { listen 127.0.0.1:$p3 ssl http2; root $d/www; }
}
EOF
    : >"$d/error.log"
    nginx -c "$d/nginx.conf" -p "$d" &
    NGINX_PID=$!
    for _ in $(seq 50); do
      if curl -s -o /dev/null "http://127.0.0.1:$p1/" 2>/dev/null; then
        NGINX_HTTP=http://127.0.0.1:$p1 NGINX_HTTPS1=https://127.0.0.1:$p2
        NGINX_H2=https://127.0.0.1:$p3 NGINX_CA=$d/ca.pem
        return 0
      fi
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null
  done
  echo "nginx did not start: $(tail -3 "$d/error.log")" >&2
  return 1
}

nginx_stop() {
  [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  return 0
}
