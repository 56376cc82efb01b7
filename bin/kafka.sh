#!/usr/bin/env bash
# Start, stop or check a local single-node Kafka broker (KRaft) built from Maven Central jars.
# Usage: bin/kafka.sh start|stop|status [plain|secure]
#   plain   (the default) PLAINTEXT on localhost:9092, for make run and the tests; data in .local/kafka
#   secure  SASL_SSL (SCRAM-SHA-512) on localhost:9194 with ACLs, for the security tests; data,
#           certificates and passwords (made at its first start, never committed) in .local/kafka-secure
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${2:-plain}
case $profile in
  plain) home=.local/kafka config=conf/kafka/server.properties port=9092 ;;
  secure) home=.local/kafka-secure config=conf/kafka/server-secure.properties port=9194 ;;
  *) echo "usage: $0 start|stop|status [plain|secure]" >&2; exit 2 ;;
esac
pidfile=$home/broker.pid
libs=.local/kafka/libs
classpath="$libs/*"
java_opts=(-Xmx1g -Dlog4j2.configurationFile=conf/kafka/log4j2.yaml)

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

answers() { (exec 3<>"/dev/tcp/localhost/$1") 2>/dev/null; }

# The secure profile's certificate authority, broker certificate and passwords; a second authority
# nobody trusts, for the test of an untrusted certificate. Made once, kept in $home only.
tls_material() {
  local tls=$PWD/$home/tls secrets=$PWD/$home/secrets.env
  [[ -f $secrets ]] && return
  rm -rf "$tls" && mkdir -p "$tls"
  local store; store=$(openssl rand -hex 16)
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 365 -subj "/CN=settlement local CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=localhost" 2>/dev/null
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.pem -days 365 \
      -extfile <(printf "subjectAltName=DNS:localhost,IP:127.0.0.1") 2>/dev/null
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker -out broker.p12 -passout "pass:$store"
    keytool -importcert -noprompt -alias ca -file ca.pem -keystore truststore.p12 -storetype PKCS12 -storepass "$store" >/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -keyout untrusted-ca.key -out untrusted-ca.pem -days 365 \
      -subj "/CN=nobody trusts this CA" 2>/dev/null
    keytool -importcert -noprompt -alias ca -file untrusted-ca.pem -keystore untrusted-truststore.p12 \
      -storetype PKCS12 -storepass "$store" >/dev/null
    rm -f broker.csr ca.srl
  )
  umask 077
  {
    echo "STORE_PASSWORD=$store"
    for user in settlement payments intruder; do echo "${user^^}_PASSWORD=$(openssl rand -hex 16)"; done
  } > "$secrets"
}

start() {
  if running; then echo "kafka: already running (pid $(cat "$pidfile"))"; return; fi
  [[ -d $libs ]] || { echo "kafka: no broker jars in $libs; run 'make setup'" >&2; exit 2; }
  if answers "$port"; then echo "kafka: port $port is taken by another process" >&2; exit 1; fi
  mkdir -p "$home"
  local data=$PWD/$home/data overrides=$home/server.properties
  { cat "$config"; echo "log.dirs=$data"; } > "$overrides"
  if [[ $profile == secure ]]; then
    tls_material
    # shellcheck disable=SC1091
    source "$home/secrets.env"
    chmod 600 "$overrides"
    printf '%s\n' "ssl.keystore.location=$PWD/$home/tls/broker.p12" "ssl.keystore.password=$STORE_PASSWORD" \
      "ssl.key.password=$STORE_PASSWORD" >> "$overrides"
  fi
  if [[ ! -f $data/meta.properties ]]; then
    java "${java_opts[@]}" -cp "$classpath" kafka.tools.StorageTool format \
      --cluster-id "$(java -cp "$classpath" kafka.tools.StorageTool random-uuid)" \
      --config "$overrides" > "$home/format.log"
  fi
  nohup java "${java_opts[@]}" -cp "$classpath" kafka.Kafka "$overrides" > "$home/broker.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 120); do
    if answers "$port"; then
      if [[ $profile == secure ]]; then .venv/bin/python bin/kafka_users.py "$home/secrets.env"; fi
      echo "kafka: up on localhost:$port (pid $(cat "$pidfile"), log $home/broker.log)"
      return
    fi
    running || { echo "kafka: broker exited; see $home/broker.log" >&2; tail -n 20 "$home/broker.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "kafka: broker did not answer on localhost:$port within 60 s; see $home/broker.log" >&2
  exit 1
}

stop() {
  if ! running; then echo "kafka: not running"; rm -f "$pidfile"; return; fi
  local pid; pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$pidfile"
  echo "kafka: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running && answers "$port"; then echo "kafka: up (pid $(cat "$pidfile"))"; else echo "kafka: down"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status [plain|secure]" >&2; exit 2 ;;
esac
