"""The reconciler: the safety net under the edge-triggered pipeline.

One process at a time (a Redis lease) looks at the runs in flight, and re-sends to its stage
any event that is neither queued, unacknowledged, claimed nor done long after it was
published: a message kombu lost between taking it and recording it as unacknowledged.
decision.py decides (pure); observe.py and broker_state.py read Redis; redrive.py re-sends;
reconcile.py is one pass; leader.py holds the lease and runs passes in the background.
"""
