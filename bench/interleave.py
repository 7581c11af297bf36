#!/usr/bin/env python3
"""Interleaved A/B of short commands, for differences of a millisecond or two on a shared machine.

    python3 bench/interleave.py ROUNDS NAME='COMMAND' NAME='COMMAND' ...

Runs every command once per round, in turn (after 3 untimed rounds), each with stdin, stdout and
stderr on /dev/null. Prints per command the median, first quartile and minimum wall time, the median
CPU time (user + system, from wait4: microseconds, where GNU time's 10 ms steps say nothing about a
25 ms run) and minor page faults, and the ratios against the first command (e.g. `node -e 0`).
Used for bench/README.md, "Warm cat: warm-gzip2".
"""
import os
import shlex
import statistics
import sys
import time


def run(argv, devnull):
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.execvp(argv[0], argv)
    _, _, usage = os.wait4(pid, 0)
    return (time.perf_counter() - started) * 1000, (usage.ru_utime + usage.ru_stime) * 1000, usage.ru_minflt


def main():
    rounds = int(sys.argv[1])
    commands = [(arg.split('=', 1)[0], shlex.split(arg.split('=', 1)[1])) for arg in sys.argv[2:]]
    samples = {name: ([], [], []) for name, _ in commands}
    devnull = os.open('/dev/null', os.O_RDWR)
    for round_ in range(rounds + 3):
        for name, argv in commands:
            measured = run(argv, devnull)
            if round_ >= 3:
                for kept, value in zip(samples[name], measured):
                    kept.append(value)
    quartile = lambda values: sorted(values)[len(values) // 4]
    base_wall, base_cpu = samples[commands[0][0]][0], samples[commands[0][0]][1]
    print(f'load average {os.getloadavg()[0]:.2f}, {rounds} rounds')
    for name, _ in commands:
        wall, cpu, faults = samples[name]
        print(
            f'{name:>12}: wall median {statistics.median(wall):6.2f} q1 {quartile(wall):6.2f} min {min(wall):6.2f} ms'
            f'  CPU median {statistics.median(cpu):6.2f} ms  faults {statistics.median(faults):5.0f}'
            f'  ratio wall {statistics.median(wall) / statistics.median(base_wall):.2f}'
            f' q1 {quartile(wall) / quartile(base_wall):.2f} CPU {statistics.median(cpu) / statistics.median(base_cpu):.2f}'
        )


if __name__ == '__main__':
    main()
