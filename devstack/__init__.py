"""One dev stack for every local run: the demo, the chaos run, the benchmark and the tests.

``stack``: the dev server, the vendor sandbox, the webhook and N workers, up and down together.
``temporal``: the dev server's command and flags, connecting once it answers, who polls a queue.
``workers``: the journey workers, kept at full strength when supervised.
``processes``: children in process groups of their own that end with their parent.
``progress``: the progress bar of a long run.
``lifetime``: SIGTERM and SIGHUP end a run as Ctrl-C does; output that went away stays quiet.
"""
