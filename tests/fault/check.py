#!/usr/bin/env python3
"""check.py — the fault suite's checker: reads faultload's history, the
nemesis log and the cluster's final contents, prints one line for the
schedule and exits 1 when a promise was broken.

  check.py SCHEDULE HISTORY NEMESIS_LOG FINAL_DIR TOTAL IDENTICAL

FINAL_DIR holds what the last leader answered after the cluster healed and
caught up: fset (one id per line), reg ("k|v" lines), bank ("id|bal"
lines). TOTAL is the bank's total; IDENTICAL is "yes" when every data
node's database had the same dbsum once stopped.

Promises checked (each violation is counted and printed):
  lost          an acknowledged (ok) write that is not in the final state:
                a set id missing; a register whose final value was written
                before an ok write to it had even started; a register or set
                row that nothing wrote.
  phantom       a write reported failed that took effect anyway.
  split-brain   an epoch in which two nodes acknowledged writes, or a write
                acknowledged in epoch E that started after a write of a
                later epoch had been acknowledged (two leaders at once).
  bank          a read, or the final state, whose total differs from TOTAL.
  stale reads   a reader whose node answered a smaller set than it had
                answered before (reads on one node must be monotonic).
  identical     the data nodes' contents differ.
  liveness      no write was acknowledged after the last heal.
Failover time: for every fault that took the leader away (kill, pause,
isolation of the node that led), the time from the fault to the first write
acknowledged at a higher epoch; p50 and p99 over the schedule.
"""
import collections
import sys


def read_history(path):
    ops = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 10:
                raise SystemExit(f"check.py: {path}: malformed line: {line!r}")
            ops.append({
                "kind": p[0], "worker": int(p[1]), "key": int(p[2]), "value": int(p[3]),
                "start": int(p[4]), "end": int(p[5]), "outcome": p[6], "epoch": int(p[7]),
                "node": p[8], "sqlstate": p[9],
            })
    return ops


def read_nemesis(path):
    events = []
    with open(path) as f:
        for line in f:
            t, what, kind, target = line.split()[:4]
            events.append((int(t), what, kind, target))
    return events


def read_pairs(path):
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                k, v = line.strip().split("|")
                out[int(k)] = int(v)
    return out


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv):
    if len(argv) != 7:
        raise SystemExit(__doc__)
    schedule, hist_path, nem_path, final_dir, total, identical = argv[1:]
    total = int(total)
    ops = read_history(hist_path)
    events = read_nemesis(nem_path)
    with open(f"{final_dir}/fset") as f:
        final_set = {int(x) for x in f if x.strip()}
    final_reg = read_pairs(f"{final_dir}/reg")
    final_bank = read_pairs(f"{final_dir}/bank")
    problems = []

    writes = [o for o in ops if o["kind"] != "read"]
    count = collections.Counter(o["outcome"] for o in writes)

    # lost and phantom: the set
    lost = 0
    phantom = 0
    set_ops = {o["key"]: o for o in writes if o["kind"] == "set"}
    for key, o in set_ops.items():
        if o["outcome"] == "ok" and key not in final_set:
            lost += 1
            problems.append(f"lost: set id {key} acknowledged at epoch {o['epoch']} by {o['node']}")
        if o["outcome"] == "failed" and key in final_set:
            phantom += 1
            problems.append(f"phantom: set id {key} failed with {o['sqlstate']} but is there")
    for key in final_set - set(set_ops):
        lost += 1
        problems.append(f"lost: set id {key} is there but nobody wrote it")

    # registers: the final value's write must not precede an ok write
    reg_writes = collections.defaultdict(list)
    by_value = {}
    for o in writes:
        if o["kind"] == "reg":
            reg_writes[o["key"]].append(o)
            by_value[o["value"]] = o
    for k, v in sorted(final_reg.items()):
        if v == 0:
            oks = [o for o in reg_writes[k] if o["outcome"] == "ok"]
            if oks:
                lost += 1
                problems.append(f"lost: register {k} is still 0 after {len(oks)} acknowledged writes")
            continue
        w = by_value.get(v)
        if w is None or w["key"] != k:
            lost += 1
            problems.append(f"lost: register {k} holds {v}, which nobody wrote to it")
            continue
        if w["outcome"] == "failed":
            phantom += 1
            problems.append(f"phantom: register {k} holds {v}, whose write failed with {w['sqlstate']}")
        later = [o for o in reg_writes[k] if o["outcome"] == "ok" and o["start"] > w["end"]]
        if later:
            lost += 1
            o = later[0]
            problems.append(f"lost: register {k} holds {v}, but the write of {o['value']} "
                            f"(acknowledged at epoch {o['epoch']} by {o['node']}) started after it")

    # split brain
    split = 0
    nodes_of_epoch = collections.defaultdict(set)
    first_end = {}
    for o in writes:
        if o["outcome"] == "ok":
            nodes_of_epoch[o["epoch"]].add(o["node"])
            first_end[o["epoch"]] = min(first_end.get(o["epoch"], o["end"]), o["end"])
    for e, nodes in sorted(nodes_of_epoch.items()):
        if len(nodes) > 1:
            split += 1
            problems.append(f"split-brain: epoch {e} acknowledged by {sorted(nodes)}")
    epochs = sorted(first_end)
    for o in writes:
        if o["outcome"] != "ok":
            continue
        newer = [e for e in epochs if e > o["epoch"] and first_end[e] < o["start"]]
        if newer:
            split += 1
            problems.append(f"split-brain: a write at epoch {o['epoch']} by {o['node']} started "
                            f"after epoch {newer[0]} had acknowledged one")

    # bank
    bank_bad = 0
    final_total = sum(final_bank.values())
    if final_total != total:
        bank_bad += 1
        problems.append(f"bank: the final total is {final_total}, want {total}")
    reads = [o for o in ops if o["kind"] == "read" and o["outcome"] == "ok"]
    for o in reads:
        if o["value"] != total:
            bank_bad += 1
            problems.append(f"bank: {o['node']} read a total of {o['value']}, want {total}")

    # monotonic reads per reader
    stale = 0
    last = {}
    for o in sorted(reads, key=lambda r: r["start"]):
        prev = last.get(o["worker"])
        if prev is not None and o["key"] < prev["key"] and o["start"] > prev["end"]:
            stale += 1
            problems.append(f"stale read: {o['node']} answered {o['key']} rows after {prev['key']}")
        if prev is None or o["key"] >= prev["key"]:
            last[o["worker"]] = o

    if identical != "yes":
        problems.append("identical: the data nodes' contents differ")

    # liveness after the last heal
    heals = [t for t, what, _, _ in events if what == "heal"]
    live = True
    if heals:
        live = any(o["outcome"] == "ok" and o["start"] > heals[-1] for o in writes)
        if not live:
            problems.append("liveness: no write was acknowledged after the last heal")

    # failover times
    times = []
    for t, what, kind, target in events:
        if what != "fault" or kind not in ("kill", "pause", "isolate"):
            continue
        before = [o for o in writes if o["outcome"] == "ok" and o["end"] <= t]
        if not before:
            continue
        last_ok = max(before, key=lambda o: o["end"])
        if last_ok["node"] != target:
            continue  # the fault did not hit the leader
        after = [o["end"] for o in writes
                 if o["outcome"] == "ok" and o["epoch"] > last_ok["epoch"] and o["end"] > t]
        if after:
            times.append((min(after) - t) / 1000.0)

    def ms(v):
        return "-" if v is None else f"{v:.0f}ms"

    print(f"{schedule}: ops ok={count['ok']} failed={count['failed']} unknown={count['unknown']} "
          f"reads={len(reads)} lost={lost} phantom={phantom} split-brain={split} bank={bank_bad} "
          f"stale-reads={stale} identical={identical} failovers={len(times)} "
          f"failover p50={ms(percentile(times, 0.5))} p99={ms(percentile(times, 0.99))}")
    for p in problems[:30]:
        print("  " + p)
    bad = lost or phantom or split or bank_bad or stale or identical != "yes" or not live
    if count["ok"] == 0:
        print("  no write was acknowledged at all")
        bad = True
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
