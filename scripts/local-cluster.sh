#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, as controller-runtime's envtest runs it, plus the
# controller-manager's namespace and garbage-collector controllers.
#
#   local-cluster.sh up   [--dir DIR] [--owner-pid PID]   start; prints the kubeconfig path
#   local-cluster.sh down [--dir DIR]                     stop everything, remove DIR
#   local-cluster.sh env  [--dir DIR]                     print `export KUBECONFIG=...`
#
# DIR (default ${UMBRA_CLUSTER_DIR:-/tmp/umbra-local-cluster}) holds certificates, kubeconfigs,
# logs and pid files; etcd's data lives on /dev/shm. With --owner-pid, a watchdog runs `down` when
# that process exits, so a crashed test binary leaves nothing behind.
#
# Files written in DIR: kubeconfig (admin, system:masters), user.kubeconfig (a user with no RBAC
# bindings, client certificate), tokens/{admin,user} (bearer tokens), ca.crt, cluster.env
# (ports, binaries, etcd endpoint), *.log. The aggregation layer is configured (requestheader
# flags, front proxy CA and client certificate in DIR/pki/front-proxy-*), so an extension API
# server such as umbra-sim's virt-api can be registered with an APIService.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

cmd=${1:-}
shift || true
dir=${UMBRA_CLUSTER_DIR:-/tmp/umbra-local-cluster}
owner=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --owner-pid) owner=$2; shift 2 ;;
    *) echo "local-cluster.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

log() { echo "[local-cluster] $*" >&2; }
die() { echo "local-cluster.sh: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME CMD...: runs CMD in its own process group (setsid), logs to DIR/NAME.log.
start() {
  local name=$1
  shift
  setsid "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

# A process that has exited but was not reaped (a zombie: PID 1 of a container may never reap)
# counts as gone.
running() {
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $stat != Z* ]]
}

alive() { [[ -f $dir/$1.pid ]] && running "$(cat "$dir/$1.pid")"; }

# wait_for NAME SECONDS CHECK...: polls CHECK every 100 ms while NAME's process lives.
wait_for() {
  local name=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      return 1
    fi
    if ((SECONDS > deadline)); then
      return 2
    fi
    sleep 0.1
  done
}

stop_one() {
  local name=$1 pid
  [[ -f $dir/$name.pid ]] || return 0
  pid=$(cat "$dir/$name.pid")
  if running "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      running "$pid" || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/$name.pid"
}

gen_certs() {
  local pki=$dir/pki
  mkdir -p "$pki" "$dir/tokens"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3 \
      -subj "/CN=umbra-local-ca" 2>/dev/null
    cert() { # cert NAME SUBJ [EXT]
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      if [[ -n ${3:-} ]]; then
        printf '%s\n' "$3" >"$1.ext"
        openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" \
          -days 3 -extfile "$1.ext" 2>/dev/null
      else
        openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" \
          -days 3 2>/dev/null
      fi
    }
    cert apiserver "/CN=kube-apiserver" \
      "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
    cert admin "/O=system:masters/CN=umbra-admin" "extendedKeyUsage=clientAuth"
    cert user "/CN=umbra-user" "extendedKeyUsage=clientAuth"
    # The aggregation layer: a CA of its own for the front proxy (not --client-ca-file: an
    # extension API server must not take a user's certificate for the front proxy's) and the
    # client certificate kube-apiserver presents when it proxies to an APIService's backend.
    openssl req -x509 -newkey rsa:2048 -nodes -keyout front-proxy-ca.key -out front-proxy-ca.crt \
      -days 3 -subj "/CN=umbra-front-proxy-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout front-proxy-client.key -out front-proxy-client.csr \
      -subj "/CN=front-proxy-client" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >front-proxy-client.ext
    openssl x509 -req -in front-proxy-client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key \
      -CAcreateserial -out front-proxy-client.crt -days 3 -extfile front-proxy-client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  cp "$pki/ca.crt" "$dir/ca.crt"
  openssl rand -hex 16 >"$dir/tokens/admin"
  openssl rand -hex 16 >"$dir/tokens/user"
  {
    echo "$(cat "$dir/tokens/admin"),umbra-token-admin,uid-admin,\"system:masters\""
    echo "$(cat "$dir/tokens/user"),umbra-token-user,uid-user"
  } >"$pki/tokens.csv"
}

# kubeconfig FILE CERTNAME
write_kubeconfig() {
  local file=$1 who=$2 b64="base64 -w0"
  cat >"$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: umbra-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $($b64 <"$dir/pki/ca.crt")
users:
- name: $who
  user:
    client-certificate-data: $($b64 <"$dir/pki/$who.crt")
    client-key-data: $($b64 <"$dir/pki/$who.key")
contexts:
- name: umbra-local
  context: {cluster: umbra-local, user: $who, namespace: default}
current-context: umbra-local
KC
}

start_etcd() {
  etcd_port=$(free_port)
  local peer_port
  peer_port=$(free_port)
  etcd_data=$(mktemp -d /dev/shm/umbra-etcd.XXXXXX)
  echo "$etcd_data" >"$dir/etcd.datadir"
  start etcd "$etcd_bin/etcd" --data-dir="$etcd_data" --name=umbra \
    --listen-client-urls="http://127.0.0.1:$etcd_port" \
    --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="umbra=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync=true --log-level=warn
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$etcd_port/health"
}

start_apiserver() {
  api_port=$(free_port)
  local pki=$dir/pki
  # podtemplates#0: no watch cache for that one resource, so tests can force "410 Gone" by
  # compacting etcd; every other resource is served as in production.
  start kube-apiserver "$k8s_bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --secure-port="$api_port" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer="https://127.0.0.1:$api_port/" \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --disable-admission-plugins=ServiceAccount \
    --allow-privileged=true --watch-cache-sizes=podtemplates#0 \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" \
    --proxy-client-key-file="$pki/front-proxy-client.key" \
    --cert-dir="$dir/apiserver-certs"
  wait_for kube-apiserver 90 curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" \
    --key "$pki/admin.key" "https://127.0.0.1:$api_port/readyz"
}

up() {
  command -v python3 >/dev/null || die "python3 is needed to pick free ports (run scripts/setup.sh)"
  command -v openssl >/dev/null || die "openssl is needed (run scripts/setup.sh)"
  command -v curl >/dev/null || die "curl is needed (run scripts/setup.sh)"
  if [[ -f $dir/kube-apiserver.pid ]] && alive kube-apiserver; then
    die "a control plane already runs in $dir (run: $0 down --dir $dir)"
  fi
  local bins
  bins=$("$here/scripts/build-control-plane.sh")
  k8s_bin=$(sed -n 1p <<<"$bins")
  etcd_bin=$(sed -n 2p <<<"$bins")
  rm -rf "$dir"
  mkdir -p "$dir"
  gen_certs
  local attempt rc
  for attempt in 1 2 3; do
    rc=0
    start_etcd || rc=$?
    if ((rc == 0)); then
      start_apiserver || rc=$?
      ((rc == 0)) && break
      stop_one kube-apiserver
    fi
    log "start attempt $attempt failed (rc=$rc); retrying on new ports"
    stop_one etcd
    rm -rf "$(cat "$dir/etcd.datadir")"
  done
  if ((rc != 0)); then
    tail -n 20 "$dir/kube-apiserver.log" "$dir/etcd.log" >&2 2>/dev/null || true
    down_quiet
    die "control plane did not become ready (see the log lines above)"
  fi
  write_kubeconfig "$dir/kubeconfig" admin
  write_kubeconfig "$dir/user.kubeconfig" user
  # The controller-manager runs as system:masters: without per-controller service accounts
  # (--use-service-account-credentials, which needs the token controller), its own identity may
  # not delete the dependents the garbage collector finds.
  start kube-controller-manager "$k8s_bin/kube-controller-manager" \
    --kubeconfig="$dir/kubeconfig" \
    --controllers=namespace-controller,garbage-collector-controller,clusterrole-aggregation-controller \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 \
    --use-service-account-credentials=false
  local kc=("$k8s_bin/kubectl" "--kubeconfig=$dir/kubeconfig")
  if ! wait_for kube-apiserver 60 "${kc[@]}" get namespace default; then
    down_quiet
    die "namespace 'default' did not appear"
  fi
  cat >"$dir/cluster.env" <<ENV
KUBECONFIG=$dir/kubeconfig
API_SERVER=https://127.0.0.1:$api_port
ETCD_ENDPOINT=http://127.0.0.1:$etcd_port
K8S_BIN=$k8s_bin
ETCD_BIN=$etcd_bin
KUBECTL=$k8s_bin/kubectl
ENV
  if [[ -n $owner ]]; then
    # Watchdog: tears the cluster down when the owner exits, however it exits.
    # shellcheck disable=SC2016 # $1..$3 expand in the child shell
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [[ -d "$3" ]]; do sleep 0.5; done
                    [[ -d "$3" ]] && "$2" down --dir "$3"' _ "$owner" "$0" "$dir" \
      >/dev/null 2>&1 </dev/null &
    echo $! >"$dir/watchdog.pid"
  fi
  log "ready: $("${kc[@]}" version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])') at https://127.0.0.1:$api_port"
  echo "$dir/kubeconfig"
}

down_quiet() {
  stop_one kube-controller-manager
  stop_one kube-apiserver
  stop_one etcd
  if [[ -f $dir/etcd.datadir ]]; then
    rm -rf "$(cat "$dir/etcd.datadir")"
  fi
  local wd=""
  [[ -f $dir/watchdog.pid ]] && wd=$(cat "$dir/watchdog.pid")
  rm -rf "$dir"
  # The watchdog may be the caller; it exits by itself once DIR is gone.
  if [[ -n $wd && $wd != "$$" && $wd != "$PPID" ]]; then kill "$wd" 2>/dev/null || true; fi
}

case $cmd in
  up) up ;;
  down) down_quiet; log "stopped and removed $dir" ;;
  env)
    [[ -f $dir/kubeconfig ]] || die "no control plane in $dir (run: $0 up)"
    echo "export KUBECONFIG=$dir/kubeconfig"
    ;;
  *) echo "usage: $0 up|down|env [--dir DIR] [--owner-pid PID]" >&2; exit 2 ;;
esac
