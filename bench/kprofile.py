#!/usr/bin/env python3
"""kprofile.py - where an echo server's CPU goes per message, kernel included.

usage: bench/kprofile.py CONNS SIZE [udp] [--out FILE] -- NAME='COMMAND {port}' ...

Each server runs in turn pinned to CPU 0 (or SERVER_CPUS, environment, as
interleave.py takes it), against build/cport-bench --backend epoll (the
neutral client) pinned to CPU 1, as in interleave.py.
While the load runs, `perf record -e cpu-clock -g` samples the server's
threads (a software clock: this machine has no hardware counters). Each
sample is put in one kind of work by its stack, leaf first (what the CPU was
doing) and root first (the system call it was doing it for), and each kind's
share of the samples times the server's CPU per message (from the client) is
its time per message. The tables show, for each server, which work costs it
more or less than the first server (the reference).

Samples in a guest land where interrupts are enabled again: time spent with
them off (a context switch, a lock taken with interrupts off) is sampled at
the enabling call (pvm_irq_enable here). So a leaf that only enables
interrupts, releases a lock or ends an RCU section is passed over, and the
sample is put where its caller is.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleave import client_args, serving  # noqa: E402  the same server start and neutral client

FIRST_PORT = 23000
DURATION, SAMPLE_FROM, SAMPLE_FOR = 4.0, 1.0, 2.0  # load seconds; perf runs within them
FREQ = 4000
TOP_LEAVES = 15

# Frames that say nothing of the work: the sample belongs to their caller.
PASS_OVER = re.compile(r"^(pvm_|__raw_callee_save_|_raw_spin_unlock|__local_bh_enable_ip$|local_bh_enable$|"
                       r"__rcu_read_(un)?lock$|preempt_count_|__x86_return_thunk$|srso_)")

# What the CPU was doing, by the first frame that says (checked in order).
KINDS = [
    ("context switch, wake-up", r"^(schedule|__schedule|finish_task_switch|__switch_to|try_to_wake_up|ttwu_|"
                                r"__wake_up|wake_up_|autoremove_wake_function|default_wake_function|enqueue_|"
                                r"dequeue_|pick_next_|update_curr|update_load_avg|__update_load_avg|psi_|"
                                r"select_task_rq|set_next_entity|put_prev_|sched_|hrtimer_|schedule_hrtimeout|"
                                r"raw_spin_rq_lock|_raw_spin_rq_lock|native_sched_clock|check_preempt|"
                                r"wakeup_preempt|resched_curr|__enqueue_entity|__dequeue_entity|pick_task|"
                                r"prepare_task_switch|switch_mm|reweight_|update_rq_clock|avg_vruntime|pvclock_|kvm_clock|"
                                r"ktime_get)"),
    ("io_uring", r"^(io_|__io_|tctx_task_work|task_work_run|task_work_add|__do_sys_io_uring_enter)"),
    ("epoll, poll", r"^(ep_|__ep_|do_epoll_|sock_poll|tcp_poll|udp_poll|datagram_poll|vfs_poll|__pollwait|"
                    r"add_wait_queue|remove_wait_queue)"),
    ("futex", r"^(futex_|__futex|do_futex)"),
    ("copy to/from user", r"(copy_to_iter|copy_from_iter|copy_user|^rep_movs|^memcpy|^memmove|^memset|"
                          r"check_object_size|^__check_heap_object|^__virt_addr_valid|^skb_copy_datagram|"
                          r"^__skb_datagram_iter|^_copy_to_user|^_copy_from_user|^clear_user)"),
    ("memory (slab, pages)", r"^(kmem_cache_|kmalloc|__kmalloc|kfree|__slab|___slab|slab_|allocate_slab|"
                             r"__alloc_pages|alloc_pages|__free_pages|free_unref|get_page_from_freelist|"
                             r"memcg|mod_memcg|__mod_memcg|refill_obj_stock|obj_cgroup|__memcg|mem_cgroup|"
                             r"page_counter|__mod_lruvec|mod_objcg|rmqueue|__rmqueue|free_pcppages|"
                             r"__put_partials|put_cpu_partial|get_partial|__kmem_cache)"),
    ("network stack", r"^(tcp|__tcp|udp|__udp|ip_|__ip_|ip6|inet|__inet|ipv4|ipv6|fib|dst_|sk_|__sk_|sock_|"
                      r"__sock_|skb_|__skb_|___skb|__alloc_skb|kfree_skb|consume_skb|__kfree_skb|napi|__napi|"
                      r"net_|__netif|netif_|process_backlog|loopback|dev_|__dev_|validate_xmit|eth_|nf_|"
                      r"release_sock|lock_sock|__release_sock|____sys_|___sys_|__sys_|security_socket|"
                      r"apparmor_socket|bpf|__bpf|__cgroup_bpf|do_softirq|__do_softirq|handle_softirqs|"
                      r"raw_local_deliver|rt_|__rt_|neigh|qdisc|__qdisc|sch_|move_addr_to|csum|"
                      r"security_sk|selinux_|__build_skb|build_skb|__napi_alloc|page_frag|sock_def_|"
                      r"sk_stream|sk_wait|bbr_|cubictcp|__x64_sys_(sendto|recvfrom|sendmsg|recvmsg|sendmmsg|recvmmsg))"),
    ("system call entry, fd", r"^(entry_SYSCALL|do_syscall_64|syscall_|__x64_sys_|x64_sys_call|ksys_|vfs_read|"
                              r"vfs_write|sock_read_iter|sock_write_iter|__fget|fget|fput|__fdget|fdget|"
                              r"exit_to_user_mode|__audit|rw_verify_area|security_file_permission|fsnotify|"
                              r"__fsnotify|__x86_indirect|restore_fpregs|switch_fpu|fpregs_|__rseq|rseq_|__get_user|__put_user)"),
]
KIND_RES = [(k, re.compile(r)) for k, r in KINDS]
USER, OTHER = "user space", "other kernel"
KIND_NAMES = [k for k, _ in KINDS] + [OTHER, USER]


def parse_script(text):
    """Samples from `perf script -F period,ip,sym,dso` text: a list of
    (period, frames), each frame (symbol, dso), leaf first."""
    samples = []
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        head = lines[0].split()
        if not head or not head[-1].isdigit():
            continue
        frames = []
        for ln in lines[1:]:
            m = re.match(r"\s*[0-9a-f]+\s+(\S+?)(\+0x[0-9a-f]+)?\s+\((.*)\)\s*$", ln)
            if m:
                frames.append((m.group(1), m.group(3)))
        if frames:
            samples.append((int(head[-1]), frames))
    return samples


def is_kernel(dso):
    return dso.startswith("[kernel")


def leaf_of(frames):
    """The function a sample was in, passing over the frames that say
    nothing of the work; user space as one."""
    if not is_kernel(frames[0][1]):
        return USER
    for sym, dso in frames:
        if is_kernel(dso) and not PASS_OVER.match(sym):
            return re.sub(r"\.(isra|constprop|part|cold)\.\d+", "", sym)
    return frames[0][0]


def kind_of(frames):
    """The kind of work a sample's stack (leaf first) was doing."""
    leaf = leaf_of(frames)
    if leaf == USER:
        return USER
    for kind, rx in KIND_RES:
        if rx.search(leaf):
            return kind
    return OTHER


def entry_of(frames):
    """What the sample was done for: the system call on its stack (named by
    the kernel's frame for it, or else by the user-space wrapper that made
    it), io_uring's task work, an interrupt, or user space."""
    if not is_kernel(frames[0][1]):
        return USER
    for sym, dso in reversed(frames):
        m = re.match(r"(?:__x64_sys|__do_sys|ksys|__sys)_(\w+)", sym) if is_kernel(dso) else None
        if m:
            return re.sub(r"\d+$", "", m.group(1))
    in_call = any(sym.startswith(("entry_SYSCALL", "do_syscall_64")) for sym, _ in frames)
    user = [sym for sym, dso in frames if not is_kernel(dso)]
    if in_call and user and user[0] not in ("syscall", "[unknown]"):
        return re.sub(r"^(__GI_)?(__libc_|__)?", "", re.sub(r"\d+$", "", user[0]))
    for sym, _ in frames:
        if sym.startswith(("tctx_task_work", "task_work_run")):
            return "task work"
    return "interrupt, other"


def shares(samples, key):
    total = sum(p for p, _ in samples)
    out = {}
    for p, frames in samples:
        k = key(frames)
        out[k] = out.get(k, 0) + p
    return {k: v / total for k, v in out.items()} if total else {}


def run_one(cmd, port, conns, size, kind, tmp):
    jf, pf = os.path.join(tmp, "b.json"), os.path.join(tmp, "perf.data")
    with serving(cmd, port) as server:
        args = ["taskset", "-c", "1"] + client_args(kind, port, conns, size, DURATION, server.pid, jf)
        client = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5 + SAMPLE_FROM)  # the client's warm-up, then some load
        perf = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQ), "-g", "-p",
                               str(server.pid), "-o", pf, "--", "sleep", str(SAMPLE_FOR)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        _, err = client.communicate(timeout=60)
    if perf.returncode != 0:
        raise RuntimeError(f"perf record exited {perf.returncode}: {perf.stderr[-300:]!r}")
    if client.returncode != 0:
        raise RuntimeError(f"the client exited {client.returncode}: {err[-300:]!r}")
    with open(jf) as f:
        cpu = json.load(f)["server"]["cpu_us_per_msg"]
    text = subprocess.run(["perf", "script", "-i", pf, "-F", "period,ip,sym,dso"], capture_output=True,
                          text=True, timeout=300).stdout
    return cpu, parse_script(text)


def table(title, names, rows, per_msg):
    """A markdown table: one row per kind, us per message for each server and
    its difference from the first."""
    ref = names[0]
    out = [f"### {title}", "", "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in rows:
        cells = []
        for n in names:
            v = per_msg[n].get(row, 0.0)
            d = v - per_msg[ref].get(row, 0.0)
            cells.append(f"{v:.2f}" if n == ref else f"{v:.2f} ({d:+.2f})")
        out.append(f"| {row} | " + " | ".join(cells) + " |")
    tot = {n: sum(per_msg[n].values()) for n in names}
    out.append("| **total (CPU per message)** | " + " | ".join(
        f"**{tot[n]:.2f}**" if n == ref else f"**{tot[n]:.2f} ({tot[n] - tot[ref]:+.2f})**" for n in names) + " |")
    return out + [""]


def report(conns, size, kind, results):
    """results: name -> (cpu_us_per_msg, samples). The markdown report."""
    names = list(results)
    by_kind = {n: {k: s * results[n][0] for k, s in shares(results[n][1], kind_of).items()} for n in names}
    by_entry = {n: {k: s * results[n][0] for k, s in shares(results[n][1], entry_of).items()} for n in names}
    kinds = [k for k in KIND_NAMES if any(by_kind[n].get(k) for n in names)]
    entries = sorted({e for n in names for e in by_entry[n]}, key=lambda e: -max(by_entry[n].get(e, 0) for n in names))
    lines = [f"## {kind.upper()} {conns} x {size} B: server CPU per message, us, by kind of work",
             "", f"Samples: " + ", ".join(f"{n} {len(results[n][1])}" for n in names) +
             f". Load average {open('/proc/loadavg').read().split()[0]}.", ""]
    lines += table("What the CPU was doing (leaf of the stack)", names, kinds, by_kind)
    lines += table("What it was done for (the system call on the stack)", names, entries, by_entry)
    by_leaf = {n: {k: s * results[n][0] for k, s in shares(results[n][1], leaf_of).items()} for n in names}
    leaves = sorted({f for n in names for f in by_leaf[n]}, key=lambda f: -max(by_leaf[n].get(f, 0) for n in names))
    lines += table(f"The {TOP_LEAVES} functions that cost most", names, leaves[:TOP_LEAVES], by_leaf)[:-2] + [""]
    return "\n".join(lines)


def main():
    if not shutil.which("perf"):
        sys.exit("kprofile.py: perf is not installed (Debian's linux-perf)")
    sep = sys.argv.index("--")
    conns, size = int(sys.argv[1]), int(sys.argv[2])
    opts = sys.argv[3:sep]
    kind = "udp" if "udp" in opts else "tcp"
    out = opts[opts.index("--out") + 1] if "--out" in opts else None
    servers = [a.split("=", 1) for a in sys.argv[sep + 1:]]
    results = {}
    port = FIRST_PORT
    with tempfile.TemporaryDirectory() as tmp:
        for name, cmd in servers:
            port += 1
            try:
                results[name] = run_one(cmd, port, conns, size, kind, tmp)
            except (RuntimeError, OSError, KeyError, ValueError, subprocess.TimeoutExpired) as e:
                print(f"{name}: {e}", file=sys.stderr)
    if not results or servers[0][0] not in results:
        sys.exit("the reference server gave no profile")
    text = report(conns, size, kind, results)
    print(text)
    if out:
        with open(out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
