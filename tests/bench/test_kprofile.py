"""bench/kprofile.py: how a sampled stack is read and put in a kind of work, on
made-up `perf script` output (no perf, no servers)."""
from test_harness import load

kprofile = load("kprofile")

# Three samples of 250 us each, as `perf script -F period,ip,sym,dso` prints them.
SCRIPT = """\
    250000
\tffffffff8225fd19 pvm_irq_enable+0x9 ([kernel.kallsyms])
\tffffffff8225fc41 __raw_callee_save_pvm_irq_enable+0x11 ([kernel.kallsyms])
\tffffffff813ae292 finish_task_switch.isra.0+0x92 ([kernel.kallsyms])
\tffffffff82265c84 __schedule+0x3c4 ([kernel.kallsyms])
\tffffffff81750f98 do_epoll_wait+0x4c8 ([kernel.kallsyms])
\tffffffff8225a6c1 do_syscall_64+0x81 ([kernel.kallsyms])
\tffffffff81000130 entry_SYSCALL_64_after_hwframe+0x76 ([kernel.kallsyms])
\t          108ef3 epoll_wait+0x13 (/usr/lib/x86_64-linux-gnu/libc.so.6)

    250000
\tffffffff81e7d06e tcp_sendmsg_locked+0x1e ([kernel.kallsyms])
\tffffffff81e7d06f tcp_sendmsg+0x2f ([kernel.kallsyms])
\tffffffff8123abcd ksys_write+0x6d ([kernel.kallsyms])
\tffffffff8225a6c1 do_syscall_64+0x81 ([kernel.kallsyms])
\t          1234ab __GI___libc_write+0x14 (/usr/lib/x86_64-linux-gnu/libc.so.6)

    250000
\t          4011aa conn_done+0x1a (/work/main/build/cport-echo)
\t          4012bb worker_run+0x2b (/work/main/build/cport-echo)
"""


def test_parse_reads_each_sample_period_and_frames_leaf_first():
    samples = kprofile.parse_script(SCRIPT)
    assert [p for p, _ in samples] == [250000] * 3
    assert samples[0][1][0] == ("pvm_irq_enable", "[kernel.kallsyms]")
    assert samples[2][1] == [("conn_done", "/work/main/build/cport-echo"),
                             ("worker_run", "/work/main/build/cport-echo")]


def test_interrupts_enabled_again_count_for_the_caller():
    """A sample at pvm_irq_enable is time spent with interrupts off in the
    function that turned them on again: here a context switch."""
    first = kprofile.parse_script(SCRIPT)[0][1]
    assert kprofile.leaf_of(first) == "finish_task_switch"
    assert kprofile.kind_of(first) == "context switch, wake-up"


def test_each_sample_is_put_under_its_system_call():
    samples = [f for _, f in kprofile.parse_script(SCRIPT)]
    assert [kprofile.entry_of(f) for f in samples] == ["epoll_wait", "write", "user space"]
    assert [kprofile.kind_of(f) for f in samples] == ["context switch, wake-up", "network stack", "user space"]


def test_the_wrapper_names_a_call_the_kernel_frames_do_not():
    frames = [("__get_user_8", "[kernel.kallsyms]"), ("exit_to_user_mode_loop", "[kernel.kallsyms]"),
              ("do_syscall_64", "[kernel.kallsyms]"), ("io_uring_enter2", "/usr/lib/liburing.so.2.3")]
    assert kprofile.entry_of(frames) == "io_uring_enter"
    assert kprofile.kind_of(frames) == "system call entry, fd"


def test_report_spreads_the_cpu_per_message_over_the_kinds():
    samples = kprofile.parse_script(SCRIPT)
    text = kprofile.report(1, 64, "tcp", {"ref": (3.0, samples), "other": (6.0, samples[:1])})
    rows = {ln.split("|")[1].strip(): ln for ln in text.splitlines() if ln.startswith("| ")}
    # A third of ref's 3 us in each of its three kinds; all of other's 6 us in one.
    assert "| 1.00 | 6.00 (+5.00) |" in rows["context switch, wake-up"]
    assert "| 1.00 | 0.00 (-1.00) |" in rows["network stack"]
    assert "**3.00**" in rows["**total (CPU per message)**"] and "**6.00 (+3.00)**" in text


def test_a_fault_taken_in_user_code_is_not_a_system_call():
    frames = [("clear_page_erms", "[kernel.kallsyms]"), ("asm_exc_page_fault", "[kernel.kallsyms]"),
              ("conn_send", "/work/main/build/cport-echo")]
    assert kprofile.entry_of(frames) == "interrupt, other"
