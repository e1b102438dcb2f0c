"""IEEE 1849 XES: one ``<trace>`` per job with its attributes, one ``<event>`` per lifecycle event.

Standard extensions: Concept (names), Lifecycle (standard transitions:
schedule, start, complete, ate_abort), Time (timestamps) and Organizational
(the resource: the CE a job was submitted to, the node it ran on). Other trace
attributes (user, VO, queue, final state, exit code, tags as ``tag:KEY``…)
are plain XES attributes; integers are ``<int>``.
"""

from apeltools.export.events import XMLLogWriter


class XESWriter(XMLLogWriter):
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
    TAIL = "</log>\n"
    TRACE = '  <trace>\n    <string key="concept:name" value="%(case)s"/>\n'
    TRACE_END = "  </trace>\n"
    EVENT = ('    <event>\n      <string key="concept:name" value="%s"/>\n'
             '      <string key="lifecycle:transition" value="%s"/>\n      <date key="time:timestamp" value="%s"/>\n'
             '%s    </event>\n')
    RESOURCE = '      <string key="org:resource" value="%s"/>\n'

    @staticmethod
    def attribute(name: str, is_int: bool) -> str:
        return f'    <{"int" if is_int else "string"} key="{name}" value="%s"/>\n'
