#include "simulator/exposition.h"

#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

namespace umbra::simulator {
namespace {

std::string escape(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", std::isfinite(v) ? v : 0.0);
  return buf;
}

class Writer {
 public:
  // Writes one metric family: HELP, TYPE and the samples `each` produces.
  void family(
      const char* name, const char* type, const char* help,
      const std::function<void(const std::function<void(const std::string&, double)>&)>& each) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
    each([&](const std::string& labels, double value) {
      out_ += name;
      out_ += '{';
      out_ += labels;
      out_ += "} ";
      out_ += number(value);
      out_ += '\n';
    });
  }
  // A histogram family: for each label set `each` produces, its buckets (cumulative counts at
  // each bound, then +Inf), sum and count.
  using Histogram = std::function<void(const std::string& labels, const std::vector<double>& bounds,
                                       const std::vector<double>& counts, double sum)>;
  void histogram(const char* name, const char* help,
                 const std::function<void(const Histogram&)>& each) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
    each([&](const std::string& labels, const std::vector<double>& bounds,
             const std::vector<double>& counts, double sum) {
      const double total = counts.empty() ? 0 : counts.back();
      for (size_t i = 0; i < bounds.size(); ++i)
        out_ += std::string(name) + "_bucket{" + labels + ",le=\"" + number(bounds[i]) + "\"} " +
                number(counts[i]) + "\n";
      out_ += std::string(name) + "_bucket{" + labels + ",le=\"+Inf\"} " + number(total) + "\n";
      out_ += std::string(name) + "_sum{" + labels + "} " + number(sum) + "\n";
      out_ += std::string(name) + "_count{" + labels + "} " + number(total) + "\n";
    });
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

using Emit = std::function<void(const std::string&, double)>;

// virt-launcher-<vmi>-<5 characters>, the suffix from Kubernetes' random-string alphabet (here a
// hash of namespace and name, so that it is stable across scrapes).
std::string launcherPod(const std::string& ns, const std::string& name) {
  static const char Alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char c : ns + "/" + name)
    h = (h ^ c) * 1099511628211ULL;
  std::string suffix;
  for (int i = 0; i < 5; ++i, h /= 27)
    suffix += Alphabet[h % 27];
  return "virt-launcher-" + name + "-" + suffix;
}

}  // namespace

std::string vmiLabelName(const std::string& key) {
  std::string out = "kubernetes_vmi_label_";
  for (const char c : key)
    out += (c == '.' || c == '/' || c == '-') ? '_' : c;
  return out;
}

std::string renderMetrics(const sim::Simulation& sim, const std::map<std::string, VmiInfo>& vmis) {
  Writer w;
  // Per-VMI: the label set virt-handler puts on every series.
  struct Row {
    const sim::WorkloadState* state;
    std::string labels;
  };
  std::vector<Row> rows;
  for (const auto& [id, info] : vmis) {
    const sim::WorkloadState* s = sim.workload(id);
    if (!s)
      continue;
    std::string l = "name=\"" + escape(info.name) + "\",namespace=\"" + escape(info.ns) +
                    "\",node=\"" + escape(s->node) + "\"";
    for (const auto& [k, v] : info.labels)
      l += "," + vmiLabelName(k) + "=\"" + escape(v) + "\"";
    rows.push_back({s, std::move(l)});
  }
  const auto perVcpu = [&](const std::function<double(const sim::WorkloadState&)>& total,
                           const std::string& extra) {
    return [&, total, extra](const Emit& emit) {
      for (const auto& r : rows) {
        const int n = std::max(1, static_cast<int>(std::lround(r.state->spec.vcpus)));
        for (int id = 0; id < n; ++id)
          emit(r.labels + ",id=\"" + std::to_string(id) + "\"" + extra, total(*r.state) / n);
      }
    };
  };
  const auto perVmi = [&](const std::function<double(const sim::WorkloadState&)>& value,
                          const std::string& extra = "") {
    return [&, value, extra](const Emit& emit) {
      for (const auto& r : rows)
        emit(r.labels + extra, value(*r.state));
    };
  };
  using WS = sim::WorkloadState;
  w.family("kubevirt_vmi_info", "gauge", "Information about VirtualMachineInstances.",
           [&](const Emit& emit) {
             for (const auto& [id, info] : vmis) {
               if (const auto* s = sim.workload(id))
                 emit("name=\"" + escape(info.name) + "\",namespace=\"" + escape(info.ns) +
                          "\",node=\"" + escape(s->node) + "\",phase=\"" + escape(info.phase) +
                          "\"",
                      1);
             }
           });
  w.family("kubevirt_vmi_vcpu_seconds_total", "counter",
           "Total amount of time spent in each state by each vcpu (cpu_time excluding hypervisor "
           "time).",
           perVcpu([](const WS& s) { return s.counters.cpuRunning; }, ",state=\"running\""));
  w.family("kubevirt_vmi_vcpu_delay_seconds_total", "counter",
           "Amount of time spent by each vcpu waiting in the queue instead of running.",
           perVcpu([](const WS& s) { return s.counters.cpuDelay; }, ""));
  w.family("kubevirt_vmi_vcpu_wait_seconds_total", "counter",
           "Amount of time spent by each vcpu while waiting on I/O.",
           perVcpu([](const WS& s) { return s.counters.cpuWait; }, ""));
  w.family("kubevirt_vmi_cpu_usage_seconds_total", "counter",
           "Total CPU time spent in all modes (sum of both vcpu and hypervisor usage).",
           perVmi([](const WS& s) { return s.counters.cpuRunning; }));
  w.family("kubevirt_vmi_memory_domain_bytes", "gauge",
           "The amount of memory in bytes allocated to the domain.",
           perVmi([](const WS& s) { return s.spec.memoryBytes; }));
  w.family("kubevirt_vmi_memory_resident_bytes", "gauge",
           "Resident set size of the process running the domain.",
           perVmi([](const WS& s) { return s.demand.memory; }));
  w.family("kubevirt_vmi_memory_used_bytes", "gauge",
           "Amount of used memory as seen by the domain.",
           perVmi([](const WS& s) { return s.demand.memory; }));
  w.family("kubevirt_vmi_memory_available_bytes", "gauge",
           "Amount of usable memory as seen by the domain.",
           perVmi([](const WS& s) { return s.spec.memoryBytes; }));
  w.family("kubevirt_vmi_memory_usable_bytes", "gauge",
           "The amount of memory which can be reclaimed by balloon without pushing the guest "
           "system to swap.",
           perVmi([](const WS& s) { return std::max(0.0, s.spec.memoryBytes - s.demand.memory); }));
  const std::string drive = ",drive=\"rootdisk\"";
  w.family("kubevirt_vmi_storage_iops_read_total", "counter",
           "Total number of I/O read operations.",
           perVmi([](const WS& s) { return s.counters.diskReads; }, drive));
  w.family("kubevirt_vmi_storage_iops_write_total", "counter",
           "Total number of I/O write operations.",
           perVmi([](const WS& s) { return s.counters.diskWrites; }, drive));
  w.family("kubevirt_vmi_storage_read_traffic_bytes_total", "counter",
           "Total number of bytes read from storage.",
           perVmi([](const WS& s) { return s.counters.diskReadBytes; }, drive));
  w.family("kubevirt_vmi_storage_write_traffic_bytes_total", "counter",
           "Total number of written bytes.",
           perVmi([](const WS& s) { return s.counters.diskWriteBytes; }, drive));
  w.family("kubevirt_vmi_storage_read_times_seconds_total", "counter",
           "Total time spent on read operations.",
           perVmi([](const WS& s) { return s.counters.diskReadSeconds; }, drive));
  w.family("kubevirt_vmi_storage_write_times_seconds_total", "counter",
           "Total time spent on write operations.",
           perVmi([](const WS& s) { return s.counters.diskWriteSeconds; }, drive));
  const std::string iface = ",interface=\"default\"";
  w.family("kubevirt_vmi_network_receive_bytes_total", "counter",
           "Total network traffic received in bytes.",
           perVmi([](const WS& s) { return s.counters.networkRxBytes; }, iface));
  w.family("kubevirt_vmi_network_transmit_bytes_total", "counter",
           "Total network traffic transmitted in bytes.",
           perVmi([](const WS& s) { return s.counters.networkTxBytes; }, iface));
  w.family("kubevirt_vmi_network_receive_packets_total", "counter",
           "Total network traffic received packets.",
           perVmi([](const WS& s) { return s.counters.networkRxPackets; }, iface));
  w.family("kubevirt_vmi_network_transmit_packets_total", "counter",
           "Total network traffic transmitted packets.",
           perVmi([](const WS& s) { return s.counters.networkTxPackets; }, iface));

  // Istio's standard metrics, as each serving VMI's sidecar reports them (reporter destination;
  // the workload is the VMI, the virt-launcher pod's controller): requests and their duration.
  const auto istioLabels = [&](const VmiInfo& info) {
    return "reporter=\"destination\",destination_workload=\"" + escape(info.name) +
           "\",destination_workload_namespace=\"" + escape(info.ns) +
           "\",request_protocol=\"http\",response_code=\"200\"";
  };
  w.family("istio_requests_total", "counter",
           "Counter incremented for every request handled by an Istio proxy.",
           [&](const Emit& emit) {
             for (const auto& [id, info] : vmis)
               if (const auto* s = sim.workload(id); s && s->spec.requests)
                 emit(istioLabels(info), std::floor(s->counters.requests));
           });
  w.histogram("istio_request_duration_milliseconds", "Duration of requests, in milliseconds.",
              [&](const Writer::Histogram& emit) {
                const std::vector<double> bounds(sim::LatencyBucketsMs.begin(),
                                                 sim::LatencyBucketsMs.end());
                for (const auto& [id, info] : vmis) {
                  const auto* s = sim.workload(id);
                  if (!s || !s->spec.requests)
                    continue;
                  const auto& c = s->counters;
                  std::vector<double> counts(c.requestBuckets.begin(), c.requestBuckets.end());
                  counts.push_back(c.requests);
                  emit(istioLabels(info), bounds, counts, c.requestSeconds * 1000);
                }
              });

  // node-exporter, one label set per node.
  using NS = sim::NodeState;
  const auto perNode = [&](const std::function<double(const NS&)>& value,
                           const std::string& extra = "") {
    return [&, value, extra](const Emit& emit) {
      for (const auto& n : sim.nodes())
        emit("node=\"" + escape(n.spec.name) + "\"" + extra, value(n));
    };
  };
  w.family("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.",
           [&](const Emit& emit) {
             for (const auto& n : sim.nodes()) {
               const int cpus = std::max(1, static_cast<int>(std::floor(n.spec.cpuCores)));
               const auto& c = n.counters;
               const std::pair<const char*, double> modes[] = {
                   {"idle", c.idle}, {"iowait", c.iowait}, {"irq", 0},           {"nice", 0},
                   {"softirq", 0},   {"steal", c.steal},   {"system", c.system}, {"user", c.user}};
               for (int cpu = 0; cpu < cpus; ++cpu) {
                 for (const auto& [mode, total] : modes)
                   emit("node=\"" + escape(n.spec.name) + "\",cpu=\"" + std::to_string(cpu) +
                            "\",mode=\"" + mode + "\"",
                        total / cpus);
               }
             }
           });
  w.family("node_memory_MemTotal_bytes", "gauge", "Memory information field MemTotal_bytes.",
           perNode([](const NS& n) { return n.spec.memoryBytes; }));
  w.family("node_memory_MemAvailable_bytes", "gauge",
           "Memory information field MemAvailable_bytes.",
           perNode([](const NS& n) { return std::max(0.0, n.spec.memoryBytes - n.memoryUsed); }));
  w.family("node_load1", "gauge", "1m load average.",
           perNode([](const NS& n) { return n.cpuDemand; }));
  w.family("node_pressure_cpu_waiting_seconds_total", "counter",
           "Total time in seconds that processes have waited for CPU time",
           perNode([](const NS& n) { return n.counters.pressureCpuWaiting; }));
  w.family("node_pressure_memory_waiting_seconds_total", "counter",
           "Total time in seconds that processes have waited for memory",
           perNode([](const NS& n) { return n.counters.pressureMemoryWaiting; }));
  w.family("node_pressure_memory_stalled_seconds_total", "counter",
           "Total time in seconds no process could make progress due to memory congestion",
           perNode([](const NS& n) { return n.counters.pressureMemoryStalled; }));
  w.family("node_pressure_io_waiting_seconds_total", "counter",
           "Total time in seconds that processes have waited due to IO congestion",
           perNode([](const NS& n) { return n.counters.pressureIoWaiting; }));
  w.family("node_pressure_io_stalled_seconds_total", "counter",
           "Total time in seconds no process could make progress due to IO congestion",
           perNode([](const NS& n) { return n.counters.pressureIoStalled; }));
  const std::string disk = ",device=\"vda\"";
  w.family("node_disk_read_bytes_total", "counter", "The total number of bytes read successfully.",
           perNode([](const NS& n) { return n.counters.diskReadBytes; }, disk));
  w.family("node_disk_written_bytes_total", "counter",
           "The total number of bytes written successfully.",
           perNode([](const NS& n) { return n.counters.diskWrittenBytes; }, disk));
  w.family("node_disk_reads_completed_total", "counter",
           "The total number of reads completed successfully.",
           perNode([](const NS& n) { return n.counters.diskReads; }, disk));
  w.family("node_disk_writes_completed_total", "counter",
           "The total number of writes completed successfully.",
           perNode([](const NS& n) { return n.counters.diskWrites; }, disk));
  w.family("node_disk_io_time_seconds_total", "counter", "Total seconds spent doing I/Os.",
           perNode([](const NS& n) { return n.counters.diskIoSeconds; }, disk));
  const std::string nic = ",device=\"eth0\"";
  w.family("node_network_receive_bytes_total", "counter", "Network device statistic receive_bytes.",
           perNode([](const NS& n) { return n.counters.networkRxBytes; }, nic));
  w.family("node_network_transmit_bytes_total", "counter",
           "Network device statistic transmit_bytes.",
           perNode([](const NS& n) { return n.counters.networkTxBytes; }, nic));

  // cAdvisor (the kubelet's /metrics/cadvisor): the CFS quota's throttled time of the launcher's
  // compute container, which carries the VMI's CPU limit. Only containers with a quota have it.
  w.family("container_cpu_cfs_throttled_seconds_total", "counter",
           "Total time duration the container has been throttled.", [&](const Emit& emit) {
             for (const auto& [id, info] : vmis) {
               const auto* s = sim.workload(id);
               if (s && s->spec.cpuLimit > 0)
                 emit("container=\"compute\",namespace=\"" + escape(info.ns) + "\",pod=\"" +
                          escape(launcherPod(info.ns, info.name)) + "\"",
                      s->counters.cpuThrottled);
             }
           });
  // A Synthetic shadow's probe, served by the guest and scraped through its virt-launcher pod
  // (docs/simulation.md, "The probe"); labels as a PodMonitor relabels them.
  const auto perProbe = [&](double sim::WorkloadCounters::*alu,
                            double sim::WorkloadCounters::*mem) {
    return [&, alu, mem](const Emit& emit) {
      for (const auto& r : rows) {
        if (r.state->spec.source.kind != sim::SourceKind::Probe)
          continue;
        emit(r.labels + ",kernel=\"alu\"", r.state->counters.*alu);
        emit(r.labels + ",kernel=\"memory\"", r.state->counters.*mem);
      }
    };
  };
  w.family("umbra_probe_operations_total", "counter",
           "Chunks of work the probe's kernel completed (1 ms each on an idle reference core).",
           perProbe(&sim::WorkloadCounters::probeAluOps, &sim::WorkloadCounters::probeMemoryOps));
  w.family("umbra_probe_seconds_total", "counter", "Wall-clock seconds the probe's kernel ran.",
           perProbe(&sim::WorkloadCounters::probeAluSeconds,
                    &sim::WorkloadCounters::probeMemorySeconds));

  // Ground truth, for benchmarks and debugging; not something a real cluster exports.
  w.family("umbra_sim_vmi_steal_ratio", "gauge",
           "Simulated: the host run-queue delay fraction of the VMI's vCPUs (steal without the "
           "CFS quota's throttling).",
           perVmi([](const WS& s) { return s.queueDelay; }));
  w.family("umbra_sim_vmi_throttled_ratio", "gauge",
           "Simulated: the share of the VMI's wanted CPU time its CPU limit refused.",
           perVmi([](const WS& s) { return s.throttled; }));
  w.family("umbra_sim_vmi_interference_ratio", "gauge",
           "Simulated: the share of the VMI's speed lost to co-runners' cache and memory-bandwidth "
           "pressure.",
           perVmi([](const WS& s) { return s.interference; }));
  w.family("umbra_sim_vmi_slowdown_ratio", "gauge",
           "Simulated: the share of the VMI's speed lost to contention, 1 - (1 - delay)(1 - "
           "interference)(1 - throttled).",
           perVmi([](const WS& s) { return s.slowdown; }));
  w.family("umbra_sim_vmi_network_latency_seconds", "gauge",
           "Simulated: network latency the VMI sees.",
           perVmi([](const WS& s) { return s.networkLatency; }));
  w.family("umbra_sim_node_cpu_demand_cores", "gauge",
           "Simulated: physical cores wanted on the node (VMs and background).",
           perNode([](const NS& n) { return n.cpuDemand; }));
  w.family("umbra_sim_demand_time_seconds", "gauge",
           "Simulated: the demand clock (trace time) in seconds.",
           [&](const Emit& emit) { emit("", sim.demandTime()); });
  return w.take();
}

}  // namespace umbra::simulator
