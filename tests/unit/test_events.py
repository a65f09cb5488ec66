"""events/ holds a sample event for every function of template.yaml."""

from tests.support.aws_tables import service_template
from tests.support.lambda_runtime import EVENTS_DIR


def test_every_function_has_a_sample_event() -> None:
    samples = {path.stem for path in EVENTS_DIR.glob("*.json")}
    missing = [
        spec.logical_id
        for spec in service_template().functions.values()
        if spec.code_dir.name not in samples
    ]
    assert missing == []
