#!/usr/bin/env python3
"""Removes each of the controller's mechanisms in turn and checks that a unit test fails.

Each row: what the mechanism is, the file, the text that implements it, what replaces it, the test
binary that must then fail. Run after `make build`: scripts/check-mutations.py [WORDS] (only the rows whose name contains
WORDS). Sources are
restored after each row, whatever happens. About two minutes on 2 cores (one recompile a row).
"""
import pathlib
import subprocess
import sys

R = str(pathlib.Path(__file__).resolve().parent.parent) + '/'
M=[
 ("first pass creates shadows only", "src/controller/plan.cc",
  "d.firstPass = in.status.phase == api::Phase::New && !in.hasFinalizer && world.adopted.empty();",
  "d.firstPass = false;", "unit_controller"),
 ("choice remembered before the creates", "src/controller/plan_probe.cc",
  "    d.add(write::RememberChoice{shadows});", "    {}", "unit_controller"),
 ("adopted choice is forgotten after the status", "src/controller/plan_probe.cc",
  "    p.writes.emplace_back(write::ForgetChoice{});\n    return p;", "    return p;", "unit_controller"),
 ("finalizer added when missing", "src/controller/plan.cc",
  "    d.add(write::AddFinalizer{});", "    {}", "unit_controller"),
 ("status written once while shadows start", "src/controller/plan_probe.cc",
  "      d.status.shadows = d.in.status.shadows;", "      {}", "unit_controller"),
 ("decision kept when a write fails", "src/controller/plan_move.cc",
  "  d.out.statusOnFailure = d.status;", "", "unit_controller"),
 ("extension while unsure", "src/controller/plan_decide.cc",
  "  if (observationUnsure && d.status.extensions < s.maxExtensions)", "  if (false && observationUnsure)", "unit_controller"),
 ("no decision without telemetry", "src/controller/plan_decide.cc",
  "  if (!e.problem.empty())\n    return planTelemetryUnavailable(d, e.problem);", "  if (false)\n    return planTelemetryUnavailable(d, e.problem);", "unit_controller"),
 ("queue limit", "src/controller/plan_probe.cc",
  "  if (d.world.probing + d.world.queuedAhead >= d.config.maxConcurrentPlacements) {", "  if (false) {", "unit_controller"),
 ("first come, first served", "src/controller/plan_probe.cc",
  "  if (d.world.probing + d.world.queuedAhead >= d.config.maxConcurrentPlacements) {", "  if (d.world.probing >= d.config.maxConcurrentPlacements) {", "unit_controller"),
 ("one placement acts on a VM at a time", "src/controller/plan.cc",
  "  if (!d.world.heldBy.empty() && d.in.status.phase != api::Phase::Placing)", "  if (false)", "unit_controller"),
 ("a deleted target fails at once", "src/controller/plan.cc",
  "  if (d.in.status.phase != api::Phase::New && d.in.status.phase != api::Phase::Pending)\n    return d.fail(\"TargetDeleted\"", "  if (false)\n    return d.fail(\"TargetDeleted\"", "unit_controller"),
 ("a window with a telemetry gap is observed again", "src/controller/plan_decide.cc",
  "  if (!e.gap.empty())\n    return planReobserve(d, e.gap);", "  if (e.gap == \"never\")\n    return planReobserve(d, e.gap);", "unit_controller"),
 ("an extension decided late adds a full duration", "src/controller/plan_decide.cc",
  "  if (end < d.now + duration)", "  if (end < d.now - 1000 * duration)", "unit_controller"),
 ("the pin is removed once running (UntilRunning)", "src/controller/plan_move.cc",
  "  if (unpin)\n    d.add(", "  if (false)\n    d.add(", "unit_controller"),
 ("extended resources (GPUs, host devices, hugepages)", "src/placement/candidates.cc",
  "    } else if (const std::string short_ = missingExtended(n, target.requests); !short_.empty()) {", "    } else if (const std::string short_ = missingExtended(n, Resources{}); !short_.empty()) {", "unit_placement"),
 ("DRA devices allocated to other claims are not free", "src/placement/dra.cc",
  "      if (taken.count(deviceKey(dev.driver, dev.pool, dev.name)) != 0)\n        continue;", "", "unit_placement"),
 ("DRA claims are classified", "src/placement/candidates.cc",
  "    } else if (const std::string noDevice = target.dra ? dra::shortfall(*target.dra, n) : \"\";", "    } else if (const std::string noDevice = \"\";", "unit_placement"),
 ("bench: an arrival that fits nowhere is counted, not an abort", "src/offline/placement_bench.cc",
  "        r.unschedulable.push_back(vm.id);  // the same rule for every placer\n        continue;", "        return Error::config(\"no room for \" + vm.id);", "unit_model"),
 ("bench: harm to neighbours reads the VMs already on the node", "src/offline/bench_world.h",
  "      if (state.node == cluster_.nodes[node].name)\n        t.neighbours.push_back(id);", "      (void)state;", "unit_model"),
 ("bench: load-risk weighs the load's variation", "src/offline/placers.cc",
  "std::clamp((mu + margin * std::pow(sd, 1.0 / sensitivity)) / 2, 0.0, 1.0);", "std::clamp((mu + 0 * margin * std::pow(sd, 1.0 / sensitivity)) / 2, 0.0, 1.0);", "unit_model"),
 ("trace metadata with CRLF line ends", "src/sim/trace.cc",
  "  chomp(line);\n  std::vector<std::string> header;", "  std::vector<std::string> header;", "unit_sim"),
 ("capacities are checked where VMs are sized", "src/sim/files.cc",
  "  if (!traces.capacityProblem.empty())\n    return Error::config(traces.capacityProblem);", "", "unit_sim"),
 ("candidates mix the node forecast's favourites in", "src/controller/plan_probe.cc",
  "byForecast.empty() ? byStatic : placement::mixedCandidates(byForecast, byStatic, count);", "byStatic;", "unit_controller"),
 ("the reader ranks feasible nodes by their forecast", "src/controller/world_reader.cc",
  "    rankByForecast(in, w, now);", "    {}", "unit_controller"),
 ("the stated confidence counts the model's own error", "src/placement/scoring.cc",
  "return withModel ? std::hypot(f.cpuStderr, f.cpuModelSd) : f.cpuStderr;", "return withModel ? f.cpuStderr : f.cpuStderr;", "unit_placement"),
 ("observation extended only while it is what keeps the choice unsure", "src/placement/scoring.h",
  "  return d.confidence < minConfidence && d.observationConfidence < minConfidence;", "  return d.confidence < minConfidence;", "unit_controller"),
 ("the model's discrepancy leaves out the error candidates share", "src/model/contention_map.cc",
  "  map.cpuDiscrepancy_ = pairLevelSq > 0", "  map.cpuDiscrepancy_ = false", "unit_model"),
 ("sim: interference makes work take more CPU time", "src/sim/simulation.cc",
  "work ? phys / (1.0 - c.interference) : phys", "work ? phys : phys", "unit_sim"),
 ("sim: throttled time is counted apart (cAdvisor)", "src/sim/simulation.cc",
  "    wc.cpuThrottled += throttled * measured(Throttled) * dt;", "", "unit_sim"),
 ("sim: throttled time is in the guest's delay", "src/sim/simulation.cc",
  "    wc.cpuDelay += (queueWait + throttled) * measured(Delay) * dt;", "    wc.cpuDelay += queueWait * measured(Delay) * dt;", "unit_sim"),
 ("sim: the probe's memory kernel loses the interference", "src/sim/simulation.cc",
  "counted(ops * (1.0 - cpu.interference), MemoryOps)", "counted(ops, MemoryOps)", "unit_sim"),
 ("sim: counters carry measurement noise", "src/sim/demand.cc",
  "  return std::max(0.0, 1.0 + sigma * normalOf(h));", "  return 1.0 + 0 * sigma * normalOf(h);", "unit_sim"),
 ("bench shadows: throttling is taken out of steal", "src/offline/sim_outcomes.cc",
  "(now.cpuDelay - before.cpuDelay) - (now.cpuThrottled - before.cpuThrottled)", "(now.cpuDelay - before.cpuDelay)", "unit_model"),
 ("bench shadows: the probe's loss is read", "src/offline/sim_outcomes.cc",
  "  s.probeLoss = alu > 0 ? std::clamp(1.0 - memory / alu, 0.0, 1.0) : 0.0;", "  s.probeLoss = 0 * alu * memory;", "unit_model"),
 ("contention prior compounds the probe's loss", "src/model/contention_map.cc",
  "    const double slowdown = 1.0 - (1.0 - delay) * (1.0 - std::clamp(in.probeLoss, 0.0, 1.0));", "    const double slowdown = delay;", "unit_model"),
 ("forecast guard: weights chosen per series", "src/model/guarded_ensemble.cc",
  "    weights_[i] = losses[i].empty() ? global_ : grid[argmin(losses[i])];", "    weights_[i] = global_;", "unit_model"),
 ("forecast guard: p90 from the blend's own errors", "src/model/guarded_ensemble.cc",
  "      margin_[i][h] = std::max(0.0, quantileOf(std::move(errors[h]), 0.9));", "      margin_[i][h] = 0 * quantileOf(std::move(errors[h]), 0.9);", "unit_model"),
 ("the decision's confidence reads the standard errors", "src/placement/scoring.cc",
  "  d.confidence = probability(true);", "  d.confidence = 1.0;", "unit_placement"),
 ("shadows get their image's boot memory", "src/placement/shadow.cc",
  "      memoryBytes = std::max(memoryBytes, floor);", "      (void)floor;", "unit_placement"),
 ("shadows before finalizer on delete", "src/controller/plan.cc",
  "  if (world.shadowsLeft > 0) {\n    p.writes.emplace_back(write::DeleteShadows{});", "  if (world.shadowsLeft > 1000000) {\n    p.writes.emplace_back(write::DeleteShadows{});", "unit_controller"),
 ("terminal clean-up", "src/controller/plan.cc",
  "    d.deleteShadows();  // a decision is final", "    // a decision is final", "unit_controller"),
 ("late shadow dropped", "src/controller/plan_probe.cc",
  "    const bool late = vmi.created && d.now - *vmi.created > timeout;", "    const bool late = false;", "unit_controller"),
 ("move requested before Placed is written", "src/controller/plan_move.cc",
  "    d.add(write::PatchVirtualMachine{d.settings().targetName, std::move(patch)});", "    (void)patch;", "unit_controller"),
 ("choice recalled only for its uid", "src/controller/first_pass_choices.cc",
  "  if (it == choices_.end() || it->second.uid != uid)", "  if (it == choices_.end() || uid.empty())", "unit_controller"),
 ("expectations cleared by a newer version", "src/controller/first_pass_choices.cc",
  "  replaced_.erase(it);  // the cache caught up with our writes", "", "unit_controller"),
 ("error policy honours retryable()", "src/runtime/error_policy.cc",
  "  return {Retry::How::Never, {}};\n}", "  return {Retry::How::Backoff, {}};\n}", "unit_runtime"),
 ("pool: the activation's mark comes first", "src/controller/pool_plan.cc",
  "      plan.writes.push_back(MarkActivation{sh.name, now, w.trigger.value_or(0)});", "      {}", "unit_controller"),
 ("pool: one round of activations at a time", "src/controller/pool_plan.cc",
  "  const bool settled = activating.empty() && (!lastServing || now - *lastServing >= interval);", "  const bool settled = true;", "unit_controller"),
 ("pool: a dormant shadow has no Service label", "src/controller/pool_plan_parts.cc",
  "  labels.erase(s.serviceKey);", "", "unit_controller"),
 ("pool: deactivation clears the marks first", "src/controller/pool_plan.cc",
  "    plan.writes.push_back(MarkActivation{sh.name, now, 0, true});", "", "unit_controller"),
 ("pool: surplus shadows go only after idleAfter", "src/controller/pool_plan.cc",
  "  if (surplus > 0 && st.surplusSince && now - *st.surplusSince >= idleAfter) {", "  if (surplus > 0) {", "unit_controller"),
 ("pool: an older activation showing again is not counted", "src/controller/pool_plan_parts.cc",
  "  if (newest && (!recorded || *newest->activationStarted >= *recorded)) {", "  if (newest && (!recorded || true)) {", "unit_controller"),
 ("pool: an activation is counted once", "src/controller/pool_plan_parts.cc",
  "      if (in.status.lastActivation.value(\"time\", \"\") != last[\"time\"] ||", "      if (true ||", "unit_controller"),
 ("pool: a shadow left unpaused and unserved is paused", "src/controller/pool_plan.cc",
  "    if (sh->running && !sh->paused && !sh->serving)", "    if (false)", "unit_controller"),
 ("pool: notices raise the reserve", "src/controller/pool_plan.cc",
  "  const double expected = std::max(pred.p90, announced);", "  const double expected = pred.p90 + 0 * announced;", "unit_controller"),
 ("pool: the history's sudden rises are held in reserve", "src/controller/pool_plan.cc",
  "  const double rise = scaling::riseQuantile(w.demand, riseLag, 0.99) / target;", "  const double rise = 0 * riseLag / target;", "unit_controller"),
 ("pool: a round covers the history's rise, not only the saturated trigger", "src/controller/pool_plan.cc",
  "    round = std::max({round, riseShadows,", "    round = std::max({round, 0 * riseShadows,", "unit_controller"),
 ("pool: a following round is doubled", "src/controller/pool_plan.cc",
  "      round = std::max(round, 2 * st.lastRoundSize);", "      round = std::max(round, 0 * st.lastRoundSize);", "unit_controller"),
 ("status: a pass that acted writes its status despite a stale read", "src/controller/status_write.cc",
  "  if (!r.ok() && r.error().is(ErrorKind::Conflict) && acted) {", "  if (!r.ok() && r.error().is(ErrorKind::Conflict) && acted && false) {", "unit_controller"),
 ("pool: a reserved node keeps its taints", "src/controller/pool_plan.cc",
  "      Json taints = n.taints;", "      Json taints = Json::array();", "unit_controller"),
 ("pool bench: Umbra's following rounds double", "src/offline/pool_bench.cc",
  "          round = std::max({round, riseVms, deficit, 2 * lastRound});", "          round = std::max({round, riseVms, deficit, 0 * lastRound});", "unit_scaling"),
 ("pool bench: cold starts wait for rounds", "src/offline/pool_bench.cc",
  "        at = ready + o.roundIntervalSeconds;", "        at = ready;", "unit_scaling"),
 ("pool bench: announced surges are held for", "src/offline/pool_bench.cc",
  "            expected = std::max(expected, peakDemand);", "            (void)peakDemand;", "unit_scaling"),
 ("scaling: feedback widens the headroom after under-provisioning", "src/scaling/scalers.cc",
  "    if (feedback_)\n      multiple_ =", "    if (false)\n      multiple_ =", "unit_scaling"),
 ("scaling: a replay does not move the feedback", "src/scaling/scalers.cc",
  "    if (feedback_)\n      multiple_ =", "    if (true)\n      multiple_ =", "unit_scaling"),
 ("scaling: saturation counts as under-provisioned", "src/scaling/scalers.cc",
  "    const double under = now > obs.allocation * o_.saturatedShare ? 1 : 0;", "    const double under = now > obs.allocation ? 1 : 0;", "unit_scaling"),
 ("scaling: cuts wait for the full window", "src/scaling/scalers.cc",
  "  else if (wishes_.size() < window)\n    d.decided = obs.allocation;", "  else if (false)\n    d.decided = obs.allocation;", "unit_scaling"),
 ("scaling: no cut within the tolerance", "src/scaling/scalers.cc",
  "           floor < obs.allocation * (1 - o_.cutTolerance))", "           floor < obs.allocation)", "unit_scaling"),
 ("surges: judged against the forecast before the excursion", "src/scaling/anomaly.cc",
  "  const bool useRef = outside_ > 0 && k < refP50_.size();", "  const bool useRef = false;", "unit_scaling"),
 ("surges: consecutive steps", "src/scaling/anomaly.cc",
  "  r.alarm = outside_ >= std::max(o_.consecutiveSteps, 1);", "  r.alarm = outside_ >= 1;", "unit_scaling"),
 ("scaler: one hotplug at a time", "src/controller/scaler_plan.cc",
  "    if (!action.empty() && apply && pending) {", "    if (false && pending) {", "unit_controller"),
 ("scaler: vCPU cuts are never applied", "src/controller/scaler_plan.cc",
  "    if (cpu && wantSockets > vm.sockets) {", "    if (cpu && wantSockets != vm.sockets) {", "unit_controller"),
 ("scaler: one demand read per step for every scaler", "src/controller/demand_cache.cc",
  "  if (!g.readAt || t - *g.readAt >= step || !covered || window > g.window) {", "  if (true || !covered) {", "unit_controller"),
 ("scaling bench: a raise serves only after its latency", "src/offline/scaling_bench.cc",
  "    if (change == Change::Up && r.upSeconds > 0)", "    if (false)", "unit_scaling"),
]
only=sys.argv[1] if len(sys.argv)>1 else ''
results=[]
for name,f,old,new,target in M:
    if only not in name:
        continue
    p=pathlib.Path(R+f); src=p.read_text()
    if old not in src:
        results.append((name,'MUTATION NOT APPLIED')); continue
    p.write_text(src.replace(old,new,1))
    try:
        b=subprocess.run(['cmake','--build',R+'build','-j2','--target',target],capture_output=True,text=True)
        if b.returncode!=0:
            results.append((name,'build failed: '+b.stdout[-300:])); continue
        t=subprocess.run([R+'build/tests/'+target],capture_output=True,text=True)
        failed=[l.split('] ')[1].split(' ')[0] for l in t.stdout.splitlines() if l.startswith('[  FAILED  ]') and '(' in l]
        results.append((name,'caught by '+', '.join(failed) if t.returncode!=0 else 'NOT CAUGHT'))
    finally:
        p.write_text(src)
for r in results: print('%-45s %s'%r)
missed = [r for r in results if not r[1].startswith('caught')]
subprocess.run(['cmake','--build',R+'build','-j2'],capture_output=True)  # every binary a row rebuilt, from the restored sources
sys.exit(1 if missed else 0)
