"""PBS / Torque accounting: ``MM/DD/YYYY HH:MM:SS;<type>;<job id>;key=value key=value ...``.

Only ``E`` (job end) records are jobs; one without ``start`` or ``end`` is a bad
line, one with ``start=0`` never ran. ``start``/``end`` are epoch seconds;
``resources_used.walltime``/``cput`` are ``[[D:]HH:]MM:SS`` or, on Torque 5.1
and later, plain seconds; memory is ``<n>kb``. ``exec_host`` lists one
``host/slot`` per slot (``node1/0+node1/1+node2/0``), or ranges of slots on
Torque 5.1 and later (``node1/0-3,5+node2/0``): NodeCount is the number of
distinct hosts, Processors the number of slots.

The lifecycle: ``qtime`` is when the job was queued, ``etime`` when it became
eligible to run (Torque 3 and later, and PBS Pro; Torque 2's manual has the two
swapped, its server did not), ``Exit_status`` the job's exit status: 0 done,
above 0 the script's exit code, above 256 killed by signal (status - 256),
below 0 a failure to start or run it (the server's JOB_EXEC codes). A ``D``
(delete) record earlier in the same file makes the job cancelled.
"""

from functools import lru_cache
from itertools import repeat

from apeltools import lifecycle
from apeltools.parsers.base import ParseError, Parser, check_order, duration, epoch, memory_kb
from apeltools.records.site import BatchRecord

_EQUALS, _ONCE = repeat("="), repeat(1)  # str.split's arguments for every word
# The attributes read from an E record, looked up by one map() rather than a call each.
_READ = ("start", "end", "resources_used.walltime", "resources_used.cput", "resources_used.mem",
         "resources_used.vmem", "exec_host", "qtime", "etime", "Exit_status", "user", "group", "queue")
KILLED = 256  # an Exit_status above this is a job killed by signal (Exit_status - 256)


class PBSParser(Parser):
    name = "pbs"
    batch_system = "PBS"
    honours_parallel = True

    def __init__(self, timezone=None):
        super().__init__(timezone)
        self._deleted = set()  # ids of jobs with a D record whose E record has not come yet

    def parse(self, line):
        # The common forms of the values (epoch seconds, HH:MM:SS, <n>kb) are converted here as the
        # shared helpers convert them, without a call each (at ~10 µs a line, the calls to the
        # helpers were a large part of it). Any other form goes to the helper, which decides.
        try:
            _, kind, job_id, text = line.rstrip("\r\n").split(";", 3)
        except ValueError:
            if not line.strip():
                return None
            raise ParseError("expected 'date;type;job id;attributes'") from None
        if kind != "E":
            if kind == "D" and job_id:
                self._deleted.add(job_id)
            return None
        if not job_id:
            raise ParseError("empty job id")
        try:
            # Every word a pair, as PBS writes them nearly always: the pairs at C speed (a word without
            # "=" fails dict()).
            attrs = dict(map(str.split, text.split(" "), _EQUALS, _ONCE))
        except ValueError:
            attrs = _attributes_continued(text)
        if "" in attrs:
            attrs = _attributes_continued(text)
        (start_text, end_text, wall_text, cpu_text, mem_text, vmem_text, exec_host, qtime, etime, exit_status,
         user, group, queue) = map(attrs.get, _READ)
        if not start_text:
            raise ParseError("no start time")  # a failed line for the deployed parser too
        deleted = job_id in self._deleted
        if deleted:
            self._deleted.discard(job_id)
        if start_text == "0":
            return None  # deleted before it ran
        # Where int() takes a text, epoch() gives the same whole number or refuses a negative one.
        try:
            start, end = int(start_text), int(end_text)
        except (TypeError, ValueError):
            start = end = -1
        if start < 0 or end < 0:
            try:
                start = epoch(start_text)
                end = None if end_text is None else epoch(end_text)
            except ValueError:
                raise ParseError("start or end is not epoch seconds") from None
            if end is None:
                raise ParseError("no end time")
        check_order(start, end)
        if cpu_text is None:
            cpu_text = "0"
        if (wall_text is not None and len(wall_text) == 8 == len(cpu_text)
                and wall_text[2] == wall_text[5] == cpu_text[2] == cpu_text[5] == ":"
                and len(digits := (wall_text + cpu_text).replace(":", "")) == 12 and digits.isdecimal()):
            # Both HH:MM:SS, as nearly always: HHMMSSHHMMSS as one number. H*10000 + M*100 + S
            # less 40 a hundred and 2400 a ten thousand is H*3600 + M*60 + S.
            wall, cpu = divmod(int(digits), 1000000)
            wall -= wall // 100 * 40 + wall // 10000 * 2400
            cpu -= cpu // 100 * 40 + cpu // 10000 * 2400
        else:
            try:
                wall = end - start if wall_text is None else duration(wall_text)
                cpu = duration(cpu_text)
            except ValueError:
                raise ParseError("walltime or cput is not a duration") from None
        if mem_text is None:
            mem_text = ""
        if vmem_text is None:
            vmem_text = ""
        mem_kb, vmem_kb = mem_text[:-2], vmem_text[:-2]
        if mem_text[-2:] == vmem_text[-2:] == "kb" and (both := mem_kb + vmem_kb).isdecimal() and both.isascii() \
                and mem_kb and vmem_kb:
            real, virtual = int(mem_kb), int(vmem_kb)  # both KB, as Torque writes them
        else:
            try:
                real = memory_kb(mem_text, "b")
                virtual = memory_kb(vmem_text, "b")
            except ValueError:
                raise ParseError("mem or vmem is not a memory size") from None
        processors = nodes = None
        if exec_host:
            try:
                processors, nodes = exec_host_counts(exec_host)
            except ValueError:
                raise ParseError("exec_host is not host/slots+host/slots...") from None
        try:
            queued, eligible = int(qtime), int(etime)
        except (TypeError, ValueError):
            queued = eligible = 0
        if queued <= 0 or eligible <= 0:  # 0 (not set), absent, or not whole seconds: _moment decides
            queued, eligible = _moment(qtime, "qtime"), _moment(etime, "etime")
        # BatchRecord's fields in order (positional: a third of the cost of naming each)
        return BatchRecord(
            self.batch_system, job_id, job_id, user or None, group or None, queue or None,
            job_id.partition(".")[2] or None, wall, cpu, processors, nodes, start, end, real, virtual,
            queued, eligible, *_end_state(exit_status, deleted),
        )


def _moment(text, key):
    """Epoch seconds of the time attribute ``key`` whose value is ``text``; absent or 0 (not set) is unknown."""
    if not text or text == "0":
        return None
    try:
        return epoch(text)
    except ValueError:
        raise ParseError(f"{key} is not epoch seconds") from None


@lru_cache(maxsize=256)  # a log has a few distinct exit statuses
def _end_state(text, deleted):
    """(State, FinalState, ExitCode) of an Exit_status (None: not logged) and whether a D record came."""
    if text is None:
        return ("deleted", lifecycle.CANCELLED, None) if deleted else (None, None, None)
    try:
        status = int(text)
    except ValueError:
        raise ParseError("Exit_status is not a number") from None
    state = f"Exit_status={status}" + (" deleted" if deleted else "")
    if status > KILLED:
        code = lifecycle.signalled(status - KILLED)
    else:
        code = status if status >= 0 else None
    if deleted:
        final = lifecycle.CANCELLED
    elif status < 0:
        final = lifecycle.FAILED
    else:
        final = lifecycle.by_exit_code(code)
    return state, final, code


def _attributes_continued(text):
    """``key=value`` pairs separated by spaces; a word without ``=`` continues the value before it."""
    attrs = {}
    key = None
    for word in text.split(" "):
        name, sep, value = word.partition("=")
        if sep and name:
            key = name
            attrs[key] = value
        elif key is not None and word:
            attrs[key] += " " + word
    return attrs


# A site's jobs run on a few thousand distinct host/slot layouts (one per node and slot range):
# most jobs' layouts were counted before.
@lru_cache(maxsize=16384)
def exec_host_counts(text):
    """(slots, distinct hosts) of an exec_host value."""
    hosts = set()
    slots = 0
    for item in text.split("+"):
        host, sep, spec = item.partition("/")
        if not host:
            raise ValueError(item)
        hosts.add(host)
        if not sep or spec.isdecimal():  # one slot (int() reads every decimal digit)
            slots += 1
            continue
        first, dash, last = spec.partition("-")
        if first.isdecimal() and last.isdecimal():  # one range of slots, Torque 5.1 and later
            count = int(last) - int(first) + 1
            if count <= 0:
                raise ValueError(spec)
            slots += count
            continue
        if "*" in spec:  # PBS Pro: host/slot*count
            spec, _, count = spec.partition("*")
            slots += int(count)
            continue
        for piece in spec.split(","):
            first, dash, last = piece.partition("-")
            count = int(last) - int(first) + 1 if dash else 1
            if count <= 0 or int(first) < 0:
                raise ValueError(piece)
            slots += count
    if slots <= 0:
        raise ValueError(text)
    return slots, len(hosts)
