"""``mosaic fleet``: ps, up and down over many agents, one module per concern.

* ``cli``: the Typer commands ``ps``, ``up`` and ``down``, and nothing else;
* ``watch``: ``fleet ps`` once or every SECONDS (the watch loop);
* ``snapshot``: what ``fleet ps`` knows about each agent at one moment;
* ``status``: the state rules, the process sampler and the JSON schema;
* ``hosts``: ``fleet ps --host`` over ssh;
* ``render``: every table, duration, size and summary, and the colour decision;
* ``updown``: ``fleet up`` and ``fleet down``, one tally loop;
* ``file``: the fleet file.

Importing this package imports nothing else: ``mosaic --help`` loads only
``cli``.
"""
