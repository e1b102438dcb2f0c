"""Reads a queue with the deployed SSM's own queue schema, for tests/interop (dev only).

Executed by the deployed tools' own Python (it needs dirq), never imported by
apeltools:

    python ssm_queue.py SSM_SRC QUEUE_PATH [reject]

It prints one JSON list: every element of the directory queue at QUEUE_PATH,
read through dirq with SSM's incoming-queue schema (with ``reject``: its
reject-queue schema), as the deployed loader reads the queue SSM's receiver
writes.
"""

import json
import sys


def main():
    source, path, which = sys.argv[1], sys.argv[2], sys.argv[3:] or ["incoming"]
    sys.path.insert(0, source)
    from dirq.queue import Queue
    from ssm.ssm2 import Ssm2

    queue = Queue(path, schema=Ssm2.REJECT_SCHEMA if which == ["reject"] else Ssm2.QSCHEMA)
    elements = []
    for name in queue:
        if queue.lock(name):
            elements.append(queue.get(name))
            queue.unlock(name)
    print(json.dumps(elements))


if __name__ == "__main__":
    main()
