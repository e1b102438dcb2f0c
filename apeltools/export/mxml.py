"""MXML, the ProM 5 log format: one ``ProcessInstance`` per job, one ``AuditTrailEntry`` per event.

Valid against ``schemas/mxml/WorkflowLog.xsd``. A job's attributes are the
instance's ``Data``; an entry's ``WorkflowModelElement`` is the activity
(submit, start, end), its ``EventType`` the lifecycle transition and its
``Originator`` the resource (the CE, the node).
"""

from apeltools.export.events import AttributeText, case_id, escaped, iso_time, xml_text

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<WorkflowLog xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:noNamespaceSchemaLocation="WorkflowLog.xsd" description="apeltools job lifecycles">
  <Source program="apeltools"/>
  <Process id="jobs" description="batch jobs">
"""


ENTRY = ("      <AuditTrailEntry>\n        <WorkflowModelElement>%s</WorkflowModelElement>\n"
         "        <EventType>%s</EventType>\n        <Timestamp>%s</Timestamp>\n%s      </AuditTrailEntry>\n")
ORIGINATOR = "        <Originator>%s</Originator>\n"


def _attribute(name, _is_int):
    return f'        <Attribute name="{name}">%s</Attribute>\n'


class MXMLWriter:
    def __init__(self, out):
        self.out = out
        self.attributes = AttributeText(_attribute)

    def begin(self):
        self.out.write(HEAD)

    def job(self, job, events):
        self.out.write("".join((
            f'    <ProcessInstance id="{xml_text(case_id(job))}" description="job {xml_text(job.job_id)}">\n'
            "      <Data>\n",
            self.attributes(job),
            "      </Data>\n",
            *[ENTRY % (e.activity, e.transition, iso_time(e.timestamp),
                       "" if e.resource is None else ORIGINATOR % escaped(e.resource)) for e in events],
            "    </ProcessInstance>\n")))

    def end(self):
        self.out.write("  </Process>\n</WorkflowLog>\n")
