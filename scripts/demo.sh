#!/usr/bin/env bash
# `make demo`: the main job on one machine. A real local control plane (etcd + kube-apiserver +
# kube-controller-manager) with KubeVirt's CRDs; umbra-sim playing KubeVirt and six nodes
# (examples/clusters/small.yaml) and exporting their metrics; Debian's Prometheus scraping it;
# umbra-operator; then `kubectl apply -f examples/` and the placement followed to its end.
# It keeps everything running until Ctrl-C (or exits once placed with --once), then removes it all.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${UMBRA_DEMO_DIR:-/tmp/umbra-demo}
kubevirt_crds=$here/third_party/kubevirt/crds
# Optional: real VM traces the simulated VMs replay (not in the repository, see third_party/README.md).
traces_dir=${UMBRA_TRACES:-${UMBRA_SHARED:-$here/../shared}/data/traces}
build=${UMBRA_BUILD_DIR:-$here/build}
once=false
[[ ${1:-} == --once ]] && once=true

sim_bin=$build/src/simulator/umbra-sim
operator_bin=$build/operator/umbra-operator
for b in "$sim_bin" "$operator_bin"; do
  [[ -x $b ]] || { echo "[demo] $b is missing: run 'make build' first" >&2; exit 1; }
done
[[ -d $kubevirt_crds ]] || { echo "[demo] $kubevirt_crds not found: an incomplete checkout" >&2; exit 1; }
command -v prometheus >/dev/null || { echo "[demo] prometheus is not installed: run scripts/setup.sh" >&2; exit 1; }

pids=()
cleanup() {
  echo
  echo "[demo] stopping the operator, the simulator, Prometheus and the control plane"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$here/scripts/local-cluster.sh" down --dir "$dir/cp" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # url, what, seconds
  for _ in $(seq 1 $(($3 * 10))); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "[demo] $2 did not answer at $1; its log: $dir/$2.log" >&2
  tail -5 "$dir/$2.log" >&2 || true
  return 1
}

"$here/scripts/local-cluster.sh" down --dir "$dir/cp" >/dev/null 2>&1 || true
rm -rf "$dir" && mkdir -p "$dir"
echo "[demo] starting the local control plane (the first run builds it: many minutes)"
kubeconfig=$("$here/scripts/local-cluster.sh" up --dir "$dir/cp" --owner-pid $$)
# shellcheck disable=SC1091
source "$dir/cp/cluster.env"
kubectl=("$KUBECTL" "--kubeconfig=$kubeconfig")
echo "[demo] installing KubeVirt's CRDs (third_party/kubevirt/crds)"
"${kubectl[@]}" create -f "$kubevirt_crds/" -o name | sed 's/^/[demo]   /'
echo "[demo] installing Istio's VirtualService CRD (third_party/istio/crds): umbra-sim plays the mesh's mirroring"
"${kubectl[@]}" create -f "$here/third_party/istio/crds/virtualservices.networking.istio.io.yaml" -o name | sed 's/^/[demo]   /'
# Umbra's CRD, service account and RBAC come from its Helm chart, as on a real cluster. Nothing
# schedules pods here (no kubelet), so the chart's Deployment is scaled to 0 and the operator runs
# on this machine as the chart's service account: the demo exercises the chart's least-privilege
# RBAC.
echo "[demo] helm install umbra charts/umbra (CRD, RBAC, config; the operator runs locally)"
"$here/scripts/helm.sh" install umbra "$here/charts/umbra" --namespace umbra-system --create-namespace \
  --kubeconfig "$kubeconfig" --set replicaCount=0 >"$dir/helm-install.log" 2>&1 ||
  { cat "$dir/helm-install.log" >&2; exit 1; }
"${kubectl[@]}" wait --for condition=established --timeout=60s crd --all >/dev/null
token=$("${kubectl[@]}" -n umbra-system create token umbra --duration=24h)
cp "$kubeconfig" "$dir/umbra.kubeconfig"
"$KUBECTL" --kubeconfig="$dir/umbra.kubeconfig" config set-credentials umbra --token="$token" >/dev/null
"$KUBECTL" --kubeconfig="$dir/umbra.kubeconfig" config set-context --current --user=umbra >/dev/null

sim_port=$(free_port)
traces=()
if [[ -d $traces_dir ]]; then
  traces=(--traces "$traces_dir")
  echo "[demo] the simulated VMs replay the traces in $traces_dir"
else
  echo "[demo] no traces at $traces_dir (set UMBRA_TRACES): the simulated VMs run a steady 30 % load"
fi
echo "[demo] starting umbra-sim: examples/clusters/small.yaml, metrics on 127.0.0.1:$sim_port, KubeVirt's subresource API behind an APIService"
"$sim_bin" --kubeconfig "$kubeconfig" --cluster "$here/examples/clusters/small.yaml" \
  --metrics-addr "127.0.0.1:$sim_port" --virt-api-addr 127.0.0.1:0 "${traces[@]}" \
  >"$dir/umbra-sim.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$sim_port/healthz" umbra-sim 60

prom_port=$(free_port)
cat >"$dir/prometheus.yml" <<YAML
global: {scrape_interval: 5s, evaluation_interval: 5s}
scrape_configs:
  - job_name: umbra-sim
    static_configs: [{targets: ["127.0.0.1:$sim_port"]}]
YAML
echo "[demo] starting Prometheus on 127.0.0.1:$prom_port (scraping umbra-sim every 5 s)"
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$dir/prometheus.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$prom_port/-/ready" prometheus 60

metrics_port=$(free_port)
health_port=$(free_port)
cat >"$dir/umbra.yaml" <<YAML
prometheus: {url: "http://127.0.0.1:$prom_port", rateWindow: 30s}
YAML
echo "[demo] starting umbra-operator as system:serviceaccount:umbra-system:umbra (metrics over HTTPS on 127.0.0.1:$metrics_port)"
"$operator_bin" --kubeconfig "$dir/umbra.kubeconfig" --config "$dir/umbra.yaml" \
  --metrics-bind-address "127.0.0.1:$metrics_port" --metrics-secure --health-probe-bind-address "127.0.0.1:$health_port" \
  >"$dir/umbra-operator.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$health_port/readyz" umbra-operator 60

# Background VMs already running in the cluster, replaying busy Bitbrains VMs (without --traces,
# a steady load): they make the nodes differ in what node-level requests cannot show.
if ((${#traces[@]} > 0)); then
  echo "[demo] starting 8 background VMs that replay real Bitbrains traces"
  i=0
  for series in 306 198 041 043 053 046 045 047; do
    i=$((i + 1))
    cat <<YAML
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: background-$i, labels: {app: background}}
spec:
  runStrategy: Always
  template:
    metadata:
      labels: {app: background}
      annotations: {umbra.io/sim-workload: "trace:bitbrains_rnd_$series"}
    spec:
      domain:
        cpu: {cores: 4}
        memory: {guest: 8Gi}
        resources: {requests: {cpu: "2", memory: 8Gi}}
        devices: {disks: [{name: root, disk: {bus: virtio}}]}
      volumes: [{name: root, containerDisk: {image: quay.io/containerdisks/fedora:40}}]
YAML
  done | "${kubectl[@]}" apply -f - >/dev/null
  for _ in $(seq 1 120); do  # umbra-sim creates the VMIs, then boots them
    running=$("${kubectl[@]}" get vmi -l app=background -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c '^Running$' || true)
    ((running == 8)) && break
    sleep 0.5
  done
  "${kubectl[@]}" get vmi -l app=background -o custom-columns='  BACKGROUND VM:.metadata.name,NODE:.status.nodeName'
fi
"${kubectl[@]}" get nodes
echo "[demo] KubeVirt's common-instancetypes, the u1 sizes (virt-operator deploys them on a real cluster)"
"${kubectl[@]}" apply -f "$here/examples/kubevirt/common-instancetypes-u1.yaml" | sed 's/^/[demo]   /'
echo "[demo] kubectl apply -f examples/"
"${kubectl[@]}" apply -f "$here/examples/"
sp=$("${kubectl[@]}" get -f "$here/examples/02-shadowplacement.yaml" -o jsonpath='{.metadata.name}')
echo "[demo] following ShadowPlacement $sp (observation as in examples/02-shadowplacement.yaml)"
# What the mesh reports for the storefront and its Mirror shadows (umbra-sim's Istio metrics, via
# Prometheus): requests a second and the p95 latency, each shadow's share of the storefront's.
mesh_report() {
  local q="http://127.0.0.1:$prom_port/api/v1/query"
  local rate p95
  rate=$(curl -fsS "$q" --data-urlencode 'query=sum by (destination_workload) (rate(istio_requests_total{destination_workload=~"storefront.*"}[1m]))' 2>/dev/null) || return 0
  p95=$(curl -fsS "$q" --data-urlencode 'query=histogram_quantile(0.95, sum by (destination_workload, le) (rate(istio_request_duration_milliseconds_bucket{destination_workload=~"storefront.*"}[1m])))' 2>/dev/null) || return 0
  python3 -c '
import json, sys
rows = {}
for key, doc in (("rate", sys.argv[1]), ("p95", sys.argv[2])):
    for r in json.loads(doc)["data"]["result"]:
        rows.setdefault(r["metric"]["destination_workload"], {})[key] = float(r["value"][1])
for w, v in sorted(rows.items()):
    print("[demo]     %-40s %8.1f requests/s   p95 %7.1f ms" % (w, v.get("rate", 0), v.get("p95", float("nan"))))
' "$rate" "$p95" || true
}
last=""
since=$SECONDS
for _ in $(seq 1 600); do
  phase=$("${kubectl[@]}" get sp "$sp" -o jsonpath='{.status.phase}')
  if [[ $phase != "$last" ]]; then
    echo "[demo] $(date +%T) phase ${phase:-<none>}: $("${kubectl[@]}" get sp "$sp" -o jsonpath='{.status.message}')"
    if [[ $phase == Observing ]]; then
      "${kubectl[@]}" get vmi -l "umbra.io/role=shadow,umbra.io/placement=$sp" \
        -o custom-columns='  SHADOW:.metadata.name,NODE:.status.nodeName,PHASE:.status.phase,CPU-LIMIT:.spec.domain.resources.limits.cpu'
      echo "[demo]   meanwhile, the storefront's Mirror shadows (examples/08) and what the mesh mirrors with:"
      "${kubectl[@]}" get virtualservices,services,networkpolicies -l umbra.io/role=mirror 2>/dev/null | sed 's/^/[demo]     /' || true
    fi
    last=$phase
    since=$SECONDS
  elif ((SECONDS - since >= 30)); then
    echo "[demo] $(date +%T) still $phase ($("${kubectl[@]}" get sp "$sp" -o jsonpath='{.status.message}'))"
    if [[ $("${kubectl[@]}" get sp storefront -o jsonpath='{.status.phase}' 2>/dev/null) == Observing ]]; then
      echo "[demo]   the storefront (examples/08) and its Mirror shadows, as the mesh reports them (10 % each):"
      mesh_report
    fi
    since=$SECONDS
  fi
  case $phase in Placed | Recommended | Failed) break ;; esac
  sleep 1
done
if [[ $phase == Placed ]]; then  # the placed VM boots on its node
  "${kubectl[@]}" wait --for=jsonpath='{.status.printableStatus}'=Running vm --all --timeout=60s >/dev/null || true
fi
"${kubectl[@]}" get sp -o wide
"${kubectl[@]}" get vm,vmi -o wide
echo "[demo] candidates probed:"
"${kubectl[@]}" get sp "$sp" -o jsonpath='{range .status.candidates[?(@.score)]}  {.node}: score {.score}, confidence {.confidence}, steal {.predicted.cpuContention} {.reason}{"\n"}{end}'
echo "[demo] nodes that cannot host the VM, and why:"
"${kubectl[@]}" get sp "$sp" -o jsonpath='{range .status.candidates[?(@.excluded)]}  {.node}: {.excluded}{"\n"}{end}'
if [[ $phase == Placed ]]; then
  vm=$("${kubectl[@]}" get sp "$sp" -o jsonpath='{.spec.target.name}')
  echo "[demo] pinPolicy $("${kubectl[@]}" get sp "$sp" -o jsonpath='{.spec.pinPolicy}'): the VM runs on $("${kubectl[@]}" get vmi "$vm" -o jsonpath='{.status.nodeName}'), its template's nodeSelector is now '$("${kubectl[@]}" get vm "$vm" -o jsonpath='{.spec.template.spec.nodeSelector}')' (the pin is lifted once it runs there, so drains and later placements stay free)"
fi
echo "[demo] events:"
"${kubectl[@]}" get events --field-selector "involvedObject.name=$sp" -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message 2>/dev/null || true
# The Mirror placement of examples/08: its shadows serve 10 % of the storefront's requests, copied
# by the mesh through the VirtualService, Services and egress fence the operator applied.
echo "[demo] ShadowPlacement storefront (examples/08): fidelity Mirror, the mesh copies 10 % of its requests to each shadow"
"${kubectl[@]}" get sp storefront -o jsonpath='{range .status.conditions[?(@.type=="Mirroring")]}[demo]   Mirroring={.status} {.reason}: {.message}{"\n"}{end}'
echo "[demo]   (its VirtualService, Services and NetworkPolicy went with the shadows: the garbage collector)"
"${kubectl[@]}" get virtualservices,services,networkpolicies -l umbra.io/role=mirror 2>/dev/null || true
# The InstancetypeTrial of examples/09: shadows of u1.xlarge and u1.large fed 2 % of the catalog's
# requests, 1 minute each, measured at full load; then the next smaller size of the best, unless the
# catalog uses more memory than it has.
echo "[demo] InstancetypeTrial catalog (examples/09): which instancetype for the catalog VM (u1.xlarge now)?"
for _ in $(seq 1 40); do
  trial=$("${kubectl[@]}" get itt catalog -o jsonpath='{.status.phase}' 2>/dev/null || true)
  [[ $trial == Completed || $trial == Failed ]] && break
  echo "[demo]   $(date +%T) $trial: $("${kubectl[@]}" get itt catalog -o jsonpath='{range .status.candidates[*]}{.name} {.state}; {end}' 2>/dev/null)"
  sleep 10
done
"${kubectl[@]}" get itt -o wide
"${kubectl[@]}" get itt catalog -o json | python3 -c '
import json, sys
for c in json.load(sys.stdin).get("status", {}).get("candidates", []):
    figures = ("full load: %s requests/s, p50 %s ms, p95 %s ms, %s busy, confidence %s; " % tuple(
        c.get(k, "?") for k in ("requestsPerSecond", "p50Ms", "p95Ms", "utilisation", "confidence"))
        if "p95Ms" in c else "")
    print("[demo]   %s: %s, %s vCPUs at %s/h; %s%s" % (c["name"], c.get("state"), c.get("vcpus", "?"),
          c.get("costPerHour", "?"), figures, c.get("reason", "")))
' || true
echo "[demo]   recommendation: $("${kubectl[@]}" get itt catalog -o jsonpath='{.status.recommendation.reason}')"
# The PredictiveScalers of examples/03 (a VM, Apply) and 04 (a pool, Recommend): a pass every 15 s;
# they forecast once 24 passes of demand are in (6 minutes), and follow the newest demand until then.
echo "[demo] PredictiveScalers (examples/03, 04): hotplugged sockets and memory, pool replicas"
"${kubectl[@]}" get psc -o wide
"${kubectl[@]}" get vmpool,vm -l 'app in (api, shop)' 2>/dev/null || true
# The ShadowPool of examples/05: paused copies of the web tier's VM, activated (unpaused through
# KubeVirt's subresource API, via the API server and umbra-sim's APIService) when its CPU is busy.
echo "[demo] ShadowPool (examples/05): paused shadows held for the web tier; LoadNotice (examples/06)"
"${kubectl[@]}" get apiservice v1.subresources.kubevirt.io
"${kubectl[@]}" get spool,notice -o wide
"${kubectl[@]}" get vm,vmi -l umbra.io/shadow-pool=web-tier 2>/dev/null || true
# The RebalancePolicy of examples/07: the web VMs kept on good hosts (one live-migrated when its
# host comes under sustained load: the mean over 10 minutes and the forecast both at 0.8), each
# with a companion shadow (a small probe VMI) on another host with spare capacity.
echo "[demo] RebalancePolicy (examples/07): hosts under sustained load, moves, companion shadows"
"${kubectl[@]}" get rbp -o wide
"${kubectl[@]}" get vmi -l umbra.io/companion-of \
  -o custom-columns='  COMPANION:.metadata.name,NODE:.status.nodeName,PHASE:.status.phase,CPU-LIMIT:.spec.domain.resources.limits.cpu' 2>/dev/null || true
metrics_url=https://127.0.0.1:$metrics_port/metrics
admin_token=$(cat "$dir/cp/tokens/admin")
echo "[demo] Umbra's /metrics as the chart serves it: HTTPS, each scraper authenticated and authorized by the API server"
echo "[demo]   without a token: HTTP $(curl -sk -o /dev/null -w '%{http_code}' "$metrics_url"); with a token allowed to get /metrics:"
curl -sk -H "Authorization: Bearer $admin_token" "$metrics_url" |
  grep -E '^umbra_(placements_total|build_info|leader)[{ ]' | sed 's/^/[demo]     /' || true
[[ $phase == Placed || $phase == Recommended ]] || { echo "[demo] placement ended $phase; logs in $dir" >&2; $once && exit 1; }
$once && exit 0
cat <<MSG

[demo] Everything is running. In another terminal:
         export KUBECONFIG=$kubeconfig
         $KUBECTL get sp,vm,vmi,nodes
         $KUBECTL get psc -o wide -w     (forecasts from 6 minutes on; Events: kubectl describe psc)
         $KUBECTL get spool -o wide -w   (the web tier's paused shadows; kubectl describe spool web-tier)
         $KUBECTL get rbp -o wide -w     (hosts under sustained load, migrations; kubectl describe rbp web)
         $KUBECTL get sp storefront; $KUBECTL get vs,svc,netpol -l umbra.io/role=mirror   (fidelity Mirror)
         $KUBECTL get itt -o wide; kubectl describe itt catalog   (the instance-type trial)
         curl -s 127.0.0.1:$sim_port/metrics | grep kubevirt_vmi_vcpu_delay
         Prometheus: http://127.0.0.1:$prom_port  (try rate(kubevirt_vmi_vcpu_delay_seconds_total[1m]))
         Umbra's own metrics: curl -sk -H "Authorization: Bearer $admin_token" $metrics_url
         Logs: $dir/{umbra-operator,umbra-sim,prometheus}.log
[demo] Press Ctrl-C to stop and clean up.
MSG
while sleep 5; do
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "[demo] a component exited; logs in $dir" >&2; exit 1; }
  done
done
