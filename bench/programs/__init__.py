"""The benchmark programs: each <Name>.som (run in the VM) with its native-Python twin
<module>.py; the list with sizes is bench/harness.py BENCHMARKS."""
