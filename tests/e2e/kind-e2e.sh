#!/usr/bin/env bash
# End to end on kind (for users with Docker): a real KubeVirt (software emulation), Prometheus,
# Umbra installed by its Helm chart, the examples placed. See kind-config/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cluster=${E2E_CLUSTER:-umbra-e2e}
kubevirt_version=${KUBEVIRT_VERSION:-v1.6.0}
image=${E2E_IMAGE:-umbra-operator:e2e}
artifacts=${E2E_ARTIFACTS:-$here/e2e-artifacts}
prom_mode=${E2E_PROMETHEUS:-stack}
timeout_placed=${E2E_TIMEOUT:-1200}

die() { echo "kind-e2e: $*" >&2; exit 1; }
log() { echo "[kind-e2e] $*" >&2; }

# Fail fast, with the reason, where this cannot run.
command -v docker >/dev/null 2>&1 || die "docker is not installed; this test needs Docker and kind (see kind-config/README.md)"
docker info >/dev/null 2>&1 || die "docker is installed but the daemon does not answer (docker info failed)"
command -v kind >/dev/null 2>&1 || die "kind is not installed (go install sigs.k8s.io/kind@latest)"
command -v kubectl >/dev/null 2>&1 || die "kubectl is not installed"
helm=$(command -v helm || true)
[[ -n $helm ]] || helm="$here/scripts/helm.sh"

collect() {
  mkdir -p "$artifacts"
  log "collecting logs into $artifacts"
  kubectl get sp,vm,vmi,vmim,nodes -A -o wide >"$artifacts/objects.txt" 2>&1 || true
  kubectl get events -A --sort-by=.lastTimestamp >"$artifacts/events.txt" 2>&1 || true
  kubectl -n umbra-system logs deploy/umbra --all-containers >"$artifacts/umbra-operator.log" 2>&1 || true
  kubectl -n kubevirt logs -l kubevirt.io=virt-controller --tail=-1 >"$artifacts/virt-controller.log" 2>&1 || true
  kubectl -n kubevirt logs -l kubevirt.io=virt-handler --tail=-1 >"$artifacts/virt-handler.log" 2>&1 || true
}
cleanup() {
  local rc=$?
  [[ $rc == 0 ]] || collect
  if [[ ${E2E_KEEP:-0} == 1 ]]; then
    log "keeping cluster $cluster (E2E_KEEP=1)"
  else
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

log "creating kind cluster $cluster"
kind create cluster --name "$cluster" --config "$here/kind-config/cluster.yaml" --wait 180s

log "installing KubeVirt $kubevirt_version with software emulation"
base=https://github.com/kubevirt/kubevirt/releases/download/$kubevirt_version
kubectl apply -f "$base/kubevirt-operator.yaml"
kubectl apply -f "$base/kubevirt-cr.yaml"
kubectl -n kubevirt patch kubevirt kubevirt --type merge \
  -p '{"spec":{"configuration":{"developerConfiguration":{"useEmulation":true}}}}'
kubectl -n kubevirt wait kv kubevirt --for condition=Available --timeout=15m

log "installing Prometheus ($prom_mode)"
if [[ $prom_mode == stack ]]; then
  "$helm" repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
  "$helm" upgrade --install prom prometheus-community/kube-prometheus-stack -n monitoring --create-namespace \
    --set grafana.enabled=false --set alertmanager.enabled=false \
    --set prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false --wait --timeout 10m
  prom_url=http://prom-kube-prometheus-stack-prometheus.monitoring.svc:9090
  kubectl -n kubevirt patch kubevirt kubevirt --type merge \
    -p '{"spec":{"monitorNamespace":"monitoring","monitorAccount":"prom-kube-prometheus-stack-prometheus"}}'
else
  "$helm" repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
  "$helm" upgrade --install prom prometheus-community/prometheus -n monitoring --create-namespace --wait --timeout 10m
  prom_url=http://prom-prometheus-server.monitoring.svc:80
fi

log "building and loading $image"
docker build -f "$here/operator/Dockerfile" -t "$image" "$here"
kind load docker-image "$image" --name "$cluster"

log "installing Umbra"
"$helm" install umbra "$here/charts/umbra" -n umbra-system --create-namespace \
  --set image.repository="${image%:*}" --set image.tag="${image##*:}" --set image.pullPolicy=Never \
  --set prometheus.url="$prom_url" --set logFormat=text --wait --timeout 5m

log "applying examples/"
kubectl apply -f "$here/examples/"
sp=$(kubectl get sp -o jsonpath='{.items[0].metadata.name}')
deadline=$((SECONDS + timeout_placed))
phase=""
while ((SECONDS < deadline)); do
  phase=$(kubectl get sp "$sp" -o jsonpath='{.status.phase}')
  case $phase in Placed | Recommended | Failed) break ;; esac
  sleep 10
done
kubectl get sp -o wide
[[ $phase == Placed ]] || die "ShadowPlacement $sp ended in phase '${phase:-none}', not Placed"

node=$(kubectl get sp "$sp" -o jsonpath='{.status.selectedNode}')
target=$(kubectl get sp "$sp" -o jsonpath='{.spec.target.name}')
selector=$(kubectl get vm "$target" -o jsonpath='{.spec.template.spec.nodeSelector.kubernetes\.io/hostname}')
[[ $selector == "$node" ]] || die "VM $target's nodeSelector is '$selector', the placement selected '$node'"
shadows=$(kubectl get vmi -l umbra.io/role=shadow -A --no-headers 2>/dev/null | wc -l)
[[ $shadows == 0 ]] || die "$shadows shadow VMIs remain after the placement"
log "passed: $sp placed on $node, no shadow left"
