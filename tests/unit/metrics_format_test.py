#!/usr/bin/python3
# Parses hyvd's metrics text (metrics_sample_main: render_metrics of the fixed sample input) with
# prometheus_client's parser of the text exposition format, the format node_exporter's textfile
# collector reads. Debian's /usr/bin/python3 with python3-prometheus-client (tools/bootstrap.sh).
# usage: metrics_format_test.py METRICS_SAMPLE_EXECUTABLE
import subprocess
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("metrics_format_test: no prometheus_client for /usr/bin/python3; "
             "apt-get install python3-prometheus-client (tools/bootstrap.sh does)")

text = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout
families = {f.name: f for f in text_string_to_metric_families(text)}

expected = {
    "hyv_instance_commands": "counter", "hyv_instance_command_errors": "counter",
    "hyv_instance_trapped_reads": "counter", "hyv_instance_trapped_writes": "counter",
    "hyv_instance_interrupts": "counter", "hyv_instance_bad_accesses": "counter",
    "hyv_instance_gid_refusals": "counter", "hyv_instance_pinned_unmaps": "counter",
    "hyv_instance_quota_used": "gauge", "hyv_instance_quota_limit": "gauge", "hyv_instance_live": "gauge",
    "hyv_assignments": "gauge", "hyv_operations": "counter", "hyv_operation_errors": "counter",
    "hyv_operation_duration_seconds": "histogram",
}
problems = []
for name, typ in expected.items():
    if name not in families:
        problems.append(f"family {name} missing; parsed: {sorted(families)}")
    elif families[name].type != typ:
        problems.append(f"{name} parsed as {families[name].type}, expected {typ}")
    elif not families[name].documentation:
        problems.append(f"{name} has no HELP")
for name in families:
    if name not in expected:
        problems.append(f"unexpected family {name} (an unmatched sample name parses as its own untyped family)")


def value(family, sample_name, **labels):
    for s in families[family].samples:
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    problems.append(f"no sample {sample_name}{labels}")
    return None


if not problems:
    checks = [
        (value("hyv_instance_commands", "hyv_instance_commands_total", vm='vm"1\\'), 120),
        (value("hyv_instance_quota_used", "hyv_instance_quota_used", resource="pinned_bytes"), 1048576),
        (value("hyv_instance_quota_used", "hyv_instance_quota_used", resource="ahs"), 2),
        (value("hyv_instance_pinned_unmaps", "hyv_instance_pinned_unmaps_total", vm='vm"1\\'), 3),
        (value("hyv_instance_gid_refusals", "hyv_instance_gid_refusals_total", vm='vm"1\\'), 1),
        (value("hyv_assignments", "hyv_assignments", state="failed"), 2),
        (value("hyv_operations", "hyv_operations_total", op="attach", result="ok"), 2),
        (value("hyv_operation_duration_seconds", "hyv_operation_duration_seconds_bucket", op="attach", le="+Inf"), 3),
        (value("hyv_operation_duration_seconds", "hyv_operation_duration_seconds_sum", op="detach"), 10),
    ]
    problems += [f"sample value {got}, expected {want}" for got, want in checks if got != want]
    buckets = [s.value for s in families["hyv_operation_duration_seconds"].samples
               if s.name.endswith("_bucket") and s.labels["op"] == "attach"]
    if buckets != sorted(buckets):
        problems.append(f"histogram buckets not cumulative: {buckets}")

if problems:
    print("\n".join(problems), file=sys.stderr)
    print(text, file=sys.stderr)
    sys.exit(1)
print(f"ok: {len(families)} metric families parsed, types, HELP and sample values as expected")
