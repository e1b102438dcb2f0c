"""IEEE 1849 XES: one ``<trace>`` per job with its attributes, one ``<event>`` per lifecycle event.

Standard extensions: Concept (names), Lifecycle (standard transitions:
schedule, start, complete, ate_abort), Time (timestamps) and Organizational
(the resource: the CE a job was submitted to, the node it ran on). Other trace
attributes (user, VO, queue, final state, exit code, tags as ``tag:KEY``…)
are plain XES attributes; integers are ``<int>``.
"""

from apeltools.export.events import AttributeText, case_id, escaped, iso_time, xml_text

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


EVENT = ('    <event>\n      <string key="concept:name" value="%s"/>\n'
         '      <string key="lifecycle:transition" value="%s"/>\n      <date key="time:timestamp" value="%s"/>\n'
         '%s    </event>\n')
RESOURCE = '      <string key="org:resource" value="%s"/>\n'


def _attribute(name, is_int):
    return f'    <{"int" if is_int else "string"} key="{name}" value="%s"/>\n'


class XESWriter:
    def __init__(self, out):
        self.out = out
        self.attributes = AttributeText(_attribute)

    def begin(self):
        self.out.write(HEAD)

    def job(self, job, events):
        self.out.write("".join((
            f'  <trace>\n    <string key="concept:name" value="{xml_text(case_id(job))}"/>\n',
            self.attributes(job),
            *[EVENT % (e.activity, e.transition, iso_time(e.timestamp),
                       "" if e.resource is None else RESOURCE % escaped(e.resource)) for e in events],
            "  </trace>\n")))

    def end(self):
        self.out.write("</log>\n")
