"""MXML, the ProM 5 log format: one ``ProcessInstance`` per job, one ``AuditTrailEntry`` per event.

Valid against ``schemas/mxml/WorkflowLog.xsd``. A job's attributes are the
instance's ``Data``; an entry's ``WorkflowModelElement`` is the activity
(submit, start, end), its ``EventType`` the lifecycle transition and its
``Originator`` the resource (the CE, the node).
"""

from apeltools.export.events import XMLLogWriter


class MXMLWriter(XMLLogWriter):
    HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<WorkflowLog xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:noNamespaceSchemaLocation="WorkflowLog.xsd" description="apeltools job lifecycles">
  <Source program="apeltools"/>
  <Process id="jobs" description="batch jobs">
"""
    TAIL = "  </Process>\n</WorkflowLog>\n"
    TRACE = '    <ProcessInstance id="%(case)s" description="job %(job)s">\n      <Data>\n'
    ATTRIBUTES_END = "      </Data>\n"
    TRACE_END = "    </ProcessInstance>\n"
    EVENT = ("      <AuditTrailEntry>\n        <WorkflowModelElement>%s</WorkflowModelElement>\n"
             "        <EventType>%s</EventType>\n        <Timestamp>%s</Timestamp>\n%s      </AuditTrailEntry>\n")
    RESOURCE = "        <Originator>%s</Originator>\n"

    @staticmethod
    def attribute(name: str, is_int: bool) -> str:
        return f'        <Attribute name="{name}">%s</Attribute>\n'
