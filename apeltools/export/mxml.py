"""MXML, the ProM 5 log format: one ``ProcessInstance`` per job, one ``AuditTrailEntry`` per event.

Valid against ``schemas/mxml/WorkflowLog.xsd``. A job's attributes are the
instance's ``Data``; an entry's ``WorkflowModelElement`` is the activity
(submit, start, end), its ``EventType`` the lifecycle transition and its
``Originator`` the resource (the CE, the node).
"""

from apeltools.export import attributes, case_id, iso_time, xml_text

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<WorkflowLog xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="WorkflowLog.xsd" description="apeltools job lifecycles">
  <Source program="apeltools"/>
  <Process id="jobs" description="batch jobs">
"""


class MXMLWriter:
    def __init__(self, out):
        self.out = out

    def begin(self):
        self.out.write(HEAD)

    def job(self, job, events):
        parts = [f'    <ProcessInstance id="{xml_text(case_id(job))}" description="job {xml_text(job.job_id)}">\n'
                 "      <Data>\n"]
        parts += [f'        <Attribute name="{xml_text(name)}">{xml_text(value)}</Attribute>\n'
                  for name, value in attributes(job)]
        parts.append("      </Data>\n")
        for event in events:
            parts.append(f"      <AuditTrailEntry>\n        <WorkflowModelElement>{event.activity}</WorkflowModelElement>\n"
                         f"        <EventType>{event.transition}</EventType>\n"
                         f"        <Timestamp>{iso_time(event.timestamp)}</Timestamp>\n")
            if event.resource is not None:
                parts.append(f"        <Originator>{xml_text(event.resource)}</Originator>\n")
            parts.append("      </AuditTrailEntry>\n")
        parts.append("    </ProcessInstance>\n")
        self.out.write("".join(parts))

    def end(self):
        self.out.write("  </Process>\n</WorkflowLog>\n")
