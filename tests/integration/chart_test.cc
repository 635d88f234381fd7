// The Helm chart against real tools and a real API server: helm lint/template, the rendered
// config through the operator's own parser, helm install into the local control plane, the RBAC
// matrix with `kubectl auth can-i`, the examples and the CRD's validation, helm uninstall.
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "cli_flags/version.h"
#include "config/config.h"
#include "integration/common.h"
#include "integration/kubevirt_examples.h"
#include "placement/mirror.h"
#include "placement/shadow.h"
#include "placement/trial.h"

namespace umbra::testing {
namespace {

using kube::Json;

const std::string Source = ControlPlane::sourceDir();
const std::string Chart = Source + "/charts/umbra";
const std::string Helm = Source + "/scripts/helm.sh";
const std::string AllFeatures =
    " --set serviceMonitor.enabled=true,model.persistence.enabled=true,replicaCount=2,"
    "watchNamespace=apps,model.persistence.storageClassName=fast";

// Bounded: a step that hangs fails with its output within 90 s instead of running into ctest's
// timeout with none (`helm` waits up to 5 minutes by default; `template`/`lint`/`show` take none).
CommandResult helm(const std::string& args) {
  const bool cluster = args.rfind("install", 0) == 0 || args.rfind("upgrade", 0) == 0 ||
                       args.rfind("uninstall", 0) == 0;
  return runCommand("timeout 90 " + Helm + " " + args + (cluster ? " --timeout 60s" : "") +
                    " 2>&1");
}

// The operator's config file from a rendered ConfigMap: the block under `umbra.yaml: |`.
std::string configOf(const std::string& rendered) {
  const std::string key = "umbra.yaml: |\n";
  size_t pos = rendered.find(key);
  if (pos == std::string::npos)
    return "";
  pos += key.size();
  std::string out;
  while (pos < rendered.size()) {
    const size_t end = rendered.find('\n', pos);
    const std::string line = rendered.substr(pos, end == std::string::npos ? end : end - pos);
    if (line.rfind("    ", 0) != 0 && !line.empty())
      break;
    out += (line.empty() ? line : line.substr(4)) + "\n";
    if (end == std::string::npos)
      break;
    pos = end + 1;
  }
  return out;
}

TEST(ChartTest, LintsStrictlyWithDefaultsAndEveryFeature) {
  for (const std::string& extra : {std::string(), AllFeatures}) {
    std::string args = "lint --strict " + Chart;
    args += extra;
    const auto r = helm(args);
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("0 chart(s) failed"), std::string::npos) << r.output;
  }
}

TEST(ChartTest, TemplatesAreHardenedAndFollowTheValues) {
  const auto plain = helm("template umbra " + Chart + " --namespace umbra-system");
  ASSERT_EQ(plain.exitCode, 0) << plain.output;
  for (const char* want :
       {"runAsNonRoot: true", "readOnlyRootFilesystem: true", "drop: [ALL]", "type: RuntimeDefault",
        "allowPrivilegeEscalation: false", "path: /healthz", "path: /readyz", "emptyDir: {}"}) {
    EXPECT_NE(plain.output.find(want), std::string::npos) << want;
  }
  EXPECT_NE(plain.output.find("--leader-elect"), std::string::npos)
      << "election also with one replica: a rolling update runs two pods for a while";
  // /metrics: HTTPS on the pod's IP, each scraper checked with the API server (the two review
  // rights and a reader role for Prometheus); plain HTTP without either when secure=false.
  for (const char* want :
       {"--metrics-bind-address=$(POD_IP):8443", "- --metrics-secure", "fieldPath: status.podIP",
        "resources: [tokenreviews]", "resources: [subjectaccessreviews]",
        "name: umbra-metrics-reader", "nonResourceURLs: [/metrics]"})
    EXPECT_NE(plain.output.find(want), std::string::npos) << want;
  const auto insecure = helm("template umbra " + Chart + " --set metrics.secure=false");
  for (const char* absent :
       {"--metrics-secure", "tokenreviews", "subjectaccessreviews", "metrics-reader"})
    EXPECT_EQ(insecure.output.find(absent), std::string::npos) << absent;
  // Training: in the trainer sidecar (the only image with LibTorch), fed through the model volume;
  // without it, no retraining unless a trainer binary is named.
  for (const char* want : {"- name: trainer", "image: \"ghcr.io/umbra-io/umbra-trainer:0.2.0\"",
                           "spool: /var/lib/umbra/train-spool"})
    EXPECT_NE(plain.output.find(want), std::string::npos) << want;
  const auto untrained = helm("template umbra " + Chart + " --set trainer.enabled=false");
  EXPECT_EQ(untrained.output.find("umbra-trainer"), std::string::npos);
  EXPECT_EQ(untrained.output.find("spool:"), std::string::npos);
  EXPECT_NE(untrained.output.find("retraining:\n        enabled: false"), std::string::npos)
      << configOf(untrained.output);
  const auto monitored = helm("template umbra " + Chart +
                              " --set serviceMonitor.enabled=true,metrics.certSecret=umbra-tls"
                              " --show-only templates/servicemonitor.yaml");
  for (const char* want : {"scheme: https", "bearerTokenFile:", "insecureSkipVerify: true"})
    EXPECT_NE(monitored.output.find(want), std::string::npos) << want << monitored.output;
  const auto mounted = helm("template umbra " + Chart +
                            " --set metrics.certSecret=umbra-tls"
                            " --show-only templates/deployment.yaml");
  for (const char* want : {"--metrics-cert-dir=/etc/umbra-metrics-tls", "secretName: umbra-tls",
                           "mountPath: /etc/umbra-metrics-tls"})
    EXPECT_NE(mounted.output.find(want), std::string::npos) << want;
  EXPECT_EQ(plain.output.find("kind: ServiceMonitor"), std::string::npos);
  EXPECT_EQ(plain.output.find("kind: PersistentVolumeClaim"), std::string::npos);
  EXPECT_NE(plain.output.find("kind: NetworkPolicy"), std::string::npos) << "on by default";
  EXPECT_NE(plain.output.find("name: umbra-operator-creates-only-umbra-objects"),
            std::string::npos);
  EXPECT_EQ(plain.output.find("kind: PodDisruptionBudget"), std::string::npos)
      << "one replica: a PDB would block every drain of its node";
  EXPECT_EQ(plain.output.find("kind: PrometheusRule"), std::string::npos);
  EXPECT_EQ(plain.output.find("type: Recreate"), std::string::npos) << "no RWO volume to share";
  EXPECT_EQ(plain.output.find("'*'"), std::string::npos) << "no wildcard in RBAC";
  EXPECT_EQ(plain.output.find("\"*\""), std::string::npos) << "no wildcard in RBAC";
  std::smatch m;
  EXPECT_FALSE(std::regex_search(plain.output, m, std::regex("verbs: \\[[^\\]]*\\*"))) << m.str();

  const auto all = helm("template umbra " + Chart + " --namespace umbra-system" + AllFeatures);
  ASSERT_EQ(all.exitCode, 0) << all.output;
  for (const char* want :
       {"--leader-elect", "--leader-election-namespace=umbra-system", "--namespace=apps",
        "kind: ServiceMonitor", "kind: PersistentVolumeClaim", "claimName: umbra-model",
        "storageClassName: fast", "replicas: 2", "kind: PodDisruptionBudget", "type: Recreate",
        "minAvailable: 1"}) {
    EXPECT_NE(all.output.find(want), std::string::npos) << want;
  }
  // The alerts, checked by Prometheus' own promtool.
  const auto rules = helm("template umbra " + Chart +
                          " --namespace umbra-system --set prometheusRule.enabled=true"
                          " --show-only templates/prometheusrule.yaml");
  ASSERT_EQ(rules.exitCode, 0) << rules.output;
  const auto at = rules.output.find("\nspec:\n");
  ASSERT_NE(at, std::string::npos) << rules.output;
  const std::string file = ::testing::TempDir() + "/umbra-rules.yaml";
  {
    // spec.groups, dedented by two, is a rule file.
    std::istringstream in(rules.output.substr(at + 7));
    std::ofstream out(file);
    for (std::string line; std::getline(in, line);)
      out << (line.rfind("  ", 0) == 0 ? line.substr(2) : line) << "\n";
  }
  const auto checked = runCommand("promtool check rules " + file + " 2>&1");
  EXPECT_EQ(checked.exitCode, 0) << checked.output;
  EXPECT_NE(checked.output.find("SUCCESS: 4 rules found"), std::string::npos) << checked.output;
  for (const char* alert : {"UmbraOperatorDown", "UmbraPlacementsFailing",
                            "UmbraTelemetryUnavailable", "UmbraReconcileErrors"})
    EXPECT_NE(rules.output.find(alert), std::string::npos) << alert;
  EXPECT_NE(rules.output.find("up{job=\"umbra-metrics\"}"), std::string::npos)
      << "the job the ServiceMonitor gives the metrics Service";
  // The CRDs are templates rendered from crds/, their single source: the same objects, with the
  // release's labels and kept on uninstall; none with crds.install=false.
  const auto crds = helm("template umbra " + Chart + " --show-only templates/crds.yaml");
  ASSERT_EQ(crds.exitCode, 0) << crds.output;
  std::map<std::string, Json> rendered;
  for (const YAML::Node& doc : YAML::LoadAll(crds.output))
    if (doc.IsMap())
      rendered[doc["metadata"]["name"].as<std::string>()] = yamlToJson(doc);
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(Source + "/crds")) {
    const Json source = yamlToJson(YAML::LoadFile(e.path().string()));
    const std::string name = source["metadata"]["name"];
    ++files;
    ASSERT_TRUE(rendered.count(name)) << name << " is not rendered";
    const Json& crd = rendered[name];
    EXPECT_EQ(crd["spec"], source["spec"]) << name << ": the template changed the CRD";
    EXPECT_EQ(crd["metadata"]["annotations"].value("helm.sh/resource-policy", ""), "keep") << name;
    EXPECT_EQ(crd["metadata"]["labels"].value("app.kubernetes.io/managed-by", ""), "Helm") << name;
  }
  EXPECT_EQ(files, 6);
  EXPECT_EQ(rendered.size(), 6u);
  const auto none = helm("template umbra " + Chart + " --set crds.install=false");
  EXPECT_EQ(none.output.find("kind: CustomResourceDefinition"), std::string::npos);
  // One version for the chart's appVersion and the binaries (--version, umbra_build_info).
  const auto chart = YAML::LoadFile(Chart + "/Chart.yaml");
  EXPECT_EQ(chart["appVersion"].as<std::string>(), std::string(umbra::cli_flags::Version));
}

TEST(ChartTest, TheRenderedConfigIsWhatTheOperatorAccepts) {
  const auto r = helm("template umbra " + Chart +
                      " --show-only templates/configmap.yaml --set shadowInstanceCount=5,"
                      "retrainingInterval=12h,prometheus.url=http://prom:9090"
                      " --set-json 'resourceLimitShadow={\"cpu\":0.05,\"memory\":0.02}'");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  auto cfg = config::parseConfig(configOf(r.output), "configmap umbra-config");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message << "\n" << r.output;
  EXPECT_EQ(cfg->placement.candidateCount, 5);
  EXPECT_EQ(cfg->retrainingInterval, std::chrono::hours(12));
  EXPECT_DOUBLE_EQ(cfg->placement.cpuFraction, 0.05);
  EXPECT_DOUBLE_EQ(cfg->placement.memoryFraction, 0.02);
  EXPECT_EQ(cfg->prometheus.url, "http://prom:9090");
  // Prometheus behind TLS and a token, with a relabelled node series.
  const auto secured = helm(
      "template umbra " + Chart +
      " --show-only templates/configmap.yaml --set prometheus.url=https://thanos:9091,"
      "prometheus.bearerTokenFile=/var/run/secrets/tokens/prom,prometheus.tls.caFile=/etc/ca/ca.crt"
      " --set-json 'prometheus.catalog={\"node_cpu_utilization\":{\"query\":\"1 - avg by (node) "
      "(rate(node_cpu_seconds_total{mode=\\\"idle\\\",instance=~\\\"$nodes\\\"}[$window]))\"}}'");
  ASSERT_EQ(secured.exitCode, 0) << secured.output;
  auto sec = config::parseConfig(configOf(secured.output), "configmap umbra-config");
  ASSERT_TRUE(sec.ok()) << sec.error().message << "\n" << secured.output;
  EXPECT_EQ(sec->prometheus.bearerTokenFile, "/var/run/secrets/tokens/prom");
  EXPECT_EQ(sec->prometheus.caFile, "/etc/ca/ca.crt");
  const auto& util =
      sec->prometheus.catalog
          .features[static_cast<size_t>(sec->prometheus.catalog.index("node_cpu_utilization"))];
  EXPECT_NE(util.query.find("instance=~\"$nodes\""), std::string::npos) << util.query;
  // The defaults are the design's.
  const auto d = helm("template umbra " + Chart + " --show-only templates/configmap.yaml");
  auto defaults = config::parseConfig(configOf(d.output), "configmap umbra-config");
  ASSERT_TRUE(defaults.ok()) << defaults.error().message;
  EXPECT_EQ(defaults->placement.candidateCount, 3);
  EXPECT_EQ(defaults->retrainingInterval, std::chrono::hours(24));
  EXPECT_DOUBLE_EQ(defaults->placement.cpuFraction, 0.01);
  EXPECT_DOUBLE_EQ(defaults->placement.memoryFraction, 0.02);
}

TEST(ChartTest, TheSchemaRefusesBadValuesNamingThem) {
  const struct {
    std::string set, field;
  } cases[] = {{"shadowInstanceCount=20", "shadowInstanceCount"},
               {"mirroringPercentage=150", "mirroringPercentage"},
               {"mesh.namespace=Istio_System", "mesh"},
               {"retrainingInterval=daily", "retrainingInterval"},
               {"resourceLimitShadow.cpu=2", "resourceLimitShadow"},
               {"prometheus.url=prometheus:9090", "prometheus"},
               {"logLevel=loud", "logLevel"},
               {"shadowInstanceCont=3", "shadowInstanceCont"}};
  for (const auto& c : cases) {
    const auto r = helm("template umbra " + Chart + " --set " + c.set);
    EXPECT_NE(r.exitCode, 0) << c.set;
    EXPECT_NE(r.output.find(c.field), std::string::npos) << c.set << ": " << r.output;
  }
}

class ChartInstallTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<std::string> kubevirt;
    for (const auto& e :
         std::filesystem::directory_iterator(ControlPlane::thirdPartyDir() + "/kubevirt/crds"))
      if (e.path().extension() == ".yaml")
        kubevirt.push_back(e.path().string());
    // Multus' NetworkAttachmentDefinition, as on a cluster with SR-IOV networks: kubectl auth
    // can-i needs the resource type to exist to answer for it.
    kubevirt.push_back(
        ControlPlane::sourceDir() +
        "/tests/integration/testdata/network-attachment-definitions.k8s.cni.cncf.io.yaml");
    // KubeVirt's preferences (a stand-in CRD: the shared KubeVirt CRDs have none).
    kubevirt.push_back(ControlPlane::sourceDir() +
                       "/tests/integration/testdata/kubevirt-preferences-standin.yaml");
    // Istio's VirtualService (fidelity Mirror).
    kubevirt.push_back(ControlPlane::thirdPartyDir() +
                       "/istio/crds/virtualservices.networking.istio.io.yaml");
    const Status st = ControlPlane::instance().installCrds(kubevirt);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  // Each test starts without Umbra's CRDs: a release takes them over only if nothing else owns
  // them. One at a time, each gone before the next: deleting a CRD rebuilds its group's handler,
  // which re-initialises its siblings' watch caches, and a sibling being finalized meanwhile meets
  // "could not list instances: storage is (re)initializing" and is retried with an exponential
  // backoff, past minutes on a loaded machine (seen here; kubernetes/kubernetes#138085,
  // operator-framework/operator-controller#1437).
  void SetUp() override {
    for (const auto& e : std::filesystem::directory_iterator(Source + "/crds")) {
      const auto r =
          runCommand(kubectl() + " delete crd --ignore-not-found --wait --timeout=120s " +
                     e.path().stem().string() + " 2>&1");
      ASSERT_EQ(r.exitCode, 0) << r.output << terminating();
    }
  }
  std::string terminating() const {
    return runCommand(kubectl() +
                      " get crd -o jsonpath='{range .items[*]}{.metadata.name}: "
                      "{.status.conditions[?(@.type==\"Terminating\")].message}{\"\\n\"}{end}'"
                      " 2>&1")
        .output;
  }
  std::string kubectl() const { return ControlPlane::instance().kubectl(); }
  // `kubectl auth can-i ARGS AS`: the answer is the last line; a warning ("not namespace
  // scoped") may come first.
  bool canIAs(const std::string& as, const std::string& args) const {
    std::string out = runCommand(kubectl() + " auth can-i " + args + as).output;
    while (!out.empty() && out.back() == '\n')
      out.pop_back();
    return out.substr(out.rfind('\n') + 1) == "yes";
  }
  std::string kubeconfigFlag() const {
    return " --kubeconfig " + ControlPlane::instance().kubeconfig();
  }
};

TEST_F(ChartInstallTest, InstallsGrantsExactlyWhatTheOperatorUsesAndUninstallsCleanly) {
  TestNamespace release;   // the release's namespace
  TestNamespace workload;  // where users put VMs and placements
  const std::string& ns = release.name();
  const auto installed = helm("install umbra " + Chart + " --namespace " + ns + kubeconfigFlag() +
                              " --set prometheus.url=http://prometheus.monitoring:9090");
  ASSERT_EQ(installed.exitCode, 0) << installed.output;
  EXPECT_NE(installed.output.find("Place a VirtualMachine"), std::string::npos) << "NOTES.txt";

  // Objects created; the CRD Established.
  for (const char* what : {"deployment/umbra", "serviceaccount/umbra", "configmap/umbra-config",
                           "service/umbra-metrics", "role/umbra-leader-election",
                           "rolebinding/umbra-leader-election", "networkpolicy/umbra"}) {
    const auto r =
        runCommand(kubectl() + " -n " + ns + " get " + std::string(what) + " -o name 2>&1");
    EXPECT_EQ(r.exitCode, 0) << what << ": " << r.output;
  }
  for (const char* what :
       {"clusterrole/umbra", "clusterrolebinding/umbra", "clusterrole/umbra-metrics-reader"}) {
    EXPECT_EQ(runCommand(kubectl() + " get " + std::string(what) + " -o name").exitCode, 0) << what;
  }
  const auto established = runCommand(kubectl() +
                                      " wait --for condition=established --timeout=30s "
                                      "crd/shadowplacements.umbra.io 2>&1");
  ASSERT_EQ(established.exitCode, 0) << established.output;

  // Prometheus, bound to the reader role, may get /metrics; nobody else.
  const std::string prom = " --as=system:serviceaccount:" + ns + ":prometheus";
  EXPECT_FALSE(canIAs(prom, "get /metrics"));
  ASSERT_EQ(runCommand(kubectl() + " create clusterrolebinding " + ns +
                       "-scrape --clusterrole=umbra-metrics-reader --serviceaccount=" + ns +
                       ":prometheus")
                .exitCode,
            0);
  EXPECT_TRUE(eventually([&] { return canIAs(prom, "get /metrics"); }));
  EXPECT_FALSE(canIAs(prom, "get /debug/pprof"));
  runCommand(kubectl() + " delete clusterrolebinding " + ns + "-scrape");

  // The RBAC matrix, as the operator's service account.
  const std::string as = " --as=system:serviceaccount:" + ns + ":umbra";
  const auto canI = [&](const std::string& args) { return canIAs(as, args); };

  const std::string w = " -n " + workload.name();
  const std::vector<std::string> allowed = {
      "get shadowplacements.umbra.io" + w,
      "list shadowplacements.umbra.io -A",
      "watch shadowplacements.umbra.io -A",
      "update shadowplacements.umbra.io" + w,
      "patch shadowplacements.umbra.io" + w,
      "update shadowplacements.umbra.io --subresource=status" + w,
      "patch shadowplacements.umbra.io --subresource=status" + w,
      "update shadowplacements.umbra.io --subresource=finalizers" + w,
      "list predictivescalers.umbra.io -A",
      "watch predictivescalers.umbra.io -A",
      "patch predictivescalers.umbra.io --subresource=status" + w,
      "list virtualmachinepools.pool.kubevirt.io -A",
      "watch virtualmachinepools.pool.kubevirt.io -A",
      "patch virtualmachinepools.pool.kubevirt.io --subresource=scale" + w,
      "list shadowpools.umbra.io -A",
      "watch shadowpools.umbra.io -A",
      "patch shadowpools.umbra.io --subresource=status" + w,
      "list loadnotices.umbra.io -A",
      "watch loadnotices.umbra.io -A",
      "patch loadnotices.umbra.io --subresource=status" + w,
      "list rebalancepolicies.umbra.io -A",
      "watch rebalancepolicies.umbra.io -A",
      "patch rebalancepolicies.umbra.io --subresource=status" + w,
      "list instancetypetrials.umbra.io -A",
      "watch instancetypetrials.umbra.io -A",
      "patch instancetypetrials.umbra.io --subresource=status" + w,
      "list poddisruptionbudgets.policy -A",
      "watch poddisruptionbudgets.policy -A",
      "list services -A",
      "create services" + w,
      "patch services" + w,
      "get networkpolicies.networking.k8s.io" + w,
      "create networkpolicies.networking.k8s.io" + w,
      "patch networkpolicies.networking.k8s.io" + w,
      "list virtualservices.networking.istio.io -A",
      "create virtualservices.networking.istio.io" + w,
      "patch virtualservices.networking.istio.io" + w,
      "create virtualmachines.kubevirt.io" + w,
      "delete virtualmachines.kubevirt.io" + w,
      "patch virtualmachineinstances.kubevirt.io" + w,
      "patch nodes",
      "patch pods" + w,
      "create virtualmachineinstances.kubevirt.io" + w,
      "delete virtualmachineinstances.kubevirt.io" + w,
      "deletecollection virtualmachineinstances.kubevirt.io" + w,
      "list virtualmachineinstances.kubevirt.io -A",
      "watch virtualmachineinstances.kubevirt.io -A",
      "patch virtualmachines.kubevirt.io" + w,
      "watch virtualmachines.kubevirt.io -A",
      "create virtualmachineinstancemigrations.kubevirt.io" + w,
      "watch virtualmachineinstancemigrations.kubevirt.io -A",
      "list virtualmachineclusterinstancetypes.instancetype.kubevirt.io",
      "watch virtualmachineclusterinstancetypes.instancetype.kubevirt.io",
      "list virtualmachineinstancetypes.instancetype.kubevirt.io -A",
      "watch virtualmachineinstancetypes.instancetype.kubevirt.io -A",
      "get network-attachment-definitions.k8s.cni.cncf.io" + w,
      "get virtualmachineclusterpreferences.instancetype.kubevirt.io",
      "get virtualmachinepreferences.instancetype.kubevirt.io" + w,
      "get resourceclaims.resource.k8s.io" + w,
      "list resourceclaims.resource.k8s.io -A",
      "get resourceclaimtemplates.resource.k8s.io" + w,
      "get deviceclasses.resource.k8s.io",
      "list resourceslices.resource.k8s.io",
      "list nodes",
      "watch nodes",
      "list pods -A",
      "watch pods -A",
      "create events.events.k8s.io" + w,
      "patch events.events.k8s.io" + w,
      "create tokenreviews.authentication.k8s.io",  // /metrics' scrapers
      "create subjectaccessreviews.authorization.k8s.io",
      "get leases.coordination.k8s.io -n " + ns,
      "create leases.coordination.k8s.io -n " + ns,
      "update leases.coordination.k8s.io -n " + ns};
  for (const auto& a : allowed)
    EXPECT_TRUE(canI(a)) << "should be allowed: " << a;
  const std::vector<std::string> denied = {
      "get secrets" + w,
      "list secrets -A",
      "create configmaps" + w,
      "update configmaps -n " + ns,
      "delete configmaps -n " + ns,
      "update leases.coordination.k8s.io" + w,
      "create leases.coordination.k8s.io -n kube-system",
      "delete shadowplacements.umbra.io" + w,
      "create predictivescalers.umbra.io" + w,
      "patch predictivescalers.umbra.io" + w,
      "update predictivescalers.umbra.io --subresource=status" + w,
      "patch virtualmachinepools.pool.kubevirt.io" + w,
      "create virtualmachinepools.pool.kubevirt.io" + w,
      "update virtualmachinepools.pool.kubevirt.io --subresource=scale" + w,
      "create shadowplacements.umbra.io" + w,
      "create shadowpools.umbra.io" + w,
      "patch shadowpools.umbra.io" + w,
      "delete shadowpools.umbra.io" + w,
      "create loadnotices.umbra.io" + w,
      "update loadnotices.umbra.io --subresource=status" + w,
      "create rebalancepolicies.umbra.io" + w,
      "patch rebalancepolicies.umbra.io" + w,
      "update rebalancepolicies.umbra.io --subresource=status" + w,
      "create instancetypetrials.umbra.io" + w,
      "patch instancetypetrials.umbra.io" + w,
      "delete instancetypetrials.umbra.io" + w,
      "update instancetypetrials.umbra.io --subresource=status" + w,
      "get poddisruptionbudgets.policy" + w,
      "create poddisruptionbudgets.policy" + w,
      "delete poddisruptionbudgets.policy" + w,
      "delete virtualmachineinstancemigrations.kubevirt.io" + w,
      "delete services" + w,
      "update services" + w,
      "watch services -A",
      "delete networkpolicies.networking.k8s.io" + w,
      "list networkpolicies.networking.k8s.io -A",
      "delete virtualservices.networking.istio.io" + w,
      "watch virtualservices.networking.istio.io -A",
      "create destinationrules.networking.istio.io" + w,
      "create virtualmachineclusterinstancetypes.instancetype.kubevirt.io",
      "update virtualmachineinstancetypes.instancetype.kubevirt.io" + w,
      "list network-attachment-definitions.k8s.cni.cncf.io -A",
      "list virtualmachineclusterpreferences.instancetype.kubevirt.io",
      "create resourceclaims.resource.k8s.io" + w,
      "update resourceclaims.resource.k8s.io --subresource=status" + w,
      "watch resourceclaims.resource.k8s.io -A",
      "list resourceclaimtemplates.resource.k8s.io -A",
      "get resourceslices.resource.k8s.io",
      "update virtualmachines.kubevirt.io" + w,
      "update virtualmachineinstances.kubevirt.io" + w,
      "delete nodes",
      "update nodes",
      "update pods" + w,
      "delete pods" + w,
      "create pods" + w,
      "create clusterrolebindings",
      "escalate clusterroles",
      "impersonate serviceaccounts"};
  for (const auto& d : denied)
    EXPECT_FALSE(canI(d)) << "should be denied: " << d;
  // KubeVirt's subresource API (virt-api's APIService, absent here): `kubectl auth can-i` cannot
  // map a resource discovery does not list, so these are asked with SubjectAccessReviews.
  const auto sar = [&](const std::string& resource, const std::string& subresource) {
    const std::string file = ControlPlane::instance().dir() + "/sar.json";
    std::ofstream(file)
        << R"({"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview",)"
        << R"("spec":{"user":"system:serviceaccount:)" << ns << R"(:umbra",)"
        << R"("groups":["system:serviceaccounts","system:serviceaccounts:)" << ns
        << R"("],"resourceAttributes":{"group":"subresources.kubevirt.io",)"
        << R"("version":"v1","verb":"update","namespace":")" << workload.name()
        << R"(","resource":")" << resource << R"(","subresource":")" << subresource << R"("}}})";
    return runCommand(kubectl() + " create -f " + file + " -o jsonpath={.status.allowed}").output ==
           "true";
  };
  for (const auto& [resource, sub] :
       std::vector<std::pair<std::string, std::string>>{{"virtualmachines", "start"},
                                                        {"virtualmachineinstances", "pause"},
                                                        {"virtualmachineinstances", "unpause"}})
    EXPECT_TRUE(sar(resource, sub)) << "should be allowed: update " << resource << "/" << sub;
  for (const auto& [resource, sub] :
       std::vector<std::pair<std::string, std::string>>{{"virtualmachines", "stop"},
                                                        {"virtualmachines", "restart"},
                                                        {"virtualmachines", "migrate"},
                                                        {"virtualmachineinstances", "freeze"}})
    EXPECT_FALSE(sar(resource, sub)) << "should be denied: update " << resource << "/" << sub;

  // No confused deputy: a user who may create Umbra objects but may not act on the target is
  // refused by the API server (the chart's ValidatingAdmissionPolicy), naming what is missing;
  // with the right on the target, admitted. Server-side dry runs: nothing is stored.
  {
    const std::string dir = ControlPlane::instance().dir();
    std::ofstream(dir + "/umbra-user-rbac.yaml")
        << "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: umbra-user}\n"
           "rules:\n- apiGroups: [umbra.io]\n"
           "  resources: [shadowplacements, predictivescalers, shadowpools, rebalancepolicies,\n"
           "    instancetypetrials]\n"
           "  verbs: [get, list, create, update, patch, delete]\n---\n"
           "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: alice}\n"
           "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: umbra-user}\n"
           "subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]\n";
    // A Role of one rule for alice, bound to her in the workload's namespace.
    const auto grantAlice = [&](const std::string& name, const std::string& group,
                                const std::string& resource, const std::string& verb) {
      const std::string file = dir + "/" + name + "-rbac.yaml";
      std::ofstream(file)
          << "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: " << name
          << "}\nrules:\n- apiGroups: [" << group << "]\n  resources: [" << resource
          << "]\n  verbs: [" << verb
          << "]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
             "metadata: {name: alice-"
          << name << "}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: " << name
          << "}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]\n";
      return runCommand(kubectl() + w + " apply -f " + file).exitCode;
    };
    std::ofstream(dir + "/alice-scaler.yaml")
        << "apiVersion: umbra.io/v1alpha1\nkind: PredictiveScaler\nmetadata: {name: web}\n"
           "spec:\n  target: {kind: VirtualMachine, name: web}\n"
           "  vertical: {cpu: {minSockets: 1, maxSockets: 4}}\n---\n"
           "apiVersion: umbra.io/v1alpha1\nkind: PredictiveScaler\nmetadata: {name: shop}\n"
           "spec:\n  target: {kind: VirtualMachinePool, name: shop}\n"
           "  horizontal: {minReplicas: 1, maxReplicas: 3}\n";
    ASSERT_EQ(runCommand(kubectl() + w + " apply -f " + dir + "/umbra-user-rbac.yaml").exitCode, 0);
    const auto asAlice = [&] {
      return runCommand(kubectl() + w + " --as=alice create --dry-run=server -f " + dir +
                        "/alice-scaler.yaml 2>&1")
          .output;
    };
    const std::string noVm = "spec.target: alice may not patch virtualmachines.kubevirt.io " +
                             workload.name() + "/web itself";
    const std::string noPool =
        "spec.target: alice may not patch "
        "virtualmachinepools.pool.kubevirt.io/scale " +
        workload.name() + "/shop itself";
    std::string out;
    EXPECT_TRUE(eventually([&] {
      out = asAlice();
      return out.find(noVm) != std::string::npos && out.find(noPool) != std::string::npos;
    })) << out;
    ASSERT_EQ(grantAlice("vm-editor", "kubevirt.io", "virtualmachines", "patch"), 0);
    EXPECT_TRUE(eventually([&] {
      out = asAlice();
      return out.find("predictivescaler.umbra.io/web created (server dry run)") !=
                 std::string::npos &&
             out.find(noPool) != std::string::npos;
    })) << out;
    const auto sp = runCommand(kubectl() + w + " --as=alice create --dry-run=server -f " + Source +
                               "/examples/02-shadowplacement.yaml 2>&1");
    EXPECT_NE(sp.output.find("shadowplacement.umbra.io/web-1 created (server dry run)"),
              std::string::npos)
        << "placing a VM needs the same right: " << sp.output;
    // fidelity Mirror routes the target's Service through a VirtualService: only for a user who
    // may create one.
    std::ofstream(dir + "/alice-mirror.yaml")
        << "apiVersion: umbra.io/v1alpha1\nkind: ShadowPlacement\nmetadata: {name: web-1}\n"
           "spec:\n  target: {kind: VirtualMachine, name: web-1}\n  shadow: {fidelity: Mirror}\n";
    const auto mirrorAs = [&] {
      return runCommand(kubectl() + w + " --as=alice create --dry-run=server -f " + dir +
                        "/alice-mirror.yaml 2>&1")
          .output;
    };
    EXPECT_NE(mirrorAs().find("spec.shadow.fidelity: alice may not create "
                              "virtualservices.networking.istio.io in " +
                              workload.name()),
              std::string::npos)
        << mirrorAs();
    // An InstancetypeTrial always mirrors.
    const auto trialAs = [&] {
      return runCommand(kubectl() + w + " --as=alice create --dry-run=server -f " + Source +
                        "/examples/09-instancetype-trial.yaml 2>&1")
          .output;
    };
    EXPECT_NE(trialAs().find("spec.mirroring: alice may not create "
                             "virtualservices.networking.istio.io in " +
                             workload.name()),
              std::string::npos)
        << trialAs();
    ASSERT_EQ(grantAlice("vs-creator", "networking.istio.io", "virtualservices", "create"), 0);
    EXPECT_TRUE(eventually([&] {
      return mirrorAs().find("shadowplacement.umbra.io/web-1 created (server dry run)") !=
             std::string::npos;
    })) << mirrorAs();
    EXPECT_NE(trialAs().find("instancetypetrial.umbra.io/catalog created (server dry run)"),
              std::string::npos)
        << trialAs();

    // A ShadowPool makes the operator create VMs from the user's template, and with reserved
    // hosts label and taint nodes: only for a user who may do so.
    const std::string tmpl =
        "  workload:\n    serviceLabel: {key: app, value: web}\n    template:\n"
        "      spec: {domain: {cpu: {cores: 1}, memory: {guest: 1Gi}, devices: {}}}\n";
    std::ofstream(dir + "/alice-pool.yaml")
        << "apiVersion: umbra.io/v1alpha1\nkind: ShadowPool\nmetadata: {name: web}\nspec:\n"
        << tmpl;
    std::ofstream(dir + "/alice-reserved-pool.yaml")
        << "apiVersion: umbra.io/v1alpha1\nkind: ShadowPool\nmetadata: {name: reserved}\nspec:\n"
        << tmpl << "  reservedHosts: {nodeSelector: {pool: standby}}\n";
    const auto poolAs = [&](const std::string& file) {
      return runCommand(kubectl() + w + " --as=alice create --dry-run=server -f " + dir + "/" +
                        file + " 2>&1")
          .output;
    };
    const std::string noCreate =
        "spec.workload: alice may not create virtualmachines.kubevirt.io in " + workload.name();
    EXPECT_TRUE(eventually([&] {
      return poolAs("alice-pool.yaml").find(noCreate) != std::string::npos;
    })) << poolAs("alice-pool.yaml");
    ASSERT_EQ(grantAlice("vm-creator", "kubevirt.io", "virtualmachines", "create"), 0);
    EXPECT_TRUE(eventually([&] {
      return poolAs("alice-pool.yaml").find("shadowpool.umbra.io/web created (server dry run)") !=
             std::string::npos;
    })) << poolAs("alice-pool.yaml");
    EXPECT_NE(
        poolAs("alice-reserved-pool.yaml").find("spec.reservedHosts: alice may not patch nodes"),
        std::string::npos)
        << poolAs("alice-reserved-pool.yaml");

    // A RebalancePolicy makes the operator migrate the VMs it selects (and create companion
    // VMIs): only for a user who may do so.
    const auto policyAs = [&] {
      return runCommand(kubectl() + w + " --as=alice create --dry-run=server -f " + Source +
                        "/examples/07-rebalancepolicy.yaml 2>&1")
          .output;
    };
    EXPECT_TRUE(eventually([&] {
      return policyAs().find(
                 "spec.selector: alice may not create "
                 "virtualmachineinstancemigrations.kubevirt.io in " +
                 workload.name()) != std::string::npos;
    })) << policyAs();
    ASSERT_EQ(grantAlice("migrator", "kubevirt.io", "virtualmachineinstancemigrations", "create"),
              0);
    EXPECT_TRUE(eventually([&] {
      return policyAs().find(
                 "spec.companions: alice may not create "
                 "virtualmachineinstances.kubevirt.io") != std::string::npos;
    })) << policyAs();
    ASSERT_EQ(grantAlice("vmi-creator", "kubevirt.io", "virtualmachineinstances", "create"), 0);
    EXPECT_TRUE(eventually([&] {
      return policyAs().find("rebalancepolicy.umbra.io/web created (server dry run)") !=
             std::string::npos;
    })) << policyAs();
  }

  // Users' roles: bound to Kubernetes' edit in a namespace, bob may create Umbra's objects there;
  // bound to view, carol may read them but not create them (the chart's ClusterRoles aggregated
  // by kube-controller-manager's clusterrole-aggregation controller).
  {
    const std::string dir = ControlPlane::instance().dir();
    std::ofstream(dir + "/user-bindings.yaml")
        << "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: bob}\n"
           "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}\n"
           "subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]\n---\n"
           "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: carol}\n"
           "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n"
           "subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}]\n";
    ASSERT_EQ(runCommand(kubectl() + w + " apply -f " + dir + "/user-bindings.yaml").exitCode, 0);
    const auto userCan = [&](const std::string& user, const std::string& args) {
      return runCommand(kubectl() + w + " auth can-i " + args + " --as=" + user).output == "yes\n";
    };
    for (const char* what : {"shadowplacements", "predictivescalers", "shadowpools", "loadnotices",
                             "rebalancepolicies", "instancetypetrials"}) {
      const std::string r = std::string(what) + ".umbra.io";
      EXPECT_TRUE(eventually([&] { return userCan("bob", "create " + r); }))
          << "edit: create " << r;
      EXPECT_TRUE(userCan("bob", "delete " + r)) << "edit: delete " << r;
      EXPECT_TRUE(eventually([&] { return userCan("carol", "list " + r); })) << "view: list " << r;
      EXPECT_FALSE(userCan("carol", "create " + r)) << "view: create " << r;
      EXPECT_FALSE(userCan("bob", "patch " + r + " --subresource=status"))
          << "status is the operator's";
    }
  }

  // The fence around the operator's own service account: what Umbra creates is admitted (a
  // Synthetic shadow made by the operator's own code, a pool shadow VM, a placement's migration);
  // anything else from it is refused naming what is wrong. Server-side dry runs.
  {
    const std::string dir = ControlPlane::instance().dir();
    const Json sp = {
        {"apiVersion", "umbra.io/v1alpha1"},
        {"kind", "ShadowPlacement"},
        {"metadata", {{"name", "web"}, {"namespace", workload.name()}, {"uid", "u-1"}}}};
    const Json target = {
        {"domain",
         {{"cpu", {{"cores", 2}}},
          {"memory", {{"guest", "4Gi"}}},
          {"devices", {{"disks", Json::array({{{"name", "root"}, {"disk", Json::object()}}})}}}}},
        {"volumes",
         Json::array({{{"name", "root"}, {"persistentVolumeClaim", {{"claimName", "db"}}}}})}};
    api::PlacementSettings settings;
    settings.fidelity = api::Fidelity::Synthetic;
    const Json shadow = placement::buildShadowVmi(sp, target, "node-a", settings, {});
    const auto asOperator = [&](const std::string& name, const Json& object) {
      std::ofstream(dir + "/" + name + ".json") << object.dump();
      return runCommand(kubectl() + w + as + " create --dry-run=server -f " + dir + "/" + name +
                        ".json 2>&1")
          .output;
    };
    EXPECT_NE(asOperator("shadow", shadow).find("created (server dry run)"), std::string::npos)
        << asOperator("shadow", shadow);
    Json withClaim = shadow;
    withClaim["spec"]["volumes"].push_back(
        {{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "db"}}}});
    EXPECT_NE(asOperator("with-claim", withClaim)
                  .find("spec.volumes: a shadow VMI may have containerDisk and inline cloud-init "
                        "volumes only, got data"),
              std::string::npos)
        << asOperator("with-claim", withClaim);
    Json secretInit = shadow;
    for (auto& v : secretInit["spec"]["volumes"])
      if (v.contains("cloudInitNoCloud"))
        v["cloudInitNoCloud"] = {{"secretRef", {{"name", "db-credentials"}}}};
    EXPECT_NE(asOperator("secret-init", secretInit).find("(or cloud-init from a Secret)"),
              std::string::npos)
        << asOperator("secret-init", secretInit);
    Json unowned = shadow;
    unowned["metadata"].erase("ownerReferences");
    EXPECT_NE(asOperator("unowned", unowned).find("the operator creates only shadow VMIs"),
              std::string::npos)
        << asOperator("unowned", unowned);
    const Json owner = {{"apiVersion", "umbra.io/v1alpha1"},
                        {"kind", "ShadowPool"},
                        {"name", "web"},
                        {"uid", "u-2"},
                        {"controller", true}};
    Json poolVm = {{"apiVersion", "kubevirt.io/v1"},
                   {"kind", "VirtualMachine"},
                   {"metadata",
                    {{"name", "web-shadow-0"},
                     {"labels", {{"umbra.io/shadow-pool", "web"}}},
                     {"ownerReferences", Json::array({owner})}}},
                   {"spec", {{"runStrategy", "Halted"}, {"template", {{"spec", target}}}}}};
    EXPECT_NE(asOperator("pool-vm", poolVm).find("created (server dry run)"), std::string::npos)
        << asOperator("pool-vm", poolVm);
    poolVm["metadata"]["labels"] = {{"app", "web"}};
    EXPECT_NE(asOperator("other-vm", poolVm).find("the operator creates only pool shadow VMs"),
              std::string::npos)
        << asOperator("other-vm", poolVm);
    Json migration = {
        {"apiVersion", "kubevirt.io/v1"},
        {"kind", "VirtualMachineInstanceMigration"},
        {"metadata",
         {{"name", "web-move"}, {"ownerReferences", shadow["metadata"]["ownerReferences"]}}},
        {"spec", {{"vmiName", "web"}}}};
    EXPECT_NE(asOperator("move", migration).find("created (server dry run)"), std::string::npos)
        << asOperator("move", migration);
    // A RebalancePolicy's companion shadow and migration.
    Json companion = shadow;
    companion["metadata"]["ownerReferences"][0]["kind"] = "RebalancePolicy";
    companion["metadata"]["labels"] = {{"umbra.io/role", "shadow"},
                                       {"umbra.io/rebalance-policy", "web"},
                                       {"umbra.io/companion-of", "web"}};
    EXPECT_NE(asOperator("companion", companion).find("created (server dry run)"),
              std::string::npos)
        << asOperator("companion", companion);
    Json rebalance = migration;
    rebalance["metadata"]["name"] = "web-rebalance-1";
    rebalance["metadata"]["ownerReferences"] = companion["metadata"]["ownerReferences"];
    EXPECT_NE(asOperator("rebalance", rebalance).find("created (server dry run)"),
              std::string::npos)
        << asOperator("rebalance", rebalance);
    // An InstancetypeTrial's shadow of a candidate type, as the operator builds it.
    {
      const Json trial = {{"metadata", {{"name", "web"}, {"uid", "u-4"}}}};
      const placement::Instancetype it{"u1.large",
                                       {{"cpu", {{"guest", 2}}}, {"memory", {{"guest", "8Gi"}}}}};
      const Json trialShadow = placement::buildTrialShadowVmi(trial, target, it, 0.02, {});
      EXPECT_NE(asOperator("trial-shadow", trialShadow).find("created (server dry run)"),
                std::string::npos)
          << asOperator("trial-shadow", trialShadow);
    }
    // fidelity Mirror's objects, as the operator's code builds them: admitted; a Service that
    // selects the user's pods, a VirtualService that diverts requests, a NetworkPolicy on other
    // pods or ingress, an object not owned by shadows: refused, naming what is wrong.
    {
      const Json service = {{"metadata", {{"name", "web"}}},
                            {"spec",
                             {{"selector", {{"app", "web"}}},
                              {"ports", Json::array({{{"name", "http"}, {"port", 80}}})}}}};
      const std::vector<placement::MirroredShadow> shadows = {
          {"web-shadow-node-a", "u-3", "node-a"}};
      const Json svc =
          placement::buildShadowService(placement::placementMirrorScope(sp), service, shadows[0]);
      const Json vs = placement::buildMirrorVirtualService(placement::placementMirrorScope(sp),
                                                           service, shadows, 10);
      const Json np = placement::buildShadowEgressPolicy(placement::placementMirrorScope(sp),
                                                         shadows, "istio-system");
      for (const auto& [name, object] :
           {std::pair{"mirror-svc", svc}, std::pair{"mirror-vs", vs}, std::pair{"mirror-np", np}})
        EXPECT_NE(asOperator(name, object).find("created (server dry run)"), std::string::npos)
            << asOperator(name, object);
      Json userPods = svc;
      userPods["spec"]["selector"] = {{"app", "web"}};
      EXPECT_NE(
          asOperator("svc-users", userPods).find("the operator's Services select shadows only"),
          std::string::npos)
          << asOperator("svc-users", userPods);
      Json divert = vs;
      divert["spec"]["http"][0]["route"][0]["destination"]["host"] = "elsewhere";
      EXPECT_NE(asOperator("vs-divert", divert).find("never divert them"), std::string::npos)
          << asOperator("vs-divert", divert);
      Json ingress = np;
      ingress["spec"]["policyTypes"] = Json::array({"Ingress", "Egress"});
      EXPECT_NE(asOperator("np-ingress", ingress).find("restrict the egress of shadows only"),
                std::string::npos)
          << asOperator("np-ingress", ingress);
      Json notOwned = svc;
      notOwned["metadata"]["ownerReferences"] = companion["metadata"]["ownerReferences"];
      EXPECT_NE(asOperator("svc-owner", notOwned).find("owned by shadow VMIs"), std::string::npos)
          << asOperator("svc-owner", notOwned);
    }
    migration["metadata"].erase("ownerReferences");
    EXPECT_NE(asOperator("stray-move", migration)
                  .find("the operator creates only migrations controlled by a ShadowPlacement"),
              std::string::npos)
        << asOperator("stray-move", migration);
    // The same objects from anyone else are not the fence's business.
    EXPECT_NE(
        runCommand(kubectl() + w + " create --dry-run=server -f " + dir + "/with-claim.json 2>&1")
            .output.find("created (server dry run)"),
        std::string::npos);
  }

  // Users' objects: the examples are accepted, an invalid placement is refused with the reason.
  const auto examples = runCommand(kubectl() + w + " apply -f " + Source + "/examples/ 2>&1");
  EXPECT_EQ(examples.exitCode, 0) << examples.output;
  const auto invalid = runCommand(kubectl() + w + " apply -f " + Source +
                                  "/tests/integration/testdata/invalid/01-no-target.yaml 2>&1");
  EXPECT_NE(invalid.exitCode, 0);
  EXPECT_NE(invalid.output.find("spec.target: Required value"), std::string::npos)
      << invalid.output;
  ASSERT_EQ(runCommand(kubectl() + w + " delete -f " + Source + "/examples/ --wait=false").exitCode,
            0);

  // Uninstall: everything goes but the CRDs (kept: deleting one deletes its objects).
  const auto removed = helm("uninstall umbra --namespace " + ns + kubeconfigFlag() + " --wait");
  ASSERT_EQ(removed.exitCode, 0) << removed.output;
  const auto left =
      runCommand(kubectl() + " -n " + ns +
                 " get deploy,sa,cm,svc,role,rolebinding -l app.kubernetes.io/instance=umbra"
                 " -o name 2>&1");
  EXPECT_EQ(left.output, "") << left.output;
  const auto cluster = runCommand(kubectl() +
                                  " get clusterrole,clusterrolebinding -l "
                                  "app.kubernetes.io/instance=umbra -o name 2>&1");
  EXPECT_EQ(cluster.output, "") << cluster.output;
  for (const auto& e : std::filesystem::directory_iterator(Source + "/crds"))
    EXPECT_EQ(runCommand(kubectl() + " get crd " + e.path().stem().string() + " -o name").exitCode,
              0)
        << e.path().filename() << " stays (helm.sh/resource-policy: keep)";
}

// Namespaced mode (watchNamespace): the operator may act on objects only in the namespace it
// watches (a Role there); it still reads what runs on the nodes in every namespace (nodes, pods,
// VMIs: the ClusterRole), which a placement's node ranking needs.
TEST_F(ChartInstallTest, NamespacedModeActsOnlyInTheWatchedNamespace) {
  TestNamespace release, watched, other;
  const std::string& ns = release.name();
  // A second, namespaced release beside a cluster-wide one leaves the CRDs to the first.
  ASSERT_TRUE(ControlPlane::instance().installAllCrds().ok());
  const auto installed = helm("install scoped " + Chart + " --namespace " + ns + kubeconfigFlag() +
                              " --set watchNamespace=" + watched.name() + ",crds.install=false");
  ASSERT_EQ(installed.exitCode, 0) << installed.output;
  const std::string as = " --as=system:serviceaccount:" + ns + ":scoped-umbra";
  const auto canI = [&](const std::string& args) { return canIAs(as, args); };
  const std::string in = " -n " + watched.name(), elsewhere = " -n " + other.name();
  for (const std::string what :
       {"create virtualmachineinstances.kubevirt.io", "delete virtualmachineinstances.kubevirt.io",
        "patch virtualmachines.kubevirt.io", "create virtualmachines.kubevirt.io",
        "create virtualmachineinstancemigrations.kubevirt.io", "list shadowplacements.umbra.io",
        "patch shadowplacements.umbra.io --subresource=status", "patch pods",
        "create events.events.k8s.io",
        "patch virtualmachinepools.pool.kubevirt.io --subresource=scale"}) {
    EXPECT_TRUE(canI(what + in)) << "in the watched namespace: " << what;
    EXPECT_FALSE(canI(what + elsewhere)) << "elsewhere: " << what;
  }
  for (const std::string what :
       {"list virtualmachineinstances.kubevirt.io -A", "watch pods -A", "patch nodes",
        "list virtualmachineclusterinstancetypes.instancetype.kubevirt.io"})
    EXPECT_TRUE(canI(what)) << "cluster-wide reads: " << what;
  EXPECT_FALSE(canI("list shadowplacements.umbra.io -A"));
  EXPECT_FALSE(canI("patch pods" + elsewhere));
  const auto removed = helm("uninstall scoped --namespace " + ns + kubeconfigFlag() + " --wait");
  ASSERT_EQ(removed.exitCode, 0) << removed.output;
  EXPECT_EQ(runCommand(kubectl() + in +
                       " get role,rolebinding -l app.kubernetes.io/instance=scoped"
                       " -o name 2>&1")
                .output,
            "");
}

// Upgrade from the previous chart version (0.1.0, packaged as released: CRDs in crds/, which Helm
// installs once and never upgrades) to this one (CRDs as templates). The CRDs are taken over and
// upgraded (this version adds selectable fields), objects survive, and uninstall keeps the CRDs.
TEST_F(ChartInstallTest, UpgradesFromThePreviousVersionAndTheCrdsFollow) {
  TestNamespace release, workload;
  const std::string& ns = release.name();
  const std::string w = " -n " + workload.name();
  const std::string previous = Source + "/tests/integration/testdata/charts/umbra-0.1.0.tgz";
  const auto installed = helm("install umbra " + previous + " --namespace " + ns +
                              kubeconfigFlag() + " --set replicaCount=0");
  ASSERT_EQ(installed.exitCode, 0) << installed.output;
  ASSERT_EQ(runCommand(kubectl() + " wait --for condition=established --timeout=30s "
                                   "crd/shadowplacements.umbra.io 2>&1")
                .exitCode,
            0);
  const std::string examples = " -f " + Source + "/examples/01-virtualmachine.yaml -f " + Source +
                               "/examples/02-shadowplacement.yaml";
  const auto applied = runCommand(kubectl() + w + " apply" + examples + " 2>&1");
  ASSERT_EQ(applied.exitCode, 0) << applied.output;
  const std::string bySelector =
      kubectl() + w + " get shadowplacements --field-selector spec.target.name=web-1 -o name 2>&1";
  const auto before = runCommand(bySelector);
  EXPECT_NE(before.exitCode, 0) << "0.1.0's CRD has no selectable fields: " << before.output;

  // Without --take-ownership Helm refuses the CRDs it did not template (docs/operations.md).
  const std::string upgrade =
      "upgrade umbra " + Chart + " --namespace " + ns + kubeconfigFlag() + " --set replicaCount=0";
  const auto refused = helm(upgrade);
  EXPECT_NE(refused.exitCode, 0);
  EXPECT_NE(refused.output.find("invalid ownership metadata"), std::string::npos) << refused.output;
  const auto upgraded = helm(upgrade + " --take-ownership");
  ASSERT_EQ(upgraded.exitCode, 0) << upgraded.output;

  for (const auto& e : std::filesystem::directory_iterator(Source + "/crds")) {
    const std::string name = e.path().stem().string();
    const auto crd = runCommand(kubectl() + " get crd " + name + " -o json");
    ASSERT_EQ(crd.exitCode, 0) << name;
    const Json live = Json::parse(crd.output);
    EXPECT_EQ(live["metadata"]["labels"].value("helm.sh/chart", ""), "umbra-0.2.0") << name;
    EXPECT_EQ(live["metadata"]["annotations"].value("helm.sh/resource-policy", ""), "keep") << name;
    EXPECT_EQ(live["spec"]["versions"][0].value("selectableFields", Json::array()),
              yamlToJson(YAML::LoadFile(e.path().string()))["spec"]["versions"][0].value(
                  "selectableFields", Json::array()))
        << name;
  }
  const bool selectable = eventually([&] {
    const auto r = runCommand(bySelector);
    return r.exitCode == 0 && r.output == "shadowplacement.umbra.io/web-1\n";
  });
  EXPECT_TRUE(selectable) << runCommand(bySelector).output;

  // A second upgrade is a no-op for the CRDs; uninstall keeps them and the objects.
  const auto again = helm(upgrade);
  EXPECT_EQ(again.exitCode, 0) << again.output;
  const auto removed = helm("uninstall umbra --namespace " + ns + kubeconfigFlag() + " --wait");
  ASSERT_EQ(removed.exitCode, 0) << removed.output;
  EXPECT_EQ(runCommand(kubectl() + w + " get shadowplacement web-1 -o name 2>&1").output,
            "shadowplacement.umbra.io/web-1\n");
  EXPECT_EQ(runCommand(bySelector).output, "shadowplacement.umbra.io/web-1\n");
  runCommand(kubectl() + w + " delete" + examples + " --wait=false 2>&1");
}

}  // namespace
}  // namespace umbra::testing
