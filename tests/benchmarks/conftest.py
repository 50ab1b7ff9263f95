"""Print what each benchmark recorded beside its timings (mIoU, ratios, ...): pytest-benchmark's
table shows times only, and ``extra_info`` otherwise reaches only ``--benchmark-json`` files."""


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    rows = [(b.name, b.extra_info) for b in getattr(session, "benchmarks", []) if b.extra_info]
    if rows:
        terminalreporter.section("benchmark figures (extra_info)")
        for name, info in rows:
            terminalreporter.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in info.items()))
