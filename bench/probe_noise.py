#!/usr/bin/env python3
"""How precisely the Synthetic shadow's probe reads, measured on this machine's own kernel.

Runs the probe script a Synthetic shadow runs (`umbra probe-script --format script`,
placement::syntheticScript) several times at once, each copy in its own cgroup-v1 `cpu` group
with the CFS quota KubeVirt would give the shadow (`limits.cpu`, default 10m), samples each
copy's `umbra_probe_*` exposition every 15 s (as Prometheus would), and reports:

- the chunks each kernel completes per 15 s slot, and the CPU the copy used;
- the probe's loss `1 - (memory ops / memory s) / (ALU ops / ALU s) / reference` over each
  observation window (5 minutes, Umbra's default), the reference being the median ratio of all
  windows (the probe's `probeReference` on this machine);
- its spread: across copies within the same window (the estimator's own noise; what the copies
  share, such as other work on the machine, drops out), and in all;
- what the simulation assumes for the same shadow (src/sim/demand.cc, probePairsPerSecond and
  probeChunkError: a relative error of max(measurementNoise, probeChunkError / sqrt(chunks per
  slot)) per kernel and slot; probeChunkError was set from this script's figures at 10m, 40m and
  160m, so at those limits the two columns agree by construction and elsewhere they test it).

Needs root and a cgroup-v1 `cpu` hierarchy at /sys/fs/cgroup/cpu (a cgroup-v2 `cpu.max` is used
when that is what the machine has). Every copy and cgroup is removed on exit, Ctrl-C or SIGTERM.

  bench/probe_noise.py --umbra build/src/cli/umbra --limit-cores 0.01 --copies 8 --minutes 30 \
      --json bench/results/probe_noise-10m.json
"""
import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SLOT = 15.0  # seconds between scrapes, and the simulation's noise slot
SIM_MEASUREMENT_NOISE = 0.02  # examples/clusters/*.yaml physics.measurementNoise


def die(msg):
    print(f"probe_noise: {msg}", file=sys.stderr)
    sys.exit(2)


def guest_script(umbra, cpu_percent, limit_cores, profile):
    """The script a Synthetic shadow's guest runs (write_files' /usr/local/bin/umbra-load)."""
    try:
        out = subprocess.run(
            [umbra, "probe-script", "--format", "script", "--cpu-percent", str(cpu_percent),
             "--limit-cores", str(limit_cores), "--profile", profile],
            check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        die(f"{umbra} probe-script: {e}")
    if not out.startswith("#!") or "M=/run/umbra;" not in out:
        die(f"{umbra} probe-script: not the probe script this harness knows (no M=/run/umbra;)")
    return out


class Cgroups:
    """One CPU-limited group per copy; removed in cleanup()."""

    def __init__(self, copies, limit_cores):
        self.paths = []
        period = 100000
        quota = max(1000, int(round(limit_cores * period)))
        v1 = "/sys/fs/cgroup/cpu"
        if os.path.isfile(os.path.join(v1, "cpu.cfs_quota_us")):
            base, self.v2 = v1, False
        elif os.path.isfile("/sys/fs/cgroup/cgroup.controllers"):
            base, self.v2 = "/sys/fs/cgroup", True
        else:
            die("no cgroup cpu controller at /sys/fs/cgroup/cpu or /sys/fs/cgroup")
        # cgroup v1 keeps CPU usage in the cpuacct hierarchy: a group there too, when mounted.
        acct = "/sys/fs/cgroup/cpuacct"
        self.accounting = not self.v2 and os.path.isfile(os.path.join(acct, "cpuacct.usage"))
        self.acct_paths = []
        for i in range(copies):
            name = f"umbra-probe-noise-{os.getpid()}-{i}"
            path = os.path.join(base, name)
            try:
                os.mkdir(path)
                self.paths.append(path)
                if self.v2:
                    self._write(path, "cpu.max", f"{quota} {period}")
                else:
                    self._write(path, "cpu.cfs_period_us", str(period))
                    self._write(path, "cpu.cfs_quota_us", str(quota))
                if self.accounting:
                    os.mkdir(os.path.join(acct, name))
                    self.acct_paths.append(os.path.join(acct, name))
            except OSError as e:
                self.cleanup()
                die(f"{path}: {e} (needs root and a writable cgroup cpu controller)")

    def procs_files(self, i):
        """The cgroup.procs files a copy's process joins."""
        files = [os.path.join(self.paths[i], "cgroup.procs")]
        if self.accounting:
            files.append(os.path.join(self.acct_paths[i], "cgroup.procs"))
        return files

    @staticmethod
    def _write(path, name, value):
        with open(os.path.join(path, name), "w") as f:
            f.write(value)

    def usage_seconds(self, i):
        stat = os.path.join(self.paths[i], "cpu.stat")
        with open(stat) as f:
            fields = dict(line.split() for line in f if line.strip())
        if self.v2:
            return int(fields["usage_usec"]) / 1e6, int(fields.get("nr_throttled", 0)), int(
                fields.get("nr_periods", 0))
        usage = None
        if self.accounting:
            with open(os.path.join(self.acct_paths[i], "cpuacct.usage")) as f:
                usage = int(f.read()) / 1e9
        return usage, int(fields["nr_throttled"]), int(fields["nr_periods"])

    def cleanup(self):
        for path in reversed(self.paths + self.acct_paths):
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
        self.paths, self.acct_paths = [], []


def join_cgroups(files):
    """In the child, before exec: the copy and all it forks run under the group's quota."""
    for name in files:
        with open(name, "w") as f:
            f.write(str(os.getpid()))


def read_metrics(path):
    """{kernel: (operations, seconds)} from one copy's exposition, or None before the first."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    out = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        for kernel in ("alu", "memory"):
            if f'kernel="{kernel}"' in name:
                ops, secs = out.get(kernel, (0.0, 0.0))
                if name.startswith("umbra_probe_operations_total"):
                    ops = float(value)
                elif name.startswith("umbra_probe_seconds_total"):
                    secs = float(value)
                out[kernel] = (ops, secs)
    return out if len(out) == 2 else None


def sim_pairs_per_second(busy_share, limit_cores):
    """src/sim/demand.cc probePairsPerSecond: the script's pairs of chunks per second."""
    pair_cpu, sleep = 0.037, 9.0
    busy_wall = min(1.0, max(0.0, busy_share)) * 10
    pair_wall = pair_cpu / (min(1.0, limit_cores) if limit_cores > 0 else 1.0)
    pairs = math.ceil(busy_wall / pair_wall - 1e-9)
    return pairs / (pairs * pair_wall + sleep) if pairs > 0 else 0.0


def sim_chunk_error(limit_cores):
    """src/sim/demand.cc probeChunkError: one chunk's relative timing error at a CPU limit."""
    measured = [(0.01, 0.165), (0.04, 0.295), (0.16, 0.450)]
    limit = limit_cores if limit_cores > 0 else measured[-1][0]
    if limit <= measured[0][0]:
        return measured[0][1]
    for (x0, y0), (x1, y1) in zip(measured, measured[1:]):
        if limit <= x1:
            return y0 + (y1 - y0) * math.log(limit / x0) / math.log(x1 / x0)
    return measured[-1][1]


def sim_model(limit_cores, cpu_percent, window_seconds):
    """The simulation's probe for this shadow: chunks per kernel and slot, its loss's SE, and the
    script's CPU (src/sim/demand.cc and simulation.cc, mirrored here)."""
    level = min(1000.0, max(1.0, round(cpu_percent * 10.0 * min(1.0, limit_cores)))) / 1000
    pairs = sim_pairs_per_second(level, limit_cores)
    per_slot = pairs * SLOT
    rel = max(SIM_MEASUREMENT_NOISE, sim_chunk_error(limit_cores) / math.sqrt(max(1.0, per_slot)))
    slots = window_seconds / SLOT
    return per_slot, math.sqrt(2.0) * rel / math.sqrt(slots), pairs * 0.037


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--umbra", required=True, help="the umbra binary (for `umbra probe-script`)")
    ap.add_argument("--limit-cores", type=float, default=0.01, help="the shadow's limits.cpu")
    ap.add_argument("--cpu-percent", type=int, default=50, help="syntheticLoad.cpuPercent")
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--window-minutes", type=float, default=5, help="Umbra's observation")
    ap.add_argument("--json", help="write the figures here as well")
    args = ap.parse_args()
    if args.copies < 2:
        die("--copies: at least 2 (the noise is the spread between copies)")
    if not 0 < args.limit_cores <= 64:
        die("--limit-cores: between 0 and 64")
    if args.minutes < args.window_minutes:
        die("--minutes: at least one --window-minutes")

    script = guest_script(args.umbra, args.cpu_percent, args.limit_cores, "steady")
    # The guest serves its exposition with httpd; here the file is read directly.
    script = "\n".join(l for l in script.splitlines() if "httpd" not in l) + "\n"
    work = tempfile.mkdtemp(prefix="umbra-probe-noise-")
    groups = Cgroups(args.copies, args.limit_cores)
    procs = []

    stopped = []

    def stop(*_):
        if stopped:
            return
        stopped.append(True)
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in procs:
            p.wait()
        groups.cleanup()
        for root, dirs, files in os.walk(work, topdown=False):
            for f in files:
                os.unlink(os.path.join(root, f))
            for d in dirs:
                os.rmdir(os.path.join(root, d))
        os.rmdir(work)

    def on_signal(signum, _):
        stop()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    samples = [[] for _ in range(args.copies)]  # (t, metrics, throttled, periods, cpu s)
    try:
        for i in range(args.copies):
            d = os.path.join(work, str(i))
            os.mkdir(d)
            body = script.replace("M=/run/umbra;", f"M={d};")
            files = groups.procs_files(i)
            procs.append(subprocess.Popen(
                ["sh", "-c", body], start_new_session=True, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=lambda files=files: join_cgroups(files)))
            time.sleep(10.0 / args.copies)  # spread the copies over the 10 s period
        start = time.monotonic()
        end = start + args.minutes * 60
        while time.monotonic() < end:
            next_at = time.monotonic() + SLOT
            now = time.monotonic() - start
            for i in range(args.copies):
                m = read_metrics(os.path.join(work, str(i), "metrics"))
                used, thr, per = groups.usage_seconds(i)
                samples[i].append((now, m, thr, per, used))
            for p in procs:
                if p.poll() is not None:
                    die(f"a probe copy exited with {p.returncode}")
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        stop()

    report = analyse(samples, args)
    text = format_report(report)
    print(text)
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=1)
        os.replace(tmp, args.json)


def analyse(samples, args):
    window = args.window_minutes * 60
    per_slot_alu, per_slot_mem, throttled, cores = [], [], [], []
    ratios = {}  # window index -> [ratio per copy]
    for series in samples:
        have = [s for s in series if s[1] is not None]
        if len(have) < 2:
            continue
        first, last = have[0], have[-1]
        span = last[0] - first[0]
        if span > 0:
            per_slot_alu.append((last[1]["alu"][0] - first[1]["alu"][0]) / span * SLOT)
            per_slot_mem.append((last[1]["memory"][0] - first[1]["memory"][0]) / span * SLOT)
        if last[3] > first[3]:
            throttled.append((last[2] - first[2]) / (last[3] - first[3]))
        if span > 0 and last[4] is not None:
            cores.append((last[4] - first[4]) / span)
        # Windows on the common clock, from the first sample of each.
        start = have[0][0]
        w = 0
        while True:
            lo = next((s for s in have if s[0] >= start + w * window), None)
            hi = next((s for s in have if s[0] >= start + (w + 1) * window - 1e-6), None)
            if lo is None or hi is None:
                break
            da = [hi[1]["alu"][k] - lo[1]["alu"][k] for k in (0, 1)]
            dm = [hi[1]["memory"][k] - lo[1]["memory"][k] for k in (0, 1)]
            if min(da + dm) > 0:
                ratios.setdefault(w, []).append((dm[0] / dm[1]) / (da[0] / da[1]))
            w += 1
    all_ratios = [r for rs in ratios.values() for r in rs]
    if len(all_ratios) < 2:
        die("too few complete windows; run longer (--minutes)")
    reference = statistics.median(all_ratios)
    losses = {w: [1 - r / reference for r in rs] for w, rs in ratios.items()}
    within = [statistics.pvariance(ls) * len(ls) / (len(ls) - 1)
              for ls in losses.values() if len(ls) >= 2]
    flat = [l for ls in losses.values() for l in ls]
    model_per_slot, model_se, model_busy = sim_model(args.limit_cores, args.cpu_percent, window)
    return {
        "limit_cores": args.limit_cores, "cpu_percent": args.cpu_percent, "copies": args.copies,
        "minutes": args.minutes, "window_minutes": args.window_minutes,
        "windows": len(flat), "reference_ratio": reference,
        "chunks_per_slot": {"alu": statistics.mean(per_slot_alu),
                            "memory": statistics.mean(per_slot_mem)},
        "throttled_periods": statistics.mean(throttled) if throttled else None,
        "cpu_cores_used": statistics.mean(cores) if cores else None,
        "loss_sd_within_windows": math.sqrt(statistics.mean(within)) if within else None,
        "loss_sd_all": statistics.stdev(flat) if len(flat) >= 2 else None,
        "simulation": {"chunks_per_slot_each_kernel": model_per_slot, "loss_se": model_se,
                       "busy_cores": model_busy},
    }


def format_report(r):
    sim = r["simulation"]
    thr = r["throttled_periods"]
    return "\n".join([
        f"probe at limits.cpu {r['limit_cores'] * 1000:g}m, cpuPercent {r['cpu_percent']}: "
        f"{r['copies']} copies x {r['minutes']:g} min, {r['windows']} windows of "
        f"{r['window_minutes']:g} min",
        "",
        "| | measured here | the simulation's model |",
        "| --- | --- | --- |",
        f"| chunks per 15 s slot, ALU / memory kernel | {r['chunks_per_slot']['alu']:.2f} / "
        f"{r['chunks_per_slot']['memory']:.2f} | {sim['chunks_per_slot_each_kernel']:.2f} each |",
        f"| loss's spread over one window, between copies | "
        f"{r['loss_sd_within_windows']:.3f} | {sim['loss_se']:.3f} |",
        f"| loss's spread over one window, in all | {r['loss_sd_all']:.3f} | |",
        f"| CPU used, millicores (the duty cycle's aim: {r['cpu_percent']} % of the limit) | "
        + (f"{r['cpu_cores_used'] * 1000:.2f}" if r["cpu_cores_used"] is not None else "n/a")
        + f" | {sim['busy_cores'] * 1000:.2f} |",
        f"| CFS periods throttled, of those it ran in | "
        + (f"{thr:.2f}" if thr is not None else "n/a") + " | (fluid: not modelled) |",
        f"| reference ratio (memory / ALU speed) | {r['reference_ratio']:.3f} | 1 |",
    ])


if __name__ == "__main__":
    main()
