"""IEEE 1849 XES: one ``<trace>`` per job with its attributes, one ``<event>`` per lifecycle event.

Standard extensions: Concept (names), Lifecycle (standard transitions:
schedule, start, complete, ate_abort), Time (timestamps) and Organizational
(the resource: the CE a job was submitted to, the node it ran on). Other trace
attributes (user, VO, queue, final state, exit code, tags as ``tag:KEY``…)
are plain XES attributes; integers are ``<int>``.
"""

from apeltools.export import case_id, attributes, iso_time, xml_text

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xes.features="" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
  <global scope="trace">
    <string key="concept:name" value="__INVALID__"/>
  </global>
  <global scope="event">
    <string key="concept:name" value="__INVALID__"/>
    <string key="lifecycle:transition" value="complete"/>
    <date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
  <classifier name="Activity and transition" keys="concept:name lifecycle:transition"/>
  <string key="concept:name" value="apeltools job lifecycles"/>
  <string key="lifecycle:model" value="standard"/>
"""


class XESWriter:
    def __init__(self, out):
        self.out = out

    def begin(self):
        self.out.write(HEAD)

    def job(self, job, events):
        parts = [f'  <trace>\n    <string key="concept:name" value="{xml_text(case_id(job))}"/>\n']
        for name, value in attributes(job):
            kind = "int" if isinstance(value, int) else "string"
            parts.append(f'    <{kind} key="{xml_text(name)}" value="{xml_text(value)}"/>\n')
        for event in events:
            parts.append(
                f'    <event>\n      <string key="concept:name" value="{event.activity}"/>\n'
                f'      <string key="lifecycle:transition" value="{event.transition}"/>\n'
                f'      <date key="time:timestamp" value="{iso_time(event.timestamp)}"/>\n')
            if event.resource is not None:
                parts.append(f'      <string key="org:resource" value="{xml_text(event.resource)}"/>\n')
            parts.append("    </event>\n")
        parts.append("  </trace>\n")
        self.out.write("".join(parts))

    def end(self):
        self.out.write("</log>\n")
