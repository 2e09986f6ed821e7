"""What the tests stand on, one module per concern; conftest.py turns these
into fixtures and holds nothing else but the leak guard.

- tmux.py      a tmux server of the test's own (TmuxServer) and what is on it
- run.py       mosaic in-process (mosaic) and as a real process (mosaic_proc)
- agents.py    agents for a test: launched through mosaic, or started by hand,
               and read back through ``fleet ps``
- hb.py        heartbeat records and the mosaic-hb sidecar
- procs.py     what a process runs (argv, environment, cwd), and which
               processes carry the test's leak token
- services.py  servers a test talks to (sshd, Prometheus, node_exporter) and
               free_port
- remote.py    hosts for --host without a network: an ssh stand-in
- wait.py      waiting on an event with a bound, never a sleep
"""
