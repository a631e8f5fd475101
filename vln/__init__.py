"""vln: the API tying the envs and the agents together.

- ``vln.rollout(agent_or_policy, env, episodes=..., video_dir=...)``: run and record episodes.
- ``vln.train.run(config)``: imitation (BC + DAgger), then REINFORCE, then evaluation.
- ``vln.evaluation.evaluate(...)``: Room-to-Room metrics and a failure breakdown on held-out episodes.

docs/architecture.md maps the modules; docs/design.md states the contracts.
"""

from vln.recording import rollout

__all__ = ["rollout"]
