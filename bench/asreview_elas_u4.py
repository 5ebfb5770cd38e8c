"""ASReview LAB's default model (ELAS u4) over one review: run by bench/prioritisation.py inside a
separate virtual environment that has ``asreview`` (never a product dependency).

    <asreview-venv>/bin/python bench/asreview_elas_u4.py FILE.csv INC_ID EXC_ID

FILE.csv has record_id,title,abstract and label_included. Prints, as JSON on stdout, the record ids in
the order ASReview asks for them after the two priors (every record), and the wall time. The model is
ASReview's own default configuration (``asreview.models.models.get_ai_config()``), through its own
``Simulate`` class, retrained after every label as ASReview does.
"""
import json
import sys
import time

import pandas as pd
from asreview.learner import ActiveLearningCycle
from asreview.models.models import get_ai_config
from asreview.simulation.simulate import Simulate

path, included_id, excluded_id = sys.argv[1:4]
started = time.monotonic()
frame = pd.read_csv(path, dtype={"record_id": str}, keep_default_na=False)
config = get_ai_config()
assert config["name"] == "elas_u4", config["name"]
cycle = ActiveLearningCycle.from_meta(config["value"])
labels = frame["label_included"].astype(int).to_numpy()
simulation = Simulate(frame[["title", "abstract"]], labels, cycle, stopper=-1, print_progress=False)
index = {record_id: i for i, record_id in enumerate(frame["record_id"])}
simulation.label([index[included_id], index[excluded_id]])
simulation.review()
order = [frame["record_id"].iloc[i] for i in simulation._results["record_id"].to_numpy()[2:]]
json.dump({"order": order, "seconds": time.monotonic() - started, "model": config["name"]}, sys.stdout)
