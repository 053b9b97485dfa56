"""The engine peer: SpiffWorkflow 3 running ``forkjoin.bpmn`` (a first task, six in parallel
behind a parallel gateway, a join, a last task: user tasks), the workflow serialised to the same
database after every step, as a workflow engine keeping its instances in a database does."""

from __future__ import annotations

import uuid
from pathlib import Path

from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Engine, text

BPMN = Path(__file__).with_name("forkjoin.bpmn")
TABLE = "bench_spiff_workflows"


class SpiffPeer:
    """Parses the process once; each :meth:`run_case` starts one instance and works it off."""

    def __init__(self, engine: Engine) -> None:
        parser = BpmnParser()
        parser.add_bpmn_file(str(BPMN))
        self.spec = parser.get_spec("forkjoin")
        self.serializer = BpmnWorkflowSerializer()
        self.engine = engine
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE IF NOT EXISTS {TABLE} (id VARCHAR(32) PRIMARY KEY, state TEXT NOT NULL)"))

    def run_case(self) -> int:
        """Start, then complete every user task, saving after each; the number of tasks done."""
        workflow = BpmnWorkflow(self.spec)
        workflow.do_engine_steps()
        key = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(text(f"INSERT INTO {TABLE} (id, state) VALUES (:id, :state)"),
                         {"id": key, "state": self.serializer.serialize_json(workflow)})
        done = 0
        while not workflow.is_completed():
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                raise RuntimeError("the peer's workflow is stuck")
            task = ready[0]
            task.run()
            workflow.do_engine_steps()
            done += 1
            with self.engine.begin() as conn:  # persisted after every step
                conn.execute(text(f"UPDATE {TABLE} SET state = :state WHERE id = :id"),
                             {"id": key, "state": self.serializer.serialize_json(workflow)})
        return done
