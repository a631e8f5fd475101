"""vln: the public API tying the envs and the agents together.

- ``vln.rollout(agent_or_policy, env, episodes=..., video_dir=...)``: run and record episodes.
- ``vln.train.run(config)``: imitation (BC + DAgger), then REINFORCE, then evaluation.
- ``vln.evaluation.evaluate(...)``: Room-to-Room metrics on held-out episodes.
- ``agents.vocabulary.Vocabulary``: words to ids, unknown words to UNK.
"""

from vln.recording import rollout

__all__ = ["rollout"]
