"""LSF: ``lsb.acct`` event records, space-separated; strings in double quotes (``""`` is a
quote inside one), numbers bare. Versions 9 and 10 place the fields used here alike.

Only ``"JOB_FINISH"`` events are jobs. Items (0-based): 2 event time (the end),
3 job id, 6 number of processors, 10 start time, 11 user, 12 queue,
22 numAskedHosts followed by that many names, then numExHosts followed by one
execution host name per slot. With offset = numAsked + numEx: 28+offset user
CPU and 29+offset system CPU (seconds, -1 when unknown), 54+offset maximum
resident and 55+offset maximum swap memory (KB, -1 when unknown).

The lifecycle: 7 submitTime (0 when unknown), 24+offset jStatus (32 EXIT:
ended abnormally, 64 DONE: ended normally; other bits may be set too) and
49+offset exitStatus, a wait(2) status: the exit code in its second byte,
or a signal in its low seven bits.
"""

from functools import lru_cache

from apeltools import lifecycle
from apeltools.parsers.base import ParseError, Parser, check_order
from apeltools.records.site import BatchRecord

MIN_ITEMS = 56  # with no hosts
JOB_STAT_EXIT, JOB_STAT_DONE = 32, 64


def items(line):
    """The items of an lsb.acct line: strings unquoted, numbers as their text."""
    # Split at the quotes: the pieces alternate between the text outside strings (blank-separated
    # bare items) and the strings. An odd number of quotes leaves a quote that opens no string.
    pieces = line.split('"')
    if not len(pieces) % 2:
        raise ParseError("unbalanced double quote")
    found = pieces[0].split()
    append = found.append
    rest = iter(pieces[1:])
    for string, between in zip(rest, rest):  # a string and the text after it
        if between == " ":  # the one blank between two strings holds no item: not worth a split
            append(string)
            continue
        # Two strings with nothing between them are one string with a quote in it (``""`` inside);
        # nothing after the last string is the end of the line.
        while not between and (following := next(rest, None)) is not None:
            string += '"' + following
            between = next(rest)
        append(string)
        found += between.split()
    return found


class LSFParser(Parser):
    name = "lsf"
    batch_system = "LSF"
    honours_parallel = True

    def parse(self, line):
        # Blank lines and other events are ignored alike; the line end is a blank to ``items``.
        if not line.startswith('"JOB_FINISH"'):
            return None
        values = items(line)
        try:
            asked = int(values[22])
            executed = int(values[23 + asked])
            offset = asked + executed
            if asked < 0 or executed < 0:
                raise ValueError
        except (IndexError, ValueError):
            raise ParseError("numAskedHosts or numExHosts missing or not a number") from None
        if len(values) < MIN_ITEMS + offset:
            raise ParseError(f"expected at least {MIN_ITEMS} items plus hosts, found {len(values)}")
        try:
            end = int(values[2])
            start = int(values[10])
            processors = int(values[6])
            # CPU seconds and KB of memory, -1 when not available. Each CPU time as max(time, 0.0) has it
            # (a NaN stays, for round() to refuse), round() of a float is an int.
            user_cpu, system_cpu = float(values[28 + offset]), float(values[29 + offset])
            cpu = round((0.0 if 0.0 > user_cpu else user_cpu) + (0.0 if 0.0 > system_cpu else system_cpu))
            real, swap = int(float(values[54 + offset])), int(float(values[55 + offset]))
            submitted = int(values[7])
            state, final_state, exit_code = _end_state(values[24 + offset], values[49 + offset])
        except (ValueError, OverflowError):  # OverflowError: inf or 1e400 where a whole number goes
            raise ParseError("a time, CPU or memory item is not a number") from None
        if start <= 0:
            return None  # never started
        check_order(start, end)
        job_id = values[3]
        if not job_id.isdigit():
            raise ParseError("job id is not a number")
        hosts = values[24 + asked:24 + offset]
        # BatchRecord's fields in order (positional: a third of the cost of naming each)
        return BatchRecord(
            self.batch_system, job_id, job_id, values[11] or None, None, values[12] or None, None,
            end - start, cpu, len(hosts) or processors, len(set(hosts)) or None, start, end,
            real if real > 0 else None, swap if swap > 0 else None, submitted if submitted > 0 else None, None,
            state, final_state, exit_code,
        )


@lru_cache(maxsize=256)  # a log has a few distinct end states
def _end_state(status_text, wait_status_text):
    """(State, FinalState, ExitCode) of a jStatus and an exitStatus."""
    status, wait_status = int(status_text), int(wait_status_text)
    return f"jStatus={status} exitStatus={wait_status}", _final_state(status), _exit_code(wait_status)


def _final_state(status):
    if status & JOB_STAT_DONE:
        return lifecycle.COMPLETED
    if status & JOB_STAT_EXIT:
        return lifecycle.FAILED
    return None


def _exit_code(wait_status):
    """The exit code of a wait(2) status (128 + signal for a job killed by one); negative is unknown."""
    if wait_status < 0:
        return None
    signal = wait_status & 0x7F
    return lifecycle.signalled(signal) if signal else (wait_status >> 8) & 0xFF
